"""Series whose level changes for good once (a release that moves the baseline), written as
labelled `timestamp,value,label` CSVs for `benchmarks/real_kpi.py` to score:

    python benchmarks/level_shifts.py --write /tmp/shifts
    python benchmarks/real_kpi.py --data /tmp/shifts --only default --per-series

Poisson counts of 200 and 5,000 a bucket at its busiest hour, a daily shape (no weekly one),
56 days at 5 and at 15 minutes; one lasting change each, +40% (day 20, 10:48), -40% (day 22,
14:24), +25% (day 25, 07:12) or -25% (day 30, 12:00), the first two hours after it labelled.
Every alert after the hour that follows is a false one: the series is as steady at its new
level as it was at its old one."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

DAYS = 56
CHANGES = ((1.4, 20.45), (0.6, 22.6), (1.25, 25.3), (0.75, 30.5))  # (new level, day it moves)


def write(folder: Path, seed: int = 11) -> list[Path]:
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for step in (5, 15):
        n = DAYS * 1440 // step
        t = np.arange(n) * step / 1440  # days
        daily = 1 + 0.6 * np.sin(2 * np.pi * (t - 0.3))
        index = pd.date_range("2026-01-05", periods=n, freq=f"{step}min", tz="UTC")
        seconds = (index - pd.Timestamp("1970-01-01", tz="UTC")) // pd.Timedelta(seconds=1)
        for k, (size, at) in enumerate(CHANGES):
            level = np.where(t >= at, size, 1.0)
            label = ((t >= at) & (t < at + 2 / 24)).astype(int)
            for base in (200, 5000):
                path = folder / f"s{step}_{k}_{base}.csv"
                pd.DataFrame({"timestamp": np.asarray(seconds, dtype="int64"),
                              "value": rng.poisson(base * daily * level),
                              "label": label}).to_csv(path, index=False)  # fmt: skip
                written.append(path)
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--write", metavar="DIR", required=True, help="folder for the CSVs")
    parser.add_argument("--seed", type=int, default=11, help="random seed (default 11)")
    args = parser.parse_args()
    paths = write(Path(args.write), args.seed)
    print(f"{len(paths)} series written to {args.write}")


if __name__ == "__main__":
    main()
