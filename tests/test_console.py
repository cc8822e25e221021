"""`opsbot console --demo`: the incident thread in a terminal, driven line by line."""

from __future__ import annotations

import io
import re
import signal
import subprocess
from pathlib import Path

import pytest

from bot.config import Settings
from bot.console import console, mrkdwn_to_text


def run(lines: list[str], tmp_path: Path, *, demo: bool = True) -> str:
    out = io.StringIO()
    settings = Settings(store={"path": str(tmp_path / "opsbot.db")})  # type: ignore[arg-type]
    console(settings, demo=demo, stdin=io.StringIO("\n".join(lines) + "\n"), stdout=out)
    return out.getvalue()


def after(output: str, command: str) -> str:
    """What the console printed in answer to one input line."""
    parts = re.split(r"^opsbot> ", output, flags=re.MULTILINE)
    return next(p for p in parts if p.startswith(command + "\n")).removeprefix(command + "\n")


@pytest.fixture(scope="module")
def session(tmp_path_factory: pytest.TempPathFactory) -> str:
    return run(
        [
            "/debug taskflow-api",
            "tick 1",
            "untick 1",
            "press 1",
            "/incident status",
            "/incident close fixed pool",
            "quit",
            "/debug never-reached",
        ],
        tmp_path_factory.mktemp("console"),
    )


def test_debug_prints_the_thread(session: str) -> None:
    thread = after(session, "/debug taskflow-api")
    assert "opsbot · debug taskflow-api" in thread
    assert re.search(r"Progress · (\d+)/\1 steps done · finished", thread)
    assert "QueuePool" in thread
    assert "[press 1]" in thread
    assert "Checklist" in thread
    # items the bot checked itself are ticked, with their evidence
    assert re.search(r"\[x\] 2\. Check pod status .* — \d+ pods", thread)
    assert "[ ] 1. Reproduce the issue" in thread


def test_tick_and_untick_rerender_the_checklist(session: str) -> None:
    ticked = after(session, "tick 1")
    assert re.search(r"\[x\] 1\. Reproduce the issue .* — ticked by \S+", ticked)
    unticked = after(session, "untick 1")
    assert re.search(r"\[ \] 1\. Reproduce the issue .* — unticked by \S+", unticked)


def test_press_runs_the_next_step(session: str) -> None:
    pressed = after(session, "press 1")
    assert "Log of taskflow-api" in pressed
    assert "asked by" in pressed


def test_status_and_close(session: str) -> None:
    assert "#1 taskflow-api in `taskflow`: open" in after(session, "/incident status")
    closed = after(session, "/incident close fixed pool")
    assert "Closed by" in closed and "fixed pool" in closed


def test_quit_ends_the_session(session: str) -> None:
    assert "never-reached" not in session.split("opsbot> quit")[1]


@pytest.mark.parametrize(
    ("line", "answer"),
    [
        ("bogus", "unknown command 'bogus': type help"),
        ("tick x", "which item? give its number, e.g. 3"),
        ("tick 3", "no incident thread yet: start one with /debug SERVICE"),
        ("press 1", "no incident thread yet"),
        ("/debug Bad_Name", "'Bad_Name' is not a valid service name"),
        ("/debug taskflow-api --force", "unknown flag '--force'"),
        ("/incident close", "no open incident in this channel"),
        ("/deploy x", "unknown command '/deploy'"),
        ("/trace abc", "'abc' is not a correlation id"),
        ("/trace 7f3a9c2e --since soon", "--since 'soon' is not a duration"),
    ],
)
def test_bad_input_gets_one_line(line: str, answer: str, tmp_path: Path) -> None:
    output = after(run([line], tmp_path), line)
    assert answer in output
    assert len(output.strip().splitlines()) == 1
    assert "Traceback" not in output


def test_help_lists_the_console_commands(tmp_path: Path) -> None:
    output = after(run(["help"], tmp_path), "help")
    for word in ("/debug", "/verify", "/trace", "/incident", "tick N", "untick N", "press N", "quit"):
        assert word in output


def test_trace_prints_the_request_path(tmp_path: Path) -> None:
    output = after(run(["/trace 7f3a9c2e --since 2h"], tmp_path), "/trace 7f3a9c2e --since 2h")
    assert "Tracing `7f3a9c2e` in taskflow over the last 2h" in output
    assert "opsbot · trace 7f3a9c2e" in output
    assert "Path web-dashboard -> taskflow-api" in output
    listed = [line for line in output.splitlines() if re.search(r"\d\d:\d\d:\d\d\.\d{3}  ", line)]
    assert "web-dashboard" in listed[0] and "502" in listed[-1]
    assert any("taskflow-api" in line and "QueuePool" in line for line in listed)


def test_mrkdwn_to_text() -> None:
    text = mrkdwn_to_text(":white_check_mark: *Closed* by <@U123>: a &lt;b&gt; &amp; c")
    assert text.plain == "✅ Closed by @U123: a <b> & c"
    assert any(span.style == "bold" for span in text.spans)


def test_a_failed_debug_leaves_incident_close_about_no_other_incident(tmp_path: Path) -> None:
    output = run(["/debug taskflow-api", "/incident close fixed", "/debug nosuch", "/incident close"], tmp_path)
    assert "no open incident in this channel" in after(output, "/incident close")
    assert "already closed" not in output


def test_press_applies_the_grep_its_command_shows(session: str) -> None:
    pressed = after(session, "press 1")
    head, *lines = [line.removeprefix("  │ ").strip() for line in pressed.strip().splitlines()]
    assert "| grep -i -E 'QueuePool|TimeoutError'" in head
    shown = [line for line in lines if line]
    assert shown and all(re.search("queuepool|timeouterror", line, re.I) for line in shown), shown


# --- the console as a shell, through a pseudo-terminal (#19) ----------------------------------------

import os  # noqa: E402

from tests.test_cli import OPSBOT, RunningSandbox, kubeconfig_for, sandbox, silent_cluster  # noqa: E402

__all__ = ["sandbox", "silent_cluster"]


def shell(*args: str, env: dict[str, str] | None = None) -> object:
    import pexpect

    clean = {k: v for k, v in os.environ.items() if not k.startswith(("OPSBOT_", "SLACK_", "GITHUB_"))}
    # no history file unless a test names one: a test never writes into the home directory. Ctrl-C as a
    # person's terminal delivers it: a suite started in the background (`make test &` from a script)
    # runs with SIGINT ignored, which a child inherits, and Python then never raises KeyboardInterrupt
    child = pexpect.spawn(OPSBOT, ["console", *args],
                          env={**clean, "NO_COLOR": "1", "OPSBOT_HISTORY_FILE": "", **(env or {})},
                          encoding="utf-8", timeout=60, dimensions=(50, 160),
                          preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    child.expect("opsbot> ")
    return child


def test_the_console_edits_lines_and_keeps_their_history(tmp_path: Path) -> None:
    import pexpect

    history = {"OPSBOT_HISTORY_FILE": str(tmp_path / "history")}
    child = shell("--demo", env=history)
    child.sendline("/debug taskflow-api")
    child.expect("Checklist")
    child.expect("opsbot> ")
    child.send("/incident lst")
    child.send("\x1b[D\x1b[D")  # left, left: the cursor moves back into the line
    child.send("i\r")  # "lst" is now "list"
    child.expect("1 open incident")
    child.expect("opsbot> ")
    child.send("\x1b[A\r")  # up: the last line again
    child.expect("1 open incident")
    child.expect("opsbot> ")
    child.sendeof()  # Ctrl-D quits
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
    # the next session starts with this one's lines: up, up is the /debug typed before
    child = shell("--demo", env=history)
    child.send("\x1b[A\x1b[A\x1b[A\r")
    child.expect("Running debug on taskflow-api")
    child.expect("opsbot> ")
    child.sendeof()
    child.expect(pexpect.EOF)


def test_the_progress_of_a_run_is_shown_in_place(silent_cluster: Path, tmp_path: Path) -> None:
    import pexpect

    env = {"KUBECONFIG": str(silent_cluster), "OPSBOT_TIMEOUT": "2", "OPSBOT_DB": str(tmp_path / "opsbot.db")}
    piped = subprocess.run([OPSBOT, "console"], input="/debug taskflow-api -n taskflow\n", capture_output=True,
                           text=True, timeout=120, env={**os.environ, **env})
    assert piped.stdout.count("↻ Progress") >= 1  # piped: the run's edits, a plain line each
    child = shell(env=env)
    child.sendline("/debug taskflow-api -n taskflow")
    child.expect("opsbot> ")
    shown = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", child.before)
    child.sendeof()
    child.expect(pexpect.EOF)
    assert "↻" not in shown  # on a terminal the same edits change one block in place
    assert len(re.findall(r"Progress · \d+/\d+ steps done · finished", shown)) == 1


def test_ctrl_c_cancels_the_running_command_and_a_second_one_quits(silent_cluster: Path, tmp_path: Path) -> None:
    import pexpect

    child = shell(env={"KUBECONFIG": str(silent_cluster), "OPSBOT_TIMEOUT": "60",
                       "OPSBOT_DB": str(tmp_path / "opsbot.db")})
    child.sendline("/debug taskflow-api -n taskflow")
    child.expect("Deployment")  # the run waits for a cluster that does not answer
    child.sendintr()
    child.expect("cancelled")
    child.expect("opsbot> ")  # back at the prompt, long before the call would time out
    child.sendline("help")
    child.expect("tick N")
    child.expect("opsbot> ")
    child.sendintr()  # at an idle prompt: says how to quit
    child.expect("Ctrl-C again or Ctrl-D to quit")
    child.sendintr()
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
    assert "Traceback" not in child.before


def test_verify_opens_no_incident_until_asked(tmp_path: Path) -> None:
    output = run(["/verify taskflow-api", "/incident status", "/incident open", "/incident status"], tmp_path)
    parts = re.split(r"^opsbot> ", output, flags=re.MULTILINE)
    first, second = [p for p in parts if p.startswith("/incident status\n")]
    assert "report, not an incident" in first
    assert "Opening incident #1 (taskflow-api)" in after(output, "/incident open")
    assert "#1 taskflow-api in `taskflow`: open" in second


def test_without_a_catalogue_the_kubeconfig_context_names_the_namespace(sandbox: RunningSandbox,
                                                                       tmp_path: Path) -> None:
    out = io.StringIO()
    kubeconfig = kubeconfig_for(tmp_path, sandbox.url, namespace="taskflow")
    settings = Settings(store={"path": str(tmp_path / "opsbot.db")},  # type: ignore[arg-type]
                        kubernetes={"kubeconfig": str(kubeconfig)})  # type: ignore[arg-type]
    console(settings, demo=False, stdin=io.StringIO("/debug taskflow-api\n"), stdout=out)
    thread = after(out.getvalue(), "/debug taskflow-api")
    assert "Namespace `taskflow`" in thread and "QueuePool" in thread
