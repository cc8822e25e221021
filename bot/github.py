"""The GitHub gateway: workflow runs, failed jobs and job logs over the GitHub REST API (httpx).

Errors of httpx and of GitHub are translated once, in `GitHubGateway._request`, into `bot.errors`
errors that say what to do. The token never appears in a message.
"""

from __future__ import annotations

import asyncio
import re
from collections import OrderedDict
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import httpx

from bot.config import GitHubSettings
from bot.errors import (
    ForbiddenError,
    NotFoundError,
    OpsbotError,
    UnavailableError,
    UpstreamTimeoutError,
    UsageError,
)
from bot.models import WorkflowJob, WorkflowRun
from bot.plumbing import tls
from bot.plumbing.httpthread import async_client

API_VERSION = "2022-11-28"
FAILED = frozenset({"failure", "timed_out", "startup_failure"})
_REPO = re.compile(r"[\w.-]+/[\w.-]+")
_CONFIG_HINT = "check services.<name>.repo/workflow in the opsbot config"
CACHE_SIZE = 256  # conditional-request answers kept: a few per service polled


def _repo_path(repo: str) -> str:
    # the repo goes into the URL path: anything but owner/name could address another endpoint
    if not _REPO.fullmatch(repo):
        raise UsageError(f"repository must be owner/name, got {repo!r}")
    return repo


def _time(value: Any) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None


def run_from_json(data: dict[str, Any]) -> WorkflowRun:
    return WorkflowRun(
        id=int(data["id"]),
        name=data.get("name") or data.get("display_title") or "",
        run_number=int(data.get("run_number") or 0),
        head_sha=data.get("head_sha") or "",
        head_branch=data.get("head_branch") or "",
        event=data.get("event") or "",
        status=data.get("status") or "",
        conclusion=data.get("conclusion"),
        html_url=data.get("html_url") or "",
        created_at=_time(data.get("created_at")),
        actor=((data.get("triggering_actor") or data.get("actor") or {}).get("login") or ""),
        started_at=_time(data.get("run_started_at") or data.get("created_at")),
        updated_at=_time(data.get("updated_at")),
    )


def job_from_json(data: dict[str, Any]) -> WorkflowJob:
    return WorkflowJob(
        id=int(data["id"]),
        run_id=int(data.get("run_id") or 0),
        name=data.get("name") or "",
        status=data.get("status") or "",
        conclusion=data.get("conclusion"),
        html_url=data.get("html_url") or "",
        failed_steps=[s.get("name", "") for s in data.get("steps") or [] if s.get("conclusion") in FAILED],
    )


def tail_lines(text: str, tail: int) -> str:
    lines = text.splitlines()
    return "\n".join(lines[-tail:] if tail > 0 else lines)


class GitHubGateway:
    """Read-only access to GitHub Actions: runs, jobs and logs."""

    def __init__(
        self,
        client: httpx.AsyncClient | None = None,
        *,
        api_url: str = "https://api.github.com",
        token: str | None = None,
        timeout: float = 10.0,
    ) -> None:
        self._own_client = client is None
        self.client = client or async_client(timeout=timeout, verify=tls.context())
        self.api_url = api_url.rstrip("/")
        self.timeout = timeout
        self._token = token or None
        self.headers = {"Accept": "application/vnd.github+json", "X-GitHub-Api-Version": API_VERSION}
        self._cache: OrderedDict[str, tuple[str, Any]] = OrderedDict()  # path -> (ETag, its JSON)
        self.not_modified = 0  # 304 answers: reads that cost no rate limit
        if self._token:
            self.headers["Authorization"] = f"Bearer {self._token}"

    @classmethod
    def from_settings(cls, settings: GitHubSettings) -> GitHubGateway:
        token = settings.token.get_secret_value() if settings.token else None
        return cls(api_url=settings.api_url, token=token, timeout=settings.timeout)

    async def close(self) -> None:
        if self._own_client:
            await self.client.aclose()

    # ------------------------------------------------------------------ plumbing

    async def _request(
        self, path: str, *, what: str, repo: str, params: dict[str, Any] | None = None, follow: bool = False,
        etag: str | None = None,
    ) -> httpx.Response:
        """GET one endpoint; the one place where errors are translated. With `etag`, a conditional request:
        GitHub answers 304 Not Modified when nothing changed, which does not count against the rate limit."""
        url = f"{self.api_url}{path}"
        headers = {**self.headers, "If-None-Match": etag} if etag else self.headers
        try:
            response = await asyncio.wait_for(
                self.client.get(
                    url, params=params, headers=headers, timeout=self.timeout, follow_redirects=follow
                ),
                self.timeout,
            )
        except (TimeoutError, httpx.TimeoutException):
            raise UpstreamTimeoutError(
                f"GitHub API at {self.api_url}: {what} took longer than {self.timeout:g}s"
            ) from None
        except httpx.TransportError as exc:
            raise UnavailableError(
                self._scrub(f"GitHub API at {self.api_url} is not answering ({type(exc).__name__}: {exc})")
            ) from None
        if response.is_success or (etag and response.status_code == 304):
            return response
        raise self._error(response, what=what, repo=repo)

    def _error(self, response: httpx.Response, *, what: str, repo: str) -> OpsbotError:
        status = response.status_code
        detail = self._scrub(_message(response))
        if status == 401:
            return ForbiddenError("GitHub token rejected; set GITHUB_TOKEN to a valid token with actions:read")
        if status in (403, 429) and (
            response.headers.get("x-ratelimit-remaining") == "0" or status == 429 or "rate limit" in detail.lower()
        ):
            return UnavailableError(f"GitHub API rate limit exhausted; it resets at {_reset(response)}")
        if status == 403:
            return ForbiddenError(f"GitHub refused {what} ({detail}); the token needs actions:read on {repo}")
        if status == 404:
            return NotFoundError(
                f"repository or workflow not found: {what} (or the token cannot see {repo}); {_CONFIG_HINT}"
            )
        if status >= 500:
            return UnavailableError(f"GitHub API at {self.api_url} answered HTTP {status} to {what}; try again later")
        return UsageError(f"GitHub rejected {what}: HTTP {status} ({detail})")

    def _scrub(self, text: str) -> str:
        return text.replace(self._token, "[REDACTED]") if self._token else text

    async def _json(self, path: str, *, what: str, repo: str, params: dict[str, Any] | None = None) -> Any:
        """GET JSON, conditionally when this path was read before: polling a run (`/runs SERVICE watch`)
        then costs 304s, not rate limit. The last answer of each path is kept (LRU, CACHE_SIZE)."""
        key = f"{path}?{sorted((params or {}).items())}"
        cached = self._cache.get(key)
        response = await self._request(path, what=what, repo=repo, params=params,
                                       etag=cached[0] if cached else None)
        if response.status_code == 304 and cached is not None:
            self._cache.move_to_end(key)
            self.not_modified += 1
            return cached[1]
        try:
            data = response.json()
        except ValueError:
            raise UnavailableError(f"GitHub API at {self.api_url} answered {what} with something not JSON") from None
        tag = response.headers.get("etag")
        if tag:
            self._cache[key] = (tag, data)
            self._cache.move_to_end(key)
            while len(self._cache) > CACHE_SIZE:
                self._cache.popitem(last=False)
        return data

    # ------------------------------------------------------------------ reads

    async def list_runs(
        self, repo: str, *, workflow: str | None = None, branch: str | None = None, limit: int = 5
    ) -> list[WorkflowRun]:
        """The newest runs of a repository, or of one workflow (file name or id), newest first."""
        base = f"/repos/{_repo_path(repo)}/actions"
        path = f"{base}/workflows/{quote(str(workflow), safe='')}/runs" if workflow else f"{base}/runs"
        params: dict[str, Any] = {"per_page": max(1, min(limit, 100))}
        if branch:
            params["branch"] = branch
        what = f"runs of {repo}" + (f" workflow {workflow}" if workflow else "")
        data = await self._json(path, what=what, repo=repo, params=params)
        runs = [run_from_json(r) for r in (data or {}).get("workflow_runs") or []]
        return runs[:limit]

    async def get_run(self, repo: str, run_id: int) -> WorkflowRun:
        data = await self._json(
            f"/repos/{_repo_path(repo)}/actions/runs/{int(run_id)}", what=f"run {run_id} of {repo}", repo=repo
        )
        return run_from_json(data)

    async def failed_jobs(self, repo: str, run_id: int) -> list[WorkflowJob]:
        """Jobs of the run's latest attempt that failed, each with the names of its failed steps."""
        data = await self._json(
            f"/repos/{_repo_path(repo)}/actions/runs/{int(run_id)}/jobs",
            what=f"jobs of run {run_id} of {repo}",
            repo=repo,
            params={"filter": "latest", "per_page": 100},
        )
        jobs = [job_from_json(j) for j in (data or {}).get("jobs") or []]
        return [j for j in jobs if j.conclusion in FAILED]

    async def job_log(self, repo: str, job_id: int, *, tail: int = 200) -> str:
        """The last `tail` lines of a job's log. GitHub answers 302 to a short-lived blob URL."""
        response = await self._request(
            f"/repos/{_repo_path(repo)}/actions/jobs/{int(job_id)}/logs",
            what=f"log of job {job_id} of {repo}",
            repo=repo,
            follow=True,
        )
        return tail_lines(response.text, tail)


def _message(response: httpx.Response) -> str:
    try:
        message = response.json().get("message")
    except (ValueError, AttributeError):
        message = None
    return str(message or response.reason_phrase or f"HTTP {response.status_code}")[:200]


def _reset(response: httpx.Response) -> str:
    reset = response.headers.get("x-ratelimit-reset")
    if reset and reset.isdigit():
        return datetime.fromtimestamp(int(reset), UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    retry = response.headers.get("retry-after")
    return f"in {retry}s" if retry else "an unknown time (no x-ratelimit-reset header)"
