"""Time a full `check` over the demo on the embedded source: cold, then steady state.

    python benchmarks/check_cycle.py [--days 28] [--path DIR]

Cold = the first check of a process with an empty history cache (the whole window is
aggregated). Steady = the next check 15 minutes later, one new bucket appended to the data,
same process. Also shown: the check after a restart (history read back from the state file)
and, as the baseline measured in the same run, a steady-state check that re-aggregates the
whole window every time (what a check costs without the incremental history).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from bot.console import write_charts
from bot.core.report import CheckReport
from bot.service.checker import History, run_check
from bot.state import State
from queries import seeding
from queries.catalogue import load_catalogue
from queries.sources import EmbeddedSource

DELAY = timedelta(minutes=2)


def line(name: str, report: CheckReport, total: float, render: float, cpu: float) -> None:
    t = report.timings
    check = total - render
    per_chart = render / max(len(report.anomalies), 1)
    print(
        f"{name:<30} check {check:6.3f} s ({cpu:6.3f} s CPU; query {t['query']:.3f}, "
        f"cache {t.get('cache', 0):.3f}, "
        f"series {t.get('series', 0):.3f}, detect {t['detect']:.3f})  "
        f"charts {render:5.2f} s ({len(report.anomalies)} x {per_chart:.3f})  "
        f"rows returned {report.rows_read:>6,}  series {len(report.results)}"
    )


async def timed(
    history: History, now: datetime, charts: Path
) -> tuple[CheckReport, float, float, float]:
    """The check's report, wall seconds with charts, of them the charts', the check's CPU."""
    started, cpu = time.perf_counter(), time.process_time()
    report = await run_check(history, now, delay=DELAY)
    rendered, cpu = time.perf_counter(), time.process_time() - cpu
    await asyncio.to_thread(write_charts, report, charts, ZoneInfo("UTC"))
    done = time.perf_counter()
    return report, done - started, done - rendered, cpu


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=28)
    parser.add_argument("--path", help="embedded database folder (default: a temporary one)")
    args = parser.parse_args()
    work = Path(args.path or tempfile.mkdtemp(prefix="alertbot-bench-"))
    catalogue = load_catalogue()
    end = datetime(2026, 11, 27, 12, 7, tzinfo=UTC)
    source = EmbeddedSource(work / "db")
    if await seeding.read_config(source) is None:
        started = time.perf_counter()
        _, _, rows = await seeding.seed(source, days=args.days, end=end)
        print(f"seeded {rows:,} rows ({args.days} days) in {time.perf_counter() - started:.1f} s")
    store_path = work / "state.sqlite3"
    for suffix in ("", "-wal", "-shm"):  # a state file of an earlier run starts afresh
        Path(f"{store_path}{suffix}").unlink(missing_ok=True)  # noqa: ASYNC240 - untimed
    charts = work / "charts"

    state = State(store_path)
    history = History(source, catalogue, state.history)
    cold, cold_s, cold_render, cold_cpu = await timed(history, end, charts)
    line("cold (first check)", cold, cold_s, cold_render, cold_cpu)

    later = end + timedelta(minutes=15)
    started = time.perf_counter()
    added = await seeding.extend(source, later, history=catalogue.history)
    extend_s = time.perf_counter() - started
    steady, steady_s, steady_render, steady_cpu = await timed(history, later, charts)
    line("steady (+15 min, 1 bucket)", steady, steady_s, steady_render, steady_cpu)
    print(f"{'':<28} (demo data appended before it: {added:,} rows in {extend_s:.3f} s)")
    state.close()

    state = State(store_path)
    restarted, restart_s, restart_render, restart_cpu = await timed(
        History(source, catalogue, state.history), later, charts
    )
    line("after restart (state file)", restarted, restart_s, restart_render, restart_cpu)
    state.close()

    baseline, base_s, base_render, base_cpu = await timed(
        History(source, catalogue, None), later, charts
    )
    line("baseline: full re-aggregation", baseline, base_s, base_render, base_cpu)
    cold_check, steady_check = cold_s - cold_render, steady_s - steady_render
    base_check = base_s - base_render
    print(f"steady-state check is {base_check / steady_check:.1f}x faster than re-aggregating")
    print(
        f"targets (check, charts aside: a running bot renders one per new incident): "
        f"cold < 5 s {'met' if cold_check < 5 else 'MISSED'} ({cold_check:.2f} s), "
        f"steady < 0.5 s {'met' if steady_check < 0.5 else 'MISSED'} ({steady_check:.2f} s)"
    )
    rows = await source.query(
        "SELECT (SELECT count() FROM feed_actions) + (SELECT count() FROM message_actions) AS n"
    )
    print(f"rows in the source tables: {int(rows['n'].iloc[0]):,}")
    await source.close()


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
