"""The playbook worker of `opsbot serve` (bot/worker.py, bot/threads/offload.py), against the sandbox
served over HTTP like a cluster (a kubeconfig, no demo wiring).

A run in the worker gives the report, the findings messages and the snapshot that a run in the
server gives; its progress and its metrics reach the server; a worker that dies fails its run with a
clear error and the next run starts a new one; a worker that cannot start leaves runs in the server;
a Slack thread filled through the worker is complete, redacted, and keeps its snapshot; `opsbot serve`
starts its worker and stops it with itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import pickle
import signal
import socket
import sys
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient, TestServer

from bot import render
from bot.app import build_app, build_web_app, readiness
from bot.capture import snapshot_yaml
from bot.commands import PlaybookCommand, ServiceCommand, TraceCommand
from bot.config import KubernetesSettings, Settings
from bot.errors import ConfigError, NotFoundError, OpsbotError, UnavailableError
from bot.guard import RequestGuard
from bot.models import Message, Report
from bot.plumbing import metrics
from bot.runtime import demo_settings, open_runtime
from bot.sandbox import Sandbox, load_scenario
from bot.slack import make_client, slack_session
from bot.store import IncidentStore
from bot.threads import IncidentService
from bot.threads.offload import PlaybookWorker, portable
from playbooks.registry import run_command
from tests.fakes.slack import FakeSlack
from tests.test_slackapp import SECRET, Bot, command_body, debug_thread, settings_for, sign, stop_bot, thread_messages

SERVICE = ServiceCommand("taskflow-api")


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[tuple[Sandbox, Path]]:
    scenario = load_scenario("taskflow")
    with Sandbox(scenario).run_in_thread() as sandbox:
        yield sandbox, sandbox.write_kubeconfig(tmp_path / "kubeconfig")


def _settings(cluster: tuple[Sandbox, Path], base: Settings | None = None) -> Settings:
    """Settings pointing at the sandbox as at a cluster, with the scenario's service catalogue."""
    sandbox, kubeconfig = cluster
    base = base or Settings()
    settings = base.model_copy(update={
        "kubernetes": KubernetesSettings(kubeconfig=str(kubeconfig), context="sandbox"),
        "github": base.github.model_copy(update={"api_url": sandbox.github_url}),
    })
    return demo_settings(settings, load_scenario("taskflow"))


def _timeless(value: Any) -> Any:
    """A report's dump without what differs from one run to the next: when it ran, how long it took, ages."""
    if isinstance(value, dict):
        return {k: _timeless(v) for k, v in value.items()
                if k not in ("duration_ms", "started_at", "age_seconds", "start", "end")}  # (a window up to now)
    if isinstance(value, list):
        return [_timeless(v) for v in value]
    return value


def _files(messages: list[Message]) -> list[tuple[str, str]]:
    return [(f.filename, f.content) for m in messages for f in (m.files or [])]


def _samples(step: str) -> float:
    value = metrics.REGISTRY.get_sample_value("opsbot_step_duration_seconds_count",
                                              {"playbook": "debug", "step": step})
    return value or 0.0


async def test_a_run_in_the_worker_gives_what_a_run_here_gives(cluster: tuple[Sandbox, Path]) -> None:
    settings = _settings(cluster)
    at = datetime.now(UTC)
    async with open_runtime(settings) as rt:
        here = await run_command(rt, SERVICE, namespace="taskflow")
    before = _samples("pods")
    worker = PlaybookWorker(settings)
    progress: list[Message] = []
    try:
        ran = await worker.run(SERVICE, namespace="taskflow", context=None, baseline=None,
                               on_progress=progress.append, keep=True)
        assert ran.kept is not None
        snapshot = await ran.kept.make(at)
    finally:
        await worker.close()
    there = ran.report
    assert here.logs and not there.logs  # every line read stays in the worker
    assert here.findings and _timeless(there.model_dump(mode="json")) == _timeless(here.model_dump(mode="json"))
    assert ran.findings is not None and ran.trace is None
    mine = render.findings_messages(here)
    assert [m.text for m in ran.findings] == [m.text for m in mine]
    assert _files(ran.findings) == _files(mine) and _files(mine)  # the log tails, redacted the same way
    assert snapshot == snapshot_yaml(here, settings, at=at) and "s3cr3t-pass" not in snapshot
    # each step's end was shown as it came; the steps were recorded here, where /metrics is scraped
    assert progress and all(isinstance(m, Message) for m in progress)
    assert _samples("pods") == before + 1


@pytest.mark.parametrize("cmd", [TraceCommand("7f3a9c2e"), ServiceCommand("taskflow-api", playbook="verify")],
                         ids=["trace", "verify-after-debug"])
async def test_trace_and_verify_in_the_worker_give_what_they_give_here(cluster: tuple[Sandbox, Path],
                                                                       cmd: PlaybookCommand) -> None:
    """A trace's path message is rendered there; /verify gets the incident's /debug report as its baseline."""
    settings = _settings(cluster)
    async with open_runtime(settings) as rt:
        baseline = await run_command(rt, SERVICE, namespace="taskflow")
        baseline = baseline.model_copy(update={"logs": []})  # as the store gives it back
        here = await run_command(rt, cmd, namespace="taskflow", baseline=baseline)
    worker = PlaybookWorker(settings)
    try:
        ran = await worker.run(cmd, namespace="taskflow", context=None, baseline=baseline,
                               on_progress=lambda _message: None, keep=False)
    finally:
        await worker.close()
    assert ran.kept is None and ran.findings is not None
    assert _timeless(ran.report.model_dump(mode="json")) == _timeless(here.model_dump(mode="json"))
    if isinstance(cmd, TraceCommand):
        mine = render.trace_message(here, since_seconds=cmd.since_seconds)
        assert ran.trace is not None and here.trace and ran.trace.text == mine.text
        assert _files([ran.trace]) == _files([mine])
    else:
        assert ran.trace is None and here.fix is not None
    assert [m.text for m in ran.findings] == [m.text for m in render.findings_messages(here)]


async def test_a_worker_that_dies_fails_its_run_clearly_and_the_next_run_starts_a_new_one(
    cluster: tuple[Sandbox, Path],
) -> None:
    worker = PlaybookWorker(_settings(cluster))
    try:
        await worker.start()
        first = worker.pid
        assert first is not None
        stepped = asyncio.Event()
        run = asyncio.create_task(worker.run(SERVICE, namespace="taskflow", context=None, baseline=None,
                                             on_progress=lambda _message: stepped.set(), keep=True))
        await asyncio.wait_for(stepped.wait(), 60)
        os.kill(first, signal.SIGKILL)
        with pytest.raises(UnavailableError, match="playbook worker stopped"):
            await run
        ran = await worker.run(SERVICE, namespace="taskflow", context=None, baseline=None,
                               on_progress=lambda _message: None, keep=False)
        assert worker.pid not in (None, first)
        assert ran.report.deployment is not None and ran.kept is None
    finally:
        await worker.close()
    assert worker.pid is None


def test_errors_come_back_from_the_worker_as_errors_of_the_same_meaning() -> None:
    missing = portable(NotFoundError("deployment x not found", status=404))
    assert isinstance(missing, NotFoundError) and missing.status == 404
    setting = portable(ConfigError("OPSBOT_LOG_TAIL", "must be a number"))  # does not survive pickling as is
    assert isinstance(setting, OpsbotError) and str(setting) == "bad setting OPSBOT_LOG_TAIL: must be a number"

    class Odd(Exception):
        def __init__(self, a: int, b: int) -> None:
            super().__init__(f"{a}/{b}")

    odd = portable(Odd(1, 2))
    assert isinstance(odd, RuntimeError) and str(odd) == "Odd: 1/2"
    pickle.loads(pickle.dumps(odd))


@pytest.fixture
async def worker_bot(fake: FakeSlack, tmp_path: Path, cluster: tuple[Sandbox, Path],
                     request: pytest.FixtureRequest) -> AsyncIterator[Bot]:
    """The Slack app as `opsbot serve` runs it against a cluster: playbooks in a worker process
    (`request.param`: the worker's command, None for the real one), every Web API call in one HTTP
    session."""
    settings = _settings(cluster, settings_for(fake, tmp_path / "opsbot.db"))
    command = getattr(request, "param", None)
    worker = PlaybookWorker(settings, command=command)
    async with open_runtime(settings) as runtime, slack_session() as session:
        store = IncidentStore(settings.store.path)
        service = IncidentService(runtime, store, worker=worker)
        client = make_client(settings, session=session)
        app = build_app(settings, runtime, store, client, service=service)
        http = TestClient(TestServer(build_web_app(app, readiness(runtime, store), guard=RequestGuard(SECRET))))
        await http.start_server()
        running = Bot(fake, http, service, store, runtime, settings, client)
        try:
            yield running
        finally:
            await stop_bot(running)
            await worker.close()


def _check_thread(bot: Bot, root: dict[str, Any]) -> None:
    thread = thread_messages(bot, root["ts"])
    assert "s3cr3t-pass" not in json.dumps(thread) and len(thread) > 2
    assert "Investigating" not in thread[0]["text"] and "findings" in thread[0]["text"]
    kept = bot.store.snapshot(1)
    assert kept is not None and "s3cr3t-pass" not in kept[1] and "taskflow-api" in kept[1]
    report = bot.store.last_report(1)
    assert isinstance(report, Report) and report.findings


async def test_a_slack_thread_filled_through_the_worker_is_complete_and_keeps_its_snapshot(worker_bot: Bot) -> None:
    root = await debug_thread(worker_bot)
    assert worker_worked(worker_bot)
    _check_thread(worker_bot, root)


@pytest.mark.parametrize("worker_bot", [[sys.executable, "-c", "raise SystemExit(3)"]], indirect=True)
async def test_a_worker_that_cannot_start_leaves_runs_in_the_server(worker_bot: Bot) -> None:
    root = await debug_thread(worker_bot)
    assert not worker_worked(worker_bot)
    _check_thread(worker_bot, root)


def worker_worked(bot: Bot) -> bool:
    worker = bot.service.worker
    return worker is not None and worker.pid is not None


def _children(pid: int) -> list[int]:
    return [int(c) for task in Path(f"/proc/{pid}/task").iterdir() for c in (task / "children").read_text().split()]


def _running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")


async def test_serve_runs_playbooks_in_its_worker_and_stops_it_with_itself(
    fake: FakeSlack, tmp_path: Path, cluster: tuple[Sandbox, Path],
) -> None:
    """`opsbot serve` against a cluster: a /debug's thread is filled by the worker process; a SIGTERM
    to the whole process group (what a terminal's Ctrl-C or a container runtime may send) stops the
    server cleanly, and the worker, which leaves its end to the server, with it."""
    sandbox, kubeconfig = cluster
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    env = {**os.environ, "SLACK_BOT_TOKEN": fake.token, "SLACK_SIGNING_SECRET": SECRET, "SLACK_API_URL": fake.url,
           "PORT": str(port), "OPSBOT_DB": str(tmp_path / "opsbot.db"), "KUBECONFIG": str(kubeconfig),
           "OPSBOT_CONTEXT": "sandbox", "GITHUB_API_URL": sandbox.github_url}
    env.pop("SLACK_APP_TOKEN", None)
    with (tmp_path / "serve.log").open("wb") as out:
        proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "bot", "serve", env=env, stdout=out,
                                                    stderr=out, start_new_session=True)
        try:
            async with aiohttp.ClientSession() as http:
                for _ in range(1200):
                    with contextlib.suppress(aiohttp.ClientError):
                        async with http.get(f"http://127.0.0.1:{port}/healthz") as response:
                            if response.status == 200:
                                break
                    await asyncio.sleep(0.05)
                body = command_body("/debug", "taskflow-api")
                headers = {"Content-Type": "application/x-www-form-urlencoded", **sign(body)}
                async with http.post(f"http://127.0.0.1:{port}/slack/events", data=body, headers=headers) as response:
                    assert response.status == 200
            for _ in range(1200):
                if any(m.text.startswith("Checklist") for m in fake.all_messages()):
                    break
                await asyncio.sleep(0.05)
            workers = [c for c in _children(proc.pid) if b"bot.worker" in Path(f"/proc/{c}/cmdline").read_bytes()]
            assert len(workers) == 1 and _running(workers[0])
            os.killpg(proc.pid, signal.SIGTERM)
            assert await asyncio.wait_for(proc.wait(), 60) == 0
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
    said = (tmp_path / "serve.log").read_text()
    assert "playbook worker started" in said and "Traceback" not in said
    roots = [m for m in fake.all_messages() if not m.as_api().get("thread_ts")]
    assert len(roots) == 1 and "findings" in roots[0].text
    for _ in range(200):
        if not _running(workers[0]):
            break
        await asyncio.sleep(0.05)
    assert not _running(workers[0])


# a worker that starts, says it is ready, then never says anything again (wedged: a regex holding its GIL);
# it ends at the end of its input, as a worker does
_WEDGED = """
import pickle, struct, sys
header = struct.Struct(">Q")
size, = header.unpack(sys.stdin.buffer.read(header.size))
sys.stdin.buffer.read(size)
frame = pickle.dumps(("ready",))
sys.stdout.buffer.write(header.pack(len(frame)) + frame)
sys.stdout.buffer.flush()
sys.stdin.buffer.read()
"""


async def test_a_worker_that_goes_silent_with_a_run_to_answer_is_stopped_and_the_run_fails_clearly(
    cluster: tuple[Sandbox, Path],
) -> None:
    worker = PlaybookWorker(_settings(cluster), command=[sys.executable, "-c", _WEDGED], silence=1.0)
    try:
        await worker.start()
        wedged = worker.pid
        assert wedged is not None
        with pytest.raises(UnavailableError, match=r"answered nothing for 1 s and was stopped; try again"):
            await asyncio.wait_for(worker.run(SERVICE, namespace="taskflow", context=None, baseline=None,
                                              on_progress=lambda _message: None, keep=False), 60)
        assert worker.pid is None  # stopped: the next run starts a new worker
        with pytest.raises(ProcessLookupError):
            os.kill(wedged, 0)
    finally:
        await worker.close()


async def test_an_idle_worker_is_not_stopped_for_its_silence(cluster: tuple[Sandbox, Path]) -> None:
    worker = PlaybookWorker(_settings(cluster), command=[sys.executable, "-c", _WEDGED], silence=0.2)
    try:
        await worker.start()
        idle = worker.pid
        await asyncio.sleep(1.0)  # five times its silence, with no run to answer
        assert worker.pid == idle
    finally:
        await worker.close()
