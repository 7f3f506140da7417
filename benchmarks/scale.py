"""Time the check at scale: N series on the demo data through a catalogue of its own.

    python benchmarks/scale.py --series 1000 [--days 28] [--path DIR]

It writes a catalogue (the bundled one plus a cohort-like slice dimension, `user_id % K`, on
both tables and every metric, K chosen so the series count reaches N) and points
CATALOGUE_PATH at it. A fresh process then runs a cold check (empty state file) and a steady
check (15 minutes later, one bucket appended), printing wall and CPU time, peak RSS and where
the time went: query, cache (state file save/load), series (slices and ranking), detect.

The previous paths are measured in the same run on the same data and printed as ratios:
the ARRAY JOIN SQL against the UNION ALL SQL, the JSON-row history cache against the columnar
one, per-metric slicing (split_slices/slices_of/build_series) against TableSlices, and the
per-series detection path against the matrix engine on the steady check's window (with the
number of verdicts on which they differ). The old check is estimated as the sum of its parts.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from importlib import resources
from pathlib import Path

END = datetime(2026, 11, 27, 12, 7, tzinfo=UTC)
DELAY = timedelta(minutes=2)
BASE_SERIES_PER_METRIC = 10  # the demo: total + 2 os + 2 sources + top 5 countries

# The table SQL before the UNION ALL rewrite, with the cohort as one more ARRAY JOIN level.
OLD_SQL = """
SELECT
    bucket,
    dim,
    multiIf(dim = 'os', os_, dim = 'source', source_, dim = 'country', country_,
            dim = 'cohort', toString(user_id % {cohorts}), '') AS dim_value,
    {outer}
FROM
(
    SELECT
        toUInt32(toStartOfFifteenMinutes(time)) AS bucket,
        user_id,
        cityHash64(os, source, country) AS attrs,
        any(os) AS os_,
        any(source) AS source_,
        any(country) AS country_,
        {inner}
    FROM {table}
    WHERE time >= toDateTime(0)          -- {{start}}
      AND time < toDateTime(4102444800)  -- {{end}}
    GROUP BY bucket, user_id, attrs
)
ARRAY JOIN ['total', 'os', 'source', 'country', 'cohort'] AS dim
GROUP BY bucket, dim, dim_value
ORDER BY bucket, dim, dim_value
"""
OLD_PARTS = {
    "feed_actions": (
        "sum(events) AS rows, uniqExact(user_id) AS users, sum(user_views) AS views, "
        "sum(user_likes) AS likes",
        "count() AS events, countIf(action = 'view') AS user_views, "
        "countIf(action = 'like') AS user_likes",
    ),
    "message_actions": (
        "sum(sent) AS rows, uniqExact(user_id) AS users, sum(sent) AS messages, "
        "uniqExactArray(receivers) AS receivers",
        "count() AS sent, groupUniqArray(receiver_id) AS receivers",
    ),
}


def cohort_branch(sql: str, cohorts: int) -> str:
    """The bundled UNION ALL query with one more branch: the cohort level."""
    head, sep, tail = sql.rpartition("    GROUP BY bucket, dim_value\n)")
    assert sep, "the bundled SQL changed shape: update benchmarks/scale.py"
    last = head.rpartition("    UNION ALL\n")[2]
    branch = last.replace("'country' AS dim", "'cohort' AS dim").replace(
        "country AS dim_value", f"toString(user_id % {cohorts}) AS dim_value"
    )
    return f"{head}    GROUP BY bucket, dim_value\n    UNION ALL\n{branch}{sep}{tail}"


def write_catalogue(folder: Path, cohorts: int, *, old: bool) -> Path:
    """The bundled catalogue with a cohort dim on every table and metric, in `folder`."""
    base = resources.files("queries")
    toml = base.joinpath("catalogue.toml").read_text(encoding="utf-8")
    toml = toml.replace('dims = ["os", "source", "country"]',
                        'dims = ["os", "source", "country", "cohort"]')  # fmt: skip
    toml = toml.replace('slices = ["os", "source", "country"]',
                        'slices = ["os", "source", "country", "cohort"]')  # fmt: skip
    folder.mkdir(parents=True, exist_ok=True)
    for table in ("feed_actions", "message_actions"):
        if old:
            outer, inner = OLD_PARTS[table]
            sql = OLD_SQL.format(cohorts=cohorts, outer=outer, inner=inner, table=table)
        else:
            sql = cohort_branch(base.joinpath(f"{table}.sql").read_text(encoding="utf-8"), cohorts)
        (folder / f"{table}.sql").write_text(sql, encoding="utf-8")
    (folder / "catalogue.toml").write_text(toml, encoding="utf-8")
    return folder / "catalogue.toml"


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# -- the previous history cache: one JSON text row per aggregate ------------------------------
class JsonCache:
    """The history cache as it was: history_rows with a JSON list of values per row."""

    def __init__(self, path: Path) -> None:
        self.db = sqlite3.connect(path)
        self.db.executescript(
            "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"
            "CREATE TABLE IF NOT EXISTS history_rows (source_key TEXT, query TEXT, bucket INTEGER,"
            " dim TEXT, dim_value TEXT, vals TEXT,"
            " PRIMARY KEY (source_key, query, bucket, dim, dim_value)) WITHOUT ROWID;"
        )

    def save(self, fresh: object, columns: tuple[str, ...], lo: int, start: int) -> None:
        import pandas as pd

        assert isinstance(fresh, pd.DataFrame)
        stamps = ((fresh["bucket"] - pd.Timestamp(0, tz=UTC)) // pd.Timedelta(seconds=1)).tolist()
        vals = fresh.loc[:, list(columns)].to_numpy(dtype="float64").tolist()
        keys = zip(stamps, fresh["dim"], fresh["dim_value"], vals, strict=True)
        rows = [("s", "q", int(b), str(d), str(v), json.dumps(x)) for b, d, v, x in keys]
        with self.db:
            self.db.execute("DELETE FROM history_rows WHERE source_key='s' AND query='q' "
                            "AND (bucket < ? OR bucket >= ?)", (lo, start))  # fmt: skip
            self.db.executemany("INSERT OR REPLACE INTO history_rows VALUES (?,?,?,?,?,?)", rows)

    def load(self, columns: tuple[str, ...]) -> object:
        import numpy as np
        import pandas as pd

        rows = self.db.execute(
            "SELECT bucket, dim, dim_value, vals FROM history_rows WHERE source_key='s' "
            "AND query='q' ORDER BY bucket, dim, dim_value"
        ).fetchall()
        values = np.array([json.loads(r[3]) for r in rows], dtype="float64")
        frame = pd.DataFrame(values.reshape(len(rows), len(columns)), columns=list(columns))
        frame.insert(0, "dim_value", [r[2] for r in rows])
        frame.insert(0, "dim", [r[1] for r in rows])
        frame.insert(0, "bucket", pd.to_datetime([r[0] for r in rows], unit="s", utc=True))
        return frame


# -- one process: cold and steady checks, then the previous paths ---------------------------
async def measure(work: Path, old_catalogue: Path) -> None:  # noqa: PLR0915 - one script
    """Runs in a fresh process with CATALOGUE_PATH set: prints one JSON line of figures."""
    import pandas as pd

    from bot.service.checker import History, run_check
    from bot.state import State
    from queries import seeding
    from queries.catalogue import load_catalogue
    from queries.series import (
        TableSlices,
        bucket_index,
        build_series,
        slices_of,
        split_slices,
        weight_series,
    )
    from queries.sources import EmbeddedSource

    catalogue = load_catalogue(os.environ["CATALOGUE_PATH"])
    source = EmbeddedSource(work / "db")
    state_path = work / "state.sqlite3"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{state_path}{suffix}").unlink(missing_ok=True)  # noqa: ASYNC240 - before timing
    state = State(state_path)
    history = History(source, catalogue, state.history)
    out: dict[str, object] = {}
    for table in catalogue.tables.values():  # open the tables first: a cold check is one with
        await source.query(f"SELECT count() FROM {table.name}")  # an empty cache, not cold disks

    async def check(name: str, now: datetime) -> None:
        wall, cpu = time.perf_counter(), time.process_time()
        report = await run_check(history, now, delay=DELAY)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        assert not report.errors, report.errors
        out[name] = {"wall": wall, "cpu": cpu, "rss": peak_mb(), "count": len(report.results),
                     "anomalies": len(report.anomalies), **report.timings}  # fmt: skip
        out["_report"] = report

    await check("cold", END)
    out.pop("_report")
    later = END + timedelta(minutes=15)
    await seeding.extend(source, later, history=catalogue.history)
    await check("steady", later)
    steady_report = out.pop("_report")
    state.close()
    # The per-series detection path (the reference the matrix engine is tested against) on
    # the steady check's window, and how many verdicts the two paths disagree on.
    from bot.service.checker import detect

    got = {(r.metric.name, r.slice): r.verdict.status for r in steady_report.results}
    per_series, differ = 0.0, 0
    for name, table in catalogue.tables.items():
        held_slices = await history.held_slices(table)
        assert held_slices is not None
        sliced, window = held_slices
        t0 = time.perf_counter()
        reference = detect(pd.DataFrame(), window, table, catalogue.metrics_of(name),
                           catalogue.step, sliced=sliced)  # fmt: skip
        per_series += time.perf_counter() - t0
        differ += sum(got[(r.metric.name, r.slice)] != r.verdict.status for r in reference)
    out["per_series"] = {"detect": per_series, "differ": differ}
    started = time.perf_counter()
    restarted = History(source, catalogue, State(state_path).history)
    for table in catalogue.tables.values():
        await restarted.held_async(table)
    out["load"] = time.perf_counter() - started

    # The previous paths, on the same data and window.
    old = load_catalogue(old_catalogue)
    ref: dict[str, float] = {"query_cold": 0.0, "query_cold_new": 0.0, "save_json": 0.0,
                             "save_binary": 0.0, "load_json": 0.0, "load_binary": 0.0,
                             "series_old": 0.0, "series_new": 0.0}  # fmt: skip
    for name, table in catalogue.tables.items():
        held = history.held(table)
        assert held is not None
        frame, start, end = held
        index = bucket_index(start, end, catalogue.step)
        best = {"query_cold": float("inf"), "query_cold_new": float("inf")}
        for _ in range(2):  # interleaved, the better of two each: the machine is shared
            for label, tbl in (("query_cold", old.tables[name]), ("query_cold_new", table)):
                t0 = time.perf_counter()
                await source.fetch(tbl, start, end)
                best[label] = min(best[label], time.perf_counter() - t0)
        for label, seconds in best.items():
            ref[label] += seconds
        cache = JsonCache(work / f"json-{name}.sqlite3")
        lo = int(start.timestamp())
        t0 = time.perf_counter()
        cache.save(frame, table.columns, lo, lo)
        ref["save_json"] += time.perf_counter() - t0
        t0 = time.perf_counter()
        json_frame = cache.load(table.columns)
        ref["load_json"] += time.perf_counter() - t0
        assert isinstance(json_frame, pd.DataFrame) and len(json_frame) == len(frame)
        cache.db.close()
        binary = State(work / f"binary-{name}.sqlite3")
        t0 = time.perf_counter()
        binary.history.save("s", "q", frame, table.columns, held_from=start,
                            replace_from=start, held_until=end)  # fmt: skip
        ref["save_binary"] += time.perf_counter() - t0
        t0 = time.perf_counter()
        binary.history.load("s", "q", table.columns)
        ref["load_binary"] += time.perf_counter() - t0
        binary.close()
        metrics = catalogue.metrics_of(name)
        t0 = time.perf_counter()
        parts = split_slices(frame, index)
        for metric in metrics:
            for where in slices_of(frame, table, metric):
                build_series(parts, metric, where, index)
                weight_series(parts, metric, where, index)
        ref["series_old"] += time.perf_counter() - t0
        t0 = time.perf_counter()
        sliced = TableSlices(frame, table, index)
        for metric in metrics:
            for where in sliced.slices(metric):
                sliced.series(metric, where)
                sliced.weight(metric, where)
        ref["series_new"] += time.perf_counter() - t0
    out["ref"] = ref
    await source.close()
    print(json.dumps(out))


def report(figures: dict[str, dict[str, float]], series_goal: int) -> None:
    cold, steady, ref = figures["cold"], figures["steady"], figures["ref"]
    n = int(cold["count"])
    print(f"series checked: {n:,} (asked for {series_goal:,})")
    for name, f in (("cold", cold), ("steady", steady)):
        print(
            f"{name:<7} check {f['wall']:7.2f} s wall, {f['cpu']:7.2f} s CPU, peak RSS "
            f"{f['rss']:6.0f} MB | query {f['query']:.2f}  cache {f['cache']:.2f}  "
            f"series {f['series']:.2f}  detect {f['detect']:.2f}  "
            f"({1000 * f['wall'] / max(n, 1):.2f} ms per series)"
        )
    print(f"restart: history read back from the state file in {figures['load']:.2f} s")
    print("previous paths, measured in this run on the same data (old / new):")
    rows = [
        ("full-window query, ARRAY JOIN vs UNION ALL", ref["query_cold"], ref["query_cold_new"]),
        ("history save, JSON rows vs columnar", ref["save_json"], ref["save_binary"]),
        ("history load, JSON rows vs columnar", ref["load_json"], ref["load_binary"]),
        ("series building, per metric vs per table", ref["series_old"], ref["series_new"]),
    ]
    for what, before, after in rows:
        print(f"  {what:<44} {before:7.2f} s vs {after:7.2f} s  = {before / after:5.1f}x")
    # The cold check as the sum of its parts, both paths measured the same way: the window's
    # query, the cache save and the slicing, plus detection (per series for the old path).
    per = figures["per_series"]
    old_cold = ref["query_cold"] + ref["save_json"] + ref["series_old"] + per["detect"]
    new_cold = ref["query_cold_new"] + ref["save_binary"] + ref["series_new"] + cold["detect"]
    print(f"  {'cold check, sum of its parts':<44} {old_cold:7.2f} s vs "
          f"{new_cold:7.2f} s  = {old_cold / new_cold:5.1f}x")  # fmt: skip
    # The steady check: its query and cache writes are a few buckets on either path.
    old_steady = steady["query"] + steady["cache"] + ref["series_old"] + per["detect"]
    print(f"  {'steady check, old slicing vs measured new':<44} {old_steady:7.2f} s vs "
          f"{steady['wall']:7.2f} s  = {old_steady / steady['wall']:5.1f}x")  # fmt: skip
    print(f"  {'steady detection, per series vs matrix engine':<44} {per['detect']:7.2f} s vs "
          f"{steady['detect']:7.2f} s  = {per['detect'] / max(steady['detect'], 1e-9):5.1f}x"
          f"  ({int(per['differ'])} of {n:,} verdicts differ)")  # fmt: skip
    goals = {100: None, 1000: None, 10000: (2.0, 30.0, 1024)}.get(series_goal)
    if goals:
        s, c, m = goals
        verdict = {True: "met", False: "MISSED"}
        print(f"goals at 10,000 series: steady {s} s ({verdict[steady['wall'] <= s]}), "
              f"cold {c} s ({verdict[cold['wall'] <= c]}), "
              f"memory {m} MB ({verdict[steady['rss'] <= m]})")  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--series", type=int, default=1000, help="series to reach (about)")
    parser.add_argument("--days", type=int, default=28)
    parser.add_argument("--path", help="embedded database folder (default: a temporary one)")
    parser.add_argument("--measure", help=argparse.SUPPRESS)  # the child process's own flag
    args = parser.parse_args()
    root = Path(__file__).resolve().parent.parent
    sys.path.insert(0, str(root))
    work = Path(args.path or tempfile.mkdtemp(prefix="alertbot-scale-"))
    if args.measure:
        asyncio.run(measure(work, Path(args.measure)))
        return 0

    metrics = 6
    cohorts = max(1, round(args.series / metrics) - BASE_SERIES_PER_METRIC)
    new = write_catalogue(work / "catalogue-new", cohorts, old=False)
    old = write_catalogue(work / "catalogue-old", cohorts, old=True)
    asyncio.run(seed(work, args.days))
    paths = filter(None, [str(root), os.environ.get("PYTHONPATH")])
    env = {**os.environ, "CATALOGUE_PATH": str(new), "PYTHONPATH": os.pathsep.join(paths)}
    print(f"cohort dimension: user_id % {cohorts}; catalogue {new}")
    done = subprocess.run(
        [sys.executable, __file__, "--path", str(work), "--measure", str(old)],
        env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        print(done.stdout, done.stderr, file=sys.stderr)
        return 1
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    report(figures, args.series)
    if not args.path:
        shutil.rmtree(work, ignore_errors=True)
    return 0


async def seed(work: Path, days: int) -> None:
    from queries import seeding
    from queries.sources import EmbeddedSource

    source = EmbeddedSource(work / "db")
    if await seeding.read_config(source) is None:
        started = time.perf_counter()
        _, _, rows = await seeding.seed(source, days=days, end=END)
        print(f"seeded {rows:,} rows ({days} days) in {time.perf_counter() - started:.1f} s")
    await source.close()


if __name__ == "__main__":
    sys.exit(main())
