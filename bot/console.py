"""What the commands share: the source the settings name, times and metric names from flags
(with the hint a user needs), progress on stderr, chart files, and the embedded demo made
ready on first use."""

from __future__ import annotations

import difflib
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from bot.core.report import CheckReport
from bot.service.charts import render_chart
from bot.settings import Settings
from queries import seeding
from queries.catalogue import Catalogue
from queries.sources import ClickHouseSource, EmbeddedSource, Source

__all__ = ["Progress", "UsageError", "make_source", "parse_time", "prepare_demo",
           "unknown_metric", "write_charts"]  # fmt: skip


class UsageError(Exception):
    """Bad arguments or configuration: exit code 2 with this message."""


def make_source(settings: Settings) -> Source:
    if settings.clickhouse_url:
        return ClickHouseSource(
            settings.clickhouse_url,
            user=settings.clickhouse_user,
            password=settings.clickhouse_password.get_secret_value(),
            database=settings.clickhouse_database,
            timeout=settings.clickhouse_timeout,
        )
    return EmbeddedSource(settings.embedded_path, database=settings.clickhouse_database)


def unknown_metric(name: str, catalogue: Catalogue) -> str:
    close = difflib.get_close_matches(name.lower(), list(catalogue.metrics), n=1, cutoff=0.5)
    hint = f" Did you mean {close[0]}?" if close else ""
    return f"unknown metric {name!r}.{hint} Known metrics: {', '.join(catalogue.metrics)}"


def parse_time(text: str, zone: ZoneInfo, flag: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise UsageError(
            f"{flag} {text!r} is not an ISO 8601 time: expected e.g. 2026-11-27T12:00 "
            "or 2026-11-27T12:00+03:00"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=zone)  # a wall-clock time is read in TIMEZONE
    return moment.astimezone(UTC)


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


async def prepare_demo(source: Source, catalogue: Catalogue, now: datetime) -> None:
    """The embedded demo is created on first use and kept live up to `now`."""
    if await seeding.read_config(source) is None:
        days = int(catalogue.history / timedelta(days=1))
        progress = Progress(f"first run: generating {days} days of demo data")
        _, _, rows = await seeding.seed(source, days=days, end=now, progress=progress)
        progress.finish(rows)
    else:
        await seeding.extend(source, now, history=catalogue.history)


def write_charts(report: CheckReport, folder: Path, zone: ZoneInfo) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for result in report.anomalies:
        png = render_chart(
            result.metric, result.slice, result.series, result.band, result.verdict, zone=zone
        )
        label = result.slice.label().replace("=", "_").replace("/", "_").replace(" ", "_")
        path = folder / f"{result.metric.name}__{label}.png"
        path.write_bytes(png)
        written.append(path)
    return written
