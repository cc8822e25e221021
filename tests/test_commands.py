"""The command language: strict parsing, one-line usage errors, access checks."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.commands import HELP, USAGE, HelpCommand, IncidentCommand, ServiceCommand, TraceCommand, help_text
from bot.config import AccessSettings, Settings
from bot.errors import UsageError
from handlers.access import check_access, resolve_target
from handlers.parsing import parse_command, parse_mention

CLUSTERS = {"prod": "prod-eu-1", "staging": "kind-staging"}


@pytest.mark.parametrize(
    ("command", "text", "expected"),
    [
        ("/debug", "taskflow-api", ServiceCommand("taskflow-api")),
        ("/debug", "  taskflow-api  ", ServiceCommand("taskflow-api")),
        ("/debug", "taskflow-api -n prod", ServiceCommand("taskflow-api", namespace="prod")),
        ("/debug", "-n prod taskflow-api", ServiceCommand("taskflow-api", namespace="prod")),
        ("/debug", "taskflow-api --namespace=prod", ServiceCommand("taskflow-api", namespace="prod")),
        ("/debug", "taskflow-api --cluster prod", ServiceCommand("taskflow-api", cluster="prod")),
        (
            "/debug",
            "taskflow-api -n tasks --cluster=staging",
            ServiceCommand("taskflow-api", namespace="tasks", cluster="staging"),
        ),
        ("/verify", "taskflow-api", ServiceCommand("taskflow-api", playbook="verify")),
        ("/incident", "status", IncidentCommand("status")),
        ("/incident", "list", IncidentCommand("list")),
        ("/incident", "close", IncidentCommand("close")),
        ("/incident", "close fixed pool", IncidentCommand("close", summary="fixed pool")),
        (
            "/incident",
            "close #12 raised pool_size",
            IncidentCommand("close", incident_id=12, summary="raised pool_size"),
        ),
        ("/incident", "close a &lt;b&gt; &amp; c", IncidentCommand("close", summary="a <b> & c")),
        ("/opsbot", "help", HelpCommand()),
        ("/opsbot", "", HelpCommand()),
        ("/opsbot", "debug web-dashboard", ServiceCommand("web-dashboard")),
        ("/trace", "7f3a9c2e", TraceCommand("7f3a9c2e")),
        ("/trace", "  7f3a9c2e ", TraceCommand("7f3a9c2e", since_seconds=3600)),
        ("/trace", "7f3a9c2e -n taskflow", TraceCommand("7f3a9c2e", namespace="taskflow")),
        ("/trace", "--since 30m 7f3a9c2e", TraceCommand("7f3a9c2e", since_seconds=1800)),
        ("/trace", "7f3a9c2e --since=2h30m", TraceCommand("7f3a9c2e", since_seconds=9000)),
        (
            "/trace",
            "req-42.a:b_C -n tasks --since 1d --cluster=prod",
            TraceCommand("req-42.a:b_C", namespace="tasks", since_seconds=86400, cluster="prod"),
        ),
        ("/opsbot", "trace 7f3a9c2e --since 90s", TraceCommand("7f3a9c2e", since_seconds=90)),
    ],
)
def test_parses_valid_commands(command: str, text: str, expected: object) -> None:
    assert parse_command(command, text, clusters=CLUSTERS) == expected


@pytest.mark.parametrize(
    ("command", "text", "problem"),
    [
        ("/debug", "", "which service?"),
        ("/debug", "Bad_Name", "not a valid service name"),
        ("/debug", "taskflow-api --force", "unknown flag '--force'"),
        ("/debug", "taskflow-api -x", "unknown flag '-x'"),
        ("/debug", "taskflow-api -n", "-n needs a value"),
        ("/debug", "taskflow-api -n Prod", "not a valid namespace name"),
        ("/debug", "taskflow-api -n a -n b", "-n given twice"),
        ("/debug", "taskflow-api web-dashboard", "one service at a time"),
        ("/debug", "taskflow-api --cluster mars", "unknown cluster 'mars' (known: prod, staging)"),
        ("/debug", "a" * 64, "not a valid service name"),
        ("/debug", "-api", "unknown flag '-api'"),
        ("/verify", "", "which service?"),
        ("/incident", "", "status, list, close, reopen, note or snapshot?"),
        ("/incident", "reopen nine", "reopen takes an incident id"),
        ("/incident", "status now", "status takes no arguments"),
        ("/opsbot", "dance", "unknown subcommand 'dance'"),
        ("/trace", "", "which correlation id?"),
        ("/trace", "--since 1h", "which correlation id?"),
        ("/trace", "abc", "'abc' is not a correlation id"),
        ("/trace", "$(reboot)", "is not a correlation id"),
        ("/trace", "x" * 129, "is not a correlation id"),
        ("/trace", "7f3a9c2e 8e4b0d1f", "one correlation id at a time"),
        ("/trace", "7f3a9c2e --since", "--since needs a value"),
        ("/trace", "7f3a9c2e --since soon", "--since 'soon' is not a duration"),
        ("/trace", "7f3a9c2e --since 0s", "--since must be longer than 0s"),
        ("/trace", "7f3a9c2e --since " + "9" * 200, "is not a duration"),
        ("/trace", "7f3a9c2e --since 1h --since 2h", "--since given twice"),
        ("/trace", "7f3a9c2e -n Prod", "not a valid namespace name"),
        ("/trace", "7f3a9c2e -n a -n b", "-n given twice"),
        ("/trace", "7f3a9c2e --cluster mars", "unknown cluster 'mars' (known: prod, staging)"),
        ("/trace", "7f3a9c2e --follow", "unknown flag '--follow'"),
        # --since belongs to /trace only
        ("/debug", "taskflow-api --since 1h", "unknown flag '--since'"),
    ],
)
def test_bad_input_is_a_one_line_usage_error(command: str, text: str, problem: str) -> None:
    with pytest.raises(UsageError) as info:
        parse_command(command, text, clusters=CLUSTERS)
    message = str(info.value)
    assert problem in message
    assert "\n" not in message
    assert message.endswith("Usage: " + USAGE[command])


def test_unknown_slash_command() -> None:
    with pytest.raises(UsageError, match="unknown command '/deploy'"):
        parse_command("/deploy", "x")


def test_unknown_cluster_when_none_configured() -> None:
    with pytest.raises(UsageError, match="none are configured"):
        parse_command("/debug", "svc --cluster prod")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("<@U0BOT> debug taskflow-api", ServiceCommand("taskflow-api")),
        ("<@U0BOT|opsbot>   debug taskflow-api -n prod", ServiceCommand("taskflow-api", namespace="prod")),
        ("hey <@U0BOT> verify web-dashboard", ServiceCommand("web-dashboard", playbook="verify")),
        ("<@U0BOT>", HelpCommand()),
        ("<@U0BOT> help", HelpCommand()),
        ("<@U0BOT> incident close done", IncidentCommand("close", summary="done")),
        ("<@U0BOT> trace 7f3a9c2e --since 2h", TraceCommand("7f3a9c2e", since_seconds=7200)),
    ],
)
def test_parses_mentions(text: str, expected: object) -> None:
    assert parse_mention(text, clusters=CLUSTERS) == expected


def test_bad_trace_mention_is_the_same_usage_error() -> None:
    with pytest.raises(UsageError, match=r"not a correlation id.*Usage: /trace CORRELATION_ID"):
        parse_mention("<@U0BOT> trace ab")


def test_long_since_is_clipped_in_the_answer() -> None:
    with pytest.raises(UsageError) as info:
        parse_command("/trace", "7f3a9c2e --since " + "x" * 5000)
    assert len(str(info.value)) < 250


def test_mention_with_unknown_word() -> None:
    with pytest.raises(UsageError, match="unknown command 'deploy'"):
        parse_mention("<@U0BOT> deploy taskflow-api")


def test_every_command_has_help_and_usage() -> None:
    assert set(USAGE) == set(HELP)
    text = help_text()
    for command in USAGE:
        assert USAGE[command] in text
        assert HELP[command]
    # the help goes out as mrkdwn: nothing to escape
    assert not set("<>&") & set(text)


@given(st.text(max_size=80))
def test_parser_never_raises_anything_but_usage_errors(text: str) -> None:
    for command in USAGE:
        try:
            parse_command(command, text, clusters=CLUSTERS)
        except UsageError as exc:
            assert "\n" not in str(exc)
    with contextlib.suppress(UsageError):
        parse_mention(text, clusters=CLUSTERS)


@pytest.mark.parametrize(
    ("access", "channel", "user", "namespace", "refused"),
    [
        (AccessSettings(), "C1", "U1", "prod", None),
        (AccessSettings(channels=["C1"]), "C1", "U1", None, None),
        (AccessSettings(channels=["C1"]), "C2", "U1", None, "does not run commands in this channel"),
        (AccessSettings(users=["U1"]), "C1", "U2", None, "you are not allowed"),
        (AccessSettings(namespaces={"C1": ["tasks"]}), "C1", "U1", "tasks", None),
        (AccessSettings(namespaces={"C1": ["tasks"]}), "C1", "U1", "payments", "may not look into namespace"),
        (AccessSettings(namespaces={"C1": ["tasks"]}), "C2", "U1", "payments", None),
    ],
)
def test_check_access(
    access: AccessSettings, channel: str, user: str, namespace: str | None, refused: str | None
) -> None:
    answer = check_access(access, channel=channel, user=user, namespace=namespace)
    if refused is None:
        assert answer is None
    else:
        assert answer is not None and refused in answer


def test_resolve_target_uses_catalogue_and_clusters() -> None:
    settings = Settings(
        services={"taskflow-api": {"namespace": "tasks"}},  # type: ignore[dict-item]
        kubernetes={"clusters": CLUSTERS, "context": "local"},  # type: ignore[arg-type]
    )
    assert resolve_target(settings, ServiceCommand("taskflow-api")) == ("tasks", "local")
    other = ServiceCommand("taskflow-api", namespace="x", cluster="prod")
    assert resolve_target(settings, other) == ("x", "prod-eu-1")
    assert resolve_target(settings, ServiceCommand("other")) == ("default", "local")


def test_resolve_target_of_a_trace_is_its_namespace_or_the_default() -> None:
    settings = Settings(
        services={"taskflow-api": {"namespace": "tasks"}},  # type: ignore[dict-item]
        kubernetes={"clusters": CLUSTERS, "context": "local", "namespace": "shop"},  # type: ignore[arg-type]
    )
    # no service to look up: the catalogue plays no part
    assert resolve_target(settings, TraceCommand("7f3a9c2e")) == ("shop", "local")
    assert resolve_target(settings, TraceCommand("7f3a9c2e", namespace="tasks", cluster="prod")) == (
        "tasks",
        "prod-eu-1",
    )
