"""One check cycle: history (incremental) -> series -> detector bands -> verdicts.

I/O (queries, the state file) happens here; the numeric work runs in a worker thread so the
bot's event loop stays responsive. One failing table never stops the others, but a server
that gave no answer at all is not asked again in the same check (run_check); one metric the
check fails on is unknown, saying why, and never stops the others (detect).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import datetime, timedelta
from functools import partial

import numpy as np
import pandas as pd

import detectors
from bot.core.report import CheckReport, Late, SeriesResult, not_judged
from bot.service.engines import (
    Engines,
    Follow,
    accepts,
    band_rows,
    engines_of,
    following,
)
from bot.service.history import History
from bot.service.lateness import late_data
from detectors import Status
from queries.catalogue import Kind, Metric, Table
from queries.errors import SourceError, SourceSilent
from queries.history import Window
from queries.series import Slice, TableSlices, bucket_index

__all__ = ["CheckReport", "History", "Late", "SeriesResult", "late_data", "run_check"]

log = logging.getLogger(__name__)

ENGINE_THREADS = 2  # metrics judged at once through their engines (the machine's cores)


def spec_for(metric: Metric, overrides: Mapping[str, object] | None = None) -> dict[str, object]:
    """The metric's full spec: overrides (from /set) over its catalogue entry over the
    defaults, with what the catalogue knows filled in (counts are counts; the direction)."""
    spec: dict[str, object] = {
        **detectors.DEFAULT_SPEC,
        **(metric.detector or {}),
        **(overrides or {}),
    }
    # Counts are counts for the detector's floor and for the rule's "no data" alike, whatever
    # the method (a method without that floor leaves it to the rule).
    if str(spec["method"]) in detectors.METHODS and "counts" not in spec:
        spec["counts"] = "no" if metric.kind is Kind.RATIO else "yes"
    spec.setdefault("direction", metric.direction.value)
    return spec


def _settings(
    metric: Metric, overrides: Mapping[str, Mapping[str, object]] | None,
    accepted: Mapping[str, datetime] | None, index: pd.DatetimeIndex, step: timedelta,
) -> tuple[Mapping[str, object], detectors.Detector, detectors.Rule, Follow | None]:  # fmt: skip
    """The metric's spec, detector and rule in force, and how its bands follow a level
    accepted in the chat (None if none is)."""
    spec = spec_for(metric, (overrides or {}).get(metric.name))
    detector, rule = detectors.build(spec), detectors.build_rule(spec)
    since = (accepted or {}).get(metric.name)
    if since is None or not accepts(detector):
        return spec, detector, rule, None
    follow, changes = following(detector, index, since, step)
    spec = {**spec, **changes}
    return spec, detectors.build(spec), rule, follow


def _one_by_one(
    metric: Metric, wheres: list[Slice], sliced: TableSlices, detector: detectors.Detector,
    rule: detectors.Rule, *, follow: Follow | None,
) -> tuple[list[SeriesResult], float, float]:  # fmt: skip
    """The metric judged series by series (the reference path); with the seconds spent
    building its series and judging them."""
    clock = time.perf_counter
    out, building, judging = [], 0.0, 0.0
    for where in wheres:
        started = clock()
        series = sliced.series(metric, where)
        weight = sliced.weight(metric, where) if metric.kind is Kind.RATIO else None
        built = clock()
        band = detector.band(series, last=band_rows(rule, series.index), weight=weight)
        if follow is not None:
            band = follow.band(series, band)
        band, verdict = detectors.shown(series, band, rule.verdict(series, band),
                                        ratio=metric.percent)  # fmt: skip
        out.append(SeriesResult(metric, where, series, band, verdict, detector.describe()))
        building, judging = building + built - started, judging + clock() - built
    return out, building, judging


def _unjudged(metric: Metric, sliced: TableSlices, exc: BaseException) -> list[SeriesResult]:
    """A metric the check failed on (a bug, or settings past every check): each of its series
    unknown, saying why, while the others are judged. Logged as an ERROR with its traceback."""
    log.error("metric %s not judged: the check failed on it (%s)", metric.name,
              type(exc).__name__, exc_info=exc)  # fmt: skip
    reason = not_judged(exc)
    try:
        out = []
        for where in sliced.slices(metric):
            series = sliced.series(metric, where)
            band = pd.DataFrame(np.nan, index=series.index, columns=["expected", "lower", "upper"])
            value = float(series.iloc[-1]) if len(series) else float("nan")
            verdict = detectors.Verdict(Status.UNKNOWN, series.index[-1] if len(series) else
                                        sliced.index[-1], value if np.isfinite(value) else None,
                                        None, None, None, None, reason)  # fmt: skip
            out.append(SeriesResult(metric, where, series, band, verdict, "not judged"))
        return out
    except Exception:  # its series cannot even be built: none shown, the log has it
        log.exception("metric %s: its series cannot be built either", metric.name)
        return []


NO_DATA = "no data for this bucket"


def _undefined(result: SeriesResult, sliced: TableSlices, empty: str | None) -> SeriesResult:
    """A ratio whose denominator was 0 in a bucket its slice had rows in is undefined, not
    'no data'; `empty`: what a table with no row in the window says (wrong table, dead feed)."""
    verdict, metric = result.verdict, result.metric
    if not verdict.reason.startswith(NO_DATA):
        return result
    said = empty or f"undefined: its denominator ({metric.denominator}) was 0 in this bucket"
    if empty is None and (metric.kind is not Kind.RATIO
                          or sliced.weight(metric, result.slice).get(verdict.bucket) != 0):
        return result  # no rows at all in the table's bucket: no data indeed
    return replace(result, verdict=replace(verdict, reason=said + verdict.reason[len(NO_DATA):]))


def _guarded(metric: Metric, sliced: TableSlices, engines: Engines, table: Table,
            judge: Callable[[], list[SeriesResult]]) -> list[SeriesResult]:  # fmt: skip
    """`judge()` (the engines' judgement of one metric), or the metric unjudged if it fails;
    its engine is dropped then, whatever state the failure left it in."""
    try:
        return judge()
    except Exception as exc:
        engines.discard(table, metric)
        return _unjudged(metric, sliced, exc)


def detect(
    frame: pd.DataFrame,
    window: Window,
    table: Table,
    metrics: Iterable[Metric],
    step: timedelta,
    *,
    overrides: Mapping[str, Mapping[str, object]] | None = None,
    sliced: TableSlices | None = None,
    timings: dict[str, float] | None = None,
    engines: Engines | None = None,
    accepted: Mapping[str, datetime] | None = None,
) -> list[SeriesResult]:
    """Bands and verdicts for every metric and slice of one table. CPU only.

    `sliced` is the table's slices of `frame` when already built (History.sliced); `timings`
    gets the seconds spent building series ("series") and judging them ("detect") added.
    With `engines` (kept by the caller from check to check) a seasonal metric's slices are
    judged together as matrices, computing only what is new since the last check; without,
    series by series (the reference the matrix path is compared with). `accepted` names the
    metrics whose new level was accepted in the chat, with the time it began: their bands
    follow it (detectors.accept)."""
    clock = time.perf_counter
    started = clock()
    if sliced is None:
        sliced = TableSlices(frame, table, bucket_index(window.start, window.end, step))
    building = clock() - started
    judging = 0.0
    # Where this check's fetch began: the engines compare re-sent buckets only so far back.
    fetched_from = int(sliced.index.searchsorted(pd.Timestamp(window.fetch_start)))
    per_metric: list[list[SeriesResult]] = []
    jobs: list[tuple[int, Callable[[], list[SeriesResult]]]] = []
    for metric in metrics:
        per_metric.append([])
        try:
            spec, detector, rule, follow = _settings(metric, overrides, accepted, sliced.index,
                                                     step)  # fmt: skip
            wheres = sliced.slices(metric)
            if engines is not None and engines.fits(detector, sliced.index):
                started = clock()
                values, weights = sliced.matrix(metric, wheres)
                building += clock() - started
                judge = partial(engines.judge, table, metric, spec=spec, detector=detector,
                                rule=rule, index=sliced.index, values=values, weights=weights,
                                wheres=wheres, series_of=partial(sliced.series, metric),
                                fetched_from=fetched_from, follow=follow)  # fmt: skip
                jobs.append((len(per_metric) - 1,
                             partial(_guarded, metric, sliced, engines, table, judge)))
                continue
            per_metric[-1], built, judged = _one_by_one(metric, wheres, sliced, detector, rule,
                                                        follow=follow)  # fmt: skip
            building, judging = building + built, judging + judged
        except Exception as exc:  # a bug, or settings that got past every check: this metric only
            per_metric[-1] = _unjudged(metric, sliced, exc)
    started = clock()
    if len(jobs) > 1:
        # Metrics' engines are independent and numpy's sorts release the GIL: a cold check's
        # batches use both cores.
        with ThreadPoolExecutor(max_workers=ENGINE_THREADS) as pool:
            for (at, _), found in zip(jobs, pool.map(lambda job: job[1](), jobs), strict=True):
                per_metric[at] = found
    else:
        for at, job in jobs:
            per_metric[at] = job()
    judging += clock() - started
    days = round((window.end - window.start) / timedelta(days=1))  # no row in all the window:
    empty = None if sliced.present.any() else (f"{table.name}: no rows in {days} day"
        f"{'s' * (days != 1)} (is it being filled, and is it the right database?)")  # fmt: skip
    results = [_undefined(r, sliced, empty) for found in per_metric for r in found]
    if timings is not None:
        timings["series"] = timings.get("series", 0.0) + building
        timings["detect"] = timings.get("detect", 0.0) + judging
    return results


async def _lateness(
    history: History, table: Table, frame: pd.DataFrame, window: Window, *, now: datetime,
    grace: timedelta,
) -> Late | None:  # fmt: skip
    step = history.catalogue.step
    try:
        fresh = await history.source.freshness(
            table, window.end - step, window.end, window.end - grace - step
        )
    except SourceError as exc:  # freshness is a refinement: the check goes on without it
        log.warning("table %s: cannot tell how fresh it is: %s", table.name, exc)
        if isinstance(exc, SourceSilent):
            raise  # ... but asks that server nothing more (run_check)
        return None
    return late_data(table, frame, window, step, fresh, now=now, grace=grace)


def _not_judged(result: SeriesResult, late: Late) -> SeriesResult:
    verdict = replace(result.verdict, status=Status.UNKNOWN, reason=late.reason)
    return replace(result, verdict=verdict)


async def run_check(
    history: History,
    now: datetime,
    *,
    delay: timedelta,
    metrics: Sequence[str] | None = None,
    overrides: Mapping[str, Mapping[str, object]] | None = None,
    late_grace: timedelta = timedelta(minutes=45),
    accepted: Mapping[str, datetime] | None = None,
) -> CheckReport:
    """Check every metric (or the named ones) and all their slices as of `now`.

    A table whose newest bucket would alert but is late (see late_data) is reported in
    `late`, and its verdicts are UNKNOWN: a bucket that is still filling is not a drop. Once a
    query got no answer after all its tries (SourceSilent), the tables after it are not asked:
    a server that hangs costs one table's retries, not that many per table."""
    catalogue = history.catalogue
    wanted = [catalogue.metric(m) for m in metrics] if metrics else list(catalogue.metrics.values())
    report = CheckReport(checked_at=now, source=history.source.kind, window_end=now)
    query_s = 0.0
    cache_before = history.cache_s
    spent: dict[str, float] = {"series": 0.0, "detect": 0.0}
    silent: str | None = None  # the table whose query got no answer
    for table in catalogue.tables.values():
        table_metrics = [m for m in wanted if m.table == table.name]
        if not table_metrics:
            continue
        started = time.perf_counter()
        try:
            if silent is not None:
                raise SourceSilent(f"not asked after a query for {silent} got no answer")
            frame, window, rows = await history.frame(table, now, delay)
        except SourceError as exc:
            log.warning("table %s: %s", table.name, exc)
            report.errors[table.name] = str(exc)
            report.failures[table.name] = exc
            if silent is None and isinstance(exc, SourceSilent):
                silent = table.name
            continue
        finally:
            query_s += time.perf_counter() - started
        report.rows_read += rows
        report.window_end = window.end
        started = time.perf_counter()
        sliced = await asyncio.to_thread(history.sliced, table, frame, window)
        spent["series"] += time.perf_counter() - started
        results = await asyncio.to_thread(
            partial(detect, overrides=overrides, sliced=sliced, timings=spent,
                    engines=engines_of(history), accepted=accepted),
            frame,
            window,
            table,
            table_metrics,
            catalogue.step,
        )
        # Only a bucket that would alert needs to prove it is complete: one more query then.
        if any(r.verdict.status is Status.ANOMALY for r in results):
            started = time.perf_counter()
            try:
                late = await _lateness(history, table, frame, window, now=now, grace=late_grace)
            except SourceSilent:
                late, silent = None, table.name
            query_s += time.perf_counter() - started
            if late is not None:
                report.late[table.name] = late
                results = [_not_judged(r, late) for r in results]
        report.results.extend(results)
    order = {name: i for i, name in enumerate(catalogue.metrics)}
    report.results.sort(key=lambda r: order[r.metric.name])  # stable: slices keep their rank
    cache_s = history.cache_s - cache_before
    report.timings = {"query": query_s - cache_s, "cache": cache_s, **spent}
    return report
