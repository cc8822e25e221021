"""The command line as a user runs it: the installed `opsbot` script, in a subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot.cli import app
from tests.seeds import SEED_LINES

ROOT = Path(__file__).resolve().parent.parent
OPSBOT = str(Path(sys.executable).with_name("opsbot"))


def opsbot(*args: str, stdin: str | None = None, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("OPSBOT_", "SLACK_", "GITHUB_"))}
    clean.update({"COLUMNS": "200", "NO_COLOR": "1"})
    clean.update(env or {})
    return subprocess.run([OPSBOT, *args], input=stdin, capture_output=True, text=True, timeout=120, env=clean)


def command_names() -> list[str]:
    import typer.main

    group = typer.main.get_command(app)
    names = []
    for name, cmd in group.commands.items():  # type: ignore[attr-defined]
        sub = getattr(cmd, "commands", None)
        names.extend(f"{name} {s}" for s in sub) if sub else names.append(name)
    return names


def test_every_command_has_help_text_and_is_in_the_readme() -> None:
    import typer.main

    readme = (ROOT / "README.md").read_text()
    group = typer.main.get_command(app)
    for name in command_names():
        cmd = group
        for part in name.split():
            cmd = cmd.commands[part]  # type: ignore[attr-defined]
        assert cmd.help, f"opsbot {name} has no help text"
        assert f"opsbot {name}" in readme, f"opsbot {name} is not in the README"


def test_patterns_match_classifies_the_seed_lines_and_leaves_harmless_ones(tmp_path: Path) -> None:
    log = tmp_path / "seed.log"
    log.write_text("\n".join(SEED_LINES) + "\n")
    result = opsbot("patterns", "match", str(log))
    assert result.returncode == 0, result.stderr
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["line"] for r in rows] == [1, 2, 3, 4, 5]
    assert rows[0]["pattern"] != rows[1]["pattern"]
    assert all(set(r) == {"line", "pattern", "text"} for r in rows)


def test_patterns_match_reads_stdin_and_redacts() -> None:
    result = opsbot("patterns", "match", stdin="ERROR could not connect to server: postgresql://u:hunter2@db:5432/x "
                                               "Connection refused\n")
    assert result.returncode == 0, result.stderr
    assert "hunter2" not in result.stdout


def test_patterns_match_of_a_missing_file_is_one_line() -> None:
    result = opsbot("patterns", "match", "/nonexistent/file.log")
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0
    assert "cannot read /nonexistent/file.log" in result.stderr


def test_patterns_list_names_every_row() -> None:
    from playbooks.patterns import PatternTable

    result = opsbot("patterns", "list", "--json")
    ids = [row["id"] for row in json.loads(result.stdout)]  # one JSON document, an array
    assert ids == [p.id for p in PatternTable.default()]


def test_redact_command() -> None:
    result = opsbot("redact", stdin="Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.abcdefghijkl\n")
    assert "eyJhbGci" not in result.stdout and "[REDACTED" in result.stdout


def test_bad_setting_is_one_line_naming_it() -> None:
    result = opsbot("patterns", "list", env={"OPSBOT_TIMEOUT": "soon"})
    assert result.returncode == 2
    assert result.stderr.startswith("opsbot: bad setting OPSBOT_TIMEOUT")
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("name", ["no-such-svc", "Bad_Name"])
def test_debug_of_a_missing_or_bad_service_is_one_clear_line(name: str) -> None:
    result = opsbot("debug", name, "--demo")
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert name in result.stderr


def test_debug_json_has_the_design_fields() -> None:
    result = opsbot("debug", "taskflow-api", "--demo", "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    for field in ("service", "namespace", "pods", "findings", "events", "runs", "checklist", "errors"):
        assert field in report
    assert report["service"] == "taskflow-api"
    pod = report["pods"][0]
    assert {"name", "phase", "ready", "restarts", "age_seconds", "containers"} <= set(pod)
    assert {"name", "restarts", "state", "reason"} <= set(pod["containers"][0])
    finding = report["findings"][0]
    assert {"pattern", "title", "count", "pods", "containers", "first_seen", "sample", "fix"} <= set(finding)
    assert {"text", "done", "evidence"} <= set(report["checklist"][0])
    assert "s3cr3t" not in result.stdout  # the scenario logs a password in a URL


def test_demo_prints_the_pool_finding_its_fix_and_the_ticked_checklist() -> None:
    result = opsbot("demo")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "QueuePool" in out
    assert "Depends(get_db)" in out
    assert "daprd" in out
    assert "OOMKilled" in out
    assert "[x] Check pod status" in out
    assert "Warning events" in out


def test_a_cluster_that_does_not_answer_is_a_report_of_what_failed_and_exit_1(tmp_path: Path) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: x\n"
        "clusters: [{name: c, cluster: {server: 'http://127.0.0.1:9'}}]\n"
        "contexts: [{name: x, context: {cluster: c, user: u}}]\nusers: [{name: u, user: {}}]\n"
    )
    result = opsbot("debug", "taskflow-api", "--json", env={"KUBECONFIG": str(kubeconfig)})
    assert result.returncode == 1
    report = json.loads(result.stdout)
    [error] = report["errors"]
    assert error["step"] == "deployment" and "not answering" in error["message"]
    assert not any(item["done"] for item in report["checklist"])


def test_redact_reads_its_input_as_one_log() -> None:
    import subprocess
    import sys

    text = ("- name: DB_PASSWORD\n  value: hunter2hunter2\n-----BEGIN RSA PRIVATE KEY-----\n"
            "MIIEowIBAAKCAQEAu1SU1LfVLPHCozMxH2Mo4lgOEePzNm0tRgeLezV6ffAt0gun\nQ29tZQ==\n"
            "-----END RSA PRIVATE KEY-----\ncommit 3f2a9c1b7d4e5f60718293a4b5c6d7e8f9012345\n")
    done = subprocess.run([sys.executable, "-m", "bot", "redact"], input=text, capture_output=True, text=True,
                          check=True, timeout=60)
    assert "hunter2hunter2" not in done.stdout and "MIIEow" not in done.stdout and "Q29tZQ" not in done.stdout
    assert "3f2a9c1b7d4e5f60718293a4b5c6d7e8f9012345" in done.stdout


# --- a newcomer's first hour (#19) ------------------------------------------------------------------

import re  # noqa: E402
import signal  # noqa: E402
from collections.abc import Iterator  # noqa: E402

import yaml  # noqa: E402


class RunningSandbox:
    """`opsbot sandbox --port 0` in a subprocess: its URLs and the kubeconfig it wrote."""

    def __init__(self) -> None:
        clean = {k: v for k, v in os.environ.items() if not k.startswith(("OPSBOT_", "SLACK_", "GITHUB_"))}
        self.proc = subprocess.Popen([OPSBOT, "sandbox", "--port", "0"], stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True, env=clean)
        assert self.proc.stdout is not None
        lines = []
        for line in self.proc.stdout:
            lines.append(line)
            if line.startswith("Ctrl-C"):
                break
        out = "".join(lines)
        self.url = re.search(r"Kubernetes API\s+(\S+)", out).group(1)  # type: ignore[union-attr]
        self.github = re.search(r"GitHub API\s+(\S+)", out).group(1)  # type: ignore[union-attr]
        self.kubeconfig = Path(re.search(r"kubeconfig\s+(\S+)", out).group(1))  # type: ignore[union-attr]

    def stop(self, sig: int = signal.SIGTERM) -> int:
        self.proc.send_signal(sig)
        return self.proc.wait(timeout=30)


@pytest.fixture(scope="module")
def sandbox() -> Iterator[RunningSandbox]:
    running = RunningSandbox()
    yield running
    running.stop()


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def kubeconfig_for(tmp_path: Path, server: str, namespace: str | None = None) -> Path:
    context: dict[str, str] = {"cluster": "c", "user": "u"}
    if namespace:
        context["namespace"] = namespace
    path = tmp_path / "kubeconfig"
    path.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "x",
        "clusters": [{"name": "c", "cluster": {"server": server}}],
        "contexts": [{"name": "x", "context": context}], "users": [{"name": "u", "user": {}}],
    }))
    return path


def test_demo_brief_fits_a_screen_with_the_verdict_first() -> None:
    result = opsbot("demo", "--brief", env={"COLUMNS": "80"})
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) < 40
    assert "CRITICAL" in "\n".join(lines[:3]) and "Database connection pool exhausted" in "\n".join(lines[:3])
    assert lines[-1].startswith("CRITICAL · debug taskflow-api in taskflow")
    assert "Findings (8)" in result.stdout and "Next steps" in result.stdout
    assert "Warning events" not in result.stdout and "Checklist" not in result.stdout  # only the essentials
    # "did the deploy cause it?" is part of the short answer: the first onsets, and how many more there are
    changed = result.stdout.split("What changed (times UTC)\n")[1].split("\n\n")[0]
    assert "began 49 min after taskflow-api rolled out revision 12" in changed.replace("\n", " ")
    assert "and 3 more (without --brief)" in changed


def test_verify_brief_gives_the_fix_check_verdict() -> None:
    result = opsbot("verify", "taskflow-api", "--demo", "--brief", env={"COLUMNS": "200"})
    assert result.returncode == 3, result.stderr
    assert "\nFix not confirmed: since taskflow-api rolled out revision 12" in result.stdout


def test_the_full_report_leads_with_the_verdict_and_ends_with_a_summary() -> None:
    result = opsbot("demo", env={"COLUMNS": "80"})
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert "CRITICAL · debug taskflow-api" in lines[1]
    assert "Database connection pool exhausted" in "\n".join(lines[:4])
    assert lines[-1].startswith("CRITICAL · debug taskflow-api in taskflow · 3 pods")
    assert "Warning events" in result.stdout and "Checklist" in result.stdout  # the full report stays the default


@pytest.mark.parametrize(("args", "word"), [
    (("verify", "taskflow-api", "--demo", "--brief"), "CRITICAL · verify taskflow-api"),
    (("trace", "7f3a9c2e", "--since", "2h", "--demo", "--brief"), "· trace 7f3a9c2e"),
    (("debug", "notification-service", "--demo", "--brief"), "· debug notification-service"),
])
def test_brief_on_every_playbook(args: tuple[str, ...], word: str) -> None:
    result = opsbot(*args, env={"COLUMNS": "80"})
    assert result.returncode in (0, 3), result.stderr
    lines = result.stdout.splitlines()
    assert word in lines[0]
    assert len(lines) < 40


def test_the_readme_catalogue_resolves_the_request_path(sandbox: RunningSandbox, tmp_path: Path) -> None:
    readme = (ROOT / "README.md").read_text()
    block = re.search(r"```yaml\n(services:.*?)```", readme, re.S).group(1)  # type: ignore[union-attr]
    catalogue = {"services": yaml.safe_load(block)["services"]}  # its patterns files are examples, not here
    config = tmp_path / "opsbot.yaml"
    config.write_text(yaml.safe_dump(catalogue))
    env = {"OPSBOT_CONFIG": str(config), "KUBECONFIG": str(kubeconfig_for(tmp_path, sandbox.url)),
           "GITHUB_API_URL": sandbox.github}
    for service in catalogue["services"]["taskflow-api"]["request_path"]:
        result = opsbot("debug", service, "--json", env=env)
        assert result.returncode == 0, result.stderr
        report = json.loads(result.stdout)
        assert report["namespace"] == "taskflow"
        assert "catalogue" in report["namespace_source"]
    brief = opsbot("debug", "web-dashboard", "--brief", env=env)
    assert "namespace taskflow (from the catalogue: taskflow-api's request path)" in brief.stdout


def test_namespace_falls_back_to_the_kubeconfig_context_then_default(sandbox: RunningSandbox, tmp_path: Path) -> None:
    env = {"KUBECONFIG": str(kubeconfig_for(tmp_path, sandbox.url, namespace="taskflow"))}
    result = opsbot("debug", "taskflow-api", "--brief", env=env)
    assert result.returncode == 0, result.stderr
    assert "namespace taskflow (from the kubeconfig context)" in result.stdout
    flag = opsbot("debug", "taskflow-api", "-n", "taskflow", "--brief", env=env)
    assert "namespace taskflow (from -n)" in flag.stdout
    env = {"KUBECONFIG": str(kubeconfig_for(tmp_path, sandbox.url))}
    trace = opsbot("trace", "7f3a9c2e", "--json", env=env)
    assert json.loads(trace.stdout)["namespace_source"] == "default"
    missing = opsbot("debug", "taskflow-api", env=env)
    assert missing.returncode == 1 and '"default"' in missing.stderr and "taskflow" in missing.stderr


def _bad(tmp_path: Path, case: str) -> tuple[list[str], dict[str, str]]:
    if case == "missing kubeconfig":
        return ["debug", "taskflow-api"], {"KUBECONFIG": str(tmp_path / "nope")}
    if case == "malformed kubeconfig":
        (tmp_path / "k").write_text("clusters: [unclosed\n")
        return ["debug", "taskflow-api"], {"KUBECONFIG": str(tmp_path / "k")}
    if case == "not a kubeconfig":
        (tmp_path / "k").write_text("just words\n")
        return ["verify", "taskflow-api"], {"KUBECONFIG": str(tmp_path / "k")}
    if case == "server not a url":
        return ["debug", "taskflow-api"], {"KUBECONFIG": str(kubeconfig_for(tmp_path, "not a url"))}
    if case == "empty kubeconfig":
        (tmp_path / "k").write_text("")
        return ["trace", "7f3a9c2e"], {"KUBECONFIG": str(tmp_path / "k")}
    if case == "unknown context":
        return ["debug", "taskflow-api", "--context", "prod"], {"KUBECONFIG": str(kubeconfig_for(tmp_path, "http://x"))}
    if case == "bad patterns row":
        (tmp_path / "p.yaml").write_text("- id: x\n  title: 5\n")
        (tmp_path / "c.yaml").write_text(f"patterns_files: [{tmp_path / 'p.yaml'}]\n")
        return ["demo"], {"OPSBOT_CONFIG": str(tmp_path / "c.yaml")}
    if case == "port out of range":
        return ["sandbox", "--port", "99999"], {}
    assert case == "empty namespace"
    return ["debug", "taskflow-api", "--demo", "-n", ""], {}


@pytest.mark.parametrize("case", ["missing kubeconfig", "malformed kubeconfig", "not a kubeconfig", "unknown context",
                                  "server not a url", "empty kubeconfig",
                                  "bad patterns row", "port out of range", "empty namespace"])
def test_a_bad_setting_or_input_is_one_line_and_exit_2(case: str, tmp_path: Path) -> None:
    args, env = _bad(tmp_path, case)
    result = opsbot(*args, env=env)
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith("opsbot: ") and len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    named = {"missing kubeconfig": "KUBECONFIG", "malformed kubeconfig": "not a valid kubeconfig",
             "not a kubeconfig": "not a valid kubeconfig", "unknown context": "context 'prod'",
             "server not a url": "is not an http(s) URL", "empty kubeconfig": "KUBECONFIG",
             "bad patterns row": "p.yaml: row 0", "port out of range": "--port 99999",
             "empty namespace": "namespace"}[case]
    assert named in result.stderr


@pytest.mark.parametrize("command", [("debug", "taskflow-api"), ("trace", "7f3a9c2e")])
def test_a_server_that_is_not_kubernetes_is_a_bad_setting(command: tuple[str, ...], tmp_path: Path) -> None:
    import http.server
    import threading

    class Page(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

    web = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Page)
    threading.Thread(target=web.serve_forever, daemon=True).start()
    try:
        kubeconfig = kubeconfig_for(tmp_path, f"http://127.0.0.1:{web.server_address[1]}")
        result = opsbot(*command, env={"KUBECONFIG": str(kubeconfig)})
    finally:
        web.shutdown()
    assert result.returncode == 2
    assert "is not a Kubernetes API" in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_version() -> None:
    from importlib.metadata import version

    result = opsbot("--version")
    assert result.returncode == 0 and result.stdout.strip() == f"opsbot {version('opsbot')}"


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_the_sandbox_removes_its_kubeconfig_when_it_stops(sig: int) -> None:
    running = RunningSandbox()
    assert running.kubeconfig.is_file()
    assert running.stop(sig) == 0
    assert not running.kubeconfig.exists()


def test_readme_links_only_files_in_the_repository() -> None:
    tracked = set(subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True,
                                 check=True).stdout.splitlines())
    for doc in ("README.md", "helm/opsbot/README.md", "bench/README.md", "docs/ARCHITECTURE.md"):
        text = (ROOT / doc).read_text()
        for target in re.findall(r"\]\(([^)\s]+)\)", text):
            if re.match(r"[a-z]+:", target) or target.startswith("#"):
                continue
            path = os.path.normpath(os.path.join(os.path.dirname(doc), target.split("#")[0]))
            assert path in tracked or any(t.startswith(path + "/") for t in tracked), f"{doc} links {target}"


def test_trace_json_names_the_correlation_id_under_its_own_key() -> None:
    result = opsbot("trace", "7f3a9c2e", "--since", "2h", "--demo", "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["correlation_id"] == "7f3a9c2e" and report["kind"] == "trace"


def test_times_are_dated_and_zoned_and_words_agree() -> None:
    from datetime import UTC, datetime, timedelta

    from bot.render.verdict import age, stamp

    now = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
    assert stamp(now - timedelta(hours=2), now=now) == "10:00 UTC"
    assert stamp(now - timedelta(days=1), now=now) == "2026-11-28 12:00 UTC"
    assert [age(s) for s in (59, 600, 7080, 7200, 200_000)] == ["59s", "10m", "1h58m", "2h0m", "2d7h"]
    out = "\n".join(opsbot(*args).stdout for args in (("demo",), ("verify", "taskflow-api", "--demo"),
                                                       ("trace", "7f3a9c2e", "--since", "2h", "--demo")))
    assert not re.search(r"\b1 (runs|pods|findings|lines|logs|steps|hits)\b", out)
    assert "(s)" not in out
    # a word said twice, not names that share one ("taskflow-pubsub pubsub.redis")
    doubled = [m.group(0) for m in re.finditer(r"(?<![\w.-])([a-z]{2,}) \1(?![\w.-])", out)]
    assert doubled == [], doubled
    ages = re.findall(r"\b(\d+)m\b", out)  # minutes alone only under an hour: never "118m" beside "2h0m"
    assert all(int(m) < 60 for m in ages), ages
    assert re.search(r"first seen \d\d:\d\d:\d\d UTC", out)


@pytest.mark.parametrize(("tokens", "named"), [
    ({"SLACK_BOT_TOKEN": "xoxb-wrong", "SLACK_SIGNING_SECRET": "s3cret"}, "SLACK_BOT_TOKEN"),
    ({"SLACK_BOT_TOKEN": "xoxb-fake-bot-token", "SLACK_APP_TOKEN": "xapp-wrong"}, "SLACK_APP_TOKEN"),
])
async def test_serve_checks_the_slack_tokens_at_start_and_names_the_wrong_one(
        tokens: dict[str, str], named: str, tmp_path: Path) -> None:
    import asyncio

    from tests.fakes.slack import FakeSlack

    async with FakeSlack() as fake:
        clean = {k: v for k, v in os.environ.items() if not k.startswith(("OPSBOT_", "SLACK_", "GITHUB_"))}
        env = {**clean, **tokens, "SLACK_API_URL": fake.url, "PORT": str(free_port()),
               "OPSBOT_DB": str(tmp_path / "o.db")}
        proc = await asyncio.create_subprocess_exec(OPSBOT, "serve", "--demo", env=env,
                                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        _out, err = await asyncio.wait_for(proc.communicate(), 120)
        assert proc.returncode == 2
        line = err.decode().strip().splitlines()[-1]
        assert line.startswith(f"opsbot: bad setting {named}: Slack refused it"), err.decode()
        assert "Traceback" not in err.decode()
        assert fake.calls_to("auth.test")


@pytest.fixture
def silent_cluster(tmp_path: Path) -> Iterator[Path]:
    """A kubeconfig whose server takes connections and never answers: a cluster that hangs."""
    import socket
    import threading

    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(64)
    held: list[socket.socket] = []
    stop = threading.Event()

    def hold() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(server.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=hold, daemon=True)
    thread.start()
    yield kubeconfig_for(tmp_path, f"http://127.0.0.1:{server.getsockname()[1]}")
    stop.set()
    thread.join()
    for conn in held:
        conn.close()
    server.close()


def test_on_a_terminal_the_steps_live_and_name_the_call_that_waits(silent_cluster: Path) -> None:
    import pexpect

    env = {**os.environ, "KUBECONFIG": str(silent_cluster), "OPSBOT_TIMEOUT": "3", "NO_COLOR": "1"}
    child = pexpect.spawn(OPSBOT, ["debug", "taskflow-api", "-n", "taskflow"], env=env, encoding="utf-8",
                          timeout=60, dimensions=(40, 140))
    waited = re.compile(r"waiting (\d+\.\d)s of 3s for the cluster: get deployments/taskflow-api in namespace")
    child.expect(r"Deployment")
    child.expect(waited)
    first = float(child.match.group(1))
    child.expect(waited)
    assert float(child.match.group(1)) > first  # the wait is counted as it goes, in place
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 1
    assert "took longer than 3s" in child.before  # then the report says which step timed out


def test_piped_output_stays_plain(silent_cluster: Path) -> None:
    result = opsbot("debug", "taskflow-api", "-n", "taskflow", env={"KUBECONFIG": str(silent_cluster),
                                                                     "OPSBOT_TIMEOUT": "2"})
    assert result.returncode == 1
    assert "waiting" not in result.stdout + result.stderr
    assert "\x1b[" not in result.stdout + result.stderr


def test_opsbot_namespace_comes_before_the_kubeconfig_context(sandbox: RunningSandbox, tmp_path: Path) -> None:
    env = {"KUBECONFIG": str(kubeconfig_for(tmp_path, sandbox.url, namespace="elsewhere")),
           "OPSBOT_NAMESPACE": "taskflow"}
    result = opsbot("debug", "taskflow-api", "--brief", env=env)
    assert result.returncode == 0, result.stderr
    assert "namespace taskflow (from the configured namespace, OPSBOT_NAMESPACE)" in result.stdout
