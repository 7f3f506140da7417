"""The schedule: boundaries of the clock, first run at once, never two at once, a failing or
slow run never shifting it."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from bot.service.scheduler import next_tick, run_every


@pytest.mark.parametrize(
    ("now", "interval", "expected"),
    [
        ("12:07:30", timedelta(minutes=15), "12:15:00"),
        ("12:15:00", timedelta(minutes=15), "12:30:00"),  # on a boundary: the next one
        ("12:59:59", timedelta(minutes=30), "13:00:00"),
        ("12:00:10", timedelta(seconds=30), "12:00:30"),
    ],
)
def test_next_tick_is_the_next_clock_boundary(now: str, interval: timedelta, expected: str) -> None:
    """Checks land on :00, :15, :30, :45 (or the interval's own boundaries)."""
    day = "2026-11-27T"
    moment = datetime.fromisoformat(day + now).replace(tzinfo=UTC)
    assert next_tick(moment, interval) == datetime.fromisoformat(day + expected).replace(tzinfo=UTC)


async def test_runs_at_once_then_on_boundaries_and_survives_failures() -> None:
    """The first run is immediate; a failing run is logged and the next still comes; a run that
    overran the next boundary waits for the one after it (it does not run at once, nor shift
    the schedule); runs never overlap; stop ends the loop. On a clock of 15-minute boundaries
    that each run moves on to a fifth of a second before the boundary it means to wait for, so
    the test waits for real only that long: which boundary each run lands on is read from the
    clock, never from how long anything took."""
    interval = timedelta(minutes=15)
    start = datetime(2026, 11, 27, 12, 7, 30, tzinfo=UTC)
    began = asyncio.get_running_loop().time()
    offset = timedelta(0)

    def clock() -> datetime:
        return start + offset + timedelta(seconds=asyncio.get_running_loop().time() - began)

    stop = asyncio.Event()
    runs: list[datetime] = []
    active = 0

    async def job() -> None:
        nonlocal active, offset
        active += 1
        assert active == 1
        runs.append(clock())
        await asyncio.sleep(0.01)
        active -= 1
        if len(runs) == 2:  # it overran: the clock passes the next boundary while it runs
            offset += interval
        before = next_tick(clock(), interval) - timedelta(seconds=0.2)
        offset += before - clock()  # on to just before the next boundary
        if len(runs) == 2:
            raise RuntimeError("a bad tick")
        if len(runs) >= 4:
            stop.set()

    await asyncio.wait_for(run_every(interval, job, clock=clock, stop=stop), timeout=60)
    assert len(runs) == 4
    assert runs[0] < start + timedelta(minutes=1)  # at once, not at 12:15
    ticks = [next_tick(t, interval) - interval for t in runs[1:]]  # the boundary each ran after
    expected = [datetime(2026, 11, 27, h, m, tzinfo=UTC)
                for h, m in ((12, 15), (12, 45), (13, 0))]  # fmt: skip
    assert ticks == expected, runs  # 12:30 was overrun by the failing run: skipped
