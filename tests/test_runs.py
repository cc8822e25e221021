"""CI runs of a service (`opsbot runs`, `/runs SERVICE [watch]`): conditional requests (ETag, 304)
against respx and the sandbox, watching a run to its end, the CLI and Slack end to end."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
import respx

from bot.changes import RunListing
from bot.commands import RunsCommand
from bot.config import load_settings
from bot.errors import ForbiddenError, NotFoundError, UnavailableError, UsageError
from bot.github import GitHubGateway
from bot.runtime import open_runtime
from handlers.parsing import parse_command
from playbooks.runs import list_service_runs, run_to_watch, watch_run
from tests.fakes.slack import FakeSlack
from tests.test_cli import opsbot
from tests.test_slackapp import CHANNEL, Bot, settings_for, start_bot, stop_bot, thread_messages

API = "https://api.github.test"
REPO = "acme/taskflow"
RUNS = f"{API}/repos/{REPO}/actions/workflows/deploy.yml/runs"


def run_json(status: str, conclusion: str | None, *, id_: int = 900) -> dict[str, Any]:
    return {"id": id_, "name": "Deploy", "run_number": 77, "head_sha": "3c760e00cc420d739223c29bf6ef8b9f0a24cf57",
            "head_branch": "main", "event": "push", "status": status, "conclusion": conclusion,
            "html_url": f"https://github.com/{REPO}/actions/runs/{id_}", "created_at": "2026-11-29T10:00:00Z",
            "run_started_at": "2026-11-29T10:00:05Z", "updated_at": "2026-11-29T10:03:11Z",
            "actor": {"login": "ana-dev"}}


@pytest_asyncio.fixture
async def github() -> AsyncIterator[tuple[GitHubGateway, respx.MockRouter]]:
    async with httpx.AsyncClient() as client:
        with respx.mock(assert_all_called=False) as router:
            yield GitHubGateway(client, api_url=API, token="ghp_x", timeout=2.0), router


async def test_a_second_read_is_conditional_and_a_304_returns_what_was_read(
    github: tuple[GitHubGateway, respx.MockRouter],
) -> None:
    gh, router = github
    route = router.get(RUNS).mock(side_effect=[
        httpx.Response(200, json={"workflow_runs": [run_json("completed", "success")]}, headers={"ETag": 'W/"abc"'}),
        httpx.Response(304, headers={"ETag": 'W/"abc"'}),
    ])
    first = await gh.list_runs(REPO, workflow="deploy.yml")
    again = await gh.list_runs(REPO, workflow="deploy.yml")
    assert first == again and first[0].actor == "ana-dev"
    assert "If-None-Match" not in route.calls[0].request.headers
    assert route.calls[1].request.headers["If-None-Match"] == 'W/"abc"'
    assert gh.not_modified == 1


@pytest.mark.parametrize(("status", "headers", "error", "words"), [
    (401, {}, ForbiddenError, "token rejected"),
    (403, {"x-ratelimit-remaining": "0", "x-ratelimit-reset": "1800000000"}, UnavailableError, "rate limit"),
    (429, {"retry-after": "30"}, UnavailableError, "rate limit"),
    (403, {}, ForbiddenError, "actions:read"),
    (404, {}, NotFoundError, "not found"),
    (502, {}, UnavailableError, "HTTP 502"),
])
async def test_runs_errors_are_clear(github: tuple[GitHubGateway, respx.MockRouter], status: int,
                                     headers: dict[str, str], error: type[Exception], words: str) -> None:
    gh, router = github
    router.get(RUNS).mock(return_value=httpx.Response(status, json={"message": "nope"}, headers=headers))
    with pytest.raises(error, match=words):
        await gh.list_runs(REPO, workflow="deploy.yml")


async def test_watching_a_run_polls_until_it_ends_and_names_the_failed_job_and_step(
    github: tuple[GitHubGateway, respx.MockRouter],
) -> None:
    gh, router = github
    router.get(f"{API}/repos/{REPO}/actions/runs/900").mock(side_effect=[
        httpx.Response(200, json=run_json("in_progress", None), headers={"ETag": '"v1"'}),
        httpx.Response(304, headers={"ETag": '"v1"'}),
        httpx.Response(200, json=run_json("completed", "failure"), headers={"ETag": '"v2"'}),
    ])
    router.get(f"{API}/repos/{REPO}/actions/runs/900/jobs").mock(return_value=httpx.Response(200, json={"jobs": [
        {"id": 1, "run_id": 900, "name": "test", "status": "completed", "conclusion": "failure",
         "steps": [{"name": "Checkout", "conclusion": "success"}, {"name": "Run pytest", "conclusion": "failure"}]},
        {"id": 2, "run_id": 900, "name": "deploy", "status": "completed", "conclusion": "skipped", "steps": []},
    ]}))
    settings = load_settings(services={"taskflow-api": {"namespace": "taskflow", "repo": REPO,
                                                       "workflow": "deploy.yml"}})
    async with open_runtime(settings) as rt:
        rt.github = gh
        slept: list[float] = []

        async def sleep(seconds: float) -> None:
            slept.append(seconds)

        row = await watch_run(rt, "taskflow-api", 900, interval=5, sleep=sleep)
    assert slept == [5, 5] and gh.not_modified == 1
    assert row.result == "failure" and row.failed_jobs == ["test: Run pytest"]
    assert row.duration == "3m06s" and row.actor == "ana-dev" and row.commit == "3c760e0"


async def test_the_sandbox_answers_etags_and_304s() -> None:
    async with open_runtime(load_settings(), demo=True) as rt:
        assert rt.github is not None
        first = await list_service_runs(rt, "taskflow-api")
        again = await list_service_runs(rt, "taskflow-api")
        assert rt.github.not_modified >= 1 and first == again
    assert isinstance(first, RunListing) and [r.run_number for r in first.runs] == [412, 411, 410]
    failed = first.runs[0]
    assert (failed.result, failed.actor, failed.commit, failed.failed_jobs) == \
        ("failure", "ana-dev", "3c760e0", ["test: Run pytest"])
    assert failed.url.startswith("https://github.com/acme/taskflow/actions/runs/") and failed.duration == "3m06s"
    assert run_to_watch(first) == failed  # nothing running: the newest


def test_opsbot_runs_demo_lists_the_runs() -> None:
    done = opsbot("runs", "taskflow-api", "--demo")
    assert done.returncode == 0, done.stderr
    for words in ("#412", "#411", "#410", "failure", "success", "3c760e0", "cd73e1b", "ana-dev", "ben-ops",
                  "3m06s", "Deploy taskflow-api", "https://github.com/acme/taskflow/actions/runs/11873990077",
                  "#412 failed: test: Run pytest"):
        assert words in done.stdout
    listing = json.loads(opsbot("runs", "taskflow-api", "--demo", "--json").stdout)
    assert [r["run_number"] for r in listing["runs"]] == [412, 411, 410]
    watched = opsbot("runs", "taskflow-api", "--demo", "--watch")
    assert watched.returncode == 1 and "failure after 3m06s" in watched.stdout and "test: Run pytest" in watched.stdout


def test_opsbot_runs_of_a_service_without_a_repo_is_one_line_exit_2() -> None:
    done = opsbot("runs", "nothing-here", "--demo")
    assert done.returncode == 2 and done.stderr.strip() == \
        "opsbot: no GitHub repository for nothing-here: set services.nothing-here.repo in the opsbot config"


@pytest.mark.parametrize(("text", "expected"), [
    ("taskflow-api", RunsCommand("taskflow-api")),
    ("taskflow-api watch", RunsCommand("taskflow-api", watch=True)),
])
def test_runs_parses(text: str, expected: RunsCommand) -> None:
    assert parse_command("/runs", text) == expected
    assert parse_command("/opsbot", f"runs {text}") == expected


@pytest.mark.parametrize("text", ["", "Bad_Name", "taskflow-api now", "a b c"])
def test_runs_usage_errors(text: str) -> None:
    with pytest.raises(UsageError, match=r"Usage: /runs SERVICE \[watch\]"):
        parse_command("/runs", text)


async def test_slack_runs_watch_posts_the_end_of_the_run_in_the_thread(fake: FakeSlack, tmp_path: Path) -> None:
    settings = settings_for(fake, tmp_path / "opsbot.db")
    async with open_runtime(settings, demo=True) as runtime:
        bot: Bot = await start_bot(fake, settings, runtime)
        try:
            response = await bot.command("/runs", "taskflow-api watch")
            ack = await response.json()
            assert ack["response_type"] == "ephemeral" and "CI runs of taskflow-api" in ack["text"]
            await bot.service.drain()
            (root,) = bot.roots()
            assert "CI runs of taskflow-api" in json.dumps(root) and "#412" in json.dumps(root)
            replies = thread_messages(bot, root["ts"])[1:]
            ended = replies[-1]["text"]
            assert "failure after 3m06s" in ended and "Failed: test: Run pytest" in ended
            assert all(c.args["channel"] == CHANNEL for c in fake.calls_to("chat.postMessage"))
        finally:
            await stop_bot(bot)


async def test_verify_in_a_debug_thread_compares_with_the_incidents_findings(fake: FakeSlack, tmp_path: Path) -> None:
    """/verify in the thread gets the incident's /debug report as its baseline: here the same revision 12 is
    still running, so what /debug saw is not a "before", and the fix is not confirmed: the thread says which
    findings still occur."""
    from tests.test_slackapp import debug_thread, event_body

    settings = settings_for(fake, tmp_path / "opsbot.db")
    async with open_runtime(settings, demo=True) as runtime:
        bot: Bot = await start_bot(fake, settings, runtime)
        try:
            root = await debug_thread(bot)
            await bot.event(event_body("<@U0BOT> verify taskflow-api", event_id="Ev0VERIFY", thread_ts=root["ts"]))
            await bot.service.drain()
            thread = json.dumps(thread_messages(bot, root["ts"]))
            assert "Fix not confirmed" in thread and "still occurring since the rollout" in thread
            assert "Database connection pool exhausted" in thread
            assert "the incident's /debug saw this same revision" in thread  # the baseline reached /verify
            assert "What changed" in thread and "run #411 by ben-ops" in thread  # /debug's onset block
        finally:
            await stop_bot(bot)
