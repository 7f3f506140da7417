"""Where a check's memory goes: resident set size around each step of the history path.

    python benchmarks/memory.py --path DIR [--catalogue TOML] [--code DIR] [--check]

DIR holds an embedded database seeded by benchmarks/scale.py or check_cycle.py (seeded here
when empty). --catalogue is the catalogue to check (default: the bundled demo one; scale.py
writes DIR/catalogue-new/catalogue.toml). --code runs another checkout of the project (the
previous release) in the same way, so two trees are compared on the same data and machine.

A fresh process, with a thread sampling RSS every 2 ms, runs for every table: the cold fetch
(query, merge, cache save) and its slices; a steady refresh 15 minutes later (one bucket
appended to the data) and its slices moved on, the previous slices still held as a check's
results hold them; a restart (the cache read back from the state
file) and its slices. It prints RSS after each step and the peak during it; --check adds a
whole cold and steady check (detection included) in a second fresh process.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

END = datetime(2026, 11, 27, 12, 7, tzinfo=UTC)
DELAY = timedelta(minutes=2)
PAGE = os.sysconf("SC_PAGE_SIZE")


def rss_mb() -> float:
    with open("/proc/self/statm", encoding="ascii") as handle:
        return int(handle.read().split()[1]) * PAGE / 2**20


class Sampler:
    """The highest RSS seen since the last `mark`, sampled by a daemon thread."""

    def __init__(self) -> None:
        self.peak = rss_mb()
        self._stop = False
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self) -> None:
        while not self._stop:
            self.peak = max(self.peak, rss_mb())
            time.sleep(0.002)

    def mark(self) -> tuple[float, float]:
        """(RSS now, peak since the previous mark); starts the next interval."""
        now = rss_mb()
        peak, self.peak = max(self.peak, now), now
        return now, peak


async def steps(work: Path, catalogue_path: str | None, check: bool) -> dict[str, Any]:  # noqa: PLR0915 - one script
    from bot.service.checker import History, run_check
    from bot.state import State
    from queries import seeding
    from queries.catalogue import load_catalogue
    from queries.sources import EmbeddedSource

    catalogue = load_catalogue(catalogue_path) if catalogue_path else load_catalogue()
    source = EmbeddedSource(work / "db")
    if await seeding.read_config(source) is None:
        await seeding.seed(source, days=28, end=END)
    for table in catalogue.tables.values():  # open the tables: cold means an empty cache
        await source.query(f"SELECT count() FROM {table.name}")
    state_path = work / ("memory-check.sqlite3" if check else "memory.sqlite3")
    for suffix in ("", "-wal", "-shm"):
        Path(f"{state_path}{suffix}").unlink(missing_ok=True)  # noqa: ASYNC240 - untimed
    gc.collect()
    sampler = Sampler()
    out: dict[str, Any] = {"start": sampler.mark()}
    state = State(state_path)
    history = History(source, catalogue, state.history)
    later = END + timedelta(minutes=15)
    if check:
        report = await run_check(history, END, delay=DELAY)
        out["cold check"] = sampler.mark()
        del report
        await seeding.extend(source, later, history=catalogue.history)
        sampler.mark()
        report = await run_check(history, later, delay=DELAY)
        out["steady check"] = sampler.mark()
        out["series"] = len(report.results)
        del report
    else:
        rows = 0
        shown = {}  # each table's last slices, kept as a check's results keep them
        for now, name in ((END, "cold"), (later, "steady")):
            if name == "steady":
                await seeding.extend(source, later, history=catalogue.history)
                sampler.mark()
            for table in catalogue.tables.values():
                frame, window, _ = await history.frame(table, now, DELAY)
                rows = max(rows, len(frame))
                out[f"{name} {table.name}: fetch, merge, save"] = sampler.mark()
                shown[table.name] = history.sliced(table, frame, window)
                out[f"{name} {table.name}: slices"] = sampler.mark()
                del frame
        out["rows per table (largest)"] = rows
        state.close()
        del history, shown
        gc.collect()
        out["dropped"] = sampler.mark()
        state = State(state_path)
        restarted = History(source, catalogue, state.history)
        for table in catalogue.tables.values():
            await restarted.held_async(table)
            out[f"restart {table.name}: cache load"] = sampler.mark()
            await restarted.held_slices(table)
            out[f"restart {table.name}: slices"] = sampler.mark()
    gc.collect()
    out["held after gc"] = sampler.mark()
    state.close()
    await source.close()
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--path", required=True, help="embedded database folder")
    parser.add_argument("--catalogue", help="catalogue TOML (default: the bundled one)")
    parser.add_argument("--code", help="the project tree to measure (default: this one)")
    parser.add_argument("--check", action="store_true", help="also whole checks")
    parser.add_argument("--child", choices=["steps", "check"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    code = Path(args.code or Path(__file__).resolve().parent.parent).resolve()
    if args.child:
        sys.path.insert(0, str(code))
        figures = asyncio.run(steps(Path(args.path), args.catalogue, args.child == "check"))
        print(json.dumps(figures))
        return 0
    print(f"code {code}; catalogue {args.catalogue or 'bundled'}")
    for child in ["steps", "check"] if args.check else ["steps"]:
        command = [sys.executable, __file__, "--path", args.path, "--code", str(code),
                   "--child", child]  # fmt: skip
        if args.catalogue:
            command += ["--catalogue", args.catalogue]
        env = {**os.environ, "PYTHONPATH": str(code)}
        done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            print(done.stdout, done.stderr, file=sys.stderr)
            return 1
        figures = json.loads(done.stdout.strip().splitlines()[-1])
        for name, value in figures.items():
            if isinstance(value, list):
                now, peak = value
                print(f"  {name:<44} RSS {now:7.0f} MB   peak during {peak:7.0f} MB")
            else:
                print(f"  {name:<44} {value:,}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
