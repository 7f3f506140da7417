"""One check cycle: history (incremental) -> series -> detector bands -> verdicts.

I/O (queries, the state file) happens here; the numeric work runs in a worker thread so the
bot's event loop stays responsive. One failing table never stops the others.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial

import pandas as pd

import detectors
from bot.store import Store, query_key
from detectors import Status, Verdict
from queries.catalogue import Catalogue, Kind, Metric, Table
from queries.errors import SourceError
from queries.history import Window, merge, plan
from queries.series import (
    Slice,
    bucket_index,
    build_series,
    slices_of,
    split_slices,
    weight_series,
)
from queries.sources import Source

__all__ = ["CheckReport", "History", "SeriesResult", "run_check"]

log = logging.getLogger(__name__)


# A check needs the band of the last day (chart, verdict and the rule's windows), not 28 days.
BAND_ROWS = 96 + 16


@dataclass
class SeriesResult:
    metric: Metric
    slice: Slice
    series: pd.Series
    band: pd.DataFrame
    verdict: Verdict
    detector: str


@dataclass
class CheckReport:
    checked_at: datetime
    source: str
    window_end: datetime
    results: list[SeriesResult] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)  # table -> what went wrong
    timings: dict[str, float] = field(default_factory=dict)
    rows_read: int = 0

    @property
    def anomalies(self) -> list[SeriesResult]:
        return [r for r in self.results if r.verdict.status is Status.ANOMALY]


class History:
    """Aggregated rows per table, held in memory and in the state file, fetched incrementally."""

    def __init__(self, source: Source, catalogue: Catalogue, store: Store | None) -> None:
        self.source = source
        self.catalogue = catalogue
        self.store = store
        self._held: dict[str, tuple[pd.DataFrame, datetime, datetime]] = {}

    def _key(self, table: Table) -> str:
        return query_key(table.name, table.sql, table.columns)

    def _held_for(self, table: Table) -> tuple[pd.DataFrame, datetime, datetime] | None:
        if table.name not in self._held and self.store is not None:
            loaded = self.store.load_history(self.source.key, self._key(table), table.columns)
            if loaded is not None:
                self._held[table.name] = loaded
        return self._held.get(table.name)

    def held(self, table: Table) -> tuple[pd.DataFrame, datetime, datetime] | None:
        """The rows held for a table after the last check, with the window they cover."""
        return self._held_for(table)

    async def frame(
        self, table: Table, now: datetime, delay: timedelta
    ) -> tuple[pd.DataFrame, Window, int]:
        """Rows for the window ending at the last complete bucket; also the rows fetched now."""
        held = self._held_for(table)
        window = plan(
            now,
            step=self.catalogue.step,
            delay=delay,
            history=self.catalogue.history,
            held_from=held[1] if held else None,
            held_until=held[2] if held else None,
        )
        fresh = await self.source.fetch(table, window.fetch_start, window.end)
        frame = merge(held[0] if held else None, fresh, window)
        # A check "as of" an earlier time must not overwrite newer held history.
        if held is None or window.end >= held[2]:
            self._held[table.name] = (frame, window.start, window.end)
            if self.store is not None:
                await asyncio.to_thread(
                    self.store.save_history,
                    self.source.key,
                    self._key(table),
                    fresh,
                    table.columns,
                    held_from=window.start,
                    replace_from=window.fetch_start,
                    held_until=window.end,
                )
        return frame, window, len(fresh)


def spec_for(metric: Metric, overrides: Mapping[str, object] | None = None) -> dict[str, object]:
    """The metric's full spec: overrides (from /set) over its catalogue entry over the
    defaults, with what the catalogue knows filled in (counts are counts; the direction)."""
    spec: dict[str, object] = {
        **detectors.DEFAULT_SPEC,
        **(metric.detector or {}),
        **(overrides or {}),
    }
    method = detectors.METHODS.get(str(spec["method"]))
    if method is not None and "counts" in getattr(method, "PARAMS", {}) and "counts" not in spec:
        spec["counts"] = "no" if metric.kind is Kind.RATIO else "yes"
    spec.setdefault("direction", metric.direction.value)
    return spec


def detect(
    frame: pd.DataFrame,
    window: Window,
    table: Table,
    metrics: Iterable[Metric],
    step: timedelta,
    *,
    overrides: Mapping[str, Mapping[str, object]] | None = None,
) -> list[SeriesResult]:
    """Bands and verdicts for every metric and slice of one table. CPU only."""
    index = bucket_index(window.start, window.end, step)
    parts = split_slices(frame, index)
    results = []
    for metric in metrics:
        spec = spec_for(metric, (overrides or {}).get(metric.name))
        detector = detectors.build(spec)
        rule = detectors.build_rule(spec)
        for where in slices_of(frame, table, metric):
            series = build_series(parts, metric, where, index)
            weight = (
                weight_series(parts, metric, where, index) if metric.kind is Kind.RATIO else None
            )
            band = detector.band(series, last=BAND_ROWS, weight=weight)
            verdict = rule.verdict(series, band)
            results.append(SeriesResult(metric, where, series, band, verdict, detector.describe()))
    return results


async def run_check(
    history: History,
    now: datetime,
    *,
    delay: timedelta,
    metrics: Sequence[str] | None = None,
    overrides: Mapping[str, Mapping[str, object]] | None = None,
) -> CheckReport:
    """Check every metric (or the named ones) and all their slices as of `now`."""
    catalogue = history.catalogue
    wanted = [catalogue.metric(m) for m in metrics] if metrics else list(catalogue.metrics.values())
    report = CheckReport(checked_at=now, source=history.source.kind, window_end=now)
    query_s = detect_s = 0.0
    for table in catalogue.tables.values():
        table_metrics = [m for m in wanted if m.table == table.name]
        if not table_metrics:
            continue
        started = time.perf_counter()
        try:
            frame, window, rows = await history.frame(table, now, delay)
        except SourceError as exc:
            log.warning("table %s: %s", table.name, exc)
            report.errors[table.name] = str(exc)
            continue
        finally:
            query_s += time.perf_counter() - started
        report.rows_read += rows
        report.window_end = window.end
        started = time.perf_counter()
        report.results.extend(
            await asyncio.to_thread(
                partial(detect, overrides=overrides),
                frame,
                window,
                table,
                table_metrics,
                catalogue.step,
            )
        )
        detect_s += time.perf_counter() - started
    order = {name: i for i, name in enumerate(catalogue.metrics)}
    report.results.sort(key=lambda r: order[r.metric.name])  # stable: slices keep their rank
    report.timings = {"query": query_s, "detect": detect_s}
    return report
