"""Late data: whether the newest bucket of a table is still filling (ingestion lag) rather than
a metric that moved. A check judges such a bucket once it fills (run_check), instead of alerting
on a drop that is only rows in transit."""

from __future__ import annotations

from datetime import datetime, timedelta

import pandas as pd

from bot.core.report import Late
from queries.catalogue import Table
from queries.history import Window
from queries.sources import Freshness

__all__ = ["late_data"]


# The newest bucket counts as still filling when no event arrived for this many mean gaps
# between events before its end (no event in 10 mean gaps happens by chance with p = e^-10),
# and never for a gap under MIN_GAP: clocks and batching jitter by seconds.
QUIET_GAPS = 10.0
MIN_GAP = timedelta(minutes=1)
# ... or when its last third holds under half the events of its first third, and that is no
# chance (z >= 4 on the split): rows of the bucket's end are still in transit. A daily ramp
# changes a 15-minute rate by a few percent, not by half.
FILL_RATIO = 0.5
FILL_Z = 4.0


def _span(seconds: float) -> str:
    minutes, sec = divmod(round(seconds), 60)
    return f"{minutes} min {sec} s" if minutes else f"{sec} s"


def late_data(
    table: Table,
    frame: pd.DataFrame,
    window: Window,
    step: timedelta,
    fresh: Freshness,
    *,
    now: datetime,
    grace: timedelta,
) -> Late | None:
    """Whether the newest bucket of a table is missing or only partly there because its rows
    are late (ingestion lag), rather than because the metric moved.

    Lag shows in two ways: events stop minutes before the bucket's end while at the table's
    recent rate many would have come (a stalled pipeline), or the bucket's last third holds far
    fewer events than its first (rows spread out in transit). A table silent for longer than
    `grace` is not late but down, and is judged: a missing bucket of its counts then alerts.

    A drop that starts in the middle of the newest bucket also leaves its last third thin:
    it is judged one check later, on the next bucket, which it fills evenly.
    """
    end = pd.Timestamp(window.end)
    bucket = end - step
    if fresh.latest is None or pd.Timestamp(now) - pd.Timestamp(fresh.latest) > grace:
        return None
    if "rows" not in frame.columns:
        return None  # the table's query gives no event count to judge a rate by
    totals = frame[frame["dim"] == "total"]
    recent = totals["rows"][(totals["bucket"] >= bucket - 8 * step) & (totals["bucket"] < bucket)]
    rate = float(recent.max()) / step.total_seconds() if len(recent) else 0.0
    if rate <= 0:
        return None  # a table this quiet gives no evidence either way
    gap = (end - pd.Timestamp(fresh.latest)).total_seconds()
    first, last = fresh.first_third, fresh.last_third
    stalled = gap > max(MIN_GAP.total_seconds(), QUIET_GAPS / rate)
    thin = last < FILL_RATIO * first and (first - last) / max(first + last, 1) ** 0.5 >= FILL_Z
    if stalled:
        newest = totals["rows"][totals["bucket"] == bucket]
        what = "is only partly there" if float(newest.sum()) > 0 else "has no rows yet"
        why = (
            f"its last event came {_span(gap)} before the bucket's end, where about "
            f"{rate * gap:,.0f} were due"
        )
    elif thin:
        what = "is still filling"
        third = f"{step.total_seconds() / 180:g}"  # a third of the bucket, in minutes
        why = (
            f"its last {third} minutes hold {last:,} events against {first:,} in its first {third}"
        )
    else:
        return None
    return Late(
        table.name,
        bucket,
        fresh.latest,
        f"data is late: the newest bucket of {table.name} {what} ({why}); judged once it fills",
    )
