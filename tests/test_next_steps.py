"""Next steps that work (#19): a runnable command does what it shows. `| grep` is applied as grep
applies it (checked against the real grep), and --demo suggests only what the sandbox answers."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest

from bot.models import ActionKind
from playbooks.next_steps import grep_lines, kubectl_target, next_command
from tests.test_cli import opsbot

LOG = ["INFO start", "ERROR QueuePool limit reached", "info queuepool ok", "WARN slow (2s)", "a|b literal",
       "KeyError: 'x'", "  File handlers.py", "DEBUG done", "ERROR GET /tasks 502", "tail"]


@pytest.mark.parametrize("argv", [
    ["grep", "QueuePool"],
    ["grep", "-i", "queuepool"],
    ["grep", "-i", "-E", "queuepool|timeout"],
    ["grep", "-E", " 5[0-9][0-9]"],
    ["grep", "a|b"],
    ["grep", "ERROR\\|WARN"],
    ["grep", "-v", "-i", "error"],
    ["grep", "-B", "1", "-A", "1", "KeyError"],
    ["grep", "-C", "1", "ERROR"],
    ["grep", "-iE", "slow \\(2s\\)"],
    ["grep", "-F", "(2s)"],
    ["grep", "-w", "ok"],
])
def test_grep_lines_prints_what_grep_prints(argv: list[str]) -> None:
    grep = shutil.which("grep")
    if grep is None:
        pytest.skip("no grep on this machine")
    real = subprocess.run([grep, *argv[1:]], input="\n".join(LOG) + "\n", capture_output=True, text=True)
    assert grep_lines(LOG, argv) == real.stdout.splitlines()


def test_a_logs_command_with_a_grep_is_a_button_that_filters() -> None:
    built = next_command('kubectl logs p1 -c api -n ns --tail=300 | grep -i -E "pool|timeout"', namespace="ns",
                         pod="p1", container="api")
    assert built is not None and built.action is not None
    assert built.action.kind is ActionKind.CONTAINER_LOGS and built.action.tail == 300
    assert built.action.grep == ["grep", "-i", "-E", "pool|timeout"]
    assert "| grep -i -E 'pool|timeout'" in built.action.title


@pytest.mark.parametrize("command", [
    "kubectl logs p1 -c api -n ns | jq .message",           # a pipe the bot cannot run
    "kubectl logs p1 -c api -n ns | grep -P '\\d+' ",        # a grep option it cannot honour
    "kubectl logs p1 -c api -n ns | grep x | head",          # more than one stage
    "kubectl describe pod p1 -n ns | grep -A 5 Events",
])
def test_a_command_the_bot_cannot_run_exactly_is_text_only(command: str) -> None:
    built = next_command(command, namespace="ns", pod="p1", container="api")
    assert built is not None and built.action is None and built.command == command


def test_kubectl_target() -> None:
    assert kubectl_target("kubectl get svc,endpoints -n x") == ("get", ["svc", "endpoints"])
    assert kubectl_target("kubectl top pod p -n x --containers") == ("top", ["pod"])
    assert kubectl_target("kubectl logs deploy/x -n y | grep z") == ("logs", ["pods"])
    assert kubectl_target("gh run view 1") is None


def test_the_demo_suggests_only_what_the_sandbox_answers() -> None:
    commands = []
    for args in (("demo", "--json"), ("verify", "taskflow-api", "--demo", "--json"),
                 ("debug", "notification-service", "--demo", "--json"),
                 ("debug", "web-dashboard", "--demo", "--json"),
                 ("trace", "7f3a9c2e", "--since", "2h", "--demo", "--json")):
        report = json.loads(opsbot(*args).stdout)
        commands += [c["command"] for f in report["findings"] for c in f["next_commands"]]
    assert commands
    for command in commands:
        target = kubectl_target(command)
        if target is None:
            continue
        verb, kinds = target
        assert verb in ("logs", "describe", "get"), command
        assert not {"svc", "service", "services", "endpoints", "ep"} & set(kinds), command
