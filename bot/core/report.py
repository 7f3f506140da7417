"""What a check found: per series, the value, its band and the verdict; per table, errors and
late data. Plain values, shared by the check, the plan, the wording and the charts."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
import pandas as pd

from bot.core.reasons import shift_buckets
from detectors import Status, Verdict, outside_since
from queries.catalogue import Metric
from queries.errors import SourceError
from queries.series import Slice

__all__ = ["Block", "CheckReport", "Late", "Rows", "SeriesResult", "not_judged", "why_not_judged"]

# The reason of a series whose metric the check failed on (bot.service.checker._unjudged).
_NOT_JUDGED = "not judged: the check failed on this metric"


def not_judged(error: BaseException) -> str:
    """The reason of a series whose metric the check failed on with `error`: its type and its
    first 200 characters ("; " separates a reason's clauses, so none inside)."""
    said = " ".join(str(error).replace("; ", ", ").split())[:200]
    what = f"{type(error).__name__}: {said}" if said else type(error).__name__
    return f"{_NOT_JUDGED} ({what}); the bot's log has the details"


def why_not_judged(reason: str) -> str | None:
    """The error a `not_judged` reason names ("ValueError: ..."), None for any other reason."""
    if not reason.startswith(_NOT_JUDGED):
        return None
    return reason.split("; ", maxsplit=1)[0].removeprefix(_NOT_JUDGED).strip(" ()")


@dataclass
class SeriesResult:
    """One series' verdict, with its values and band. A check over many series passes
    `Rows` for the last two instead: they are built from the check's shared matrices only
    when something reads them (a message, a chart), so 10,000 results cost no 20,000 frames."""

    metric: Metric
    slice: Slice
    _series: pd.Series | Rows
    _band: pd.DataFrame | Rows
    verdict: Verdict
    detector: str

    @property
    def series(self) -> pd.Series:
        if isinstance(self._series, Rows):
            self._series = self._series.series()
        return self._series

    @property
    def band(self) -> pd.DataFrame:
        if isinstance(self._band, Rows):
            self._band = self._band.band()
        return self._band

    @property
    def off_since(self) -> pd.Timestamp | None:
        """The first bucket of the run outside the range that reaches the verdict's bucket (an
        alert's "off since"); None when that bucket is inside."""
        bucket = self.verdict.bucket
        return outside_since(self.series.loc[:bucket], self.band.loc[:bucket])

    @property
    def shift_since(self) -> pd.Timestamp | None:
        """The first bucket of the sustained shift an anomaly's reason names ("the last 8
        intervals taken together"), where it began before `off_since` (or the bucket is
        inside): since when the metric has been off, as its chart shades it. None otherwise."""
        v = self.verdict
        n = shift_buckets(v.reason) if v.status is Status.ANOMALY else None
        index = self.series.index
        if not n or n < 2 or len(index) < 2:
            return None
        start = v.bucket - (n - 1) * (index[1] - index[0])
        since = self.off_since
        return start if since is None or start < since else None

    @property
    def began(self) -> pd.Timestamp | None:
        """Since when the metric has been off: the sustained shift's start, else the run
        outside the range (None for a bucket inside without a shift)."""
        return self.shift_since or self.off_since


class Block:
    """One metric's series and bands from a check: `series_of(row)` builds a series (from
    the table's slices, which the check holds anyway), and the band's columns are matrices
    (series x rows) for the last rows of `index`."""

    def __init__(
        self, index: pd.DatetimeIndex, series_of: Callable[[int], pd.Series], *,
        expected: np.ndarray, lower: np.ndarray, upper: np.ndarray, basis: np.ndarray,
        autocorr: np.ndarray, relative_cap: np.ndarray, first_week: np.ndarray,
    ) -> None:  # fmt: skip
        self.index, self.series_of = index, series_of
        self.expected, self.lower, self.upper, self.basis = expected, lower, upper, basis
        self.autocorr, self.relative_cap, self.first_week = autocorr, relative_cap, first_week

    def series(self, row: int) -> pd.Series:
        return self.series_of(row)

    def band(self, row: int) -> pd.DataFrame:
        """The band on the whole index (NaN before the rows computed), as Detector.band."""
        n, rows = len(self.index), self.expected.shape[1]
        columns: dict[str, object] = {}
        for col in ("expected", "lower", "upper"):
            full = np.full(n, np.nan)
            full[n - rows :] = getattr(self, col)[row]
            columns[col] = full
        basis = np.full(n, None, dtype=object)
        basis[n - rows :] = self.basis[row]
        columns["basis"] = pd.Series(basis, index=self.index, dtype=object)
        for col in ("autocorr", "relative_cap", "first_week"):  # the rule's input, as judged
            full = np.full(n, np.nan)
            full[n - rows :] = getattr(self, col)[row]
            columns[col] = full
        return pd.DataFrame(columns, index=self.index)


@dataclass(frozen=True)
class Rows:
    """Row `row` of a Block: a SeriesResult's series and band, built when first read."""

    block: Block
    row: int

    def series(self) -> pd.Series:
        return self.block.series(self.row)

    def band(self) -> pd.DataFrame:
        return self.block.band(self.row)


@dataclass(frozen=True)
class Late:
    """A table whose newest bucket is missing or still filling: its metrics are not judged."""

    table: str
    bucket: pd.Timestamp  # the newest bucket's start
    latest: datetime | None  # the newest event time seen in the table (None: none recently)
    reason: str


@dataclass
class CheckReport:
    checked_at: datetime
    source: str
    window_end: datetime
    results: list[SeriesResult] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)  # table -> what went wrong
    # table -> the error itself: callers decide by its type (SourceUnavailable: try again
    # later; SourceMisconfigured: the settings must change), never by its text
    failures: dict[str, SourceError] = field(default_factory=dict)
    late: dict[str, Late] = field(default_factory=dict)  # table -> its data is late
    timings: dict[str, float] = field(default_factory=dict)
    rows_read: int = 0

    @property
    def anomalies(self) -> list[SeriesResult]:
        return [r for r in self.results if r.verdict.status is Status.ANOMALY]
