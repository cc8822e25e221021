"""Next steps: a command as a person would type it, with the read-only action the bot can run for it
(a Slack button, a console `press`): the one builder every finding's next commands go through."""

from __future__ import annotations

from bot.models import ActionKind, NextAction, NextCommand, WorkflowRun


def next_command(command: str, *, namespace: str, pod: str | None, container: str | None,
                 restarted: bool = False, repo: str | None = None,
                 failed_run: WorkflowRun | None = None) -> NextCommand | None:
    """A command as typed, with the read-only action the bot can run for it (a Slack button)."""
    if "{" in command:  # a placeholder we could not fill: show nothing rather than a broken command
        return None
    action: NextAction | None = None
    label = command
    words = command.split()
    if words[:2] == ["kubectl", "logs"] and pod and pod in words:
        logged = _flag(words, "-c") or container
        if "--previous" in words or "-p" in words:
            if restarted:
                action = NextAction(kind=ActionKind.PREVIOUS_LOGS, namespace=namespace, pod=pod, container=logged)
        else:
            action = NextAction(kind=ActionKind.CONTAINER_LOGS, namespace=namespace, pod=pod, container=logged)
    elif (words[:3] == ["kubectl", "describe", "pod"] or words[:3] == ["kubectl", "get", "events"]) and pod \
            and pod in words:
        action = NextAction(kind=ActionKind.POD_EVENTS, namespace=namespace, pod=pod)
    elif words[:3] == ["gh", "run", "view"] and failed_run is not None and repo:
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
