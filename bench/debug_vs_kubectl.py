"""How long `opsbot debug` takes against the kubectl commands a person would type for the same facts.

Both run against the same embedded sandbox (in a background thread of this process), scaled to
PODS pods x CONTAINERS containers x LINES log lines each:

- opsbot: `opsbot debug taskflow-api -n taskflow --json`, a subprocess, pointed at the sandbox by
  KUBECONFIG, OPSBOT_CONTEXT=sandbox, GITHUB_API_URL and an OPSBOT_CONFIG service catalogue. The
  opsbot timed is `--opsbot PATH`: `make bench` passes a production install (`pip install .`, the
  runtime dependencies only, as the Docker image ships it, in .venv-bench); the default is the one
  beside this interpreter, which in the development venv also imports test-only packages (the
  kubernetes client imports kubernetes-validate, and with it jsonschema, whenever it is installed);
- kubectl, typed one after the other: `kubectl get pods -n taskflow -l SELECTOR`, then
  `kubectl logs POD -c C --tail=200` for every container of every pod (plus `--previous` for a
  container that restarted, since opsbot reads that too), then `kubectl get events -n taskflow`.

Each side runs once to warm up (kubectl's discovery cache, Python's bytecode cache), then
--repeat times; the medians are compared. The last line is machine-readable:
`speedup=7.3 opsbot_s=0.41 kubectl_s=3.0 pods=30 containers=2 lines=2000`.

Run: `make bench`, or `.venv/bin/python bench/debug_vs_kubectl.py [--pods 30 --containers 2 --lines 2000]`.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.sandbox import Sandbox, scaled_scenario  # noqa: E402

NAMESPACE = "taskflow"
SELECTOR = "app.kubernetes.io/name=taskflow-api"
TAIL = 200


def opsbot_command(chosen: str | None = None) -> list[str]:
    if chosen:
        return [chosen]
    beside = Path(sys.executable).parent / "opsbot"
    if beside.exists():
        return [str(beside)]
    found = shutil.which("opsbot")
    if found:
        return [found]
    return [sys.executable, "-m", "bot"]


def run_opsbot(env: dict[str, str], opsbot: list[str]) -> tuple[float, dict]:
    command = [*opsbot, "debug", "taskflow-api", "-n", NAMESPACE, "--json"]
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["(no output)"])[-1]
        raise SystemExit(f"opsbot debug failed (exit {done.returncode}): {last}")
    return elapsed, json.loads(done.stdout)


def measured(command: list[str], env: dict[str, str]) -> tuple[int, str, str, float]:
    """(exit status, stdout, stderr, peak RSS in MiB) of a command run to its end. The peak comes from
    GNU time (`/usr/bin/time -f %M`): the rusage of a child of this big process would count the pages
    it shared with it before exec."""
    with tempfile.TemporaryDirectory(prefix="opsbot-measured-") as tmp:
        peak_file = Path(tmp) / "peak"
        done = subprocess.run(["/usr/bin/time", "-q", "-f", "%M", "-o", str(peak_file), *command],
                              capture_output=True, text=True, env=env, check=False)
        try:
            peak = int(peak_file.read_text().split()[-1]) / 1024
        except (OSError, ValueError, IndexError):
            peak = 0.0
        return done.returncode, done.stdout, done.stderr, peak


KUBECTL_PEAK_MB = [0.0]  # the largest peak RSS of a kubectl command so far


def kubectl(args: list[str], env: dict[str, str]) -> str:
    code, out, err, peak = measured(["kubectl", *args], env)
    KUBECTL_PEAK_MB[0] = max(KUBECTL_PEAK_MB[0], peak)
    if code != 0:
        raise SystemExit(f"kubectl {' '.join(args)} failed: {err.strip()}")
    return out


def run_kubectl(env: dict[str, str], containers: list[str], tail: int = TAIL) -> tuple[float, int]:
    """The sequence as typed; returns the time and how many kubectl commands it took. `tail`: lines
    per log (-1: all)."""
    started = time.perf_counter()
    listing = kubectl(["get", "pods", "-n", NAMESPACE, "-l", SELECTOR], env)
    rows = [line.split() for line in listing.splitlines()[1:] if line.strip()]
    commands = 1
    for row in rows:
        pod, restarts = row[0], row[3]
        for container in containers:
            kubectl(["logs", pod, "-c", container, "-n", NAMESPACE, f"--tail={tail}"], env)
            commands += 1
        if restarts != "0":
            # the RESTARTS column does not say which container restarted; a person tries the app one
            kubectl(["logs", pod, "-c", containers[0], "-n", NAMESPACE, "--previous", f"--tail={tail}"], env)
            commands += 1
    kubectl(["get", "events", "-n", NAMESPACE], env)
    commands += 1
    return time.perf_counter() - started, commands


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pods", type=int, default=30)
    parser.add_argument("--containers", type=int, default=2)
    parser.add_argument("--lines", type=int, default=2000, help="log lines per container")
    parser.add_argument("--repeat", type=int, default=3, help="timed runs per side (median is reported)")
    parser.add_argument("--opsbot", help="the opsbot executable to time (default: the one beside this python)")
    args = parser.parse_args()
    opsbot = opsbot_command(args.opsbot)
    if args.opsbot and not os.access(args.opsbot, os.X_OK):
        raise SystemExit(f"--opsbot {args.opsbot}: not an executable file")
    if shutil.which("kubectl") is None:
        raise SystemExit("kubectl is not installed: the benchmark compares against it")
    if args.pods < 1 or args.containers < 1 or args.lines < 0 or args.repeat < 1:
        raise SystemExit("--pods, --containers and --repeat must be at least 1, --lines at least 0")

    scenario = scaled_scenario(args.pods, args.containers, args.lines)
    containers = [c.name for c in scenario.deployments[0].containers]
    with tempfile.TemporaryDirectory(prefix="opsbot-bench-") as tmp, Sandbox(scenario).run_in_thread() as sandbox:
        work = Path(tmp)
        kubeconfig = sandbox.write_kubeconfig(work / "kubeconfig")
        catalogue = work / "opsbot.yaml"
        catalogue.write_text(
            json.dumps(
                {
                    "services": {
                        "taskflow-api": {"namespace": NAMESPACE, "repo": "acme/taskflow", "workflow": "deploy.yml"}
                    }
                }
            ),
            encoding="utf-8",
        )
        base = {k: v for k, v in os.environ.items() if not k.startswith(("OPSBOT_", "SLACK_", "GITHUB_"))}
        # a user's Python writes and reuses bytecode; without it every run would compile opsbot anew
        base.pop("PYTHONDONTWRITEBYTECODE", None)
        opsbot_env = {
            **base,
            "KUBECONFIG": str(kubeconfig),
            "OPSBOT_CONTEXT": "sandbox",
            "GITHUB_API_URL": sandbox.github_url,
            "OPSBOT_CONFIG": str(catalogue),
            "OPSBOT_DB": str(work / "opsbot.db"),
        }
        # kubectl keeps its discovery cache under HOME; a private one keeps runs comparable
        kubectl_env = {**base, "KUBECONFIG": str(kubeconfig), "HOME": str(work)}

        print(f"sandbox {sandbox.url}: {args.pods} pods x {args.containers} containers x {args.lines} lines")
        print(f"opsbot timed: {' '.join(opsbot)}")
        _, report = run_opsbot(opsbot_env, opsbot)
        if len(report.get("pods", [])) != args.pods:
            raise SystemExit(f"opsbot saw {len(report.get('pods', []))} pods, expected {args.pods}")
        _, commands = run_kubectl(kubectl_env, containers)

        opsbot_times, kubectl_times, playbook_times = [], [], []
        for i in range(args.repeat):
            elapsed, report = run_opsbot(opsbot_env, opsbot)
            opsbot_times.append(elapsed)
            playbook_times.append(report.get("duration_ms", 0.0) / 1000)
            kubectl_times.append(run_kubectl(kubectl_env, containers)[0])
            print(f"  run {i + 1}: opsbot {opsbot_times[-1]:.2f}s  kubectl {kubectl_times[-1]:.2f}s")

    opsbot_s, kubectl_s = statistics.median(opsbot_times), statistics.median(kubectl_times)
    findings = ", ".join(f["pattern"] for f in report.get("findings", [])) or "none"
    print(f"opsbot debug (one command, findings: {findings}): median {opsbot_s:.2f}s")
    print(f"  of which the playbook itself (report.duration_ms): median {statistics.median(playbook_times):.2f}s;")
    print("  the rest is the Python process starting (imports of kubernetes, pydantic, httpx: ~0.35s);")
    print("  `opsbot serve` pays that once, so in Slack the playbook time is what a /debug costs")
    print(f"kubectl ({commands} commands typed in sequence): median {kubectl_s:.2f}s")
    print(f"opsbot is {kubectl_s / opsbot_s:.1f}x faster")
    print(
        f"speedup={kubectl_s / opsbot_s:.1f} opsbot_s={opsbot_s:.2f} kubectl_s={kubectl_s:.2f} "
        f"playbook_s={statistics.median(playbook_times):.2f} "
        f"pods={args.pods} containers={args.containers} lines={args.lines}"
    )


if __name__ == "__main__":
    main()
