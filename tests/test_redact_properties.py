"""Redaction over generated log text, and what it costs.

Properties: a generated secret of each kind, inside generated log lines (JSON lines, logfmt, plain
text, YAML, XML, command lines), never survives, whether the log is redacted in one call or line by
line; redaction is idempotent; generated harmless ids (uuid4, SHA-1/SHA-256 hex, pod names, numbers,
timestamps) are kept; text without a trigger comes back unchanged; the line-aware path gives exactly
what every rule over the whole text in one piece gives.

Cost: `python -m tests.test_redact_properties` prints the figures quoted in bot/redact.py.
"""

from __future__ import annotations

import random
import string
import sys
import time
from collections.abc import Callable

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from bot.redact import (
    _anchored_by_automaton,
    _anchored_by_find,
    _finders,
    _fold,
    _triggers,
    redact,
    redact_lines,
    redact_one_piece,
)

ALNUM = string.ascii_letters + string.digits
URLSAFE = ALNUM + "_-"
HEX = "0123456789abcdef"
POD_CHARS = "bcdfghjklmnpqrstvwxz2456789"  # what Kubernetes uses for generated name suffixes
SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def chars(alphabet: str, low: int, high: int | None = None) -> st.SearchStrategy[str]:
    return st.text(alphabet, min_size=low, max_size=low if high is None else high)


def joined(*parts: st.SearchStrategy[str] | str) -> st.SearchStrategy[str]:
    return st.tuples(*(st.just(p) if isinstance(p, str) else p for p in parts)).map("".join)


# --- harmless material ---------------------------------------------------------------------------

UUID4 = st.uuids(version=4).map(str)
SHA1 = st.binary(min_size=20, max_size=20).map(bytes.hex)
SHA256 = st.binary(min_size=32, max_size=32).map(bytes.hex)
TRACE = st.binary(min_size=16, max_size=16).map(bytes.hex)
POD = joined(st.sampled_from(["taskflow-api", "notification-service", "web-dashboard"]), "-",
             chars(POD_CHARS, 9, 10), "-", chars(POD_CHARS, 5))
NUMBER = st.integers(0, 10**12).map(str)
TIMESTAMP = st.datetimes().map(lambda d: d.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z")

HARMLESS_LINE = st.one_of(
    st.builds("{} INFO request done request_id={} duration_ms={}".format, TIMESTAMP, UUID4, NUMBER),
    st.builds('{{"ts": "{}", "level": "info", "msg": "task created", "task_id": {}, "trace_id": "{}"}}'.format,
              TIMESTAMP, NUMBER, TRACE),
    st.builds('time="{}" level=info msg="pulled" image=ghcr.io/acme/api@sha256:{} pod={}'.format,
              TIMESTAMP, SHA256, POD),
    st.builds("{} DEBUG commit={} resourceVersion={} uid={}".format, TIMESTAMP, SHA1, NUMBER, UUID4),
    st.builds('  resourceVersion: "{}"'.format, NUMBER),
    st.builds("{} INFO idempotency_key={} cache key=orders:{} token_count={} max_tokens={}".format,
              TIMESTAMP, UUID4, NUMBER, NUMBER, NUMBER),
    st.builds("kubectl logs {} -c api --previous".format, POD),
    st.builds("{} INFO digest sha256:{} cache_key={} for {}".format, TIMESTAMP, SHA256, SHA1, POD),
    st.builds("traceparent: 00-{}-{}-01 x-request-id: {}".format, TRACE, TRACE.map(lambda t: t[:16]), UUID4),
)
HARMLESS_LOG = st.lists(HARMLESS_LINE, min_size=1, max_size=12)


# --- secrets, and the log formats they arrive in ------------------------------------------------

# what a person types as a password: letters and at least two digits (a plain word after `auth` is kept)
VALUE = joined(chars(string.ascii_letters, 4, 10), chars(string.digits, 2, 4), chars(ALNUM, 0, 8))
NAME = st.sampled_from([
    "password", "DB_PASSWORD", "db_pass", "SMTP_PASS", "passwd", "pwd", "passphrase", "api_key", "API_KEY", "apiKey",
    "x-api-key", "client_secret", "CLIENT_SECRET", "secret", "SECRET_KEY", "github_token", "access_token", "AUTH",
    "refresh_token", "signing_key", "private_key", "credentials", "aws_secret_access_key", "AccountKey", "DD_APP_KEY",
])
Format = Callable[[str, str], list[str]]
NAMED_FORMATS: list[Format] = [
    lambda n, v: [f'time="2024-05-01T10:00:00Z" level=error msg="connect failed" {n}={v} host=db'],
    lambda n, v: [f'{{"ts": "2024-05-01T10:00:00Z", "level": "info", "{n}": "{v}", "msg": "config loaded"}}'],
    lambda n, v: [f"2024-05-01 10:00:00,123 INFO using {n}: {v}"],
    lambda n, v: ["config:", f"  {n}: {v}", "  host: db"],
    lambda n, v: ["env:", f"- name: {n}", f"  value: {v}", "- name: LOG_LEVEL", "  value: debug"],
    lambda n, v: ["[", "  {", f'    "name": "{n}",', f'    "value": "{v}"', "  }", "]"],
    lambda n, v: [f'env: [{{"name": "{n}", "value": "{v}"}}]'],
    lambda n, v: [f"<config><{n}>{v}</{n}></config>"],
    lambda n, v: [f'<add key="{n}" value="{v}"/>'],
    lambda n, v: [f"exec: /app/migrate --{n.lower().replace('_', '-')} {v} --verbose"],
    lambda n, v: [f"exec: mysql -u root -p{v} -h db taskflow"],
    lambda n, v: [f"DATABASE_URL=postgresql://taskflow:{v}@db:5432/taskflow"],
    lambda n, v: [f"GET /tasks headers={{'Authorization': 'Bearer {v}'}}"],
]

TOKENS: list[st.SearchStrategy[str]] = [
    joined(st.sampled_from(["sk_live_", "rk_live_", "sk_test_"]), chars(ALNUM, 24, 40)),
    joined("whsec_", chars(ALNUM, 32)),
    joined("sk-proj-", chars(URLSAFE, 40, 80)),
    joined("sk-ant-api03-", chars(URLSAFE, 93), "AA"),
    joined("npm_", chars(ALNUM, 36)),
    joined("pypi-AgEIcHlwaS5vcmc", chars(URLSAFE, 60, 100)),
    joined("glpat-", chars(URLSAFE, 20)),
    joined("AIza", chars(URLSAFE, 35)),
    joined("SG.", chars(URLSAFE, 22), ".", chars(URLSAFE, 43)),
    joined("SK", chars(HEX, 32)),
    joined("ghp_", chars(ALNUM, 36)),
    joined("github_pat_", chars(ALNUM + "_", 82)),
    joined("xoxb-", chars(string.digits, 12), "-", chars(string.digits, 12), "-", chars(ALNUM, 24)),
    joined("eyJ", chars(URLSAFE, 20, 40), ".eyJ", chars(URLSAFE, 20, 60), ".", chars(URLSAFE, 43)),
    joined("AKIA", chars(string.ascii_uppercase + string.digits, 16)),
    joined("AKIA", chars(string.ascii_uppercase + string.digits, 16), st.sampled_from([":", "/"]),
           chars(ALNUM + "/+", 40)),
    joined("hf_", chars(ALNUM, 34)),
    joined("hvs.", chars(URLSAFE, 24, 90)),
    joined("shpat_", chars(HEX, 32)),
    joined("dop_v1_", chars(HEX, 64)),
    joined("glsa_", chars(ALNUM, 32), "_", chars(HEX, 8)),
]
TOKEN_FORMATS: list[Format] = [
    lambda _, t: [f"2024-05-01T10:00:00Z ERROR auth failed with {t} for user 42"],
    lambda _, t: [f'{{"level": "error", "msg": "rejected {t}", "status": 401}}'],
    lambda _, t: [f'time="2024-05-01T10:00:00Z" level=warning msg="retrying" credential="{t}"'],
    lambda _, t: ["spec:", f"  apiToken: {t}"],
    lambda _, t: [f"<token>{t}</token>"],
    lambda _, t: [f"curl -sS https://api.example.com/v1/x -H 'X-Api-Key: {t}'"],
]


def secret_log(fmt: Format, name: str, secret: str, before: list[str], after: list[str]) -> str:
    return "\n".join([*before, *fmt(name, secret), *after])


NAMED = st.tuples(st.sampled_from(NAMED_FORMATS), NAME, VALUE, HARMLESS_LOG, HARMLESS_LOG)
TOKENED = st.tuples(st.sampled_from(TOKEN_FORMATS), st.just(""), st.one_of(TOKENS), HARMLESS_LOG, HARMLESS_LOG)


def the_secret(secret: str) -> list[str]:
    """What must not appear: the value, or for a token the parts after its prefix."""
    return [part for part in secret.replace("/", ":").split(":") if len(part) >= 8]


@SETTINGS
@given(st.one_of(NAMED, TOKENED))
def test_a_generated_secret_never_survives(case: tuple[Format, str, str, list[str], list[str]]) -> None:
    fmt, name, secret, before, after = case
    plain = "\n".join(before + after)
    parts = the_secret(secret)
    assume(parts and not any(part in plain for part in parts))
    log = secret_log(fmt, name, secret, before, after)
    for out in (redact(log), "\n".join(redact_lines(log.split("\n")))):
        for part in parts:
            assert part not in out, (log, out)
    if len(fmt(name, secret)) == 1:  # one line: it is caught on its own as well
        line = fmt(name, secret)[0]
        assert not any(part in redact(line) for part in parts)


PEM_BODY = chars(string.ascii_letters + string.digits + "+/", 64)


@SETTINGS
@given(st.lists(PEM_BODY, min_size=1, max_size=6), chars(ALNUM + "+/", 8, 40), HARMLESS_LOG, HARMLESS_LOG,
       st.sampled_from(["RSA PRIVATE KEY", "PRIVATE KEY", "EC PRIVATE KEY", "OPENSSH PRIVATE KEY"]))
def test_a_generated_private_key_never_survives(body: list[str], last: str, before: list[str], after: list[str],
                                                label: str) -> None:
    key = [f"-----BEGIN {label}-----", *body, last + "==", f"-----END {label}-----"]
    plain = "\n".join(before + after)
    secrets = [line for line in [*body, last] if len(line) >= 8]
    assume(not any(s in plain for s in secrets))
    log = [*before, *key, *after]
    for out in ("\n".join(redact_lines(log)), redact("\n".join(log))):
        assert not any(s in out for s in secrets)
        assert all(line in out for line in before + after)


@SETTINGS
@given(HARMLESS_LOG)
def test_harmless_ids_are_kept(lines: list[str]) -> None:
    text = "\n".join(lines)
    assert redact(text) == text
    assert redact_lines(lines) == lines


# fragments that come close to the rules: names, separators, quotes, markers, half tokens, folded letters
FRAGMENTS = [
    "password", "api_key", "token", "secret", "auth", "key", "name", "value", "session", "pass", "=", ":", ": ", '"',
    "'", '\\"', " ", "\n", "\n", "\t", ",", "-", "--", "- ", "{", "}", "[", "<", ">", "/", "@", "://", "&", "?",
    "-----BEGIN RSA PRIVATE KEY-----", "-----END RSA PRIVATE KEY-----", "-----BEGIN CERTIFICATE-----",
    "-----END CERTIFICATE-----", "-----BEGIN ", "MIIEowIBAAKCAQEAu1SU1LfVLPHCozMxH2Mo4lgOEePzNm0tRgeLezV6ffAt0gun",
    "Yx3mK9abcQdef7==", "sk_live_4eC39HqLyjWDarjtT1zdp7dc", "AKIAIOSFODNN7EXAMPLE", "[REDACTED:x]", "mysql", " -p",
    "<password>", "</password>", "DB_PASSWORD", "hunter22", "9f8A7b6C5d4E3f2G1h0IjKlMnOp", "Bearer ", "sig=",
    "\u017f", "\u212a", "\u0130", "ok", "42", "https://u:p@h", "name: API_SECRET\n  value: ", "sshpass",
]
SOUP = st.lists(st.one_of(st.sampled_from(FRAGMENTS), st.text(max_size=4)), max_size=30).map("".join)
LOGS = st.one_of(
    SOUP,
    st.one_of(NAMED, TOKENED).map(lambda c: secret_log(*c)),
    st.lists(st.one_of(SOUP, HARMLESS_LINE, st.one_of(NAMED, TOKENED).map(lambda c: secret_log(*c))),
             max_size=6).map("\n".join),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(LOGS)
def test_line_aware_is_one_piece_and_idempotent(text: str) -> None:
    once = redact(text)
    assert once == redact_one_piece(text)
    assert redact(once) == once
    if "-----BEGIN" not in text:  # a key block is one line in one piece, one tag per line otherwise
        assert "\n".join(redact_lines(text.split("\n"))) == once


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(LOGS, min_size=1, max_size=40), st.lists(HARMLESS_LINE, min_size=40, max_size=80))
def test_a_long_text_is_searched_in_one_pass_with_the_same_answer(logs: list[str], filler: list[str]) -> None:
    """Over 2,000 characters (a findings file, a log tail) the literals are found by one automaton pass
    instead of a `find` each: the same trigger lines, and the same redaction as every rule in one piece."""
    text = "\n".join(filler + logs + filler)
    assert len(text) > 2000
    folded = _fold(text)
    finders = _finders()
    assert finders is not None
    by_pass: dict[int, int] = {}
    by_find: dict[int, int] = {}
    _anchored_by_automaton(text, folded, by_pass, finders)
    _anchored_by_find(text, folded, by_find)
    assert by_pass == by_find
    assert redact(text) == redact_one_piece(text)


@settings(max_examples=300, deadline=None)
@given(st.one_of(SOUP, st.text()))
def test_text_without_a_trigger_is_returned_unchanged(text: str) -> None:
    assume(not _triggers(text, _fold(text)))
    # every rule over the whole text, none skipped: a trigger is needed for any of them to find something
    assert redact_one_piece(text) == text
    assert redact(text) == text


WORDS = ["INFO", "DEBUG", "ERROR", "GET", "POST", "/tasks", "/health", "200", "404", "request", "done", "in", "ms",
         "worker", "queue", "pool", "size", "retry", "user", "order", "created", "for", "from", "with", "ready"]


@SETTINGS
@given(st.lists(st.one_of(st.sampled_from(WORDS), NUMBER, TIMESTAMP, UUID4), max_size=40),
       st.lists(st.sampled_from([" ", "=", ":", ",", "\n", "\t", "/", ".", "-", "_", '"', "(", ")"]), max_size=40))
def test_ordinary_words_come_back_unchanged(words: list[str], seps: list[str]) -> None:
    text = "".join(w + (seps[i] if i < len(seps) else " ") for i, w in enumerate(words))
    assert redact(text) == text


# --- cost ----------------------------------------------------------------------------------------

BACKGROUND = [
    'INFO:     10.0.{a}.{b}:{c} - "GET /tasks HTTP/1.1" 200 OK {d}ms',
    "{ts} INFO request done error_count=0 duration_ms={d} request_id={hex}",
    'time="{ts}" level=info msg="HTTP API Called: GET /v1.0/state/taskflow-store" app_id=taskflow-api '
    "instance=taskflow-api-7d9f8c6b5-x2kq9 scope=dapr.runtime.http-info type=log ver=1.14.4",
    "DEBUG session checkout pool_size=5 checked_out={a} task_id={c}",
    '{{"ts": "{ts}", "level": "info", "msg": "task created", "task_id": {c}, "trace_id": "{hex}"}}',
    "sqlalchemy.exc.TimeoutError: QueuePool limit of size 5 overflow 10 reached, connection timed out, timeout "
    "30.00 (Background on this error at: https://sqlalche.me/e/20/3o7r)",
    '  File "/app/src/taskflow/routes/tasks.py", line 42, in list_tasks',
    "INFO token_count={c} max_tokens=4096 cache key=user:{a}",
]
PLANTED = [
    ["DATABASE_URL=postgresql://taskflow:s3cr3t-pass@db:5432/taskflow"],
    ["Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.abcdefghijkl"],
    ["stripe.error.AuthenticationError: Invalid API Key provided: sk_live_51HqLyjWDarjtT1zdp7dcXyZ0aB"],
    ["-----BEGIN RSA PRIVATE KEY-----", "MIIEowIBAAKCAQEAu1SU1LfVLPHCozMxH2Mo4lgOEePzNm0tRgeLezV6ffAt0gun",
     "Fj3kq3xUuQy5wn7jXh1bQzX6hsTDtV4uX0ejA1A==", "-----END RSA PRIVATE KEY-----"],
    ["- name: API_SECRET", "  value: sup3r-s3cret"],
    ["upload failed for AKIAIOSFODNN7EXAMPLE:wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"],
    ["exec: migrate --password hunter2 --host db"],
    ['<add key="DbPassword" value="hunter2"/>'],
    ["mysql -uroot -pS3cr3tPw -h db taskflow"],
]


def bench_log(lines: int, seed: int = 7) -> str:
    """`lines` ordinary log lines, as the demo scenario writes them, with the planted secrets every 2,000."""
    rng = random.Random(seed)
    out = [
        rng.choice(BACKGROUND).format(a=rng.randint(0, 9), b=rng.randint(1, 254), c=rng.randint(1, 60000),
                                      d=rng.randint(1, 900), hex=f"{rng.getrandbits(128):032x}",
                                      ts=f"2024-05-01T10:{rng.randint(10, 59)}:{rng.randint(10, 59)}.123Z")
        for _ in range(lines)
    ]
    for start in range(0, lines, 2000):
        for i, secret in reversed(list(enumerate(PLANTED))):
            at = start + 2000 * (i + 1) // (len(PLANTED) + 2)
            out[at:at] = secret
    return "\n".join(out) + "\n"


def best_of(runs: int, fn: Callable[[], object]) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return min(times)


def test_a_log_file_costs_its_trigger_lines_not_its_length() -> None:
    log = bench_log(2000)
    assert redact(log) == redact_one_piece(log)
    assert "hunter2" not in redact(log) and "s3cr3t" not in redact(log)
    # a ratio, not a time, so that a busy machine does not fail it; measured ~30x on 2 cores
    assert best_of(3, lambda: redact(log)) * 5 < best_of(1, lambda: redact_one_piece(log))


def main(argv: list[str]) -> None:
    """Print the cost of redacting a 2,000-line log and a ~10 MB log, in one piece and line-aware."""
    for lines in (2000, int(argv[0]) if argv else 100_000):
        log = bench_log(lines)
        line_aware = best_of(3, lambda log=log: redact(log))  # type: ignore[misc]
        one_piece = best_of(1, lambda log=log: redact_one_piece(log))  # type: ignore[misc]
        print(f"lines={lines} bytes={len(log.encode())} one_piece_ms={one_piece * 1000:.1f} "
              f"line_aware_ms={line_aware * 1000:.1f} speedup={one_piece / line_aware:.0f}x "
              f"line_aware_mb_s={len(log.encode()) / line_aware / 1e6:.0f} same={redact(log) == redact_one_piece(log)}")


if __name__ == "__main__":
    main(sys.argv[1:])
