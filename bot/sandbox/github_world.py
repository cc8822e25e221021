"""The GitHub world: repositories, workflows, runs and jobs of a scenario, as the Actions REST API shows them."""

from __future__ import annotations

import hashlib
from datetime import timedelta
from typing import Any

from bot.sandbox.clock import rfc3339
from bot.sandbox.scenario import JobSpec, RepoSpec, RunSpec, Scenario, WorkflowSpec


class GitHubWorld:
    def __init__(self, scenario: Scenario) -> None:
        self.repos: dict[str, RepoSpec] = {r.full_name.lower(): r for r in scenario.repos}
        self.jobs: dict[tuple[str, int], tuple[RunSpec, JobSpec]] = {}
        for repo in scenario.repos:
            for run in repo.runs:
                for job in run.jobs:
                    self.jobs[(repo.full_name.lower(), job.id)] = (run, job)

    def workflow(self, repo: RepoSpec, key: str) -> WorkflowSpec | None:
        return next((w for w in repo.workflows if str(w.id) == key or w.file == key), None)

    def run_json(self, repo: RepoSpec, run: RunSpec, base: str) -> dict[str, Any]:
        wf = self.workflow(repo, run.workflow)
        updated = run.created + timedelta(minutes=run.minutes)
        api = f"{base}/repos/{repo.full_name}/actions/runs/{run.id}"
        return {
            "id": run.id,
            "name": wf.name if wf else run.workflow,
            "node_id": f"WFR_{run.id:x}",
            "head_branch": run.head_branch,
            "head_sha": run.head_sha,
            "path": f".github/workflows/{run.workflow}",
            "display_title": run.title or run.workflow,
            "run_number": run.run_number,
            "event": run.event,
            "status": run.status,
            "conclusion": run.conclusion if run.status == "completed" else None,
            "workflow_id": wf.id if wf else 0,
            "url": api,
            "html_url": f"https://github.com/{repo.full_name}/actions/runs/{run.id}",
            "created_at": rfc3339(run.created),
            "updated_at": rfc3339(updated),
            "run_started_at": rfc3339(run.created),
            "run_attempt": 1,
            "actor": {"login": run.actor, "type": "User"},
            "triggering_actor": {"login": run.actor, "type": "User"},
            "jobs_url": f"{api}/jobs",
            "logs_url": f"{api}/logs",
            "workflow_url": f"{base}/repos/{repo.full_name}/actions/workflows/{wf.id if wf else 0}",
            "head_commit": {
                "id": run.head_sha,
                "tree_id": hashlib.sha1(run.head_sha.encode()).hexdigest(),
                "message": run.title,
                "timestamp": rfc3339(run.created - timedelta(minutes=1)),
                "author": {"name": run.actor, "email": f"{run.actor}@users.noreply.github.com"},
            },
            "repository": {
                "full_name": repo.full_name,
                "name": repo.full_name.split("/")[1],
                "html_url": f"https://github.com/{repo.full_name}",
            },
        }

    def job_json(self, repo: RepoSpec, run: RunSpec, job: JobSpec, base: str) -> dict[str, Any]:
        started = run.created + timedelta(seconds=8)
        steps, at = [], started
        for number, step in enumerate(job.steps, start=1):
            done = at + timedelta(seconds=step.seconds)
            steps.append(
                {
                    "name": step.name,
                    "status": step.status,
                    "conclusion": step.conclusion,
                    "number": number,
                    "started_at": rfc3339(at),
                    "completed_at": rfc3339(done) if step.status == "completed" else None,
                }
            )
            at = done
        return {
            "id": job.id,
            "run_id": run.id,
            "workflow_name": self.run_json(repo, run, base)["name"],
            "head_branch": run.head_branch,
            "head_sha": run.head_sha,
            "run_attempt": 1,
            "url": f"{base}/repos/{repo.full_name}/actions/jobs/{job.id}",
            "run_url": f"{base}/repos/{repo.full_name}/actions/runs/{run.id}",
            "html_url": f"https://github.com/{repo.full_name}/actions/runs/{run.id}/job/{job.id}",
            "status": job.status,
            "conclusion": job.conclusion if job.status == "completed" else None,
            "created_at": rfc3339(run.created),
            "started_at": rfc3339(started),
            "completed_at": rfc3339(at) if job.status == "completed" else None,
            "name": job.name,
            "steps": steps,
            "labels": ["ubuntu-latest"],
            "runner_name": "GitHub Actions 12",
            "runner_group_name": "GitHub Actions",
        }
