"""The schedule: boundaries of the clock, first run at once, never two at once, a failing or
slow run never shifting it."""

from __future__ import annotations

import asyncio
import itertools
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
    """The first run is immediate; a failing run is logged and the next still comes; runs
    never overlap; stop ends the loop promptly."""
    stop = asyncio.Event()
    runs: list[float] = []
    active = 0

    async def job() -> None:
        nonlocal active
        active += 1
        assert active == 1
        runs.append(datetime.now(UTC).timestamp())
        await asyncio.sleep(0.05)
        active -= 1
        if len(runs) == 2:
            raise RuntimeError("a bad tick")
        if len(runs) >= 4:
            stop.set()

    started = datetime.now(UTC).timestamp()
    await asyncio.wait_for(
        run_every(timedelta(seconds=0.3), job, clock=lambda: datetime.now(UTC), stop=stop),
        timeout=10,
    )
    assert len(runs) == 4
    assert runs[0] - started < 0.1  # at once
    # Then on the interval's boundaries, whenever the first run happened to end: the next
    # boundary may be close (a short first gap), the ones after a whole interval apart.
    off = [min(t % 0.3, 0.3 - t % 0.3) for t in runs[1:]]
    assert all(o < 0.1 for o in off), off
    gaps = [b - a for a, b in itertools.pairwise(runs[1:])]
    assert all(0.2 < g < 0.65 for g in gaps), gaps  # a loaded machine may skip one
