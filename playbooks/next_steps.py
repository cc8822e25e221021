"""Next steps: a command as a person would type it, with the read-only action the bot can run for it
(a Slack button, a console `press`): the one builder every finding's next commands go through.

A command shown as runnable does what it shows: `--tail=N` reads N lines and a `| grep ...` after a
`kubectl logs` filters them as grep would (`grep_lines`); a pipe the bot cannot run makes the command
text only, never a button that drops part of it."""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable, Sequence

from bot.models import ActionKind, NextAction, NextCommand, Report, WorkflowRun

# grep options a follow-up can honour; anything else leaves the command without a button
_GREP_FLAGS = frozenset({"-i", "-E", "-F", "-v", "-w"})
_GREP_CONTEXT = frozenset({"-A", "-B", "-C"})


def next_command(command: str, *, namespace: str, pod: str | None, container: str | None,
                 restarted: bool = False, repo: str | None = None,
                 failed_run: WorkflowRun | None = None) -> NextCommand | None:
    """A command as typed, with the read-only action the bot can run for it (a Slack button)."""
    if "{" in command:  # a placeholder we could not fill: show nothing rather than a broken command
        return None
    action: NextAction | None = None
    label = command
    head, bar, tail = command.partition("|")
    words = head.split()
    grep = _grep_argv(tail) if bar else None
    runnable = not bar or grep is not None
    if runnable and words[:2] == ["kubectl", "logs"] and pod and pod in words:
        logged = _flag(words, "-c") or container
        lines = _tail(words)
        if "--previous" in words or "-p" in words:
            if restarted:
                action = NextAction(kind=ActionKind.PREVIOUS_LOGS, namespace=namespace, pod=pod, container=logged,
                                    tail=lines, grep=grep)
        else:
            action = NextAction(kind=ActionKind.CONTAINER_LOGS, namespace=namespace, pod=pod, container=logged,
                                tail=lines, grep=grep)
    elif not bar and (words[:3] == ["kubectl", "describe", "pod"] or words[:3] == ["kubectl", "get", "events"]) \
            and pod and pod in words:
        action = NextAction(kind=ActionKind.POD_EVENTS, namespace=namespace, pod=pod)
    elif not bar and words[:3] == ["gh", "run", "view"] and failed_run is not None and repo:
        action = NextAction(kind=ActionKind.CI_JOB, namespace=namespace, repo=repo, run_id=failed_run.id)
        label = f"Failed CI run #{failed_run.run_number or failed_run.id}"
    if action is not None and action.kind is not ActionKind.CI_JOB:
        label = action.title
    return NextCommand(label=label[:75], command=command, action=action)


def _flag(words: list[str], flag: str) -> str | None:
    for i, word in enumerate(words[:-1]):
        if word == flag:
            return words[i + 1]
    return None


def _tail(words: list[str]) -> int | None:
    for i, word in enumerate(words):
        value = word.removeprefix("--tail=") if word.startswith("--tail=") else (
            words[i + 1] if word == "--tail" and i + 1 < len(words) else None)
        if value is not None and value.isdigit():
            return int(value)
    return None


def _grep_argv(pipeline: str) -> list[str] | None:
    """`grep -i -E "a|b"` as argv, when it is one grep the follow-up can run exactly; else None."""
    try:
        argv = shlex.split(pipeline)
    except ValueError:
        return None
    if not argv or argv[0] != "grep":
        return None
    return argv if _parse_grep(argv) is not None else None


def _parse_grep(argv: Sequence[str]) -> tuple[re.Pattern[str], bool, int, int] | None:
    """(regex, invert, lines before, lines after) of a grep argv; None for what grep_lines cannot do."""
    flags: set[str] = set()
    before = after = 0
    pattern: str | None = None
    i = 1
    while i < len(argv):
        word = argv[i]
        if word in _GREP_CONTEXT and i + 1 < len(argv) and argv[i + 1].isdigit():
            n = int(argv[i + 1])
            before = n if word in ("-B", "-C") else before
            after = n if word in ("-A", "-C") else after
            i += 2
            continue
        if word.startswith("-") and len(word) > 1 and pattern is None:
            letters = [f"-{c}" for c in word[1:]]
            if not all(flag in _GREP_FLAGS for flag in letters):
                return None
            flags.update(letters)
        elif pattern is None:
            pattern = word
        else:
            return None  # a file name: grep would read it, not the log
        i += 1
    if pattern is None:
        return None
    if "-F" in flags:
        source = re.escape(pattern)
    elif "-E" in flags:
        source = pattern
    else:
        source = _basic_to_python(pattern)
    if "-w" in flags:
        source = rf"(?<!\w)(?:{source})(?!\w)"
    try:
        regex = re.compile(source, re.IGNORECASE if "-i" in flags else 0)
    except re.error:
        return None
    return regex, "-v" in flags, before, after


def _basic_to_python(pattern: str) -> str:
    """A grep basic regular expression in Python's syntax: `\\|`, `\\(`... are operators, `|`, `(`... literal."""
    out = []
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\" and i + 1 < len(pattern):
            nxt = pattern[i + 1]
            out.append(nxt if nxt in "|(){}+?" else ch + nxt)
            i += 2
            continue
        out.append("\\" + ch if ch in "|(){}+?" else ch)
        i += 1
    return "".join(out)


def grep_lines(lines: Sequence[str], argv: Sequence[str]) -> list[str]:
    """What `... | grep ARGS` prints for these lines (context groups apart by `--`, as grep does)."""
    parsed = _parse_grep(argv)
    if parsed is None:
        raise ValueError(f"cannot run {shlex.join(argv)}")
    regex, invert, before, after = parsed
    hits = [i for i, line in enumerate(lines) if bool(regex.search(line)) != invert]
    if not before and not after:
        return [lines[i] for i in hits]
    out: list[str] = []
    last = -1
    for i in hits:
        start = max(i - before, last + 1)
        if out and start > last + 1:
            out.append("--")
        out.extend(lines[start:i + after + 1])
        last = max(last, min(i + after, len(lines) - 1))
    return out


def kubectl_target(command: str) -> tuple[str, list[str]] | None:
    """(verb, resource names) of a kubectl command: `kubectl get svc,endpoints -n x` -> ("get", ["svc",
    "endpoints"]); `kubectl top pod p` -> ("top", ["pod"]); `kubectl logs p` -> ("logs", ["pods"]).
    None for anything that is not kubectl."""
    try:
        words = shlex.split(command.partition("|")[0])
    except ValueError:
        return None
    if len(words) < 2 or words[0] != "kubectl":
        return None
    verb = words[1]
    if verb in ("logs", "exec", "attach", "port-forward", "cp"):
        return verb, ["pods"]
    args = [w for w in words[2:] if not w.startswith("-")]
    if not args:
        return verb, []
    kinds = args[0].split("/")[0]
    return verb, [k for k in kinds.split(",") if k]


def drop_unanswerable(report: Report, answers: Callable[[str], bool]) -> Report:
    """The report without the next commands the cluster it ran against cannot answer (the sandbox has
    no metrics API, no Services): a suggestion that fails is worse than none."""
    for finding in report.findings:
        finding.next_commands = [c for c in finding.next_commands if answers(c.command)]
    for hop in report.path:
        for finding in hop.findings:
            finding.next_commands = [c for c in finding.next_commands if answers(c.command)]
    return report
