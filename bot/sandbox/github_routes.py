"""The GitHub Actions REST API routes: runs, jobs, job logs (redirect to a blob), workflows, rate limit."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta

from aiohttp import web

from bot.sandbox.scenario import JobSpec, RepoSpec, RunSpec
from bot.sandbox.world import World

GITHUB_DOCS = "https://docs.github.com/rest/actions/workflow-runs"


class GitHubRoutes:
    """aiohttp handlers of the GitHub Actions REST API over the scenario's repositories."""

    def __init__(self, world: World) -> None:
        self.world = world

    def _gh_base(self, request: web.Request) -> str:
        return f"{request.scheme}://{request.host}/github"

    def _repo(self, request: web.Request) -> RepoSpec | None:
        key = f"{request.match_info['owner']}/{request.match_info['repo']}".lower()
        return self.world.github.repos.get(key)

    async def gh_runs(self, request: web.Request) -> web.Response:
        repo = self._repo(request)
        if repo is None:
            return gh_not_found()
        runs = repo.runs
        workflow_key = request.match_info.get("workflow")
        if workflow_key is not None:
            wf = self.world.github.workflow(repo, workflow_key)
            if wf is None:
                return gh_not_found("actions/workflows#get-a-workflow")
            runs = [r for r in runs if r.workflow == wf.file]
        q = request.query
        if q.get("branch"):
            runs = [r for r in runs if r.head_branch == q["branch"]]
        if q.get("event"):
            runs = [r for r in runs if r.event == q["event"]]
        if q.get("head_sha"):
            runs = [r for r in runs if r.head_sha == q["head_sha"]]
        if q.get("status"):
            runs = [r for r in runs if q["status"] in (r.status, r.conclusion)]
        runs = sorted(runs, key=lambda r: r.created, reverse=True)
        try:
            per_page = max(1, min(int(q.get("per_page", 30)), 100))
            page = max(1, int(q.get("page", 1)))
        except ValueError:
            return web.json_response({"message": "Invalid request.", "documentation_url": GITHUB_DOCS}, status=422)
        chosen = runs[(page - 1) * per_page : page * per_page]
        base = self._gh_base(request)
        return conditional(
            request,
            {"total_count": len(runs), "workflow_runs": [self.world.github.run_json(repo, r, base) for r in chosen]}
        )

    def _run(self, repo: RepoSpec, raw: str) -> RunSpec | None:
        return next((r for r in repo.runs if str(r.id) == raw), None)

    async def gh_run(self, request: web.Request) -> web.Response:
        repo = self._repo(request)
        run = self._run(repo, request.match_info["run_id"]) if repo else None
        if repo is None or run is None:
            return gh_not_found("actions/workflow-runs#get-a-workflow-run")
        return conditional(request, self.world.github.run_json(repo, run, self._gh_base(request)))

    async def gh_jobs(self, request: web.Request) -> web.Response:
        repo = self._repo(request)
        run = self._run(repo, request.match_info["run_id"]) if repo else None
        if repo is None or run is None:
            return gh_not_found("actions/workflow-jobs#list-jobs-for-a-workflow-run")
        base = self._gh_base(request)
        return conditional(
            request,
            {"total_count": len(run.jobs), "jobs": [self.world.github.job_json(repo, run, j, base) for j in run.jobs]}
        )

    def _job(self, request: web.Request) -> tuple[RepoSpec, RunSpec, JobSpec] | None:
        repo = self._repo(request)
        if repo is None:
            return None
        try:
            found = self.world.github.jobs.get((repo.full_name.lower(), int(request.match_info["job_id"])))
        except ValueError:
            return None
        return (repo, *found) if found else None

    async def gh_job(self, request: web.Request) -> web.Response:
        found = self._job(request)
        if found is None:
            return gh_not_found("actions/workflow-jobs#get-a-job-for-a-workflow-run")
        return conditional(request, self.world.github.job_json(*found, self._gh_base(request)))

    async def gh_job_logs(self, request: web.Request) -> web.Response:
        # api.github.com answers 302 with a short-lived blob URL; clients must follow it
        found = self._job(request)
        if found is None:
            return gh_not_found("actions/workflow-jobs#download-job-logs-for-a-workflow-run")
        repo, _, job = found
        raise web.HTTPFound(f"{self._gh_base(request)}/_blobs/{repo.full_name}/jobs/{job.id}/log")

    async def gh_blob(self, request: web.Request) -> web.Response:
        found = self._job(request)
        if found is None:
            return web.Response(status=404, text="BlobNotFound")
        _, run, job = found
        return web.Response(text=_job_log_text(run, job), content_type="text/plain")

    async def gh_repo(self, request: web.Request) -> web.Response:
        repo = self._repo(request)
        if repo is None:
            return gh_not_found("repos/repos#get-a-repository")
        owner, name = repo.full_name.split("/")
        return conditional(
            request,
            {
                "id": int(hashlib.sha256(repo.full_name.encode()).hexdigest()[:8], 16),
                "name": name,
                "full_name": repo.full_name,
                "owner": {"login": owner},
                "private": True,
                "html_url": f"https://github.com/{repo.full_name}",
                "default_branch": "main",
            }
        )

    async def gh_workflows(self, request: web.Request) -> web.Response:
        repo = self._repo(request)
        if repo is None:
            return gh_not_found()
        return conditional(
            request,
            {
                "total_count": len(repo.workflows),
                "workflows": [
                    {
                        "id": w.id,
                        "name": w.name,
                        "path": f".github/workflows/{w.file}",
                        "state": "active",
                        "html_url": f"https://github.com/{repo.full_name}/actions/workflows/{w.file}",
                    }
                    for w in repo.workflows
                ],
            }
        )

    async def gh_rate_limit(self, request: web.Request) -> web.Response:
        core = {"limit": 5000, "used": 1, "remaining": 4999, "reset": int(datetime.now(UTC).timestamp()) + 3600}
        return web.json_response({"resources": {"core": core}, "rate": core})

    async def gh_unknown(self, request: web.Request) -> web.Response:
        return gh_not_found("")


def conditional(request: web.Request, data: object) -> web.Response:
    """A JSON answer with an ETag, as api.github.com gives: a request whose If-None-Match names it gets
    304 Not Modified with no body (and, on GitHub, costs no rate limit)."""
    body = json.dumps(data, separators=(",", ":")).encode()
    tag = f'W/"{hashlib.sha256(body).hexdigest()[:40]}"'
    asked = [t.strip() for t in request.headers.get("If-None-Match", "").split(",")]
    if tag in asked or tag.removeprefix("W/") in asked:
        return web.Response(status=304, headers={"ETag": tag})
    return web.Response(body=body, content_type="application/json", headers={"ETag": tag})


def gh_not_found(doc: str = "actions/workflow-runs#list-workflow-runs-for-a-repository") -> web.Response:
    return web.json_response(
        {"message": "Not Found", "documentation_url": f"https://docs.github.com/rest/{doc}", "status": "404"},
        status=404,
    )


def _job_log_text(run: RunSpec, job: JobSpec) -> str:
    if job.log:
        lines = job.log.rstrip("\n").split("\n")
    else:
        lines = []
        for step in job.steps:
            lines += [f"##[group]Run {step.name}", "##[endgroup]"]
    at = run.created + timedelta(seconds=8)
    out = []
    for i, line in enumerate(lines):
        stamp = (at + timedelta(milliseconds=397 * i)).strftime("%Y-%m-%dT%H:%M:%S.%f") + "0Z"
        out.append(f"{stamp} {line}")
    return "\n".join(out) + "\n"
