"""Block Kit renderer: content an on-call engineer needs, Slack's limits for any report, escaping."""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot import render
from bot.models import (
    ActionKind,
    ChecklistItem,
    ContainerStatus,
    Finding,
    LogLine,
    LogSnapshot,
    NextAction,
    NextCommand,
    PodSnapshot,
    Report,
    Severity,
    StepResult,
    StepStatus,
    TraceHit,
)
from bot.render import ActionId, Message
from bot.store import Incident
from playbooks.followups import ActionResult

T0 = datetime(2026, 3, 1, 14, 2, tzinfo=UTC)
GITHUB_TOKEN = "ghp_" + "A1b2C3d4E5f6" * 3
SLACK_TOKEN = "xoxb-1234567890-abcdefghij"


def pod(name: str, *, restarts: int = 0, ready: bool = True) -> PodSnapshot:
    return PodSnapshot(
        name=name,
        namespace="taskflow",
        phase="Running",
        ready=ready,
        restarts=restarts,
        containers=[ContainerStatus(name="api", restarts=restarts), ContainerStatus(name="daprd")],
    )


def pool_finding() -> Finding:
    return Finding(
        pattern="sqlalchemy-queuepool",
        title="SQLAlchemy connection pool exhausted",
        severity=Severity.CRITICAL,
        count=12,
        pods=["taskflow-api-7d9-abcde"],
        containers=["api"],
        first_seen=T0,
        sample="sqlalchemy.exc.TimeoutError: QueuePool limit of size 5 overflow 10 reached",
        cause="Sessions are not returned to the pool",
        fix="Close sessions in a `finally` or use `with Session() as s:`",
        snippet="engine = create_engine(url, pool_size=20, max_overflow=20, pool_pre_ping=True)",
        evidence=["12 occurrences in api since 14:02"],
        next_commands=[
            NextCommand(
                label="Previous logs of api",
                command="kubectl logs taskflow-api-7d9-abcde -c api --previous -n taskflow",
                action=NextAction(
                    kind=ActionKind.PREVIOUS_LOGS, namespace="taskflow", pod="taskflow-api-7d9-abcde", container="api"
                ),
            ),
            NextCommand(label="Describe", command="kubectl describe pod taskflow-api-7d9-abcde -n taskflow"),
        ],
    )


def report(**changes: Any) -> Report:
    base = Report(
        service="taskflow-api",
        namespace="taskflow",
        started_at=T0,
        duration_ms=3200,
        pods=[pod("taskflow-api-7d9-abcde", restarts=4), pod("taskflow-api-7d9-fghij"), pod("taskflow-api-7d9-klmno")],
        findings=[
            pool_finding(),
            Finding(pattern="dapr-404", title="Dapr invoke 404", severity=Severity.WARNING, count=3, pods=["p"]),
        ],
        steps=[
            StepResult(name="pods", title="Pods", status=StepStatus.OK, summary="3 found", duration_ms=200),
            StepResult(name="github", title="GitHub runs", status=StepStatus.FAILED, error="token rejected"),
            StepResult(name="logs", title="Logs", status=StepStatus.RUNNING),
            StepResult(name="events", title="Events", status=StepStatus.PENDING),
        ],
    )
    return base.model_copy(update=changes)


def all_text(message: Message) -> str:
    return json.dumps(message.model_dump(), ensure_ascii=False)


def section_texts(message: Message) -> list[str]:
    return [b["text"]["text"] for b in message.blocks if b["type"] == "section"]


def count_text(node: Any) -> int:
    """Independent count of text characters, as Slack's msg_blocks_too_long limit sees them."""
    if isinstance(node, dict):
        own = len(node["text"]) if node.get("type") in ("plain_text", "mrkdwn") else 0
        return own + sum(count_text(v) for v in node.values() if not isinstance(v, str))
    if isinstance(node, list):
        return sum(count_text(v) for v in node)
    return 0


def assert_within_slack_limits(message: Message) -> None:
    assert message.text.strip()
    assert len(message.text) <= 40_000
    assert 0 < len(message.blocks) <= 50
    assert count_text(message.blocks) <= 12_000
    block_ids = [b["block_id"] for b in message.blocks if "block_id" in b]
    assert len(block_ids) == len(set(block_ids))
    action_ids: list[str] = []
    for block in message.blocks:
        if block["type"] == "section":
            assert len(block["text"]["text"].strip()) > 0 and len(block["text"]["text"]) <= 3000
        if block["type"] == "header":
            assert len(block["text"]["text"]) <= 150
        if block["type"] == "context":
            assert len(block["elements"]) <= 10
        if block["type"] == "actions":
            assert len(block["elements"]) <= 25
            for element in block["elements"]:
                action_ids.append(element["action_id"])
                if element["type"] == "button":
                    assert len(element["text"]["text"].strip()) > 0 and len(element["text"]["text"]) <= 75
                    assert len(element["value"]) <= 2000
                if element["type"] == "checkboxes":
                    assert 1 <= len(element["options"]) <= 10
                    for option in element["options"]:
                        assert len(option["text"]["text"]) <= 75
                        assert len(option["value"]) <= 150
                        assert len(option.get("description", {}).get("text", "")) <= 75
    assert len(action_ids) == len(set(action_ids))


# --- content ------------------------------------------------------------------------------------


def test_root_message_reads_at_a_glance() -> None:
    incident = Incident(
        id=7, channel="C1", thread_ts="1.1", service="taskflow-api", namespace="taskflow",
        opened_by="U123", opened_at=T0,
    )
    message = render.root_message(incident, report(), requested_by="U123")
    assert message.blocks[0] == {
        "type": "header", "block_id": "root",
        "text": {"type": "plain_text", "text": "opsbot · debug taskflow-api"},
    }
    status = section_texts(message)[0]
    assert ":hourglass_flowing_sand:" in status  # steps still running
    assert "3 pods · 1 restarting · 2 findings · 1 step failed" in status
    assert "`taskflow`" in status and "<@U123>" in status
    assert "Incident #7" in all_text(message)
    assert "3 pods · 1 restarting" in message.text


def test_root_message_status_follows_severity_and_closing() -> None:
    done = [s.model_copy(update={"status": StepStatus.OK}) for s in report().steps]
    assert ":red_circle:" in section_texts(render.root_message(None, report(steps=done), requested_by="U1"))[0]
    calm = render.root_message(None, report(steps=done, findings=[]), requested_by="U1")
    assert ":large_green_circle:" in section_texts(calm)[0]
    closed = Incident(
        id=1, channel="C", thread_ts="1", service="s", namespace="n", opened_by="U1", opened_at=T0,
        status="closed", closed_by="U2", closed_at=T0, summary="fixed pool <size>",
    )
    text = section_texts(render.root_message(closed, report(steps=done), requested_by="U1"))[0]
    assert "*Closed* by <@U2>: fixed pool &lt;size&gt;" in text


def test_progress_message_has_one_line_a_step_and_a_count() -> None:
    message = render.progress_message(report())
    head, lines = section_texts(message)
    assert head == "*Progress* · 2/4 steps done"
    assert lines.splitlines() == [
        ":white_check_mark: *Pods* 3 found (0.2s)",
        ":x: *GitHub runs* — failed: token rejected",
        ":hourglass_flowing_sand: Logs…",
        ":white_small_square: Events",
    ]
    finished = report(steps=[s.model_copy(update={"status": StepStatus.OK}) for s in report().steps])
    assert "4/4 steps done · finished in 3.2s" in section_texts(render.progress_message(finished))[0]


def test_findings_show_cause_fix_sample_and_next_step_buttons() -> None:
    [message] = render.findings_messages(report())
    text = all_text(message)
    for part in ("SQLAlchemy connection pool exhausted", ":red_circle:", "×12", "taskflow-api-7d9-abcde",
                 "since 2026-03-01 14:02 UTC", "```sqlalchemy.exc.TimeoutError", "*Cause*", "*Fix*",
                 "pool_pre_ping=True", "kubectl describe pod"):
        assert part in text, part
    # the evidence and the full details are in the file, not on the phone screen
    details = next(f for f in message.files if f.filename.startswith("findings-"))
    assert "12 occurrences" in details.content and "first seen: 2026-03-01 14:02:00 UTC" in details.content
    # the critical one comes first, the warning after it
    assert text.index("connection pool exhausted") < text.index("Dapr invoke 404")
    [actions] = [b for b in message.blocks if b["type"] == "actions"]
    [button] = actions["elements"]  # only the command with a read-only action gets a button
    assert button["action_id"] == f"{ActionId.NEXT_STEP}:0"
    command = pool_finding().next_commands[0].command
    assert button["text"]["text"] == (command if len(command) <= 75 else "Previous logs of api")  # shows its command
    assert render.parse_next_action(button["value"]) == pool_finding().next_commands[0].action


def test_no_findings_says_so() -> None:
    [message] = render.findings_messages(report(findings=[]))
    assert "No known error pattern" in message.text


def test_many_findings_fit_one_phone_message_three_cards_the_rest_one_line_each() -> None:
    many = report(findings=[pool_finding().model_copy(update={"title": f"F{i}"}) for i in range(12)])
    messages = render.findings_messages(many)
    assert len(messages) == 1 and len(messages[0].blocks) <= 20
    ids = [e["action_id"] for m in messages for b in m.blocks if b["type"] == "actions" for e in b["elements"]]
    assert len(ids) == 1  # the twelve offer the same next step: it is shown once
    text = all_text(messages[0])
    assert all(f"F{i}" in text for i in range(12))  # every finding named
    details = next(f for f in messages[0].files if f.filename.startswith("findings-"))
    assert all(f"{i + 1}. [critical] F{i}" in details.content for i in range(12))
    assert all(i.startswith(ActionId.NEXT_STEP + ":") for i in ids)
    for m in messages:
        assert_within_slack_limits(m)


def test_bad_button_value_is_a_usage_error() -> None:
    import pytest

    from bot.errors import UsageError

    with pytest.raises(UsageError, match="no valid action"):
        render.parse_next_action('{"kind": "rm -rf"}')
    with pytest.raises(UsageError):
        render.parse_next_action("not json")


def test_log_tails_of_the_findings_go_up_as_a_file() -> None:
    logs = [
        LogSnapshot(pod="taskflow-api-7d9-abcde", container="api",
                    lines=[LogLine(T0, f"line {i} token={SLACK_TOKEN}") for i in range(500)]),
        LogSnapshot(pod="unrelated", container="api", lines=[LogLine(None, "quiet")]),
    ]
    messages = render.findings_messages(report(logs=logs))
    [snippet] = [f for f in messages[0].files if f.filename.startswith("logs-")]
    assert snippet.filename == "logs-taskflow-api.txt"
    assert "== taskflow-api-7d9-abcde/api ==" in snippet.content
    assert "line 499" in snippet.content and "line 299" not in snippet.content  # the tail
    assert "quiet" not in snippet.content
    assert SLACK_TOKEN not in snippet.content


def test_checklist_is_checkboxes_of_at_most_ten_with_who_ticked() -> None:
    items = [ChecklistItem(key=f"k{i}", text=f"Step {i}") for i in range(23)]
    items[0] = items[0].model_copy(update={"done": True, "evidence": "3 pods, 1 restarting", "by": "opsbot"})
    items[1] = items[1].model_copy(update={"done": True, "by": "U123", "at": T0})
    items[12] = items[12].model_copy(update={"done": False, "by": "U9", "at": T0})
    messages = render.checklist_messages(items)
    assert len(messages) == 3
    checkboxes = [b["elements"][0] for m in messages for b in m.blocks if b["type"] == "actions"]
    assert [len(c["options"]) for c in checkboxes] == [10, 10, 3]
    assert {c["action_id"] for c in checkboxes} == {ActionId.CHECKLIST}
    blocks_ids = [b["block_id"] for m in messages for b in m.blocks if b["type"] == "actions"]
    assert blocks_ids == ["checklist:0", "checklist:1", "checklist:2"]
    first = checkboxes[0]
    assert [o["value"] for o in first["initial_options"]] == ["k0", "k1"]
    assert first["options"][0]["description"]["text"] == "3 pods, 1 restarting"
    assert first["options"][1]["description"]["text"] == "ticked by <@U123> 2026-03-01 14:02 UTC"
    assert checkboxes[1]["options"][2]["description"]["text"] == "unticked by <@U9> 2026-03-01 14:02 UTC"
    assert "initial_options" not in checkboxes[2]
    assert "2/23 done" in section_texts(messages[0])[0]
    assert [len(c) for c in render.checklist_chunks(items)] == [10, 10, 3]
    assert render.checklist_messages([]) == []


def test_action_result_short_inline_long_as_file() -> None:
    short = render.action_result_message(ActionResult(title="Events of p", text="Warning BackOff"), requested_by="U5")
    assert "<@U5>" in section_texts(short)[0] and "```Warning BackOff```" in section_texts(short)[1]
    assert short.files == []
    log = "\n".join(f"2026-03-01 line {i}" for i in range(2000))
    long = render.action_result_message(ActionResult(title="Previous logs of api", text=log), requested_by="U5")
    [snippet] = long.files
    assert snippet.content == log and snippet.filename == "previous-logs-of-api.txt"
    assert "line 1999" in section_texts(long)[1] and "line 5\n" not in section_texts(long)[1]
    failed = render.action_result_message(ActionResult(title="x", text="pod gone", ok=False), requested_by="U5")
    assert ":warning:" in failed.text or ":warning:" in section_texts(failed)[0]
    assert_within_slack_limits(long)


def test_usage_message_is_escaped_text() -> None:
    message = render.usage_message("usage: /debug <service> [-n NAMESPACE]")
    assert section_texts(message) == ["usage: /debug &lt;service&gt; [-n NAMESPACE]"]


# --- trace -------------------------------------------------------------------------------------------


def hit(seconds: float, service: str, text: str, *, container: str = "app") -> TraceHit:
    return TraceHit(ts=T0 + timedelta(seconds=seconds), service=service, pod=f"{service}-7d9-abcde",
                    container=container, text=text)


def request_hits() -> list[TraceHit]:
    return [
        hit(0.123, "web-dashboard", "INFO [7f3a9c2e] GET /tasks -> taskflow-api", container="web"),
        hit(1, "taskflow-api", "INFO [7f3a9c2e] GET /tasks page=1", container="api"),
        hit(30, "taskflow-api", "ERROR [7f3a9c2e] QueuePool limit of size 5 overflow 10 reached", container="api"),
        hit(31, "web-dashboard", "ERROR [7f3a9c2e] GET /tasks 502 upstream=taskflow-api", container="web"),
    ]


def trace_report(hits: list[TraceHit], **changes: Any) -> Report:
    done = [StepResult(name=n, title=n, status=StepStatus.OK) for n in ("deployments", "logs", "analysis")]
    base = Report(kind="trace", service="7f3a9c2e", namespace="taskflow", started_at=T0, trace=hits, steps=done)
    return base.model_copy(update=changes)


def test_trace_heads_with_the_request_then_lists_its_lines_in_time_order() -> None:
    message = render.trace_message(trace_report(request_hits()), since_seconds=3600)
    head, listing = section_texts(message)
    assert head.splitlines() == [
        "*Request* `7f3a9c2e` · namespace `taskflow` · last 1h · 4 lines from 2 services",
        "*Path* web-dashboard -&gt; taskflow-api",
    ]
    assert listing.startswith("```") and listing.endswith("```")
    lines = listing.strip("`").splitlines()
    assert lines == [  # dated: these lines are not today's
        "2026-03-01 14:02:00.123  web-dashboard  web-dashboard-7d9-abcde/web  INFO [7f3a9c2e] GET /tasks"
        " -&gt; taskflow-api",
        "2026-03-01 14:02:01.000  taskflow-api   taskflow-api-7d9-abcde/api  INFO [7f3a9c2e] GET /tasks page=1",
        "2026-03-01 14:02:30.000  taskflow-api   taskflow-api-7d9-abcde/api  ERROR [7f3a9c2e] QueuePool limit of size 5"
        " overflow 10 reached",
        "2026-03-01 14:02:31.000  web-dashboard  web-dashboard-7d9-abcde/web  ERROR [7f3a9c2e] GET /tasks 502"
        " upstream=taskflow-api",
    ]
    assert message.files == []  # it all fits
    assert "7f3a9c2e" in message.text and "web-dashboard -&gt; taskflow-api" in message.text
    assert_within_slack_limits(message)


def test_trace_without_a_line_says_so_and_what_to_try() -> None:
    message = render.trace_message(trace_report([]), since_seconds=600)
    [text] = section_texts(message)
    assert text.startswith(":mag: No log line in namespace `taskflow` carried `7f3a9c2e` in the last 10m.")
    assert "`/trace 7f3a9c2e --since 6h`" in text and "`/trace 7f3a9c2e -n NAMESPACE`" in text
    assert "may be missing" not in text
    assert message.files == []
    # the trace message says it all: no "no known error pattern" beside it
    assert render.findings_messages(trace_report([])) == []
    root = section_texts(render.root_message(None, trace_report([]), requested_by="U1"))[0]
    assert "No log line carries this id" in root and "0 lines" in root


def test_a_failed_step_warns_that_lines_may_be_missing() -> None:
    failed = [StepResult(name="logs", title="Logs", status=StepStatus.FAILED, error="forbidden")]
    for hits in ([], request_hits()):
        message = render.trace_message(trace_report(hits, steps=failed), since_seconds=3600)
        assert "1 step failed (see progress): lines may be missing" in section_texts(message)[0]


def test_thousands_of_lines_stay_within_slack_limits_and_go_up_whole_as_a_file() -> None:
    hits = [hit(i / 100, f"service-{i % 7}", f"INFO [7f3a9c2e] line {i} " + "x" * 80) for i in range(5000)]
    message = render.trace_message(trace_report(hits), since_seconds=86400)
    assert_within_slack_limits(message)
    assert "5000 lines from 7 services" in section_texts(message)[0]
    listing = "\n".join(section_texts(message)[1:])
    # the start (where the request came in) and the end (where it failed) are both shown
    assert "line 0 " in listing and "line 4999 " in listing and "line 2500 " not in listing
    assert "more lines: all 5,000 are in the attached file" in listing
    [snippet] = message.files
    assert snippet.filename == "trace-7f3a9c2e.txt"
    content = snippet.content.splitlines()
    assert len(content) == 5000 and "line 2500 " in content[2500]
    assert content[0].startswith("2026-03-01T14:02:00+00:00 service-0 service-0-7d9-abcde/app INFO")
    assert "of 5,000 lines" in all_text(message)


def test_a_long_line_is_cut_in_the_message_and_whole_in_the_file() -> None:
    long = hit(0, "taskflow-api", "ERROR [7f3a9c2e] " + "y" * 5000 + " END")
    message = render.trace_message(trace_report([long]), since_seconds=3600)
    assert_within_slack_limits(message)
    assert "END" not in section_texts(message)[1]
    [snippet] = message.files
    assert snippet.content.rstrip().endswith("END")
    assert "Long lines are cut" in all_text(message)


def test_trace_lines_are_redacted_and_escaped() -> None:
    hits = [
        hit(0, "taskflow-api", f"INFO [7f3a9c2e] auth token={SLACK_TOKEN} <!channel> & ``` done"),
        hit(1, "taskflow-api", f"INFO [7f3a9c2e] {GITHUB_TOKEN}\nsecond <@U0ADMIN>"),
    ]
    long = [*hits, *[hit(2 + i, "taskflow-api", f"[7f3a9c2e] {GITHUB_TOKEN} {i}") for i in range(400)]]
    for message in (render.trace_message(trace_report(hits)), render.trace_message(trace_report(long))):
        dumped = all_text(message) + "".join(f.content for f in message.files)
        assert SLACK_TOKEN not in dumped and GITHUB_TOKEN not in dumped and "REDACTED" in dumped
        shown = json.dumps([message.text, message.blocks])  # a file is plain text, not mrkdwn
        for raw in ("<!channel>", "<@U0ADMIN>"):
            assert raw not in shown
    listing = section_texts(render.trace_message(trace_report(hits)))[1]
    assert "&lt;!channel&gt; &amp;" in listing
    assert listing.count("```") == 2  # a ``` in a line cannot end the code block early
    assert len(listing.strip("`").splitlines()) == 2  # one line a hit, even with a newline in it


def test_root_and_findings_of_a_trace_speak_of_lines_and_the_path() -> None:
    report = trace_report(request_hits(), findings=[pool_finding()])
    status = section_texts(render.root_message(None, report, requested_by="U1"))[0]
    assert "4 lines · web-dashboard -&gt; taskflow-api · 1 finding" in status
    assert ":red_circle:" in status
    assert "opsbot · trace 7f3a9c2e" in render.root_message(None, report, requested_by="U1").text
    [calm] = render.findings_messages(trace_report(request_hits()))
    assert "No known error pattern in the 4 lines carrying `7f3a9c2e`" in calm.text


# --- escaping and redaction ---------------------------------------------------------------------


def test_user_and_log_text_cannot_inject_mentions_or_links() -> None:
    evil = Finding(
        pattern="x", title="<!channel> & <http://evil|click>", sample="<@U0ADMIN> ping & <!here>",
        cause="a < b > c", fix="&amp; stays literal", evidence=["<!everyone>"],
    )
    message = render.findings_messages(report(findings=[evil]))[0]
    # (files are plain text: Slack does not read mentions in them, so only what renders as mrkdwn counts)
    text = "".join(section_texts(message)) + message.text + json.dumps(message.blocks)
    for raw in ("<!channel>", "<http://evil|click>", "<@U0ADMIN>", "<!here>", "<!everyone>", "a < b"):
        assert raw not in text
    assert "&lt;!channel&gt; &amp; &lt;http://evil|click&gt;" in "".join(section_texts(message))
    assert "&amp;amp; stays literal" in "".join(section_texts(message))
    root = render.root_message(None, report(), requested_by="bob <!channel>")
    assert "bob &lt;!channel&gt;" in section_texts(root)[0]


def test_secrets_never_reach_a_message() -> None:
    leaky = pool_finding().model_copy(update={
        "sample": f"auth failed for {GITHUB_TOKEN}",
        "evidence": [f"SLACK_BOT_TOKEN={SLACK_TOKEN}"],
        "snippet": f"token: {GITHUB_TOKEN}\n" * 200,
    })
    messages = render.findings_messages(report(findings=[leaky]))
    messages.append(render.action_result_message(ActionResult(title="t", text=SLACK_TOKEN * 3), requested_by="U1"))
    messages.append(render.usage_message(f"bad token {SLACK_TOKEN}"))
    for message in messages:
        dumped = all_text(message)
        assert GITHUB_TOKEN not in dumped and SLACK_TOKEN not in dumped
        assert "REDACTED" in dumped


# --- limits for any report ----------------------------------------------------------------------

tricky = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=["Cs"]) | st.sampled_from("&<>`*_~"),
                 max_size=40)
# long text built by repetition: cheap to generate and quick to shrink
long_text = st.one_of(tricky, st.builds(lambda part, n: part * n, tricky, st.integers(0, 400)))
names = st.lists(st.from_regex(r"[a-z][a-z0-9-]{0,60}", fullmatch=True), max_size=12)
actions = st.builds(
    NextAction,
    kind=st.sampled_from(list(ActionKind)),
    namespace=st.from_regex(r"[a-z][a-z0-9-]{0,62}", fullmatch=True),
    pod=st.none() | st.from_regex(r"[a-z][a-z0-9.-]{0,252}", fullmatch=True),
    container=st.none() | st.text(max_size=63),
)
commands = st.builds(NextCommand, label=long_text, command=long_text, action=st.none() | actions)
findings = st.builds(
    Finding,
    pattern=tricky,
    title=long_text,
    severity=st.sampled_from(list(Severity)),
    count=st.integers(0, 10**6),
    pods=names,
    containers=names,
    first_seen=st.none() | st.just(T0),
    sample=long_text,
    cause=long_text,
    fix=long_text,
    snippet=st.none() | long_text,
    evidence=st.lists(long_text, max_size=8),
    next_commands=st.lists(commands, max_size=8),
)
steps = st.builds(
    StepResult, name=tricky, title=long_text, status=st.sampled_from(list(StepStatus)),
    summary=long_text, error=st.none() | long_text, duration_ms=st.floats(0, 1e7),
)
checklists = st.lists(
    st.builds(
        ChecklistItem, key=st.from_regex(r"[a-z0-9_-]{1,40}", fullmatch=True), text=long_text, done=st.booleans(),
        evidence=st.none() | long_text, by=st.sampled_from([None, "opsbot", "U123ABC", "alice & <bob>"]),
        at=st.none() | st.just(T0),
    ),
    max_size=45,
    unique_by=lambda i: i.key,
)
reports = st.builds(
    Report,
    service=st.from_regex(r"[a-z][a-z0-9-]{0,62}", fullmatch=True),
    namespace=tricky,
    context=st.none() | tricky,
    started_at=st.just(T0),
    pods=st.lists(st.builds(PodSnapshot, name=tricky, namespace=tricky, restarts=st.integers(0, 9)), max_size=30),
    findings=st.lists(findings, max_size=14),
    steps=st.lists(steps, max_size=40),
    checklist=checklists,
)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(report=reports, requested_by=tricky, result_text=long_text)
def test_any_report_renders_within_slack_limits(report: Report, requested_by: str, result_text: str) -> None:
    messages = [
        render.root_message(None, report, requested_by=requested_by or "U1"),
        render.progress_message(report),
        *render.findings_messages(report),
        *render.checklist_messages(report.checklist),
        render.action_result_message(ActionResult(title=result_text, text=result_text), requested_by="U1"),
        render.usage_message(result_text or "?"),
    ]
    for message in messages:
        assert_within_slack_limits(message)
        for block in message.blocks:
            if block["type"] == "section":
                # every & in mrkdwn is one we wrote as an entity: nothing raw got through
                text = block["text"]["text"]
                assert "<" not in text.replace("<@U123ABC>", "").replace("<@U1>", "")
    buttons = Counter(
        e["action_id"] for m in messages for b in m.blocks if b["type"] == "actions" for e in b["elements"]
        if e["action_id"].startswith("next_step")
    )
    assert all(n == 1 for n in buttons.values())
    options = sum(
        len(b["elements"][0]["options"])
        for m in render.checklist_messages(report.checklist) for b in m.blocks if b["type"] == "actions"
    )
    assert options == len(report.checklist)


trace_hits = st.lists(
    st.builds(TraceHit, ts=st.none() | st.just(T0), service=tricky, pod=tricky, container=tricky, text=long_text),
    max_size=60,
)
trace_reports = st.builds(
    Report,
    kind=st.just("trace"),
    service=st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._:-]{3,127}", fullmatch=True),
    namespace=tricky,
    context=st.none() | tricky,
    started_at=st.just(T0),
    findings=st.lists(findings, max_size=4),
    steps=st.lists(steps, max_size=5),
    trace=trace_hits,
)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(report=trace_reports, since=st.none() | st.integers(1, 10**7))
def test_any_trace_renders_within_slack_limits(report: Report, since: int | None) -> None:
    messages = [
        render.root_message(None, report, requested_by="U1"),
        render.trace_message(report, since_seconds=since),
        *render.findings_messages(report),
    ]
    for message in messages:
        assert_within_slack_limits(message)
        for block in message.blocks:
            if block["type"] == "section":
                assert "<" not in block["text"]["text"].replace("<@U1>", "")


async def test_progress_edits_are_coalesced_to_one_a_second_and_the_last_one_wins() -> None:
    import asyncio

    from bot.models import Message
    from bot.threads import LatestOnly

    loop = asyncio.get_running_loop()
    sent: list[tuple[float, str]] = []

    async def send(message: Message) -> None:
        sent.append((loop.time(), message.text))

    updater = LatestOnly(send, interval=0.05)
    for i in range(20):  # a burst of steps ending
        updater.submit(Message(text=f"step {i}", blocks=[]))
        await asyncio.sleep(0)
    await updater.finish(Message(text="done", blocks=[]))
    assert [text for _, text in sent] == ["step 0", "done"]  # everything in between was overtaken
    assert all(b - a >= 0.05 for (a, _), (b, _) in zip(sent, sent[1:], strict=False))  # noqa: RUF007
    await updater.finish(Message(text="done", blocks=[]))
    assert len(sent) == 2  # the final version is not sent twice


async def test_a_run_that_ends_quickly_edits_its_progress_once_at_once() -> None:
    """With first_after, the versions of a run that ends sooner are dropped and the final one goes
    out at once; a longer run's first edit waits until first_after, then one a second as before."""
    import asyncio

    from bot.models import Message
    from bot.threads import LatestOnly

    loop = asyncio.get_running_loop()
    sent: list[tuple[float, str]] = []

    async def send(message: Message) -> None:
        sent.append((loop.time(), message.text))

    started = loop.time()
    quick = LatestOnly(send, interval=0.2, first_after=0.3)
    for i in range(5):
        quick.submit(Message(text=f"step {i}", blocks=[]))
        await asyncio.sleep(0.01)
    await quick.finish(Message(text="done", blocks=[]))
    assert [text for _, text in sent] == ["done"]
    assert sent[0][0] - started < 0.3

    sent.clear()
    started = loop.time()
    slow = LatestOnly(send, interval=0.2, first_after=0.1)
    slow.submit(Message(text="step 0", blocks=[]))
    await asyncio.sleep(0.15)
    await slow.finish(Message(text="done", blocks=[]))
    assert [text for _, text in sent] == ["step 0", "done"]
    assert sent[0][0] - started >= 0.1 and sent[1][0] - sent[0][0] >= 0.2
