"""GitHubGateway against respx routes on a real httpx client."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
import pytest_asyncio
import respx
from pydantic import SecretStr

from bot.config import GitHubSettings
from bot.errors import ForbiddenError, NotFoundError, UnavailableError, UpstreamTimeoutError, UsageError
from bot.github import GitHubGateway

API = "https://api.github.test"
REPO = "acme/taskflow"
TOKEN = "ghp_s3cretTOKENvalue"


def run(id_: int, sha: str, conclusion: str | None, status: str = "completed") -> dict:
    return {
        "id": id_,
        "name": "deploy",
        "display_title": "fix pool",
        "run_number": id_ - 100,
        "head_sha": sha,
        "head_branch": "main",
        "event": "push",
        "status": status,
        "conclusion": conclusion,
        "html_url": f"https://github.com/{REPO}/actions/runs/{id_}",
        "created_at": "2026-01-01T10:00:00Z",
    }


@pytest_asyncio.fixture
async def github() -> AsyncIterator[tuple[GitHubGateway, respx.MockRouter]]:
    async with httpx.AsyncClient() as client:
        with respx.mock(assert_all_called=False) as router:
            yield GitHubGateway(client, api_url=API, token=TOKEN, timeout=2.0), router


async def test_list_runs_of_a_workflow_sends_the_api_headers(github: tuple[GitHubGateway, respx.MockRouter]) -> None:
    gw, router = github
    route = router.get(f"{API}/repos/{REPO}/actions/workflows/deploy.yml/runs").respond(
        json={"total_count": 2, "workflow_runs": [run(102, "3f2c1ab", None, "in_progress"), run(101, "aaa", "failure")]}
    )
    runs = await gw.list_runs(REPO, workflow="deploy.yml", branch="main", limit=2)
    assert [(r.id, r.head_sha, r.status, r.conclusion) for r in runs] == [
        (102, "3f2c1ab", "in_progress", None),
        (101, "aaa", "completed", "failure"),
    ]
    assert runs[0].created_at is not None and runs[0].created_at.tzinfo is not None
    request = route.calls.last.request
    assert request.url.params["branch"] == "main" and request.url.params["per_page"] == "2"
    assert request.headers["Accept"] == "application/vnd.github+json"
    assert request.headers["X-GitHub-Api-Version"] == "2022-11-28"
    assert request.headers["Authorization"] == f"Bearer {TOKEN}"


async def test_list_runs_of_a_repository_without_token_sends_no_authorization() -> None:
    async with httpx.AsyncClient() as client:
        with respx.mock() as router:
            route = router.get(f"{API}/repos/{REPO}/actions/runs").respond(
                json={"workflow_runs": [run(5, "b", "success")]}
            )
            runs = await GitHubGateway(client, api_url=API).list_runs(REPO)
    assert [r.id for r in runs] == [5]
    assert "Authorization" not in route.calls.last.request.headers


async def test_get_run(github: tuple[GitHubGateway, respx.MockRouter]) -> None:
    gw, router = github
    router.get(f"{API}/repos/{REPO}/actions/runs/101").respond(json=run(101, "aaa", "failure"))
    got = await gw.get_run(REPO, 101)
    assert (got.id, got.run_number, got.name, got.html_url) == (
        101,
        1,
        "deploy",
        f"https://github.com/{REPO}/actions/runs/101",
    )


async def test_failed_jobs_name_their_failed_steps(github: tuple[GitHubGateway, respx.MockRouter]) -> None:
    gw, router = github
    steps_ok = [{"name": "Set up job", "conclusion": "success"}]
    route = router.get(f"{API}/repos/{REPO}/actions/runs/101/jobs").respond(
        json={
            "total_count": 3,
            "jobs": [
                {
                    "id": 1,
                    "run_id": 101,
                    "name": "lint",
                    "status": "completed",
                    "conclusion": "success",
                    "steps": steps_ok,
                },
                {
                    "id": 2,
                    "run_id": 101,
                    "name": "test",
                    "status": "completed",
                    "conclusion": "failure",
                    "html_url": "u",
                    "steps": [
                        *steps_ok,
                        {"name": "Run pytest", "conclusion": "failure"},
                        {"name": "Upload", "conclusion": "skipped"},
                    ],
                },
                {
                    "id": 3,
                    "run_id": 101,
                    "name": "e2e",
                    "status": "completed",
                    "conclusion": "timed_out",
                    "steps": [{"name": "Run e2e", "conclusion": "timed_out"}],
                },
            ],
        }
    )
    jobs = await gw.failed_jobs(REPO, 101)
    assert [(j.id, j.name, j.failed_steps) for j in jobs] == [(2, "test", ["Run pytest"]), (3, "e2e", ["Run e2e"])]
    assert route.calls.last.request.url.params["filter"] == "latest"


async def test_job_log_follows_the_redirect_and_returns_the_tail(
    github: tuple[GitHubGateway, respx.MockRouter],
) -> None:
    gw, router = github
    blob = "https://blobs.example.test/job-2.txt?sig=abc"
    router.get(f"{API}/repos/{REPO}/actions/jobs/2/logs").respond(302, headers={"Location": blob})
    blob_route = router.get(blob).respond(
        text="line 1\nline 2\nE   AssertionError\nProcess completed with exit code 1.\n"
    )
    text = await gw.job_log(REPO, 2, tail=2)
    assert text == "E   AssertionError\nProcess completed with exit code 1."
    # the blob host is another origin: httpx must not forward the token there
    assert "Authorization" not in blob_route.calls.last.request.headers


@pytest.mark.parametrize(
    ("status", "headers", "error", "words"),
    [
        (401, {}, ForbiddenError, ["GitHub token rejected", "GITHUB_TOKEN"]),
        (
            403,
            {"x-ratelimit-remaining": "0", "x-ratelimit-reset": "1767268800"},
            UnavailableError,
            ["rate limit", "2026-01-01 12:00:00 UTC"],
        ),
        (403, {"x-ratelimit-remaining": "4000"}, ForbiddenError, ["actions:read on acme/taskflow"]),
        (404, {}, NotFoundError, ["repository or workflow not found", "services.<name>.repo/workflow"]),
        (500, {}, UnavailableError, ["HTTP 500"]),
        (502, {}, UnavailableError, ["HTTP 502"]),
        (422, {}, UsageError, ["HTTP 422"]),
    ],
)
async def test_error_statuses(
    github: tuple[GitHubGateway, respx.MockRouter],
    status: int,
    headers: dict,
    error: type[Exception],
    words: list[str],
) -> None:
    gw, router = github
    router.get(f"{API}/repos/{REPO}/actions/runs").respond(
        status, headers=headers, json={"message": f"Bad credentials {TOKEN}", "documentation_url": "x"}
    )
    with pytest.raises(error) as err:
        await gw.list_runs(REPO)
    for word in words:
        assert word in str(err.value)
    assert TOKEN not in str(err.value)


async def test_timeout_and_transport_errors(github: tuple[GitHubGateway, respx.MockRouter]) -> None:
    gw, router = github
    router.get(f"{API}/repos/{REPO}/actions/runs/1").mock(side_effect=httpx.ReadTimeout("slow"))
    router.get(f"{API}/repos/{REPO}/actions/runs/2").mock(side_effect=httpx.ConnectError("refused"))
    with pytest.raises(UpstreamTimeoutError, match="took longer than 2s"):
        await gw.get_run(REPO, 1)
    with pytest.raises(UnavailableError, match="not answering"):
        await gw.get_run(REPO, 2)


async def test_a_repo_that_is_not_owner_name_is_refused_before_any_request(
    github: tuple[GitHubGateway, respx.MockRouter],
) -> None:
    gw, router = github
    with pytest.raises(UsageError, match="owner/name"):
        await gw.list_runs("acme/taskflow/../../users")
    assert not router.calls


async def test_from_settings_carries_url_and_token() -> None:
    gw = GitHubGateway.from_settings(GitHubSettings(api_url=API + "/", token=SecretStr(TOKEN)))
    try:
        assert gw.api_url == API and gw.headers["Authorization"] == f"Bearer {TOKEN}"
    finally:
        await gw.close()
