"""Metrics from a REAL Prometheus (Debian's /usr/bin/prometheus, installed by `make test`): series are
loaded with `promtool tsdb create-blocks-from openmetrics`, relative to now, and the binary serves them on
a free loopback port for the session. The gateway's queries, the catalogue's default PromQL, /debug's
metrics and /verify's use of the error rate are checked against it."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from bot.config import ServiceConfig
from bot.errors import UnavailableError, UsageError
from bot.prometheus import PrometheusGateway
from playbooks.metrics import read_metrics, service_queries
from tests.test_cli import opsbot

PROMETHEUS, PROMTOOL = "/usr/bin/prometheus", "/usr/bin/promtool"
NS = "taskflow"
OLD = ["taskflow-api-7d9f8c6b5-x2kq9", "taskflow-api-7d9f8c6b5-m4tnp", "taskflow-api-7d9f8c6b5-q8zrw"]
NEW = ["taskflow-api-5f6b7c8d9-b7k2m", "taskflow-api-5f6b7c8d9-r9x4p", "taskflow-api-5f6b7c8d9-w2n8t"]
STEP = 30  # seconds between samples, as a scrape interval would space them
MiB = 2**20


def series(now: int) -> str:
    """The taskflow story in metrics, from 3 h ago to 30 min ahead (so "now" has data however long the
    session takes): the revision-12 pods answer 10 requests a step, 1 of them a 500, slowly; the fix's pods
    (revision 13, from 20 min ago) answer 10 a step, none failing, fast. x2kq9 restarts and fills its memory."""
    start, end, fixed = now - 3 * 3600, now + 1800, now - 1200
    families: dict[str, list[str]] = {}

    def add(family: str, labels: dict[str, str], value: float, at: int) -> None:
        text = ",".join(f'{k}="{v}"' for k, v in labels.items())
        families.setdefault(family, []).append(f"{family}{{{text}}} {value} {at}")

    for pod in [*OLD, *NEW]:
        begin = fixed if pod in NEW else start
        failing = pod in OLD
        for n, at in enumerate(range(begin, end, STEP)):
            base = {"namespace": NS, "pod": pod}
            add("http_requests_total", {**base, "status": "200"}, 9 * n if failing else 10 * n, at)
            add("http_requests_total", {**base, "status": "500"}, n if failing else 0, at)
            slow = failing  # p95 about 2.5 s before the fix, under 0.1 s after
            for le, share in (("0.1", 0.0 if slow else 0.97), ("0.5", 0.1 if slow else 1.0), ("1", 0.2 if slow else 1),
                              ("5", 1.0), ("+Inf", 1.0)):
                add("http_request_duration_seconds_bucket", {**base, "le": le}, round(10 * n * share, 3), at)
            restarts = (4 if at >= now - 600 else 1 if at >= now - 4000 else 0) if pod == OLD[0] else 0
            add("kube_pod_container_status_restarts_total", {**base, "container": "api"}, restarts, at)
            memory = (500 if at >= now - 1800 else 300) if pod == OLD[0] else 180
            add("container_memory_working_set_bytes", {**base, "container": "api"}, memory * MiB, at)
            add("kube_pod_container_resource_limits", {**base, "container": "api", "resource": "memory",
                                                       "unit": "byte"}, 512 * MiB, at)
            add("hikaricp_connections_active", {**base, "pool": "HikariPool-1"}, 15 if failing else 3, at)
    lines = []
    for family, samples in families.items():
        lines.append(f"# TYPE {family} gauge")
        lines += samples
    return "\n".join([*lines, "# EOF"]) + "\n"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if not (shutil.which(PROMETHEUS) and shutil.which(PROMTOOL)):
        pytest.skip("no /usr/bin/prometheus: `make test` installs Debian's package (the Makefile's tools target)")
    folder = tmp_path_factory.mktemp("prometheus")
    data, om, config = folder / "data", folder / "series.om", folder / "prometheus.yml"
    om.write_text(series(int(time.time())))
    subprocess.run([PROMTOOL, "tsdb", "create-blocks-from", "openmetrics", str(om), str(data)], check=True,
                   capture_output=True, timeout=120)
    config.write_text("global:\n  scrape_interval: 1m\n")  # nothing scraped: only the loaded blocks
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    proc = subprocess.Popen(
        [PROMETHEUS, f"--config.file={config}", f"--storage.tsdb.path={data}", f"--web.listen-address=127.0.0.1:{port}",
         "--storage.tsdb.retention.time=15d"],
        stdout=subprocess.DEVNULL, stderr=(folder / "prometheus.log").open("w"))
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{url}/-/ready", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"prometheus did not start: {(folder / 'prometheus.log').read_text()[-2000:]}")
            time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


async def test_instant_queries_now_and_an_hour_ago(prometheus: str) -> None:
    gateway = PrometheusGateway(url=prometheus)
    try:
        now = datetime.now(UTC)
        total = await gateway.query(f'count(http_requests_total{{namespace="{NS}"}})', at=now)
        assert total == 2 * len(OLD + NEW)
        assert await gateway.query(f'count(http_requests_total{{namespace="{NS}"}})', at=now - timedelta(hours=1)) \
            == 2 * len(OLD)  # the fix's pods did not exist yet
        assert await gateway.query('sum(nothing_like_this{namespace="x"})') is None
        assert await gateway.query("scalar(vector(3))") == 3
        with pytest.raises(UsageError, match="Prometheus rejected the query"):
            await gateway.query("sum(rate(")
    finally:
        await gateway.close()


async def test_an_unreachable_prometheus_is_a_clear_error() -> None:
    gateway = PrometheusGateway(url=f"http://127.0.0.1:{free_port()}", timeout=2)
    try:
        with pytest.raises(UnavailableError, match="is not answering"):
            await gateway.query("vector(1)")
    finally:
        await gateway.close()


async def test_the_default_queries_read_the_common_exporters(prometheus: str) -> None:
    gateway = PrometheusGateway(url=prometheus)
    try:
        queries = service_queries(ServiceConfig(), namespace=NS, deployment="taskflow-api")
        readings = {m.name: m for m in await read_metrics(gateway, queries, now=datetime.now(UTC))}
    finally:
        await gateway.close()
    assert set(readings) == {"error_rate", "p95_latency", "restarts", "memory", "db_connections"}
    assert all(m.error is None for m in readings.values()), readings
    rate = readings["error_rate"]
    assert rate.now is not None and rate.hour_ago is not None
    assert rate.hour_ago == pytest.approx(0.1, abs=0.005)  # 1 of 10 requests of the old pods failed
    assert rate.now == pytest.approx(3 / 60, abs=0.005)  # the old pods' 500s among the new pods' 200s
    assert readings["p95_latency"].hour_ago == pytest.approx(4.8, abs=0.3)
    assert readings["restarts"].now == 4 and readings["restarts"].hour_ago == 1
    assert readings["memory"].now == pytest.approx(500 / 512, abs=0.01)
    assert readings["memory"].hour_ago == pytest.approx(300 / 512, abs=0.01)
    assert readings["db_connections"].now == 3 * 15 + 3 * 3 and readings["db_connections"].hour_ago == 45
    # the newest revision's pods only, now: the fix's
    mine = service_queries(ServiceConfig(), namespace=NS, deployment="taskflow-api", pods_now=NEW)
    gateway = PrometheusGateway(url=prometheus)
    try:
        fixed = {m.name: m for m in await read_metrics(gateway, mine, now=datetime.now(UTC))}
    finally:
        await gateway.close()
    assert fixed["error_rate"].now == 0 and fixed["error_rate"].hour_ago == pytest.approx(0.1, abs=0.005)
    assert fixed["p95_latency"].now is not None and fixed["p95_latency"].now < 0.1


def test_a_service_may_replace_or_turn_off_a_query() -> None:
    config = ServiceConfig(metrics={"db_connections": "", "error_rate": 'sum(my_errors{ns="{namespace}"})'})
    queries = {q[0]: q for q in service_queries(config, namespace=NS, deployment="taskflow-api")}
    assert "db_connections" not in queries and queries["error_rate"][3] == f'sum(my_errors{{ns="{NS}"}})'
    with pytest.raises(ValueError, match="unknown metric"):
        ServiceConfig(metrics={"latency": "x"})


def test_debug_shows_the_metrics_now_vs_an_hour_ago(prometheus: str) -> None:
    done = opsbot("debug", "taskflow-api", "--demo", "--json", env={"PROMETHEUS_URL": prometheus})
    report = json.loads(done.stdout)
    readings = {m["name"]: m for m in report["metrics"]}
    assert readings["restarts"]["now"] == 4 and readings["restarts"]["hour_ago"] == 1
    assert readings["error_rate"]["now"] > 0
    step = next(s for s in report["steps"] if s["name"] == "metrics")
    assert step["status"] == "ok" and "5 metrics read" in step["summary"]
    text = opsbot("debug", "taskflow-api", "--demo", env={"PROMETHEUS_URL": prometheus}).stdout
    assert "Metrics (Prometheus, now vs an hour ago)" in text and "container restarts: 4 (an hour ago 1)" in text


def test_without_prometheus_the_metrics_step_is_skipped() -> None:
    report = json.loads(opsbot("debug", "taskflow-api", "--demo", "--json").stdout)
    step = next(s for s in report["steps"] if s["name"] == "metrics")
    assert step["status"] == "skipped" and "prometheus.url" in step["summary"] and report["metrics"] == []


def test_verify_uses_the_error_rate_for_the_fix_check(prometheus: str) -> None:
    env = {"PROMETHEUS_URL": prometheus}
    fixed = json.loads(opsbot("verify", "taskflow-api", "--scenario", "taskflow-fixed", "--json", env=env).stdout)
    assert fixed["fix"]["confirmed"], fixed["fix"]["summary"]
    assert fixed["fix"]["error_rate"]["now"] == 0
    item = next(i for i in fixed["checklist"] if i["key"] == "error-rate")
    assert item["done"] and "error rate 0.00% (an hour ago 10.00%)" in item["evidence"]
    # revision 12 still running: Prometheus says its pods fail 1 request in 10
    ongoing = json.loads(opsbot("verify", "taskflow-api", "--demo", "--json", env=env).stdout)
    assert not ongoing["fix"]["confirmed"] and "error rate 10.00%" in ongoing["fix"]["summary"]


def test_the_makefile_installs_the_real_binaries() -> None:
    makefile = (Path(__file__).resolve().parent.parent / "Makefile").read_text()
    assert "/usr/bin/prometheus /usr/bin/promtool" in makefile and "test: $(DEVSTAMP) $(TOOLS)" in makefile
