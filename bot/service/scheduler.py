"""The background check: at start-up, then on every CHECK_INTERVAL boundary of the clock."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

from queries.errors import SourceMisconfigured, SourceUnavailable

__all__ = ["next_tick", "run_every"]

log = logging.getLogger(__name__)


def next_tick(now: datetime, interval: timedelta) -> datetime:
    """The first boundary after `now`: :00, :15, :30, :45 for 15 minutes (epoch-aligned)."""
    seconds = interval.total_seconds()
    stamp = now.timestamp()
    return datetime.fromtimestamp((stamp // seconds + 1) * seconds, tz=UTC)


async def run_every(
    interval: timedelta,
    job: Callable[[], Awaitable[object]],
    *,
    clock: Callable[[], datetime],
    stop: asyncio.Event,
) -> None:
    """Run `job` now and then at each boundary until `stop` is set; never two at once.

    The next boundary is computed after each run, so a slow check skips the boundaries it
    overran instead of shifting the schedule. A failing run is logged and the next one runs.
    """
    while not stop.is_set():
        try:
            await job()
        except (SourceMisconfigured, SourceUnavailable) as exc:  # its own sentence says it all
            log.warning("scheduled check failed: %s; the next one runs on schedule", exc)
        except Exception:
            log.exception("scheduled check failed; the next one runs on schedule")
        now = clock()
        wait = (next_tick(now, interval) - now).total_seconds()
        try:
            await asyncio.wait_for(stop.wait(), timeout=max(wait, 0.0))
        except TimeoutError:
            continue
