"""ByteBudget: reads held whole until reduced are admitted by the bytes they are expected to hold."""

from __future__ import annotations

import asyncio

from bot.k8s.budget import LINE_GUESS, ByteBudget


async def _run(budget: ByteBudget, sizes: list[int], lines: int) -> int:
    """Read logs of the given sizes all at once; the most reads that were running together."""
    running = most = 0
    release = asyncio.Event()

    async def read(size: int) -> None:
        nonlocal running, most
        async with budget.admit(lines) as read_sizes:
            running += 1
            most = max(most, running)
            await release.wait()  # every admitted read stays in until the others had their chance
            read_sizes.append(size)
            running -= 1

    tasks = [asyncio.create_task(read(size)) for size in sizes]
    for _ in range(50):
        await asyncio.sleep(0)
    release.set()
    await asyncio.wait_for(asyncio.gather(*tasks), 10)
    return most


def test_small_logs_are_read_all_at_once() -> None:
    budget = ByteBudget(1 << 20)
    assert asyncio.run(_run(budget, [10_000] * 16, lines=200)) == 16  # 200 x 256 B expected each: 16 fit
    assert budget.largest == 10_000 and budget.held == 0 and budget.running == 0


def test_big_logs_are_read_as_many_as_fit() -> None:
    budget = ByteBudget(1 << 20)
    budget.largest = 300_000  # learnt from an earlier read
    assert asyncio.run(_run(budget, [300_000] * 10, lines=200)) == 3


def test_a_log_bigger_than_the_budget_is_still_read_alone() -> None:
    budget = ByteBudget(1000)
    assert asyncio.run(_run(budget, [5000, 5000, 5000], lines=10_000)) == 1
    assert budget.largest == 5000


def test_before_any_read_the_guess_comes_from_the_lines_asked_for() -> None:
    budget = ByteBudget(1 << 20)
    assert budget.expected(1000) == 1000 * LINE_GUESS
    assert budget.expected(None) == budget.budget  # all of every log: one at a time until one is known
    budget.largest = 42
    assert budget.expected(1000) == 42


def test_a_read_that_fails_gives_its_room_back() -> None:
    budget = ByteBudget(100)

    async def go() -> None:
        try:
            async with budget.admit(1000):
                raise ConnectionError("reset")
        except ConnectionError:
            pass
        async with budget.admit(1000) as sizes:  # would wait for ever if the room were not given back
            sizes.append(10)

    asyncio.run(asyncio.wait_for(go(), 10))  # a regression fails here instead of hanging the suite
    assert budget.held == 0 and budget.running == 0 and budget.largest == 10
