"""What the bot can do, whatever the chat: check, explain a metric, tune, replay.

One Monitor per process. Checks are single-flight: a /check during the scheduled check, or
twenty /metric at once, wait for the one computation of the current bucket and share it.
Charts are rendered once per series and bucket. Commands ask through `report(budget=...)`: a
source that hangs costs them the budget, not the source's own timeouts and retries.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import logging
import time
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any

import pandas as pd

import detectors
from bot.core.check_text import check_charts
from bot.core.report import CheckReport, SeriesResult
from bot.service import levels
from bot.service.answers import Answer, SetResult, SourceNotAnswering
from bot.service.backtesting import data_begins, key_of
from bot.service.chartdesk import ChartDesk
from bot.service.checker import History, run_check, spec_for
from bot.service.overrides import builds, in_force
from bot.settings import Settings
from bot.state import State
from detectors.backtest import Alert, SeriesKey, replay
from queries import seeding
from queries.catalogue import Catalogue, Kind, Metric
from queries.errors import SourceError, SourceMisconfigured
from queries.history import complete_end
from queries.series import Slice
from queries.sources import EmbeddedSource, Source

__all__ = ["Answer", "Monitor", "SetResult", "SourceNotAnswering"]

log = logging.getLogger(__name__)


class Monitor:
    budget = 10.0  # seconds a command waits for a check before answering from the last one

    def __init__(
        self,
        *,
        source: Source,
        catalogue: Catalogue,
        state: State,
        settings: Settings,
        clock: Callable[[], datetime],
    ) -> None:
        self.source = source
        self.catalogue = catalogue
        self.state = state
        self.settings = settings
        self.clock = clock
        self.history = History(source, catalogue, state.history)
        self._lock = asyncio.Lock()
        self._setting = asyncio.Lock()  # one /set at a time
        for line in in_force(state, catalogue, withdraw=True)[1]:  # a catalogue edited since
            log.warning("%s", line)
        self._report: CheckReport | None = None
        self._report_at: datetime | None = None
        self._asked: asyncio.Task[CheckReport] | None = None  # the check commands wait for
        self._version = 0  # bumped by /set and /reset: a cached report is then stale
        self._report_version = -1
        # Charts render once per key, two at a time, off the event loop; see ChartDesk.
        self.desk = ChartDesk(limit=2, keep=64)
        self.warm = False  # draw /check's charts right after each check (the bot sets it)
        self.last_duration: float | None = None  # of the last check that read something
        self.took: float | None = None  # of the last check that returned
        self.last_error: str | None = None  # the source's error in the latest check
        self.failed_at: datetime | None = None  # when the latest check failed (None: it finished)
        self.started_at = clock()

    # -- settings in force -----------------------------------------------------------------
    def overrides(self) -> dict[str, dict[str, object]]:
        return {
            name: {param: o.value for param, o in self.state.overrides.of(name).items()}
            for name in self.catalogue.metrics
        }

    def accepted(self, now: datetime) -> dict[str, datetime]:
        """Metrics whose new level was accepted in the chat, with the bucket it began."""
        return levels.in_force(self.state, self.catalogue, self.spec, now)

    def accepted_changed(self) -> None:
        """A level was accepted or taken back: a cached report is stale."""
        self._version += 1

    def spec(self, metric: Metric) -> dict[str, object]:
        return spec_for(metric, self.overrides()[metric.name])

    # -- checks ----------------------------------------------------------------------------
    async def _prepare(self, now: datetime) -> None:
        if isinstance(self.source, EmbeddedSource):
            if await seeding.read_config(self.source) is None:
                await seeding.seed(self.source, days=28, end=now)
                self.history.forget()  # rows held of a dataset before this one
            else:
                await seeding.extend(self.source, now, history=self.catalogue.history)

    async def check(self, *, fresh: bool = False) -> CheckReport:
        """The check of the current bucket: computed once, shared by everyone who asks."""
        async with self._lock:
            now = self.clock()
            end = complete_end(now, self.catalogue.step, self.settings.data_delay)
            cached = self._report
            if (
                not fresh
                and cached is not None
                and cached.window_end == end
                and self._report_version == self._version
            ):
                return cached
            started = time.perf_counter()
            version = self._version
            try:
                await self._prepare(now)
                report = await run_check(self.history, now, delay=self.settings.data_delay,
                                         late_grace=self.settings.late_data_grace,
                                         overrides=self.overrides(), accepted=self.accepted(now))
            except Exception as exc:  # /status says so: neither "reachable" nor an older error
                self.last_error = str(exc) if isinstance(exc, SourceError) else None
                self.failed_at = self.clock()
                raise
            self.last_error = "; ".join(dict.fromkeys(report.errors.values())) or None  # once
            # Every table failed: a check that read nothing, not one that found nothing. The
            # last one that read something stays the one /status, /check and /metric show.
            self.failed_at = self.clock() if report.errors and not report.results else None
            self.took = time.perf_counter() - started  # this one's, read anything or not
            if self.failed_at is not None:
                return report
            self.last_duration = self.took
            self.state.journal.record_check(now, self.clock(), len(report.results),
                                    len(report.anomalies), report.errors)  # fmt: skip
            self._report, self._report_version = report, version
            self._report_at = self.clock()
            if self.warm and report.anomalies:
                self.warm_charts(report, tuple(dict.fromkeys(
                    [self.settings.language, *self.state.languages.chosen().values()])))
            return report

    @property
    def last_report(self) -> tuple[CheckReport, datetime] | None:
        """The latest finished check and when it finished; no new computation."""
        if self._report is None or self._report_at is None:
            return None
        return self._report, self._report_at

    async def report(self, *, budget: float | None = None) -> Answer:
        """The current check within `budget` seconds, else the last finished one marked stale,
        else SourceNotAnswering. The check goes on in the background either way; every
        command asking meanwhile waits for the same one."""
        wait = self.budget if budget is None else budget
        if self._asked is None or self._asked.done():
            self._asked = asyncio.create_task(self.check(), name="check for a command")
            self._asked.add_done_callback(_retrieve)
        misconfigured = False
        try:
            report = await asyncio.wait_for(asyncio.shield(self._asked), timeout=wait)
        except TimeoutError:
            problem = f"no answer within {wait:.0f} s"
        except SourceError as exc:
            problem, misconfigured = str(exc), isinstance(exc, SourceMisconfigured)
        else:
            if report is self._report or self.last_report is None:  # read, or nothing older
                return Answer(report, self._report_at or self.clock(), stale=False)
            problem = self.last_error or "no data"  # it read nothing: show the last that did
            misconfigured = any(isinstance(f, SourceMisconfigured) for f in
                                report.failures.values())  # fmt: skip
        log.warning("a command answered without a fresh check: %s", problem)
        last = self.last_report
        if last is None:
            raise SourceNotAnswering(self.source.describe(), problem, misconfigured=misconfigured)
        return Answer(last[0], last[1], stale=True, problem=problem, misconfigured=misconfigured)

    async def close(self) -> None:
        """Stop waiting for a check only commands asked for (at shutdown)."""
        task, self._asked = self._asked, None
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        await self.desk.close()

    def find(self, report: CheckReport, metric: str, where: Slice) -> SeriesResult | None:
        for result in report.results:
            if result.metric.name == metric and result.slice == where:
                return result
        return None

    def _chart_key(self, result: SeriesResult, lang: str) -> tuple[Any, ...]:
        return (result.metric.name, result.slice, result.verdict.bucket, self._report_version,
                lang)  # fmt: skip

    async def chart(self, result: SeriesResult, lang: str | None = None) -> bytes:
        """The series' chart in `lang` (default LANGUAGE): rendered once, whoever asks."""
        from bot.service.charts import render_chart  # matplotlib: only when a chart is drawn

        lang = lang or self.settings.language
        return await self.desk.png(self._chart_key(result, lang), render_chart, result.metric,
                                   result.slice, result.series, result.band, result.verdict,
                                   zone=self.settings.zone, lang=lang)  # fmt: skip

    def warm_charts(self, report: CheckReport, langs: tuple[str, ...] = ()) -> None:
        """Start drawing the charts /check shows (check_charts: its red totals, then its worst
        slices) right after the check, so the first person to ask does not wait for them."""
        from bot.service.charts import render_chart

        shown = check_charts(report)
        for lang in dict.fromkeys(langs or (self.settings.language,)):
            for r in shown:
                self.desk.warm(self._chart_key(r, lang), render_chart, r.metric, r.slice,
                               r.series, r.band, r.verdict, zone=self.settings.zone,
                               lang=lang)  # fmt: skip

    async def render(self, draw: Callable[..., bytes], *args: Any,
                     key: tuple[Any, ...] | None = None, **kwargs: Any) -> bytes:  # fmt: skip
        """Any chart, through the desk: one render per `key` (None: not shared), off the loop."""
        return await self.desk.png(key if key is not None else ("once", object()), draw, *args,
                                   **kwargs)  # fmt: skip

    # -- thresholds --------------------------------------------------------------------------
    def params(self, metric: Metric) -> dict[str, detectors.Param]:
        return detectors.params_of(self.spec(metric))

    async def set_param(
        self, metric: Metric, param: str, raw: str, user_id: int | None, days: int = 7
    ) -> SetResult:
        """Validate, replay the last days with the old and the new value, then persist. One at
        a time: two /set sent together are each checked against the settings the other left
        (persist_k 3 and persist_m 2 are fine alone, refused together)."""
        async with self._setting:
            params = self.params(metric)
            if param not in params:
                raise ValueError(
                    f"{metric.name} has no parameter {param!r}; parameters: {', '.join(params)}"
                )
            value = params[param].check(metric.name, param, raw)
            before = self.spec(metric)
            was = before.get(param, params[param].default)
            if was == value:  # set by a /set just before this one: nothing to replay or record
                return SetResult(metric.name, param, was, value, 0, 0, days)
            after = {**before, param: value}
            builds(after)  # combinations (e.g. min_history <= days) are checked here
            (old, new), span = await self.replay_counts(metric, [before, after], days)
            builds({**self.spec(metric), param: value})  # again: a /reset while it replayed
            self.state.overrides.set(metric.name, param, value, user_id, self.clock())
            self._version += 1
            levels.settle(self.state, metric, before, self.spec(metric), self.clock())
            return SetResult(metric.name, param, was, value, old, new, days, span)

    def reset(self, metric: Metric) -> int:
        before = self.spec(metric)
        removed = self.state.overrides.reset(metric.name)
        self._version += 1
        levels.settle(self.state, metric, before, self.spec(metric), self.clock())
        return removed

    # -- replays -----------------------------------------------------------------------------
    async def series_of(
        self, metric: Metric
    ) -> tuple[dict[SeriesKey, pd.Series], dict[SeriesKey, pd.Series]]:
        """Every slice of the metric over the history the current check holds (28 days), and
        the ratio weights. No query of its own: the check has just fetched what is new (or,
        when the source hangs, the last check did)."""
        report = (await self.report()).report
        table = self.catalogue.tables[metric.table]
        held = await self.history.held_slices(table)
        if held is None:
            failed = report.failures.get(table.name)  # a copy: no traceback piling up on it
            raise copy.copy(failed) if failed else SourceError(
                report.errors.get(table.name, f"no history of {table.name} yet"))  # fmt: skip
        sliced = held[0]
        series, weights = {}, {}
        for where in sliced.slices(metric):
            key = key_of(metric, where)
            series[key] = sliced.series(metric, where)
            if metric.kind is Kind.RATIO:
                weights[key] = sliced.weight(metric, where)
        return series, weights

    async def replay(
        self, metric: Metric, spec: Mapping[str, object], days: int
    ) -> tuple[dict[SeriesKey, list[Alert]], dict[SeriesKey, pd.Series], datetime | None]:
        """`spec`'s alerts over the last `days` held, the series, the first bucket replayed."""
        series, weights = await self.series_of(metric)
        end = next(iter(series.values())).index[-1] + self.catalogue.step
        start = end - timedelta(days=days)

        def run() -> dict[SeriesKey, list[Alert]]:
            return replay(series, detectors.build(spec), detectors.build_rule(spec),
                          start=start, end=end, weights=weights)  # fmt: skip

        return await asyncio.to_thread(run), series, data_begins(series.values(), start)

    async def replay_counts(
        self, metric: Metric, specs: list[dict[str, object]], days: int
    ) -> tuple[list[int], tuple[datetime, datetime] | None]:
        counts, span = [], None
        for spec in specs:
            alerts, series, begins = await self.replay(metric, spec, days)
            counts.append(sum(len(a) for a in alerts.values()))
            end = next(iter(series.values())).index[-1] + self.catalogue.step
            span = None if begins is None else (begins, end.to_pydatetime())
        return counts, span


def _retrieve(task: asyncio.Task[CheckReport]) -> None:
    """A check nobody waits for any more may still fail: read its error so none is lost."""
    if not task.cancelled() and task.exception() is not None:
        log.warning("a check asked for by a command failed: %s", task.exception())
