"""Big incidents on synthetic business metrics from a generator other than the demo's.

    python benchmarks/synthetic.py [--series N] [--seed S] [--jobs N] [--only METHOD ...]
                                   [--set PARAM=VALUE ...] [--without PART ...] [--missed]
                                   [--step 15min|30min|1h] [--weekends LOW HIGH] [--write DIR]
                                   [--history DAYS] [--clock ZONE]

The demo dataset (`alertbot seed`) is this project's own generator, and the detector was
developed on it; this one shares no code with it and draws every shape from wide ranges, so it
scores the product on series it was not tuned on. Each series is 42 days of 15-minute buckets
(28 days of history, the 14 after them scored; `--history 14`: series drawn the same way
for a metric two weeks old, 28 days in all), judged as an outside benchmark does: the
contract API with `DEFAULT_SPEC` and the series alone (no weight, no per-metric settings).

Series (two thirds counts, one third ratios):
- counts: a daily mean of 200 to 20,000 events a bucket (log-uniform), a daily curve with a
  random amplitude, peak hour and second harmonic, weekends 0.6x to 1.2x, a trend of -15% to
  +25% over the series' span, each day's level off by a few percent, and negative-binomial
  noise of 1x to 2.5x the Poisson variance;
- CTR: views drawn the same way (800 to 20,000 a bucket), likes binomial at a rate of 0.02 to
  0.3 that moves a little over the day and from day to day; the value is likes / views.

Big incidents, two per series in the scored span, at least a day apart, at any time of day:
counts drop by 35% to 70% (15 minutes to 4 hours), spike by 50% to 150% (15 minutes to 2
hours) or stop (0 for 15 minutes to 2 hours); a CTR drops by 30% to 50% (30 minutes to 4
hours): sizes from the targets' thresholds up, where a detector is tested. A series gets none
with probability 1/4, so some series are clean all along.

Scores, per method:
- false/day/100: alert episodes (runs of firing buckets; --resolve-after as in real_kpi.py)
  that overlap no incident nor the hour after one, per day per 100 series;
- recall: incidents with a firing bucket inside them or within 2 buckets after their start;
  "at 200+" counts only incidents whose series is expected to have at least 200 events (views
  for a CTR) in the incident's first bucket, as the targets state them;
- TTD: median buckets from an incident's start to the first firing one (0: the first bucket).

Methods: default (the product), and the baselines of real_kpi.py (rolling IQR, same-slot MAD).
`--only ... views` adds the default judged with a CTR's views as its weight, as the bot judges a
ratio metric (counts as the default); not run unless asked.

`--step 1h` (or 30min) judges the same series at a coarser step, as a metric the catalogue
buckets by the hour: counts summed, a CTR the mean of its quarter-hours; an incident covers the
buckets it touches (a 15-minute outage is then a 25% drop of an hour), "at 200+" counts the
events of the coarser bucket, and buckets and TTD are of that step.

`--clock Europe/Berlin` draws each daily curve and weekend on that zone's wall clock, with the
scored span starting on the day its clocks go back (25 Oct 2026): the two weeks after a change
of the clocks, judged in UTC; add `--set timezone=Europe/Berlin` to judge them in that zone.
"""

from __future__ import annotations

import argparse
import itertools
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from real_kpi import episodes, firing, overrides_of  # the same methods, scored alike

DAY = 96
SCORED = 14  # days scored after the history
HISTORY = 28  # days of history before them (--history)
DAYS = HISTORY + SCORED  # days in all with the default history (the tests read it)
AFTER = 4  # buckets after an incident in which an alert is not false (1 hour)
CATCH = 2  # buckets after an incident's start within which an alert still catches it
WEEKENDS = (0.6, 1.2)  # the range each series' weekend level is drawn from (x its weekdays)
# "views": the default judged as the bot judges a ratio, with its weight (a CTR's views: the
# band's binomial floor follows them); counts the same as the default. Not in the default run,
# which judges the series alone as an outside benchmark does.
METHODS = ("default", "iqr", "mad", "views")
KINDS = ("drop", "spike", "outage", "ctr drop")
EPOCH = pd.Timestamp(0, tz="UTC")
START = pd.Timestamp("2026-09-07", tz="UTC")  # the first bucket of every series
CHANGE = pd.Timestamp("2026-10-25", tz="UTC")  # --clock: the scored span starts this day


@dataclass
class Incident:
    kind: str
    start: int
    length: int
    size: float  # the factor applied: 0.2 = an 80% drop, 2.0 = a 100% spike
    volume: float  # expected events (views for a CTR) in the first bucket, without incident


@dataclass
class Case:
    name: str
    ratio: bool
    values: np.ndarray
    incidents: list[Incident] = field(default_factory=list)
    minutes: int = 15  # the step of `values`
    history: int = HISTORY  # days before the scored ones
    views: np.ndarray | None = None  # a CTR's views (the bot's weight for a ratio)
    start: pd.Timestamp = START

    @property
    def per_day(self) -> int:
        return 1440 // self.minutes


STEPS = {"15min": 1, "30min": 2, "1h": 4}  # --step: quarter-hours per bucket


def coarser(case: Case, factor: int) -> Case:
    """The case at `factor` quarter-hours a bucket: counts summed, a ratio averaged; each
    incident covers the buckets it touches, its volume the events of its first one."""
    if factor == 1:
        return case
    if case.values.size % factor:
        raise ValueError(f"{case.values.size} buckets do not split into steps of {factor}")
    blocks = case.values.reshape(-1, factor)
    values = blocks.mean(axis=1) if case.ratio else blocks.sum(axis=1)
    incidents = []
    for inc in case.incidents:
        start, end = inc.start // factor, -(-(inc.start + inc.length) // factor)
        incidents.append(Incident(inc.kind, start, end - start, inc.size, inc.volume * factor))
    views = None if case.views is None else case.views.reshape(-1, factor).sum(axis=1)
    return Case(case.name, case.ratio, values, incidents, case.minutes * factor, case.history,
                views, case.start)


def _shape(rng: np.random.Generator, n: int, plain: frozenset[str],
           weekends: tuple[float, float] = WEEKENDS,
           clock: tuple[np.ndarray, np.ndarray] | None = None) -> np.ndarray:  # fmt: skip
    """Daily curve x weekends x trend x each day's own level; mean about 1. `plain` names
    the parts left out ("weekends", "days"), drawn all the same so the rest stays as it was.
    `clock`: each bucket's slot of the day and day number on a wall clock (else UTC's)."""
    t = np.arange(n)
    slot, days = (t % DAY, t // DAY) if clock is None else clock
    phase = 2 * np.pi * ((slot % DAY) / DAY - rng.uniform(12, 21) / 24)  # peak at 12:00-21:00
    amp, second = rng.uniform(0.2, 0.7), rng.uniform(0.0, 0.2)
    daily = 1 + amp * np.cos(phase) + second * np.cos(2 * phase + rng.uniform(0, 2 * np.pi))
    daily = np.maximum(daily, 0.1)
    start_day = int(rng.integers(0, 7))
    weekend = np.where(((days + start_day) % 7) >= 5, rng.uniform(*weekends), 1.0)
    trend = np.exp(rng.uniform(-0.15, 0.25) * t / n)
    day_level = np.repeat(1 + rng.uniform(0.0, 0.04) * rng.standard_normal(n // DAY + 1), DAY)
    if "weekends" in plain:
        weekend = np.ones(n)
    if "days" in plain:
        day_level = np.ones_like(day_level)
    return daily * weekend * trend * day_level[:n]


def _counts(rng: np.random.Generator, mean: np.ndarray, phi: float) -> np.ndarray:
    """Negative binomial with variance phi x the mean at the series' typical level."""
    if phi <= 1.0001:
        return rng.poisson(mean).astype(float)
    r = float(np.median(mean)) / (phi - 1)
    return rng.negative_binomial(r, r / (r + mean)).astype(float)


def _starts(rng: np.random.Generator, count: int, history: int) -> list[int]:
    """Incident starts in the scored span, at least a day apart."""
    lo, hi = history * DAY, (history + SCORED) * DAY - 20
    while True:
        starts = sorted(int(s) for s in rng.integers(lo, hi, size=count))
        if all(b - a >= DAY for a, b in itertools.pairwise(starts)):
            return starts


def make_case(seed: int, index: int, plain: frozenset[str] = frozenset(),
              weekends: tuple[float, float] = WEEKENDS,
              history: int = HISTORY, *, clock: str | None = None) -> Case:  # fmt: skip
    rng = np.random.default_rng([seed, index])
    n = (history + SCORED) * DAY
    ratio = index % 3 == 2
    begin, wall = START, None
    if clock is not None:
        begin = CHANGE - pd.Timedelta(days=history)
        local = pd.date_range(begin, periods=n, freq="15min").tz_convert(clock)
        days = (local.tz_localize(None).normalize() - begin.tz_localize(None)).days
        wall = (np.asarray(local.hour * 4 + local.minute // 15), np.asarray(days))
    shape = _shape(rng, n, plain, weekends, wall)
    count = 0 if rng.random() < 0.25 else 2
    if not ratio:
        level = float(np.exp(rng.uniform(np.log(200), np.log(20_000))))
        mean = level * shape
        factor = np.ones(n)
        incidents = []
        for start in _starts(rng, count, history):
            kind = str(rng.choice(["drop", "spike", "outage"]))
            if kind == "drop":
                length, size = int(rng.integers(1, 17)), rng.uniform(0.3, 0.65)
            elif kind == "spike":
                length, size = int(rng.integers(1, 9)), rng.uniform(1.5, 2.5)
            else:
                length, size = int(rng.integers(1, 9)), 0.0
            factor[start : start + length] = size
            incidents.append(Incident(kind, start, length, size, float(mean[start])))
        values = _counts(rng, mean * factor, rng.uniform(1.0, 2.5))
        return Case(f"counts-{index}", False, values, incidents, history=history, start=begin)
    views_level = float(np.exp(rng.uniform(np.log(800), np.log(20_000))))
    views_mean = views_level * shape
    views = np.maximum(_counts(rng, views_mean, rng.uniform(1.0, 2.0)), 1.0)
    t = np.arange(n)
    rate = rng.uniform(0.02, 0.3) * (1 + rng.uniform(0, 0.1) * np.sin(2 * np.pi * t / DAY + 1))
    rate *= np.repeat(1 + 0.02 * rng.standard_normal(n // DAY + 1), DAY)[:n]
    incidents = []
    for start in _starts(rng, count, history):
        length, size = int(rng.integers(2, 17)), rng.uniform(0.5, 0.7)
        rate[start : start + length] *= size
        incidents.append(Incident("ctr drop", start, length, size, float(views_mean[start])))
    likes = rng.binomial(views.astype(np.int64), np.clip(rate, 0, 1)).astype(float)
    return Case(f"ctr-{index}", True, likes / views, incidents, history=history, views=views,
                start=begin)


def series_of(case: Case) -> pd.Series:
    index = pd.date_range(case.start, periods=case.values.size, freq=f"{case.minutes}min")
    return pd.Series(case.values, index=index)


@dataclass
class Tally:
    days: float = 0.0
    false: int = 0
    found: dict[str, list[int]] = field(default_factory=dict)  # kind -> [caught, total]
    big: list[int] = field(default_factory=lambda: [0, 0])  # at 200+ events: [caught, total]
    delays: list[int] = field(default_factory=list)
    missed: list[str] = field(default_factory=list)

    def add(self, other: Tally) -> None:
        self.days += other.days
        self.false += other.false
        for kind, (c, t) in other.found.items():
            mine = self.found.setdefault(kind, [0, 0])
            mine[0] += c
            mine[1] += t
        self.big = [self.big[0] + other.big[0], self.big[1] + other.big[1]]
        self.delays.extend(other.delays)
        self.missed.extend(other.missed)


def score(case: Case, fire: np.ndarray, resolve_after: int) -> Tally:
    n = fire.size
    scored = np.arange(n) >= case.history * case.per_day
    fire = fire & scored
    covered = np.zeros(n, dtype=bool)
    after = max(AFTER * 15 // case.minutes, 1)  # the hour after, at any step
    for inc in case.incidents:
        # Never less than the catch window: an alert that catches an incident is never also
        # a false one (at an hourly step the hour after is 1 bucket, CATCH 2).
        covered[inc.start : max(inc.start + inc.length + after, inc.start + CATCH + 1)] = True
    t = Tally(days=float(scored.sum()) / case.per_day)
    t.false = sum(1 for a, b in episodes(fire, resolve_after) if not covered[a : b + 1].any())
    for inc in case.incidents:
        hits = np.flatnonzero(fire[inc.start : inc.start + max(inc.length, CATCH + 1)])
        caught = bool(hits.size)
        tally = t.found.setdefault(inc.kind, [0, 0])
        tally[0] += caught
        tally[1] += 1
        if inc.volume >= 200:
            t.big[0] += caught
            t.big[1] += 1
        if caught:
            t.delays.append(int(hits[0]))
        else:
            when = series_of(case).index[inc.start].strftime("%a %H:%M")
            t.missed.append(f"{case.name} {inc.kind} x{inc.size:.2f} for {inc.length} "
                            f"at {when}, volume {inc.volume:.0f}")  # fmt: skip
    return t


def run_one(
    seed: int,
    index: int,
    *,
    methods: tuple[str, ...],
    overrides: dict[str, str],
    resolve_after: int,
    plain: frozenset[str],
    factor: int = 1,
    weekends: tuple[float, float] = WEEKENDS,
    history: int = HISTORY,
    clock: str | None = None,
) -> dict[str, tuple[Tally, float]]:
    case = coarser(make_case(seed, index, plain, weekends, history, clock=clock), factor)
    series = series_of(case)
    out = {}
    for method in methods:
        started = time.perf_counter()
        if method == "views":
            fire = weighted_firing(series, case.views, overrides)
        else:
            fire = firing(method, series, overrides)
        out[method] = (score(case, fire, resolve_after), time.perf_counter() - started)
    return out


def weighted_firing(series: pd.Series, views: np.ndarray | None,
                    overrides: dict[str, str]) -> np.ndarray:  # fmt: skip
    """The default's firing buckets with a ratio's views as its weight, as the bot's check
    passes a ratio metric's denominator (`band(series, weight=...)`)."""
    weight = None if views is None else pd.Series(views, index=series.index)
    return firing("default", series, overrides, weight=weight)


def write(seed: int, count: int, folder: Path, plain: frozenset[str], factor: int = 1, *,
          weekends: tuple[float, float] = WEEKENDS, history: int = HISTORY) -> None:  # fmt: skip
    """The series as timestamp,value,label CSVs, for benchmarks/real_kpi.py or any other tool."""
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        case = coarser(make_case(seed, i, plain, weekends, history), factor)
        series = series_of(case)
        label = np.zeros(series.size, dtype=int)
        for inc in case.incidents:
            label[inc.start : inc.start + inc.length] = 1
        seconds = (series.index - EPOCH) // pd.Timedelta(seconds=1)
        frame = pd.DataFrame({"timestamp": seconds, "value": series.to_numpy(), "label": label})
        frame.to_csv(folder / f"{case.name}.csv", index=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--series", type=int, default=300, help="how many series (default 300)")
    parser.add_argument("--seed", type=int, default=1, help="the generator's seed (default 1)")
    parser.add_argument("--jobs", type=int, default=2, help="worker processes (default 2)")
    parser.add_argument("--only", nargs="+", choices=METHODS, help="methods to run")
    parser.add_argument("--resolve-after", type=int, default=1, metavar="N",
                        help="an episode ends after N quiet buckets in a row (default 1)")
    parser.add_argument("--set", nargs="+", default=[], metavar="PARAM=VALUE",
                        help="change the default's settings (what-if runs)")
    parser.add_argument("--without", nargs="+", default=[], choices=("weekends", "days"),
                        help="leave a part of the shape out: weekends, each day's own level")
    parser.add_argument("--missed", action="store_true", help="list the default's misses")
    parser.add_argument("--weekends", nargs=2, type=float, default=list(WEEKENDS),
                        metavar=("LOW", "HIGH"),
                        help="each series' weekend level is drawn from LOW to HIGH times its "
                             "weekdays (default 0.6 1.2; 0.3 0.6: a product quiet at weekends)")
    parser.add_argument("--step", choices=tuple(STEPS), default="15min",
                        help="judge the series at this step (default 15min)")
    parser.add_argument("--write", type=Path, metavar="DIR",
                        help="write the series as labelled CSVs to DIR and stop")
    parser.add_argument("--history", type=int, default=HISTORY, metavar="DAYS",
                        help=f"days of history before the {SCORED} scored ones (default "
                             f"{HISTORY}; 14: a metric two weeks old)")
    parser.add_argument("--clock", metavar="ZONE",
                        help="daily curves on this zone's wall clock, scored from the day its "
                             "clocks go back (e.g. Europe/Berlin)")
    args = parser.parse_args()  # fmt: skip
    if not 1 <= args.history <= 56:
        parser.error("--history must be 1 to 56 days")
    if args.write and args.series >= 1:
        write(args.seed, args.series, args.write, frozenset(args.without), STEPS[args.step],
              weekends=tuple(args.weekends), history=args.history)
        print(f"{args.series} series written to {args.write}")
        return
    if args.series < 1:
        parser.error("--series must be at least 1")
    overrides = overrides_of(parser, args.set)
    methods = tuple(args.only or [m for m in METHODS if m != "views"])
    started = time.perf_counter()
    totals: dict[str, Tally] = {m: Tally() for m in methods}
    seconds: dict[str, float] = dict.fromkeys(methods, 0.0)
    with ProcessPoolExecutor(max_workers=max(args.jobs, 1)) as pool:
        count = args.series
        one = partial(run_one, methods=methods, overrides=overrides,
                      resolve_after=args.resolve_after, plain=frozenset(args.without),
                      weekends=tuple(args.weekends), history=args.history,
                      factor=STEPS[args.step], clock=args.clock)
        jobs = pool.map(one, [args.seed] * count, range(count))
        for result in jobs:
            for method, (tally, spent) in result.items():
                totals[method].add(tally)
                seconds[method] += spent
    changed = f"; default with {' '.join(args.set)}" if args.set else ""
    if tuple(args.weekends) != WEEKENDS:
        changed += f"; weekends {args.weekends[0]:g}x to {args.weekends[1]:g}x"
    if args.without:
        changed += f"; without {' and '.join(args.without)}"
    if args.step != "15min":
        changed += f"; judged at {args.step}"
    if args.clock:
        changed += f"; curves on {args.clock}'s clock, scored from {CHANGE:%d %b %Y}"
    print(f"{args.series} series (seed {args.seed}), {SCORED} scored days after "
          f"{args.history} of history; "
          f"{time.perf_counter() - started:.0f} s wall with {args.jobs} jobs{changed}")  # fmt: skip
    report(totals, {m: spent / args.series for m, spent in seconds.items()})
    if args.missed and "default" in totals:
        print("\ndefault's misses:")
        for line in totals["default"].missed:
            print(f"  {line}")
    print("\ntargets (default): false/day/100 <= 1, recall at 200+ >= 0.95, TTD <= 1 bucket")


def report(totals: dict[str, Tally], per_series: dict[str, float]) -> None:
    """One row per method: false alerts, recall, recall at 200+, TTD, catches per kind."""
    header = (f"{'method':<8} {'false/day/100':>13} {'recall':>7} {'at 200+':>8} {'TTD':>4} "
              + " ".join(f"{k:>9}" for k in KINDS) + f" {'s/series':>8}")  # fmt: skip
    print(header)
    print("-" * len(header))
    for method, t in totals.items():
        caught = sum(c for c, _ in t.found.values())
        total = sum(n for _, n in t.found.values())
        kinds = " ".join(
            f"{t.found[k][0]:>4}/{t.found[k][1]:<4}" if k in t.found else f"{'-':>9}"
            for k in KINDS
        )
        ttd = float(np.median(t.delays)) if t.delays else float("nan")
        print(f"{method:<8} {t.false / t.days * 100:>13.2f} {caught / max(total, 1):>7.3f} "
              f"{t.big[0] / max(t.big[1], 1):>8.3f} {ttd:>4.0f} {kinds} "
              f"{per_series[method]:>8.2f}")  # fmt: skip


if __name__ == "__main__":
    main()
