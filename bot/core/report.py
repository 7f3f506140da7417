"""What a check found: per series, the value, its band and the verdict; per table, errors and
late data. Plain values, shared by the check, the plan, the wording and the charts."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import pandas as pd

from detectors import Status, Verdict
from queries.catalogue import Metric
from queries.errors import SourceError
from queries.series import Slice

__all__ = ["CheckReport", "Late", "SeriesResult"]


@dataclass
class SeriesResult:
    metric: Metric
    slice: Slice
    series: pd.Series
    band: pd.DataFrame
    verdict: Verdict
    detector: str


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
