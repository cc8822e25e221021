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
    ids = [json.loads(line)["id"] for line in result.stdout.splitlines()]
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
