"""What the commands share: the source the settings name, the catalogue checked the way the
commands and the bot need it, times and metric names from flags (with the hint a user needs),
progress on stderr, chart files, the check's table, and the embedded demo made ready on first
use. Heavy libraries (pandas, matplotlib, chdb) are imported where a command needs them, so
`alertbot --help` pays for none of them."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Collection, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from bot.core.files import chart_file_name

if TYPE_CHECKING:
    from bot.core.report import CheckReport
    from bot.service import backtesting
    from bot.settings import Settings
    from queries.catalogue import Catalogue
    from queries.sources import Source

__all__ = ["Progress", "UsageError", "before_the_data", "charts_folder", "count_series",
           "forget_history", "history_for", "load_checked", "make_source", "metric_name",
           "past_the_data", "prepare_demo", "spec_keys", "write_charts"]  # fmt: skip


class UsageError(Exception):
    """Bad arguments or configuration: exit code 2 with this message."""


def spec_keys(spec: Mapping[str, Any]) -> Collection[str]:
    """The keys a catalogue detector spec may hold: its method's parameters and the rule's."""
    import detectors

    return {"method", *detectors.params_of(spec)}


def load_checked(path: Path | None) -> Catalogue:
    """The catalogue at `path` (None: the bundled one), every key and every metric's detector
    and rule checked as the check will build them: a mistake is a CatalogueError naming the
    file, the metric and the key, at start-up rather than at the first check."""
    import detectors
    from bot.service.checker import spec_for
    from queries.catalogue import CatalogueError, load_catalogue

    try:
        catalogue = load_catalogue(path, spec_keys=spec_keys)
    except CatalogueError as exc:
        if path is None or Path(path).is_file():
            raise
        raise CatalogueError(f"{exc}; set CATALOGUE_PATH to your catalogue.toml, or unset it for "
                             "the bundled catalogue") from None  # no file there: a path mistyped
    for metric in catalogue.metrics.values():
        try:
            spec = spec_for(metric)
            detectors.build(spec)
            detectors.build_rule(spec)
        except ValueError as exc:
            where = path or "the bundled catalogue"
            raise CatalogueError(f'{where}: metric "{metric.name}": detector: {exc}') from None
    return catalogue


def make_source(settings: Settings) -> Source:
    from queries.sources import ClickHouseSource, EmbeddedSource

    if settings.clickhouse_url:
        return ClickHouseSource(
            settings.clickhouse_url,
            user=settings.clickhouse_user,
            password=settings.clickhouse_password.get_secret_value(),
            database=settings.clickhouse_database,
            timeout=settings.clickhouse_timeout,
        )
    return EmbeddedSource(settings.embedded_path, database=settings.clickhouse_database)


def metric_name(name: str, catalogue: Catalogue) -> str:
    """The catalogue's name of metric `name` (Catalogue.find: in any case, or a one-word
    title, as the chat takes it); a UsageError naming the closest one where there is none."""
    found, close = catalogue.find(name, titles=True)
    if found is not None:
        return found.name
    hint = f" Did you mean {close}?" if close else ""
    raise UsageError(f"unknown metric {name!r}.{hint} Known metrics: "
                     f"{', '.join(catalogue.metrics)}")  # fmt: skip


class Progress:
    """Seeding progress on stderr: one updating line on a terminal, a line per 10% otherwise."""

    def __init__(self, what: str) -> None:
        self.what = what
        self.tty = sys.stderr.isatty()
        self.last = -1
        self.started = time.perf_counter()

    def __call__(self, done: float, rows: int) -> None:
        step = int(done * 10)
        if self.tty:
            print(f"\r{self.what}: {done:5.1%}  {rows:,} rows", end="", file=sys.stderr, flush=True)
        elif step != self.last:
            print(f"{self.what}: {done:.0%} ({rows:,} rows)", file=sys.stderr, flush=True)
        self.last = step

    def finish(self, rows: int) -> None:
        took = time.perf_counter() - self.started
        if self.tty:
            print(file=sys.stderr)
        print(f"{self.what}: done, {rows:,} rows in {took:.1f} s", file=sys.stderr, flush=True)


async def prepare_demo(
    source: Source, catalogue: Catalogue, now: datetime, state_path: Path | None = None
) -> None:
    """The embedded demo is created on first use (or again, where a first run was cut short)
    and kept live up to `now`; a new dataset drops the rows the state file at `state_path`
    held of the one before."""
    from queries import seeding

    if await seeding.read_config(source) is None:
        days = int(catalogue.history / timedelta(days=1))
        progress = Progress(f"first run: generating {days} days of demo data")
        _, _, rows = await seeding.seed(source, days=days, end=now, progress=progress)
        progress.finish(rows)
        if state_path is not None:
            forget_history(state_path, source)
    else:
        await seeding.extend(source, now, history=catalogue.history)


def forget_history(state_path: Path, source: Source) -> None:
    """Drop the rows the state file holds of `source`'s data: it was generated anew. A state
    file that cannot be opened holds nothing to drop here; the bot says why when it starts."""
    from bot.state import State

    if not Path(state_path).exists():
        return  # nothing cached; and no state file made where none was
    state = None
    try:
        state = State(state_path)
        if state.problem is None:
            state.history.forget(source.key)
    except Exception as exc:  # reported; the new data is there all the same
        print(f"warning: the state file {state_path} could not drop its cached rows of the old "
              f"data ({type(exc).__name__}: {exc}); delete it if checks show old data",
              file=sys.stderr)  # fmt: skip
    finally:
        if state is not None:
            state.close()


def write_charts(
    report: CheckReport, folder: Path, zone: ZoneInfo, lang: str = "en"
) -> list[Path]:
    from bot.service.charts import render_chart  # matplotlib: only when charts are drawn

    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for result in report.anomalies:
        png = render_chart(
            result.metric, result.slice, result.series, result.band, result.verdict, zone=zone,
            lang=lang,
        )
        path = folder / chart_file_name(result.metric.name, result.slice.label())
        path.write_bytes(png)
        written.append(path)
    return written


def past_the_data(report: CheckReport, wall: datetime, zone: ZoneInfo) -> CheckReport:
    """A check as of a time after now (--at in the future): a bucket with no value there is
    not judged ("no data" would be a false alarm): it is unknown, after the data's end (in
    `zone`, as the table's times)."""
    from dataclasses import replace

    from bot.core.wording import zoned
    from detectors import Status

    for n, result in enumerate(report.results):
        if result.verdict.value is not None or result.verdict.bucket.to_pydatetime() < wall:
            continue
        values = result.series.dropna()
        index = result.series.index
        read = (index[-1] - index[0] + (index[1] - index[0])) if len(index) > 1 else None
        # An empty window says nothing of where the data ends: only that it ends before it.
        within = f" in the {read.days} days read before it" if read is not None else ""
        end = (f"there is none{within}" if values.empty
               else f"it ends {zoned(values.index[-1], zone)}")  # fmt: skip
        why = f"after the data's end ({end}, and --at is in the future)"
        verdict = replace(result.verdict, status=Status.UNKNOWN, score=None, reason=why)
        report.results[n] = replace(result, verdict=verdict)
    return report


async def before_the_data(report: CheckReport, source: Source, catalogue: Catalogue,
                          zone: ZoneInfo | None = None) -> CheckReport:  # fmt: skip
    """A check as of a time before a table's first event (--at too early): its buckets are not
    "no data" but unknown, before the data's start, which the reason dates (in `zone`)."""
    import re
    from dataclasses import replace

    from bot.core.wording import zoned
    from queries.errors import SourceError, SourceSilent

    if any(isinstance(e, SourceSilent) for e in report.failures.values()):
        return report  # a server that stopped answering is not asked again for a footnote
    firsts: dict[str, datetime | None] = {}
    for n, result in enumerate(report.results):
        if result.verdict.value is not None or not result.series.dropna().empty:
            continue
        table = catalogue.tables[result.metric.table]
        if table.name not in firsts:
            firsts[table.name] = None
            names = (table.name, table.time_column)
            if all(re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name) for name in names):
                try:
                    frame = await source.query(f"SELECT count() AS n, toUInt32(min("
                                               f"{table.time_column})) AS first FROM {table.name}")
                except SourceError:
                    frame = None
                if frame is not None and not frame.empty and int(frame["n"].iloc[0]):
                    firsts[table.name] = datetime.fromtimestamp(int(frame["first"].iloc[0]), UTC)
        first = firsts[table.name]
        if first is None or result.verdict.bucket.to_pydatetime() >= first:
            continue
        why = f"before the data's start (data begins {zoned(first, zone)})"
        verdict = replace(result.verdict, reason=why)
        report.results[n] = replace(result, verdict=verdict)
    return report


async def count_series(source: Source, catalogue: Catalogue, now: datetime) -> dict[str, int]:
    """Per metric, the series a check covers: the total and each slice value (top N where the
    table limits a dim), counted over the check's window as the check counts them."""
    from queries.series import slices_of

    step = catalogue.step
    seconds = step.total_seconds()
    now = datetime.fromtimestamp(now.timestamp() // seconds * seconds, UTC)
    counts: dict[str, int] = {}
    for table in catalogue.tables.values():
        metrics = catalogue.metrics_of(table.name)
        if metrics:
            frame = await source.fetch(table, now - catalogue.history, now)
            counts.update({m.name: len(slices_of(frame, table, m)) for m in metrics})
    return counts


async def history_for(
    args: argparse.Namespace, settings: Settings
) -> tuple[Source, Catalogue, backtesting.Collected, list[backtesting.Label] | None]:
    """For backtest and tune: the source (open: the caller closes it), the checked catalogue,
    the history of the --days asked for, and the labels (--labels, or the demo's own)."""
    import asyncio

    from bot.service import backtesting
    from bot.service.labels import labels_from_file, labels_from_source, unknown_in
    from queries.sources import EmbeddedSource

    catalogue = load_checked(settings.catalogue_path)
    metric = getattr(args, "metric", None)
    if metric is not None:
        metric = args.metric = metric_name(metric, catalogue)
    if not 1 <= args.days <= 90:
        raise UsageError(f"--days must be between 1 and 90, got {args.days}")
    labels_path = getattr(args, "labels", None)
    labels: list[backtesting.Label] | None = None
    if labels_path:  # read before the history: a mistake in it should not wait for a fetch
        if not await asyncio.to_thread(Path(labels_path).is_file):
            raise UsageError(f"--labels {labels_path!r}: no such file")
        try:
            labels = labels_from_file(Path(labels_path))
        except (ValueError, KeyError, TypeError) as exc:
            raise UsageError(f"--labels {labels_path!r} is not a labels file ({exc})") from None
        unknown = unknown_in(labels, catalogue)
        if unknown:
            raise UsageError(f"--labels {labels_path!r}: {unknown}")
    now = datetime.now(UTC)
    source = make_source(settings)
    if isinstance(source, EmbeddedSource):
        await prepare_demo(source, catalogue, now, settings.state_path)
    try:
        collected = await backtesting.collect(
            source, catalogue, now=now, days=args.days, delay=settings.data_delay,
            metrics=[metric] if metric else None,
        )  # fmt: skip
        if not labels_path:
            labels = await labels_from_source(source, now)
    except BaseException:
        await source.close()
        raise
    return source, catalogue, collected, labels


def charts_folder(name: str) -> Path:
    """The --charts folder, created when missing; UsageError when it is a file or cannot be."""
    folder = Path(name)
    if folder.exists() and not folder.is_dir():
        raise UsageError(f"--charts {name}: not a directory")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"--charts {name}: cannot create the directory ({exc.strerror})"
                         ) from None  # fmt: skip
    return folder
