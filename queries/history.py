"""Which buckets a check must fetch, given the aggregated history it already holds. Pure.

Completed buckets do not change once the ingestion delay has passed, so a check fetches only
the buckets since the last one it holds, plus a short re-check window for late rows. A bucket
that was still filling (or inside the delay) is never fetched, so never held.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import pandas as pd

__all__ = ["Window", "complete_end", "floor_to", "merge", "plan"]


def floor_to(moment: datetime, step: timedelta) -> datetime:
    """The start of the step-long bucket holding `moment` (aligned to the unix epoch, UTC)."""
    if moment.tzinfo is None:
        raise ValueError(f"expected a timezone-aware time, got {moment!r}")
    seconds = int(step.total_seconds())
    stamp = int(moment.timestamp())
    return datetime.fromtimestamp(stamp - stamp % seconds, tz=moment.tzinfo)


def complete_end(now: datetime, step: timedelta, delay: timedelta) -> datetime:
    """Exclusive end of the complete buckets: a bucket is complete once it ended `delay` ago."""
    return floor_to(now - delay, step)


@dataclass(frozen=True)
class Window:
    """The history a check looks at, and the part of it to fetch now."""

    start: datetime  # first bucket of the history window
    end: datetime  # exclusive end: the last complete bucket ends here
    fetch_start: datetime  # fetch [fetch_start, end); keep held rows before fetch_start

    @property
    def is_full(self) -> bool:
        return self.fetch_start <= self.start


def plan(
    now: datetime,
    *,
    step: timedelta,
    delay: timedelta,
    history: timedelta,
    held_until: datetime | None,
    held_from: datetime | None = None,
    recheck: timedelta = timedelta(hours=1),
) -> Window:
    """The window for a check at `now`, given that [held_from, held_until) is already held."""
    end = complete_end(now, step, delay)
    start = end - history
    fetch_start = start
    if (
        held_until is not None
        and held_from is not None
        and held_from <= start + recheck
        and start < held_until <= end
    ):
        fetch_start = max(start, floor_to(held_until - recheck, step))
    return Window(start=start, end=end, fetch_start=fetch_start)


def merge(held: pd.DataFrame | None, fresh: pd.DataFrame, window: Window) -> pd.DataFrame:
    """Held rows before the fetched range, then the fresh rows; trimmed to the window."""
    fresh = _between(fresh, window.start, window.end)
    if held is None or held.empty or window.is_full:
        return fresh.reset_index(drop=True)
    # Held rows before fetch_start are inside the window once at or after its start: one copy.
    keep = _between(held, window.start, window.fetch_start)
    if keep.empty:
        return fresh.reset_index(drop=True)
    return pd.concat([keep, fresh], ignore_index=True)


def _between(frame: pd.DataFrame, start: datetime, end: datetime) -> pd.DataFrame:
    """The rows with start <= bucket < end: a slice of rows held in bucket order (the queries
    sort by bucket), so concat makes the only copy of a window of millions of rows."""
    bucket = frame["bucket"]
    if bucket.is_monotonic_increasing:
        first, stop = bucket.searchsorted([pd.Timestamp(start), pd.Timestamp(end)]).tolist()
        return frame if (first, stop) == (0, len(frame)) else frame.iloc[first:stop]
    inside = (bucket >= start) & (bucket < end)
    return frame if inside.all() else frame.loc[inside]
