"""Errors outside the pattern table: every error event is found, folded to a signature and grouped;
harmless lines stay silent; a service whose errors are all unknown never gets an all-clear."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.config import load_settings
from bot.k8s import KubernetesGateway
from bot.models import LogLine, LogSnapshot, Report, Severity
from bot.render import root_message
from bot.render.terminal import render_report
from bot.runtime import demo_settings
from bot.sandbox import Sandbox, load_scenario
from playbooks.checklists import ChecklistCatalogue
from playbooks.debug import run_debug
from playbooks.patterns import PatternTable
from playbooks.runtime import Runtime
from playbooks.signatures import classify_line, find_events, mask
from playbooks.unrecognised import classify_lines, unrecognised_findings
from tests.seeds import SEED_LINES

DATA = Path(__file__).parent / "data"

JAVA = """\
2024-05-01 10:00:01.123 ERROR 1 --- [nio-8080-exec-3] c.a.OrderController : Request failed
java.lang.NullPointerException: Cannot invoke "String.length()" because "name" is null
\tat com.acme.orders.OrderService.validate(OrderService.java:57)
\tat com.acme.orders.OrderController.create(OrderController.java:31)
\tat java.base/java.lang.Thread.run(Thread.java:833)
Caused by: java.lang.IllegalStateException: customer 4711 not loaded
\tat com.acme.orders.CustomerCache.get(CustomerCache.java:12)
\t... 3 more"""
GO = """\
panic: runtime error: invalid memory address or nil pointer dereference
[signal SIGSEGV: segmentation violation code=0x1 addr=0x0 pc=0x4a2b3c]

goroutine 17 [running]:
main.(*Server).handle(0x0, {0x7f1c, 0xc0001})
\t/app/server.go:88 +0x3c
main.main()
\t/app/main.go:21 +0x85
exit status 2"""
PYTHON = """\
Traceback (most recent call last):
  File "/app/worker.py", line 40, in run
    handle(event)
  File "/app/handlers.py", line 12, in handle
    payload = event["data"]
KeyError: 'data'"""
NODE = """\
TypeError: Cannot read properties of undefined (reading 'id')
    at getUser (/app/src/users.js:10:15)
    at /app/node_modules/express/lib/router/layer.js:95:5"""
DOTNET = """\
Unhandled exception. System.InvalidOperationException: Sequence contains no elements
   at System.Linq.ThrowHelper.ThrowNoElementsException()
   at Acme.Api.TasksController.Get() in /src/TasksController.cs:line 42"""
RUST = """\
thread 'main' panicked at 'called `Option::unwrap()` on a `None` value', src/main.rs:4:5
note: run with `RUST_BACKTRACE=1` environment variable to display a backtrace"""


@pytest.mark.parametrize(
    ("text", "kind", "severity", "signature", "frame"),
    [
        (JAVA, "java", Severity.ERROR, "java.lang.IllegalStateException: customer <n> not loaded",
         "com.acme.orders.CustomerCache.get"),
        (GO, "go-panic", Severity.CRITICAL, "panic: runtime error: invalid memory address or nil pointer dereference",
         "main.(*Server).handle"),
        (PYTHON, "python-traceback", Severity.ERROR, "KeyError: <q>", "handlers.py in handle"),
        (NODE, "node", Severity.ERROR, "TypeError: Cannot read properties of undefined (reading <q>)", "getUser"),
        (DOTNET, "dotnet", Severity.ERROR,
         "Unhandled exception. System.InvalidOperationException: Sequence contains no elements",
         "Acme.Api.TasksController.Get"),
        (RUST, "rust-panic", Severity.CRITICAL, "thread <q> panicked at <q>, src/main.rs:<n>:<n>", None),
    ],
    ids=["java", "go", "python", "node", "dotnet", "rust"],
)
def test_a_multi_line_event_is_one_event_keyed_by_its_exception_and_innermost_frame(
    text: str, kind: str, severity: Severity, signature: str, frame: str | None
) -> None:
    lines = ["INFO starting", *text.splitlines(), "INFO next request"]
    events = find_events(lines)
    assert len(events) == 1
    event = events[0]
    assert (event.start, event.end) == (1, 1 + len(text.splitlines()))
    assert (event.kind, event.severity, event.frame) == (kind, severity, frame)
    assert event.signature == signature + (f" @ {frame}" if frame else "")


@pytest.mark.parametrize(
    ("line", "severity", "signature"),
    [
        ('{"level":"error","msg":"upstream rejected the batch","batch":8812}', Severity.ERROR,
         "upstream rejected the batch"),
        ('{"severity":"CRITICAL","message":"disk quota for tenant 42 exhausted"}', Severity.CRITICAL,
         "disk quota for tenant <n> exhausted"),
        ('{"level":50,"msg":"job 9f8e7d6c5b4a failed"}', Severity.ERROR, "job <hex> failed"),
        ('level=error msg="failed to publish" topic=orders err="EOF"', Severity.ERROR, "failed to publish: EOF"),
        ("E0412 10:00:00.123456   12345 controller.go:123] failed to sync pod shop/web-1", Severity.ERROR,
         "failed to sync pod shop/<id>"),
        ("F0412 10:00:00.123456   1 main.go:9] cannot start: port 8080 in use", Severity.CRITICAL,
         "cannot start: port <n> in use"),
        ("2024-05-01 10:00:00,123 ERROR [worker-3] billing: invoice 77 for 10.0.0.7 failed after 1.5s",
         Severity.ERROR, "billing: invoice <n> for <ip> failed after <dur>"),
        ("[FATAL] could not open /var/lib/app/data.db", Severity.CRITICAL, "could not open <path>"),
        ("Out of memory: Killed process 4242 (java) total-vm:8123456kB", Severity.CRITICAL,
         "Out of memory: Killed process <n> (java) total-vm:<n>"),
    ],
)
def test_an_error_level_line_is_an_event_with_its_variables_masked(
    line: str, severity: Severity, signature: str
) -> None:
    events = find_events([line])
    assert [(e.severity, e.signature) for e in events] == [(severity, signature)]


HARMLESS = [
    "INFO request done error_count=0",
    '{"level":"info","msg":"flushed","errors":0}',
    '{"level":"info","msg":"error handler registered"}',
    "errors: []",
    "all checks passed, 0 failed, 0 errors",
    "INFO:     Started server process [1]",
    'INFO:     10.0.0.1:51234 - "GET /health HTTP/1.1" 200 OK',
    "2024-05-01 10:00:00 INFO uvicorn.error: Application startup complete.",
    "WARN retrying connection to db (attempt 2): connection refused",
    "INFO retry succeeded after 2 attempts: upstream error cleared",
    "I0412 10:00:00.123456   12345 gc_controller.go:87] GC'ed 3 orphaned pods with 0 errors",
    "DEBUG oom_score_adj=-997 for pid 1",
    "level=info msg=\"error budget at 99.9%\"",
    "GET /errors 200 12ms",
]


@pytest.mark.parametrize("line", HARMLESS)
def test_harmless_lines_with_scary_words_stay_silent(line: str) -> None:
    assert classify_line(line) is None
    assert find_events([line]) == []


def test_the_harmless_file_is_silent_whole() -> None:
    lines = (DATA / "patterns" / "harmless.log").read_text().splitlines()
    assert find_events(lines) == []
    assert classify_lines(PatternTable.default(), lines) == []


def test_the_seed_lines_are_recognised_by_the_table_not_left_as_signatures() -> None:
    verdicts = classify_lines(PatternTable.default(), SEED_LINES)
    assert [v.line for v in verdicts] == [1, 2, 3, 4, 5]
    assert all(v.pattern is not None and v.signature is None for v in verdicts)


def test_a_traceback_ending_in_a_known_error_is_accounted_for_by_the_table() -> None:
    text = PYTHON.replace("KeyError: 'data'", "sqlalchemy.exc.TimeoutError: QueuePool limit of size 5 overflow 10 "
                                               "reached, connection timed out, timeout 30.00")
    verdicts = classify_lines(PatternTable.default(), ["ERROR:    Exception in ASGI application", *text.splitlines()])
    assert [(v.pattern, v.signature) for v in verdicts] == [("sqlalchemy-pool-exhausted", None)]


def _log(pod: str, container: str, text: str) -> LogSnapshot:
    at = datetime(2026, 1, 1, tzinfo=UTC)
    return LogSnapshot(pod=pod, container=container, lines=[LogLine(at, line) for line in text.splitlines()])


def test_signatures_group_across_pods_and_only_what_differs_in_variables() -> None:
    npe = "java.lang.NullPointerException: order {} has no customer\n\tat com.acme.Orders.get(Orders.java:{})"
    logs = [
        (_log("api-1", "app", npe.format("A-1", 10)), set()),
        (_log("api-2", "app", npe.format("B-77", 10)), set()),
        (_log("api-2", "app", "java.lang.IllegalArgumentException: bad order\n"
                              "\tat com.acme.Orders.get(Orders.java:10)"), set()),
        (_log("api-1", "app", '{"level":"error","msg":"charge for user alice declined"}\n'
                              '{"level":"error","msg":"charge for user bob declined"}'), set()),
    ]
    findings = unrecognised_findings(logs, namespace="shop")
    by_title = {f.title: f for f in findings}
    npe_finding = next(f for t, f in by_title.items() if "NullPointerException" in t)
    assert (npe_finding.count, npe_finding.pods, npe_finding.frame) == (2, ["api-1", "api-2"], "com.acme.Orders.get")
    assert any("IllegalArgumentException" in t for t in by_title)
    drained = [f for f in findings if f.signature and "charge for user" in f.signature]
    assert len(drained) == 1 and drained[0].count == 2 and "<*>" in drained[0].signature
    assert all(f.pattern.startswith("unrecognised-") and f.next_commands for f in findings)


def test_one_event_on_an_explained_line_is_not_reported_twice() -> None:
    log = _log("api-1", "app", PYTHON)
    assert unrecognised_findings([(log, {5})], namespace="shop") == []


@pytest.fixture
async def unknown_rt() -> AsyncIterator[Runtime]:
    scenario = load_scenario(str(DATA / "scenarios" / "unknown-errors.yaml"))
    async with Sandbox(scenario) as sandbox:
        settings = demo_settings(load_settings(), scenario)
        gateway = KubernetesGateway.for_url(sandbox.url)
        rt = Runtime(settings, patterns=PatternTable.default(), checklists=ChecklistCatalogue.default(), github=None,
                     kubernetes={None: gateway})
        try:
            yield rt
        finally:
            await rt.close()


async def test_debug_of_a_service_whose_errors_are_all_unknown_groups_them_and_is_never_green(
    unknown_rt: Runtime,
) -> None:
    report: Report = await run_debug(unknown_rt, "orders-api")
    found = {f.title: f for f in report.findings}
    assert all(f.unrecognised for f in report.findings)
    npe = next(f for t, f in found.items() if "NullPointerException" in t)
    assert (npe.count, npe.containers, len(npe.pods)) == (3 * 2, ["api"], 2)  # 3 traces in each of 2 pods
    panic = next(f for t, f in found.items() if "nil map" in t)
    assert (panic.severity, panic.containers, panic.frame) == (Severity.CRITICAL, ["worker"],
                                                                "github.com/acme/orders/worker.(*Batcher).Add")
    declined = next(f for t, f in found.items() if "payment gateway" in t)
    assert declined.count == 2 * 2
    root = root_message(None, report, requested_by="U1")
    status = root.blocks[1]["text"]["text"]
    assert "No known problem" not in status and ":large_green_circle:" not in status
    assert "3 unrecognised error signatures" in status
    assert "NullPointerException" in str(root.blocks)
    from io import StringIO

    from rich.console import Console

    out = StringIO()
    render_report(report, Console(file=out, width=160))
    assert "Unrecognised error: java.lang.NullPointerException" in out.getvalue()
    assert "No known error pattern matched" not in out.getvalue()


def test_masking_keeps_the_words_and_hides_the_variables() -> None:
    line = ("2024-05-01T10:00:00Z ERROR user 7f3a9c2e-1b2c-4d5e-8f90-123456789abc from 192.168.1.10:443 "
            "could not read '/etc/app/conf.yaml' in 250ms (retry 3)")
    assert mask(line) == "user <uuid> from <ip> could not read <q> in <dur> (retry <n>)"
