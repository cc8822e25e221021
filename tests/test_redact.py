"""Redaction: each kind of secret is replaced, the rest of the line stays, and ordinary lines are untouched."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from bot.models import (
    ContainerStatus,
    EventSnapshot,
    Finding,
    LogLine,
    LogSnapshot,
    PodSnapshot,
    Report,
    Severity,
    StepError,
)
from bot.redact import redact, redact_model

DATA = Path(__file__).parent / "data" / "patterns"

JWT = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U"
GHP = "ghp_" + "a1B2c3D4e5F6g7H8i9J0" * 2
KEY_BLOCK = (
    "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEAu1SU1LfVLPHCozMxH2Mo4lgOEePzNm0tRgeLezV6ffAt0gun\n"
    "-----END RSA PRIVATE KEY-----"
)

CASES = [
    # (input, expected output)
    (f"Authorization: Bearer {JWT}", "Authorization: Bearer [REDACTED:jwt]"),
    (f"token {JWT} accepted", "token [REDACTED:jwt] accepted"),
    ("calling with Bearer abc123.def456-ghi", "calling with Bearer [REDACTED:bearer]"),
    ("SLACK_BOT_TOKEN=xoxb-1234567890-0987654321-AbCdEfGhIjKl", "SLACK_BOT_TOKEN=[REDACTED:slack_token]"),
    ("using xoxp-11111111-22222222-abcdef for user", "using [REDACTED:slack_token] for user"),
    ("app token xapp-1-A0123456789-1234567890-abcdef0123", "app token [REDACTED:slack_token]"),
    (f"cloning with {GHP}", "cloning with [REDACTED:github_token]"),
    ("gho_16C7e42F292c6912E7710c838347Ae178B4a rotated", "[REDACTED:github_token] rotated"),
    ("ghs_abcdefghijklmnopqrstuvwxyz0123456789", "[REDACTED:github_token]"),
    ("github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyzABCDEF", "[REDACTED:github_token]"),
    ("key AKIAIOSFODNN7EXAMPLE in use", "key [REDACTED:aws_access_key] in use"),
    ("aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
     "aws_secret_access_key = [REDACTED:aws_secret_key]"),
    ("DATABASE_URL=postgresql://taskflow:s3cr3t-pass@db:5432/taskflow",
     "DATABASE_URL=postgresql://taskflow:[REDACTED:password]@db:5432/taskflow"),
    ("redis://:hunter2@redis:6379/0", "redis://:[REDACTED:password]@redis:6379/0"),
    ("connecting password=hunter2 user=bob", "connecting password=[REDACTED:password] user=bob"),
    # 'ſ' (long s) is an 's' to a case-insensitive regex: the cheap pre-check must agree
    ("pa\u017f\u017fword=hunter2", "pa\u017f\u017fword=[REDACTED:password]"),
    ("DB_PASSWORD: s3cret", "DB_PASSWORD: [REDACTED:password]"),
    ("passwd: s3cret", "passwd: [REDACTED:password]"),
    ("secret=abc host=db", "secret=[REDACTED:secret] host=db"),
    ("token=abc123&page=2", "token=[REDACTED:token]&page=2"),
    ("api_key=12345 apikey=abcd", "api_key=[REDACTED:api_key] apikey=[REDACTED:api_key]"),
    ("X-Api-Key: zzz-top", "X-Api-Key: [REDACTED:api_key]"),
    ('client_secret="with a space" next=1', 'client_secret="[REDACTED:secret]" next=1'),
    ('curl -H "Authorization: Basic dXNlcjpwYXNz" http://x',
     'curl -H "Authorization: Basic [REDACTED:authorization]" http://x'),
    ("headers={'Authorization': 'token 0123456789abcdef'}",
     "headers={'Authorization': 'token [REDACTED:authorization]'}"),
    (f"key follows\n{KEY_BLOCK}\nafter", "key follows\n[REDACTED:private_key]\nafter"),
    ("-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA (truncated)", "[REDACTED:private_key]"),
    ("MIIEowIBAAKCAQEAu1SU1LfVLPHCozMxH2Mo4lgOEePzNm0tRgeLezV6ffAt0gun", "[REDACTED:private_key]"),
    ('{"password": "hunter2", "user": "bob"}', '{"password": "[REDACTED:password]", "user": "bob"}'),
    ('{\\"password\\": \\"hunter2\\"}', '{\\"password\\": \\"[REDACTED:password]\\"}'),
    ("{'db_password': 'pa ss', 'host': 'db'}", "{'db_password': '[REDACTED:password]', 'host': 'db'}"),
    ('{"signing_key": "9f8A7b6C5d4E3f2G1h0IjKlMnOp", "monkey": "banana"}',
     '{"signing_key": "[REDACTED:api_key]", "monkey": "banana"}'),
    ('{"session_cookie": "Zm9vYmFyYmF6cXV4MTIzNDU2Nzg5"}', '{"session_cookie": "[REDACTED:secret]"}'),
    ("https://hooks.slack.com/services/T000/B000/XXXXXXXXXXXX posted",
     "[REDACTED:slack_webhook] posted"),
]


# cases that only hold as the whole text: a key block cut short, a key's body line on its own
WHOLE_LINE = {text for text, _ in CASES if "(truncated)" in text or text.startswith("MII")}


@pytest.mark.parametrize(("text", "expected"), CASES)
def test_each_kind_is_redacted_and_the_rest_kept(text: str, expected: str) -> None:
    assert redact(text) == expected


ORDINARY = [
    "INFO request done error_count=0",
    "INFO token_count=42 max_tokens=4096 prompt_tokens=12",
    "INFO secret_name=db-creds secret_type=Opaque password_policy=strict",
    "INFO session_id=5b2c1f0e-8a1b-4c5d-9e6f-0a1b2c3d4e5f key_id=7",
    "DEBUG password: None token=null auth: {'user': 'x'} secret=<redacted> api_key=${API_KEY} pwd=$DB_PWD",
    'env: [{"name": "DB_PASSWORD", "valueFrom": {"secretKeyRef": {"name": "db", "key": "password"}}}]',
    "INFO GET /tasks 200 45ms https://github.com/acme/taskflow/actions/runs/123",
    "INFO Uvicorn running on http://0.0.0.0:8000 (Press CTRL+C to quit)",
    "INFO author=jane keyboard=us monkey=banana",
    "Bearer of bad news",
    "INFO commit 3f2c1b0a9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b deployed",
    "sqlalchemy.exc.TimeoutError: QueuePool limit of size 5 overflow 10 reached (https://sqlalche.me/e/20/3o7r)",
    "kubectl logs taskflow-api-7d9f8c6b5-x2kq9 -c api -n taskflow --previous",
    "password reset requested for user 42",
]


@pytest.mark.parametrize("line", ORDINARY)
def test_ordinary_lines_are_unchanged(line: str) -> None:
    assert redact(line) == line


def test_harmless_log_corpus_is_unchanged() -> None:
    text = (DATA / "harmless.log").read_text(encoding="utf-8")
    assert redact(text) == text


SECRETS = [text for text, _ in CASES]
# Text that cannot form a secret: no separators (= : @ .), no digits, so no token formats either.
SAFE_TEXT = st.text(
    alphabet=st.characters(blacklist_characters="=:@.-_0123456789\"'", blacklist_categories=("Cs",)),
    max_size=80,
)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(st.text(max_size=40), st.sampled_from(SECRETS + ORDINARY)), max_size=5))
def test_redaction_is_idempotent_and_never_raises(parts: list[str]) -> None:
    text = " ".join(parts)
    once = redact(text)
    assert redact(once) == once


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(SAFE_TEXT, st.sampled_from(ORDINARY)), max_size=5))
def test_text_without_secrets_is_unchanged(parts: list[str]) -> None:
    text = " ".join(parts)
    assert redact(text) == text


@settings(max_examples=200, deadline=None)
@given(st.sampled_from([c for c in CASES if c[0] not in WHOLE_LINE]), SAFE_TEXT, SAFE_TEXT)
def test_a_secret_never_survives_its_surroundings(case: tuple[str, str], before: str, after: str) -> None:
    text, expected = case
    # these words make whatever follows them a credential: that is context, not surroundings
    assume(not any(word in before.lower() for word in ("bearer", "authorization")))
    assert redact(f"{before} {text} {after}") == f"{before} {expected} {after}"


def test_redact_model_scrubs_every_string_and_keeps_types() -> None:
    ts = datetime(2024, 5, 1, tzinfo=UTC)
    secret = "postgresql://taskflow:s3cr3t-pass@db:5432/taskflow"
    report = Report(
        service="taskflow-api",
        namespace="taskflow",
        started_at=ts,
        pods=[PodSnapshot(name="p", namespace="taskflow", labels={"token": f"Bearer {JWT}"},
                          containers=[ContainerStatus(name="api", message=f"failed: {secret}")])],
        findings=[Finding(pattern="x", title="X", severity=Severity.ERROR, sample=secret,
                          evidence=["p/api: password=hunter2"])],
        events=[EventSnapshot(message=f"pulled with {GHP}")],
        errors=[StepError(step="logs", message="api_key=abc")],
        logs=[LogSnapshot(pod="p", container="api", lines=[LogLine(ts, secret), LogLine(None, "fine")])],
    )
    clean = redact_model(report)
    assert clean is not report and isinstance(clean, Report)
    assert report.findings[0].sample == secret  # the original is not modified
    assert clean.findings[0].sample == "postgresql://taskflow:[REDACTED:password]@db:5432/taskflow"
    assert clean.findings[0].evidence == ["p/api: password=[REDACTED:password]"]
    assert clean.findings[0].severity is Severity.ERROR  # enum members stay members
    assert clean.pods[0].labels == {"token": "Bearer [REDACTED:jwt]"}
    assert clean.pods[0].containers[0].message == "failed: postgresql://taskflow:[REDACTED:password]@db:5432/taskflow"
    assert clean.events[0].message == "pulled with [REDACTED:github_token]"
    assert clean.errors[0].message == "api_key=[REDACTED:api_key]"
    line = clean.logs[0].lines[0]
    assert isinstance(line, LogLine) and line.ts == ts and "[REDACTED:password]" in line.text
    assert clean.logs[0].lines[1] == LogLine(None, "fine")
    assert clean.started_at == ts
    dumped = clean.model_dump_json()
    for leaked in ("s3cr3t-pass", JWT, GHP, "hunter2"):
        assert leaked not in dumped
