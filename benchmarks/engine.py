"""Speed of the band engine against the per-series reference, on synthetic 15-minute series.

    python benchmarks/engine.py [--series 1000 10000 100000] [--days 28] [--steps 5]

Each series count runs in its own process (so peak RSS is its own). Series: counts with a
daily and weekly pattern at scales from 1 to 10,000 events per bucket, a tenth of them
mostly-zero decimals, a tenth with missing buckets, a twentieth with a level shift in the last
day. Printed per count: the cold batch (every key new, the whole window), the steady call for
one new bucket (median of --steps calls, each window one bucket later), peak RSS, and the
per-series reference as the checker calls it (`detector.band(series, last=112)`, the same work
on every check) timed on a sample of --sample series and scaled to the count, as ratios to
the engine's cold and steady calls. Wall time and, in brackets, CPU time of the process: on a
shared machine the CPU time is the steadier figure.

Input is held as float32 (counts and two-decimal values are exact in it) and handed to the
engine as float64 in calls of up to --chunk series (default: all in one call, as the check
does for one metric): at 100,000 series a 28-day float64 window is 2 GB on its own, so that
count is run with --days 15 (1.2 GB; the window must hold the 14-day same-slot lag of the new
bucket, or every key restarts).
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import time

import numpy as np
import pandas as pd

from detectors.engine import BandEngine
from detectors.seasonal import SeasonalDetector

PER_DAY = 96
ROWS = 112


def synthetic(s: int, n: int, seed: int) -> np.ndarray:
    """(s, n) float32 series: see the module doc."""
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    shape = (1 + 0.6 * np.sin(2 * np.pi * t / PER_DAY)) * np.where((t // PER_DAY) % 7 >= 5, 0.7, 1)
    out = np.empty((s, n), dtype=np.float32)
    for lo in range(0, s, 5000):
        k = min(5000, s - lo)
        scale = np.exp(rng.uniform(0, np.log(10_000), k))[:, None]
        block = rng.poisson(scale * shape[None, :]).astype(np.float32)
        kind = rng.random(k)
        sparse = kind < 0.1
        block[sparse] = np.where(
            rng.random((int(sparse.sum()), n)) < 0.1,
            np.round(rng.gamma(2.0, 1.5, (int(sparse.sum()), n)), 2),
            0.0,
        )
        gaps = (kind >= 0.1) & (kind < 0.2)
        block[gaps] = np.where(rng.random((int(gaps.sum()), n)) < 0.05, np.nan, block[gaps])
        shifted = (kind >= 0.2) & (kind < 0.25)
        block[np.ix_(shifted, np.arange(n - PER_DAY, n))] *= 1.5
        out[lo : lo + k] = block
    return out


def one(s: int, days: int, steps: int, sample: int, chunk: int) -> str:
    window = days * PER_DAY
    n = window + steps
    values = synthetic(s, n, seed=s)
    index = pd.date_range("2026-10-01", periods=n, freq="15min", tz="UTC")
    keys = np.arange(s)
    det = SeasonalDetector()
    engine = BandEngine(det, ROWS)

    def call(end: int) -> tuple[float, float]:
        spent = cpu = 0.0
        for lo in range(0, s, chunk):
            part = values[lo : lo + chunk, end - window : end].astype(np.float64)
            started, cpu_started = time.perf_counter(), time.process_time()
            engine.bands(index[end - window : end], part, keys[lo : lo + chunk].tolist())
            spent += time.perf_counter() - started
            cpu += time.process_time() - cpu_started
        return spent, cpu

    cold, cold_cpu = call(window)
    runs = [call(window + k) for k in range(1, steps + 1)]
    steady = float(np.median([r[0] for r in runs]))
    steady_cpu = float(np.median([r[1] for r in runs]))
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    state = engine.nbytes / 1e6
    picks = np.random.default_rng(0).choice(s, size=min(sample, s), replace=False)
    started, cpu_started = time.perf_counter(), time.process_time()
    for i in picks:
        det.band(pd.Series(values[i, n - window :].astype(np.float64), index=index[n - window :]),
                 last=ROWS)  # fmt: skip
    reference = (time.perf_counter() - started) / picks.size * s
    reference_cpu = (time.process_time() - cpu_started) / picks.size * s
    return (
        f"| {s:,} | {days} | {cold:.1f} ({cold_cpu:.1f}) | {steady:.3f} ({steady_cpu:.3f}) "
        f"| {rss:,.0f} | {state:,.0f} | {reference:.1f} ({reference_cpu:.1f}) "
        f"| {reference / cold:.1f}x | {reference / steady:.0f}x |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--series", type=int, nargs="+", default=[1000, 10_000, 100_000])
    parser.add_argument("--days", type=int, default=28)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--sample", type=int, default=200)
    parser.add_argument("--chunk", type=int, default=100_000)
    parser.add_argument("--single", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.single:
        print(one(args.series[0], args.days, args.steps, args.sample, args.chunk), flush=True)
        return
    print("| series | days | cold batch s (CPU) | steady, 1 new bucket s (CPU) | peak RSS MB "
          "| state MB | reference s (CPU) | reference / cold | reference / steady |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|")
    for s in args.series:
        command = [sys.executable, __file__, "--single", "--series", str(s), "--days",
                   str(args.days), "--steps", str(args.steps), "--sample", str(args.sample),
                   "--chunk", str(args.chunk)]  # fmt: skip
        subprocess.run(command, check=True)


if __name__ == "__main__":
    main()
