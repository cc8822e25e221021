"""The bug-pattern table: seed lines classify to their rows, harmless lines to nothing, bad files fail clearly."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.errors import NotFoundError, PatternFileError, UsageError
from bot.models import Severity
from playbooks.literals import SPACE
from playbooks.literals import alternation as _alternation
from playbooks.literals import required_literals as _required_literals
from playbooks.patterns import (
    DEFAULT_FILE,
    Pattern,
    PatternTable,
    match_lines,
    read_pattern_file,
)
from tests.seeds import SEED_LINES as BRIEF_LINES

DATA = Path(__file__).parent / "data" / "patterns"


@pytest.fixture(scope="module")
def table() -> PatternTable:
    return PatternTable.default()


def test_brief_lines_match_exactly_the_five_errors(table: PatternTable) -> None:
    got = [(n, p.id) for n, p, _ in match_lines(table, BRIEF_LINES)]
    assert got == [
        (1, "sqlalchemy-pool-exhausted"),
        (2, "model-schema-mismatch"),
        (3, "sqlalchemy-missing-greenlet"),
        (4, "wrong-endpoint-url"),
        (5, "cloudevent-not-unwrapped"),
    ]


# Every error line quoted in the seeds, then variants as real logs write them.
SEED_LINES = [
    # production-debugging-skill.md: the "Analyze the Error" table and the "Common Bug Patterns"
    ("AttributeError: 'X' has no attribute 'Y'", "model-schema-mismatch"),
    ("AttributeError: 'Model' has no attribute 'field'", "model-schema-mismatch"),
    ("404 Not Found", "wrong-endpoint-url"),
    ("greenlet_spawn has not been called", "sqlalchemy-missing-greenlet"),
    ("event_type: None", "cloudevent-not-unwrapped"),
    # debugging-walkthrough.md
    ("Error: sqlalchemy.exc.TimeoutError", "sqlalchemy-pool-exhausted"),
    ("QueuePool limit reached", "sqlalchemy-pool-exhausted"),
]

VARIANTS = [
    # pool exhaustion: JSON lines, other sizes, the background link, a module prefix
    ('{"level": "error", "msg": "sqlalchemy.exc.TimeoutError: QueuePool limit of size 20 overflow 0 reached, '
     'connection timed out, timeout 10.00"}', "sqlalchemy-pool-exhausted"),
    ("ERROR app.db: QueuePool limit of size 5 overflow 10 reached, connection timed out, timeout 30.00 "
     "(Background on this error at: https://sqlalche.me/e/20/3o7r)", "sqlalchemy-pool-exhausted"),
    ("queuepool LIMIT of size 5 OVERFLOW 10 REACHED", "sqlalchemy-pool-exhausted"),
    ("SAWarning: The garbage collector is trying to clean up non-checked-in connection <AdaptedConnection "
     "<asyncpg.connection.Connection object at 0x7f>>, which will be terminated.", "sqlalchemy-pool-exhausted"),
    # model/schema mismatch: other models, quoting styles, escaped JSON
    ("AttributeError: 'Task' object has no attribute 'assignee_name'", "model-schema-mismatch"),
    ('{"msg": "AttributeError: \\"Project\\" object has no attribute \\"owner_email\\""}', "model-schema-mismatch"),
    ("  File \"/app/routes.py\", line 9, in list_workers: AttributeError: type object 'Worker' has no "
     "attribute 'full_name'", "model-schema-mismatch"),
    ("TypeError: 'full_name' is an invalid keyword argument for Worker", "model-schema-mismatch"),
    ("AttributeError: 'NoneType' object has no attribute 'id'", "none-attribute"),
    # async SQLAlchemy
    ("sqlalchemy.exc.MissingGreenlet: greenlet_spawn has not been called; can't call await_only() here. "
     "Was IO attempted in an unexpected place? (Background on this error at: https://sqlalche.me/e/20/xd2s)",
     "sqlalchemy-missing-greenlet"),
    ('{"level":"ERROR","logger":"notification","msg":"MissingGreenlet: greenlet_spawn has not been called"}',
     "sqlalchemy-missing-greenlet"),
    # wrong endpoint: daprd's logfmt line, httpx's error, JSON status + url
    ('time="2024-05-01T10:00:00Z" level=info msg="HTTP API Called: POST /v1.0/invoke/notification-service/'
     'method/api/remind 404 Not Found" app_id=taskflow-api scope=dapr.runtime.http', "wrong-endpoint-url"),
    ("httpx.HTTPStatusError: Client error '404 Not Found' for url "
     "'http://localhost:3500/v1.0/invoke/notification-service/method/api/remind'", "wrong-endpoint-url"),
    ('HTTP Request: POST http://notification-service:8001/api/remind "HTTP/1.1 404 Not Found"',
     "wrong-endpoint-url"),
    ('{"msg": "callback failed", "status_code": 404, "url": "http://notification-service/api/remind"}',
     "wrong-endpoint-url"),
    # CloudEvent not unwrapped
    ("Received event: {'event_type': None, 'task_id': None, 'data': {'event_type': 'reminder.due'}}",
     "cloudevent-not-unwrapped"),
    ('{"msg": "handling event", "event_type": null}', "cloudevent-not-unwrapped"),
    ("WARNING notification: eventType=None, skipping", "cloudevent-not-unwrapped"),
    ("KeyError: 'event_type'", "cloudevent-not-unwrapped"),
    # timezone
    ("TypeError: can't compare offset-naive and offset-aware datetimes", "timezone-bug"),
    ("asyncpg.exceptions.DataError: invalid input for query argument $2: datetime.datetime(2024, 5, 1, 23, 0) "
     "(can't subtract offset-naive and offset-aware datetimes)", "timezone-bug"),
    ('Run time of job "send_reminder (trigger: date[2024-05-01 23:00:00 UTC])" was missed by 5:00:01.52',
     "timezone-bug"),
    ("INFO reminder 7 scheduled_for=2024-05-01T23:00:00Z fired_at=2024-05-02T04:00:00Z", "timezone-bug"),
    # Kubernetes and Dapr
    ("Back-off restarting failed container api in pod taskflow-api-7d9f8c6b5-x2kq9_taskflow(0a1b)",
     "crash-loop-backoff"),
    ("Readiness probe failed: HTTP probe failed with statuscode: 503", "readiness-probe-failed"),
    ('Liveness probe failed: Get "http://10.1.0.7:8000/health": context deadline exceeded',
     "liveness-probe-failed"),
    ('Failed to pull image "ghcr.io/acme/taskflow-api:deadbee": rpc error: code = NotFound',
     "image-pull-failed"),
    ('time="..." level=error msg="error connecting to placement service: rpc error: code = Unavailable desc = '
     'connection error: desc = \\"transport: Error while dialing: dial tcp 10.96.4.2:50005: connect: '
     'connection refused\\""', "dapr-control-plane-unreachable"),
    ('level=warning msg="Failed to connect to scheduler: context deadline exceeded"',
     "dapr-control-plane-unreachable"),
    ("dial tcp 10.96.4.3:50006: connect: connection refused", "dapr-control-plane-unreachable"),
    ("Error: connect ECONNREFUSED 10.96.0.12:6379", "connection-refused"),
    ("ConnectionRefusedError: [Errno 111] Connect call failed ('10.96.0.12', 5432)", "connection-refused"),
    ('psycopg2.OperationalError: could not connect to server: Connection refused\n\tIs the server running on '
     'host "db"', "connection-refused"),
    ('dial tcp 10.96.0.12:8080: connect: connection refused', "connection-refused"),
    ('could not translate host name "db" to address: Name or service not known', "dns-resolution-failed"),
    ("dial tcp: lookup notification-service on 10.96.0.10:53: no such host", "dns-resolution-failed"),
    ('Post "http://127.0.0.1:3500/v1.0/publish/pubsub/tasks": context deadline exceeded', "deadline-exceeded"),
    ('pods is forbidden: User "system:serviceaccount:opsbot:opsbot" cannot list resource "pods" in API group '
     '"" in the namespace "kube-system"', "rbac-forbidden"),
    ('psycopg2.errors.UndefinedColumn: column workers.full_name does not exist', "db-schema-drift"),
    ("FATAL:  sorry, too many clients already", "db-too-many-connections"),
    ("ModuleNotFoundError: No module named 'redis'", "python-import-error"),
    ("exec /app/server: exec format error", "exec-format-error"),
    ("ssl.SSLCertVerificationError: [SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed",
     "tls-certificate-error"),
    ('INFO:     10.0.0.1:5000 - "GET /tasks HTTP/1.1" 500 Internal Server Error', "http-5xx"),
    ("INFO GET /tasks 500 3400ms", "http-5xx"),
    ('{"method": "GET", "path": "/workers", "status": 500}', "http-5xx"),
]


@pytest.mark.parametrize(("line", "expected"), SEED_LINES + VARIANTS)
def test_error_line_classifies_to_its_pattern(table: PatternTable, line: str, expected: str) -> None:
    pattern = table.classify(line)
    assert pattern is not None, f"no pattern for {line!r}"
    assert pattern.id == expected


def test_harmless_corpus_matches_nothing(table: PatternTable) -> None:
    with (DATA / "harmless.log").open(encoding="utf-8") as lines:
        hits = [(n, p.id, text) for n, p, text in match_lines(table, lines)]
    assert hits == []


@pytest.mark.parametrize(
    ("text", "source", "expected"),
    [
        ("OOMKilled (exit code 137)", "status", "oom-killed"),
        ("CrashLoopBackOff", "status", "crash-loop-backoff"),
        ("ImagePullBackOff", "status", "image-pull-failed"),
        ("ErrImagePull", "status", "image-pull-failed"),
        ("CreateContainerConfigError", "status", "container-config-error"),
        ("Evicted", "status", "pod-evicted"),
        ("Error (exit code 1)", "status", None),
        ("Completed (exit code 0)", "status", None),
        ("BackOff: Back-off restarting failed container api in pod x", "event", "crash-loop-backoff"),
        ("Unhealthy: Readiness probe failed: HTTP probe failed with statuscode: 503", "event",
         "readiness-probe-failed"),
        ("OOMKilling: Memory cgroup out of memory: Killed process 4242 (python)", "event", "oom-killed"),
        ("FailedScheduling: 0/3 nodes are available: 3 Insufficient memory.", "event", "failed-scheduling"),
        ("Pulled: Successfully pulled image \"daprio/daprd:1.14.4\"", "event", None),
        # a row limited to events and states does not fire on an app's log
        ("INFO cache Evicted 3 keys", "log", None),
        # and a log-only row does not fire on a container state
        ("event_type: None", "status", None),
    ],
)
def test_sources_limit_where_a_row_applies(table: PatternTable, text: str, source: str,
                                           expected: str | None) -> None:
    pattern = table.classify(text, source)
    assert (pattern.id if pattern else None) == expected


def test_unknown_source_is_a_usage_error(table: PatternTable) -> None:
    with pytest.raises(UsageError, match="unknown source 'metrics'"):
        table.classify("anything", "metrics")


def test_get_names_known_ids_when_missing(table: PatternTable) -> None:
    assert table.get("oom-killed").severity is Severity.CRITICAL
    with pytest.raises(NotFoundError) as err:
        table.get("no-such-row")
    assert "no-such-row" in str(err.value)
    assert "sqlalchemy-pool-exhausted" in str(err.value)


def test_default_is_cached_and_has_unique_ids(table: PatternTable) -> None:
    assert PatternTable.default() is table
    ids = [p.id for p in table.patterns]
    assert len(ids) == len(set(ids))
    assert ids[0] == "sqlalchemy-pool-exhausted"  # file order is precedence


def test_every_row_is_complete(table: PatternTable) -> None:
    for p in table.patterns:
        assert p.cause and p.fix and p.next_commands, p.id
        for command in p.commands(namespace="taskflow", service="taskflow-api", pod="taskflow-api-1",
                                  container="api", repo="acme/taskflow", run_id="1"):
            assert "{" not in command and command.split()[0] in {"kubectl", "gh"}, (p.id, command)


def test_seed_fixes_and_snippets_are_carried(table: PatternTable) -> None:
    pool = table.get("sqlalchemy-pool-exhausted")
    assert pool.snippet is not None and "Depends(get_db)" in pool.snippet
    assert "connections not properly closed" in pool.cause.lower()
    assert table.get("cloudevent-not-unwrapped").snippet == 'event = raw.get("data", raw)\n'
    assert "await session.refresh(obj)" in table.get("sqlalchemy-missing-greenlet").fix
    assert "UTC" in table.get("timezone-bug").fix


def test_match_lines_numbers_from_one_and_strips_newlines(table: PatternTable) -> None:
    got = list(match_lines(table, ["ok\n", "ok\r\n", "event_type: None\n"]))
    assert [(n, p.id, text) for n, p, text in got] == [(3, "cloudevent-not-unwrapped", "event_type: None")]


def test_commands_fill_placeholders_and_skip_unfillable() -> None:
    row = Pattern(id="x", title="X", severity=Severity.INFO, match=["x"], cause="c", fix="f",
                  next_commands=["kubectl logs {pod} -n {namespace}", "gh run view {run_id}"])
    assert row.commands(pod="p", namespace="n") == ["kubectl logs p -n n"]


# --- the prefilter never changes an answer ----------------------------------------------------

@pytest.mark.parametrize("space", [" ", "\t", "\x0b", "\x1c", "\x1f", "\xa0", "\u2003", "\u3000", "\x85"])
def test_a_white_space_literal_finds_every_white_space(table: PatternTable, space: str) -> None:
    """http-5xx's prefilter looks for a white space then the status: any white space `\\s` matches."""
    line = f"10.0.0.1 - GET{space}/orders/7{space}503{space}12"
    got = table.classify(line)
    assert (got.id if got else None) == _first_match(table, line, "log") == "http-5xx"
    assert table.classify_many(["ok", line, "GET /x 200"]) == [None, got, None]


def _first_match(table: PatternTable, text: str, source: str) -> str | None:
    """The definition of classify, without the literal prefilter."""
    return next((p.id for p in table.patterns if source in p.sources and p.matches(text)), None)


_FRAGMENTS = [line for line, _ in SEED_LINES + VARIANTS] + [
    "INFO", "GET /tasks", "200", "500", "404", "Not Found", "status=", "http://x/", "/v1.0/invoke/",
    "scheduled_for=2024-05-01T23:00:00", "fired_at=2024-05-02T01:00:00", "succeeded", "exit code 137",
    "Connection refused", "placement", "scheduler", "'", '"', ": ", "event_type", "None", "\u0130", "\u017f",
]


@settings(max_examples=300, deadline=None)
@given(
    parts=st.lists(st.one_of(st.sampled_from(_FRAGMENTS), st.text(max_size=12)), max_size=6),
    source=st.sampled_from(["log", "event", "status"]),
)
def test_classify_equals_first_matching_row(table: PatternTable, parts: list[str], source: str) -> None:
    text = " ".join(parts)
    got = table.classify(text, source)
    assert (got.id if got else None) == _first_match(table, text, source)


@settings(max_examples=200, deadline=None)
@given(
    lines=st.lists(
        st.lists(st.one_of(st.sampled_from(_FRAGMENTS), st.text(max_size=12)), max_size=5).map(" ".join),
        max_size=8,
    ),
    source=st.sampled_from(["log", "event", "status"]),
)
def test_classify_many_equals_classify_each(table: PatternTable, lines: list[str], source: str) -> None:
    # one prefilter pass over the joined lines must attribute every literal to its own line (also
    # with non-ASCII folding and texts that themselves hold newlines)
    assert table.classify_many(lines, source) == [table.classify(line, source) for line in lines]
    hits = table.classify_hits(lines, source)  # the matched lines only, in line order
    assert list(hits.items()) == [(i, p) for i, p in enumerate(table.classify_many(lines, source)) if p is not None]


@pytest.mark.parametrize(
    ("regex", "literals"),
    [
        (r"QueuePool limit (?:of size \d+ )?reached", (("queuepool limit ",), ("reached",))),
        (r"\b(?:ImagePullBackOff|ErrImagePull)\b", (("errimagepull", "imagepullbackoff"),)),
        (r"x|\d+", None),  # one branch has no literal: always run
        (r"ab", None),  # too short to reject anything
        (r"\bfoo(?:bar)?\b", (("foo",),)),  # "foobar" holds "foo": one check is enough
        (r"(?:error|fail)+ed", (("errored", "failed"),)),  # the last repetition runs on
        (r"(?:https?|grpc)://\S+ 404", (("grpc://", "http://", "https://"), (" 404",))),
        (r"\bexit(?:ed)?[ _]code\W{0,3}137", (("exit code", "exit_code", "exited code", "exited_code"), ("137",))),
        (r"(?:ab)?c", None),  # the optional part may be absent: only "c" is required
        # both sets are required; a line needs one string of each. Bare numbers are no second set:
        # "500".."504" are in the timestamps, durations and ids of most lines; a white space (SPACE,
        # checked as \s) then the number is in an access line's status only
        (r"\b(?:GET|HEAD)\s+\S+\s+50[0-4]\b", (tuple(f"{SPACE}50{d}" for d in range(5)), ("get", "head"))),
        (r"error .* timeout .* retry", ((" timeout ",), ("error ",))),  # the two most selective are kept
        (r"[^a]bcd", (("bcd",),)),  # a negated class is no literal
        (r"x[a-z]yz", None),  # a range of 26 letters is too wide to multiply out; "yz" is too short
    ],
)
def test_required_literals(regex: str, literals: tuple[tuple[str, ...], ...] | None) -> None:
    assert _required_literals(regex) == literals


# --- user files: override and extend ----------------------------------------------------------

def test_user_file_overrides_in_place_and_appends() -> None:
    table = PatternTable.load(DATA / "user_patterns.yaml")
    builtin = PatternTable.default()
    assert len(table) == len(builtin) + 2
    http = table.get("http-5xx")
    assert http.severity is Severity.CRITICAL and "runbook" in http.fix
    # the replacement keeps the built-in's place: the specific rows before it still win
    ids = [p.id for p in table.patterns]
    assert ids.index("http-5xx") > ids.index("connection-refused")
    assert table.classify("PaymentDeclinedError: card_declined").id == "payment-declined"  # type: ignore[union-attr]
    assert table.classify("INFO GET /tasks 500 3400ms").id == "http-5xx"  # type: ignore[union-attr]


def test_priority_beats_file_order_and_exclude_falls_through() -> None:
    table = PatternTable.load(DATA / "user_patterns.yaml")
    assert table.patterns[0].id == "tasks-pool-runbook"
    line = "QueuePool limit of size 5 overflow 10 reached"
    assert table.classify(line).id == "tasks-pool-runbook"  # type: ignore[union-attr]
    # the user's row vetoes this line: the next matching row (the built-in) takes it
    vetoed = "QueuePool limit of size 20 overflow 0 reached"
    assert table.classify(vetoed).id == "sqlalchemy-pool-exhausted"  # type: ignore[union-attr]


# --- bad files: one clear line naming file, row and field -------------------------------------

GOOD_ROW = """\
  - id: good-row
    title: Good
    severity: error
    match: ['good']
    cause: c
    fix: f
"""


@pytest.mark.parametrize(
    ("rows", "expected"),
    [
        ("  - id: bad-regex\n    title: T\n    severity: error\n    match: ['ok', '(unclosed']\n"
         "    cause: c\n    fix: f\n", ["row 1 (id 'bad-regex')", "field 'match'", "item 1", "bad regex"]),
        ("  - id: no-fix\n    title: T\n    severity: error\n    match: ['x']\n    cause: c\n",
         ["row 1 (id 'no-fix')", "field 'fix'", "required field is missing"]),
        (GOOD_ROW, ["row 1 (id 'good-row')", "field 'id'", "duplicate id 'good-row' (also row 0)"]),
        ("  - id: Bad_Id\n    title: T\n    severity: error\n    match: ['x']\n    cause: c\n    fix: f\n",
         ["row 1 (id 'Bad_Id')", "field 'id'"]),
        ("  - id: bad-severity\n    title: T\n    severity: fatal\n    match: ['x']\n    cause: c\n    fix: f\n",
         ["row 1 (id 'bad-severity')", "field 'severity'"]),
        ("  - id: typo\n    title: T\n    severity: error\n    matches: ['x']\n    match: ['x']\n"
         "    cause: c\n    fix: f\n", ["row 1 (id 'typo')", "field 'matches'", "unknown field"]),
        ("  - id: bad-exclude\n    title: T\n    severity: error\n    match: ['x']\n    exclude: ['[z-a]']\n"
         "    cause: c\n    fix: f\n", ["row 1 (id 'bad-exclude')", "field 'exclude'", "bad regex"]),
        ("  - id: bad-source\n    title: T\n    severity: error\n    match: ['x']\n    sources: [metrics]\n"
         "    cause: c\n    fix: f\n", ["row 1 (id 'bad-source')", "field 'sources'"]),
        ("  - id: bad-placeholder\n    title: T\n    severity: error\n    match: ['x']\n    cause: c\n"
         "    fix: f\n    next_commands: ['kubectl logs {podname}']\n",
         ["row 1 (id 'bad-placeholder')", "field 'next_commands'", "unknown placeholder {podname}"]),
        ("  - just a string\n", ["row 1", "must be a mapping"]),
    ],
)
def test_bad_row_names_file_row_and_field(tmp_path: Path, rows: str, expected: list[str]) -> None:
    path = tmp_path / "mine.yaml"
    path.write_text("patterns:\n" + GOOD_ROW + rows)
    with pytest.raises(PatternFileError) as err:
        PatternTable.load(path)
    message = str(err.value)
    assert message.startswith(f"{path}: ")
    assert "\n" not in message
    for part in expected:
        assert part in message


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("patterns: [\n  - id: x\n", "not valid YAML (line"),
        ("patterns: 42\n", "expected a 'patterns:' list"),
        ("", "expected a 'patterns:' list"),
    ],
)
def test_bad_file_is_one_clear_line(tmp_path: Path, text: str, expected: str) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text(text)
    with pytest.raises(PatternFileError, match=r"broken\.yaml") as err:
        read_pattern_file(path)
    assert expected in str(err.value)
    assert "\n" not in str(err.value)


def test_missing_file_is_a_pattern_file_error(tmp_path: Path) -> None:
    with pytest.raises(PatternFileError, match="cannot read"):
        PatternTable.load(tmp_path / "nope.yaml")


def test_bare_list_file_is_accepted(tmp_path: Path) -> None:
    path = tmp_path / "list.yaml"
    path.write_text(GOOD_ROW.replace("  - id", "- id").replace("\n    ", "\n  "))
    assert [p.id for p in read_pattern_file(path)] == ["good-row"]


def test_packaged_file_is_the_default() -> None:
    assert [p.id for p in read_pattern_file(DEFAULT_FILE)] == [p.id for p in PatternTable.default().patterns]


def test_fold_table_covers_every_character_regex_takes_for_an_ascii_letter() -> None:
    import re

    from playbooks.patterns import _FOLD

    letter = re.compile("[a-z]", re.IGNORECASE)
    # Case pairs live in the Basic Multilingual Plane; beyond it none maps to an ASCII letter.
    found = [chr(cp) for cp in range(0x80, 0x10000) if letter.fullmatch(chr(cp))]
    assert found  # the scan sees the lookalikes (Kelvin sign, long s, dotted/dotless i)
    for char in found:
        folded = char.translate(_FOLD).lower()
        assert len(folded) == 1 and folded.isascii(), (hex(ord(char)), folded)
        assert re.fullmatch(folded, char, re.IGNORECASE)


def test_lookalike_letters_do_not_hide_a_match(table: PatternTable) -> None:
    line = "\u017fqlalchemy.exc.TimeoutError"  # LATIN SMALL LETTER LONG S, which the regex takes for 's'
    assert table.classify(line).id == "sqlalchemy-pool-exhausted"  # type: ignore[union-attr]


@settings(max_examples=300, deadline=None)
@given(words=st.sets(st.text(alphabet="ab5-.]\\^ \ue000", max_size=4), min_size=1, max_size=12),
       probes=st.lists(st.text(alphabet="ab5-.]\\^ \ue000", max_size=5), max_size=12))
def test_an_alternation_as_a_trie_matches_exactly_its_strings(words: set[str], probes: list[str]) -> None:
    # the second literal sets (`_Probe.also`) are searched as a trie: the same strings, no more
    regex = re.compile(_alternation(words))
    for text in [*words, *probes]:
        spaced = {w.replace(SPACE, " ") for w in words}
        assert (regex.fullmatch(text.replace(SPACE, " ")) is not None) == (text.replace(SPACE, " ") in spaced)
