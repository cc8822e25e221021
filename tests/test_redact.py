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
from bot.redact import redact, redact_lines, redact_model, redact_one_piece

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


# --- kinds added with issue 14: realistic shapes, fake values -----------------------------------

ANT = "sk-ant-api03-R2D2C3P0BEEPxBOOPxBUZZxWHIRRxCLICKxSPINxTURNxJUMPxSKIPxHOPxDANCExSINGxPLAYxWORKxLEARNxGROWxLAA"
OPENAI = "sk-proj-Xy7pQ2mN9vL4kR8sT1wZ3bC6dF0gH5jK_aE2iO7uY9-tR4eW1qS8zX3cV6bN0mL5kJ2hG9fD"
PYPI = "pypi-AgEIcHlwaS5vcmcCJGE0NzFkNmJhLTc4ZDMtNGYxYi04Y2EwLTFjMjNhZDE1YzQ3MAACKlsz"
AZURE_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
AWS_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
AGE_BODY = ("QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L" * 2)[:58]

MORE_CASES = [
    # Stripe
    ("stripe.error.AuthenticationError: Invalid API Key provided: sk_live_51HqLyjWDarjtT1zdp7dcXyZ0aB",
     "stripe.error.AuthenticationError: Invalid API Key provided: [REDACTED:stripe_key]"),
    ("STRIPE_KEY=rk_live_51HqLyjWDarjtT1zdp7dcXyZ0aB", "STRIPE_KEY=[REDACTED:stripe_key]"),
    ("using sk_test_4eC39HqLyjWDarjtT1zdp7dc for checkout", "using [REDACTED:stripe_key] for checkout"),
    ("webhook signing secret whsec_MfKQ9r8GKYqrTwjUPD8ILPZIK2HpL1Rt loaded",
     "webhook signing secret [REDACTED:stripe_webhook_secret] loaded"),
    # OpenAI, Anthropic
    (f"openai.AuthenticationError: Incorrect API key provided: {OPENAI}.",
     "openai.AuthenticationError: Incorrect API key provided: [REDACTED:openai_key]."),
    ("OPENAI_API_KEY=sk-4f9Kx2LmN8pQ7rS1tU3vT3BlbkFJW5xY6zA0bC2dE4gH6i", "OPENAI_API_KEY=[REDACTED:openai_key]"),
    (f"anthropic rejected {ANT} (401)", "anthropic rejected [REDACTED:anthropic_key] (401)"),
    (f"x-api-key: {ANT}", "x-api-key: [REDACTED:anthropic_key]"),
    # package registries and forges
    ("//registry.npmjs.org/:_authToken=npm_aB3dE5fG7hI9jK1lM3nO5pQ7rS9tU1vW3xY5",
     "//registry.npmjs.org/:_authToken=[REDACTED:npm_token]"),
    (f"twine upload -u __token__ -p {PYPI} dist/*", "twine upload -u __token__ -p [REDACTED:pypi_token] dist/*"),
    ("remote: HTTP Basic: Access denied for glpat-xK9mQ2vL7nR4tP8wZ3yB",
     "remote: HTTP Basic: Access denied for [REDACTED:gitlab_token]"),
    # Google, SendGrid, Twilio, Datadog, Hugging Face
    ("GET https://maps.googleapis.com/maps/api/geocode/json?key=AIzaSyD-9tSrke72PouQMnMX-a7eZSW0jkFMBWY 200",
     "GET https://maps.googleapis.com/maps/api/geocode/json?key=[REDACTED:google_api_key] 200"),
    ("SENDGRID_API_KEY=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",
     "SENDGRID_API_KEY=[REDACTED:sendgrid_key]"),
    ("twilio client created with SK2a0f3c9e8d7b6a5f4e3d2c1b0a9f8e7d",
     "twilio client created with [REDACTED:twilio_key]"),
    ("TWILIO_AUTH_TOKEN=9f8e7d6c5b4a39281706f5e4d3c2b1a0", "TWILIO_AUTH_TOKEN=[REDACTED:token]"),
    ("DD_API_KEY=0123456789abcdef0123456789abcdef", "DD_API_KEY=[REDACTED:api_key]"),
    ("curl -H 'DD-APPLICATION-KEY: 0123456789abcdef0123456789abcdef01234567' https://api.datadoghq.com/api/v1/validate",
     "curl -H 'DD-APPLICATION-KEY: [REDACTED:api_key]' https://api.datadoghq.com/api/v1/validate"),
    ("model pulled with hf_AbCdEfGhIjKlMnOpQrStUvWxYz01234567", "model pulled with [REDACTED:huggingface_token]"),
    # Azure: storage keys in connection strings, SAS signatures in URLs, client secrets
    (f"DefaultEndpointsProtocol=https;AccountName=acmelogs;AccountKey={AZURE_KEY};EndpointSuffix=core.windows.net",
     "DefaultEndpointsProtocol=https;AccountName=acmelogs;AccountKey=[REDACTED:api_key];EndpointSuffix=core.windows.net"),
    ("GET https://acmelogs.blob.core.windows.net/logs/app.log?sv=2022-11-02&ss=b&sp=r&se=2024-05-01T10:00:00Z"
     "&spr=https&sig=4pVqJ3N2w%2BkX7yZ0aB1cD2eF3gH4iJ5kL6mN7oP8qR9s%3D 403",
     "GET https://acmelogs.blob.core.windows.net/logs/app.log?sv=2022-11-02&ss=b&sp=r&se=2024-05-01T10:00:00Z"
     "&spr=https&sig=[REDACTED:signature] 403"),
    ("Endpoint=sb://acme.servicebus.windows.net/;SharedAccessKeyName=send;SharedAccessKey=" + AZURE_KEY[:44],
     "Endpoint=sb://acme.servicebus.windows.net/;SharedAccessKeyName=send;SharedAccessKey=[REDACTED:api_key]"),
    ("client secret abc8Q~xYzAbCdEfGhIjKlMnOpQrStUvWx.yz0123 expired",
     "client secret [REDACTED:azure_client_secret] expired"),
    # AWS: the secret after the key id
    (f"upload failed for AKIAIOSFODNN7EXAMPLE:{AWS_SECRET}",
     "upload failed for [REDACTED:aws_access_key]:[REDACTED:aws_secret_key]"),
    (f"credentials AKIAIOSFODNN7EXAMPLE/{AWS_SECRET} rejected",
     "credentials [REDACTED:aws_access_key]/[REDACTED:aws_secret_key] rejected"),
    ("X-Amz-Credential=AKIAIOSFODNN7EXAMPLE/20240501/us-east-1/s3/aws4_request",
     "X-Amz-Credential=[REDACTED:aws_access_key]/20240501/us-east-1/s3/aws4_request"),
    # command lines
    ("exec: migrate --password hunter2 --host db", "exec: migrate --password [REDACTED:password] --host db"),
    ("exec: migrate --password=hunter2 --host db", "exec: migrate --password=[REDACTED:password] --host db"),
    ("gh auth login --token abc123def --hostname github.example.com",
     "gh auth login --token [REDACTED:token] --hostname github.example.com"),
    ("az login --service-principal -u app --client-secret 'abc def' --tenant t",
     "az login --service-principal -u app --client-secret '[REDACTED:secret]' --tenant t"),
    ("mysql -uroot -pS3cr3tPw -h db taskflow", "mysql -uroot -p[REDACTED:password] -h db taskflow"),
    ("mysqldump -u root -p'S3 cr3t' taskflow", "mysqldump -u root -p'[REDACTED:password]' taskflow"),
    ("sshpass -p hunter2 ssh deploy@10.0.0.5", "sshpass -p [REDACTED:password] ssh deploy@10.0.0.5"),
    ("redis-cli -h redis -a hunter2 ping", "redis-cli -h redis -a [REDACTED:password] ping"),
    ("keytool -importkeystore -srcstorepass changeit -deststorepass s3cret",
     "keytool -importkeystore -srcstorepass [REDACTED:password] -deststorepass [REDACTED:password]"),
    # XML, JSON and env lists
    ("<password>hunter2</password>", "<password>[REDACTED:password]</password>"),
    ("<db:Password>hunter2</db:Password>", "<db:Password>[REDACTED:password]</db:Password>"),
    ('<add key="DbPassword" value="hunter2"/>', '<add key="DbPassword" value="[REDACTED:password]"/>'),
    ('<property name="db.password" value="hunter2"/>', '<property name="db.password" value="[REDACTED:password]"/>'),
    ('env: [{"name": "DB_PASSWORD", "value": "hunter2"}]',
     'env: [{"name": "DB_PASSWORD", "value": "[REDACTED:password]"}]'),
    ("- name: API_SECRET\n  value: sup3r-s3cret", "- name: API_SECRET\n  value: [REDACTED:secret]"),
    ('    "name": "DB_PASSWORD",\n    "value": "hunter2"',
     '    "name": "DB_PASSWORD",\n    "value": "[REDACTED:password]"'),
    ("DB_PASS=hunter2", "DB_PASS=[REDACTED:password]"),
    # other SaaS formats
    ("found shpat_0123456789abcdef0123456789abcdef in config", "found [REDACTED:shopify_token] in config"),
    ("found dop_v1_" + "0123456789abcdef" * 4 + " in config", "found [REDACTED:digitalocean_token] in config"),
    ("found dapi0123456789abcdef0123456789abcdef in config", "found [REDACTED:databricks_token] in config"),
    ("VAULT_TOKEN=hvs.CAESIJ6rBDk0aDNmZ2hpamtsbW5vcHFy", "VAULT_TOKEN=[REDACTED:vault_token]"),
    ("found dp.pt.AbCdEfGhIjKlMnOpQrStUvWxYz0123456789AbCdEfG in config", "found [REDACTED:doppler_token] in config"),
    ("found glsa_AbCdEfGhIjKlMnOpQrStUvWxYz012345_0a1b2c3d in config", "found [REDACTED:grafana_token] in config"),
    ("found sntryu_" + "0123456789abcdef" * 4 + " in config", "found [REDACTED:sentry_token] in config"),
    ("found NRAK-ABCDEFGHIJKLMNOPQRSTUVWXYZ0 in config", "found [REDACTED:newrelic_key] in config"),
    ("found lin_api_AbCdEfGhIjKlMnOpQrStUvWxYz0123456789AbCd in config", "found [REDACTED:linear_key] in config"),
    ("found PMAK-0123456789abcdef01234567-0123456789abcdef0123456789abcdef01 in config",
     "found [REDACTED:postman_key] in config"),
    ("found ATATT3xFfGF0AbCdEfGhIjKlMnOpQrStUvWxYz0123456789AbCdEfGhIj in config",
     "found [REDACTED:atlassian_token] in config"),
    (f"found AGE-SECRET-KEY-1{AGE_BODY} in config", "found [REDACTED:age_secret_key] in config"),
    ("found sq0atp-AbCdEfGhIjKlMnOpQrStUv in config", "found [REDACTED:square_token] in config"),
    ("found 123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsawq in config", "found [REDACTED:telegram_token] in config"),
    ("found HRKU-AbCdEfGhIjKlMnOpQrStUvWxYz0123456789 in config", "found [REDACTED:heroku_key] in config"),
    ("found ya29.a0AfH6SMBxAbCdEfGhIjKlMnOpQr in config", "found [REDACTED:google_oauth_token] in config"),
    ("found GOCSPX-AbCdEfGhIjKlMnOpQrStUvWxYz01 in config", "found [REDACTED:google_oauth_secret] in config"),
]


@pytest.mark.parametrize(("text", "expected"), MORE_CASES)
def test_each_added_kind_is_redacted_and_the_rest_kept(text: str, expected: str) -> None:
    assert redact(text) == expected
    assert redact_one_piece(text) == expected
    assert "\n".join(redact_lines(text.split("\n"))) == expected


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(MORE_CASES), SAFE_TEXT, SAFE_TEXT)
def test_an_added_secret_never_survives_its_surroundings(case: tuple[str, str], before: str, after: str) -> None:
    text, expected = case
    # words that make whatever follows them a credential, and commands whose -p is a password: context
    assume(not any(word in before.lower() for word in ("bearer", "authorization", "mysql", "sshpass", "redis")))
    assert redact(f"{before} {text} {after}") == f"{before} {expected} {after}"


HARMLESS = [
    "GET /orders key=orders/2024 200",
    "cache key=user:42 hit",
    "stripe idempotency_key=ik_8Hd7s6F5g4H3j2K1L0 accepted",  # was redacted: random-looking, but not a secret
    "idempotency_key=3f2c1b0a-9e8d-4c6b-8a4f-3e2d1c0b9a8f",  # was redacted
    "auth=ok user=jane",  # was redacted
    "auth=none",
    "auth: required",  # was redacted
    "authenticated=true",
    "auth_method=oidc",
    "image=ghcr.io/acme/taskflow-api@sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
    "cache_key=sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",  # was redacted
    "event_key=3f2c1b0a9e8d7c6b5a4f3e2d1c0b9a8f",  # was redacted
    "lock_key=AbCdEfGh12345678IjKl",  # was redacted
    "object_key=uploads/2024/05/01/9f86d081884c7d659a2feaa0c55ad015.png",  # was redacted
    "commit=3f2c1b0a9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b",
    "pod=taskflow-api-7d9f8b6c5d-x2kq9 restarted",
    "trace_id=4bf92f3577b34da6a3ce929d0e0e4736 span_id=00f067aa0ba902b7",
    "traceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
    "request_id=9f1c2b3a-4d5e-4f60-8a1b-2c3d4e5f6a7b",
    "X-Request-Id: 9f1c2b3a-4d5e-4f60-8a1b-2c3d4e5f6a7b",
    "uid: 5b2c1f0e-8a1b-4c5d-9e6f-0a1b2c3d4e5f",
    'resourceVersion: "48213377"',
    "INFO token_count=42 max_tokens=100",
    "session_key_id=42",
    "partition_key=tenant-42 routing_key=orders.created",
    "docker login --username ci --password-stdin ghcr.io",
    "mysql -u root -p taskflow",  # -p alone prompts; what follows is the database
    "bypass=cache",
    "ERROR 1045 (28000): Access denied for user 'root'@'localhost' (using password: YES)",  # was redacted
    '{"name": "DB_PASSWORD", "valueFrom": {"secretKeyRef": {"name": "db", "key": "password"}}}',
]


@pytest.mark.parametrize("line", HARMLESS)
def test_harmless_ids_and_words_are_kept(line: str) -> None:
    assert redact(line) == line


CERTIFICATE = (
    "-----BEGIN CERTIFICATE-----\n"
    "MIIDdzCCAl+gAwIBAgIEAgAAuTANBgkqhkiG9w0BAQUFADBaMQswCQYDVQQGEwJJ\n"
    "RTESMBAGA1UEChMJQmFsdGltb3JlMRMwEQYDVQQLEwpDeWJlclRydXN0MSIwIAYD\n"
    "VQQDExlCYWx0aW1vcmUgQ3liZXJUcnVzdCBSb290MB4XDTAwMDUxMjE4NDYwMFoX\n"
    "-----END CERTIFICATE-----"
)
KEY_LINES = [
    "-----BEGIN RSA PRIVATE KEY-----",
    "MIIEowIBAAKCAQEAu1SU1LfVLPHCozMxH2Mo4lgOEePzNm0tRgeLezV6ffAt0gun",
    "VTLw7onLRnrq0/IzW7yWR7QkrmBL7jTKEn5u+qKhbwKfBstIs+bMY2Zkp18gnTxK",
    "Fj3kq3xUuQy5wn7jXh1bQzX6hsTDtV4uX0ejA1A==",
    "-----END RSA PRIVATE KEY-----",
]


def test_a_key_arriving_one_line_per_call_does_not_leak() -> None:
    # each call stands alone: the BEGIN line is a key cut short, the body lines are pure base64
    assert [redact(line) for line in KEY_LINES] == ["[REDACTED:private_key]"] * 4 + [KEY_LINES[-1]]


def test_a_key_in_a_long_text_or_in_lines_does_not_leak() -> None:
    log = ["INFO starting", "ERROR could not parse key:", *KEY_LINES, "INFO retrying"]
    assert redact("\n".join(log)) == "INFO starting\nERROR could not parse key:\n[REDACTED:private_key]\nINFO retrying"
    assert redact_lines(log) == ["INFO starting", "ERROR could not parse key:", *["[REDACTED:private_key]"] * 5,
                                 "INFO retrying"]


def test_certificates_are_not_secret() -> None:
    text = f"INFO loaded CA\n{CERTIFICATE}\nINFO ready"
    assert redact(text) == text
    assert redact_lines(text.split("\n")) == text.split("\n")
    # a certificate then a key: the key goes, the certificate stays
    both = f"{CERTIFICATE}\n" + "\n".join(KEY_LINES)
    assert redact(both) == f"{CERTIFICATE}\n[REDACTED:private_key]"


def test_an_env_value_on_the_line_after_its_name_is_redacted_line_by_line() -> None:
    lines = ["env:", "- name: LOG_LEVEL", "  value: debug", "- name: API_SECRET", "  value: sup3r-s3cret", "- name: X"]
    assert redact_lines(lines) == [*lines[:4], "  value: [REDACTED:secret]", "- name: X"]


def test_strings_known_clean_are_remembered_but_no_secret_is(monkeypatch: pytest.MonkeyPatch) -> None:
    import bot.redact as module

    monkeypatch.setattr(module, "_clean", {})
    monkeypatch.setattr(module, "CLEAN_KEPT", 3)
    secret = "password=hunter2"
    report = Report(service="taskflow-api", namespace="taskflow", started_at=datetime(2024, 5, 1, tzinfo=UTC),
                    errors=[StepError(step="logs", message=secret), StepError(step="events", message="fine")])
    first = redact_model(report)
    again = redact_model(report)  # a second pass, as the CLI's over the playbook's redacted report
    assert first.model_dump() == again.model_dump()
    assert [e.message for e in again.errors] == ["password=[REDACTED:password]", "fine"]
    assert "fine" in module._clean and not any("hunter2" in text for text in module._clean)
    for n in range(10):
        redact_model(report.model_copy(update={"service": f"svc-{n}"}))
    assert len(module._clean) <= 3  # bounded: the oldest make way


def test_redact_model_reads_log_lines_as_one_log() -> None:
    ts = datetime(2024, 5, 1, tzinfo=UTC)
    lines = [LogLine(ts, text) for text in ["- name: DB_PASSWORD", "  value: hunter2", *KEY_LINES]]
    clean = redact_model(LogSnapshot(pod="p", container="api", lines=lines))
    assert [line.text for line in clean.lines] == ["- name: DB_PASSWORD", "  value: [REDACTED:password]",
                                                   *["[REDACTED:private_key]"] * 5]
    assert all(isinstance(line, LogLine) and line.ts == ts for line in clean.lines)


def test_a_whole_log_file_is_redacted_as_in_one_piece() -> None:
    text = (DATA / "harmless.log").read_text(encoding="utf-8")
    planted = "\n".join(text for text, _ in CASES + MORE_CASES)
    log = "\n".join([text, planted, CERTIFICATE, *KEY_LINES, text])
    assert redact(log) == redact_one_piece(log)
    for line in redact(log).split("\n"):
        assert "hunter2" not in line and "S3cr3t" not in line and "sk_live" not in line


def test_redaction_off_the_event_loop_equals_on_it() -> None:
    """The Slack path redacts in a worker thread (asyncio.to_thread): the same text comes out."""
    import asyncio

    text = "\n".join([
        "2026-11-29T10:00:00Z - name: STRIPE_API_KEY",
        "2026-11-29T10:00:00Z   value: sk_live_51Habcdefghijklmnopqrstuvwx",
        "-----BEGIN RSA PRIVATE KEY-----", "MIIEowIBAAKCAQEA7bq9qQ1Z2x3y4w5v6u7t8s9r0q1p2o3n4m5l6k7j8i9h0g1f",
        "-----END RSA PRIVATE KEY-----", "postgresql://app:hunter2secret@db:5432/app", "ordinary line",
    ] * 50)

    async def both() -> tuple[str, list[str]]:
        return await asyncio.to_thread(redact, text), await asyncio.to_thread(redact_lines, text.splitlines())

    off_text, off_lines = asyncio.run(both())
    assert off_text == redact(text) and off_lines == redact_lines(text.splitlines())
    assert "sk_live" not in off_text and "hunter2secret" not in off_text and "MIIEow" not in off_text
