"""Fixtures shared by the test modules: the fake Slack Web API and the kmock Kubernetes API, both
over real HTTP, started per test."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.fakes.kubernetes import cluster, gateway
from tests.fakes.slack import FakeSlack

__all__ = ["cluster", "fake", "gateway"]


@pytest.fixture
async def fake() -> AsyncIterator[FakeSlack]:
    """A fake Slack Web API on a free loopback port; `fake.calls` records what it received."""
    async with FakeSlack() as server:
        yield server
