"""Detection quality on real labelled KPIs, as the product alerts, against two baselines.

    python benchmarks/real_kpi.py --data DIR [--limit N] [--jobs N] [--only METHOD ...]
                                  [--bucket 15min|30min|1h] [--gaps skip|judge]
                                  [--row-step STEP]

DIR holds one `timestamp,value,label` CSV per series (gzip or not): Unix seconds, any value,
label 1 on an anomalous point (a column `is_anomaly` or `anomaly` is read as the label, and
`timestamps`, `time` or `datetime` as the time, as Yahoo's files and others name them; the
header in any case; commas, or semicolons, tabs or bars; a file with a `KPI ID` column holds
one series per id). Each series is put on its own regular grid (absent timestamps
are missing values, never zeros) and scored twice: at its own step, and as 15-minute means (a
bucket is labelled when any point in it is). The first 14 days are warm-up: history only; a
series spanning less than 28 days warms up on the first half of its span instead, so a short
history is scored from a cold start rather than not at all. A file that cannot be scored is
named with the reason and left out; the others are scored.
An absent timestamp is a gap in the collector's record, not a bucket the source reported
empty: it gets no verdict (the rule's "no data" alert, which the product raises for a bucket
its source left empty, is not scored there), and the output says what share of points that is.
`--gaps judge` scores the rule's `firing` column as the contract API returns it, gaps included
(what a harness that puts a series on a grid and never masks its NaN sees).
Timestamps may be Unix seconds, milliseconds, microseconds or nanoseconds (told apart by size)
or ISO 8601 text, and are floored to the second. Whole numbers all under 1e8 (Unix seconds
before March 1973) number the rows instead, as in Yahoo's A1 files (1, 2, 3, ... an hour
apart): they are read `--row-step` apart (default 1h), and the output says how many were.
`--bucket 1h` (or 30min) takes hourly (half-hourly) means instead of 15-minute ones, as a
catalogue that buckets by the hour sees the same data (a series already at that step or a
coarser one is scored as it is, under that view's name).

Methods, run on the same data:
- default: detectors.build(DEFAULT_SPEC).band + build_rule(DEFAULT_SPEC).evaluate, exactly as
  the product alerts;
- iqr: the rolling interquartile range of the last 5 points, every point outside alerts;
- mad: the same slot on the previous 7 days, median +- 3 x 1.4826 MAD, every point outside.

Scores (an episode is a run of consecutive firing points, one alert):
- false/day/100: episodes that overlap no labelled segment nor the hour after one, per day
  per 100 series (an episode is a run of firing points; with --resolve-after 2 runs apart by
  a single quiet point are one episode, as the bot's incidents with RESOLVE_AFTER=2);
- recall: labelled segments (starting after the warm-up) with a firing point inside them or
  within 2 steps after their start; recall>15m the same for segments longer than 15 minutes
  as labelled at the series' own step (in both views: a 3-minute anomaly across a bucket
  boundary labels 2 buckets, and is still a short one);
- delay: median steps from a caught segment's start to its first firing point;
- PA-F1: the AIOps 2018 challenge's point-adjusted F1 over all points of all series (a segment
  counts as wholly found when a point fires within its first 7 + 1 points at the native step,
  within its first 2 + 1 buckets at 15 minutes), else wholly missed.
"""

from __future__ import annotations

import argparse
import csv
import sys
import time
import warnings
import zlib
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

import detectors

WARMUP = pd.Timedelta(days=14)
SHORTEST = pd.Timedelta(hours=2)  # the least span scored (half of it warm-up)
LEAST_POINTS = 20  # and the fewest distinct timestamps
LABELS = ("label", "is_anomaly", "anomaly")  # the label column, by public datasets' names
TIMES = ("timestamp", "timestamps", "time", "datetime")  # the time column (Yahoo's A3, A4: plural)
IDS = ("kpi id", "kpi_id")  # a column telling apart several series in one file (any case)
SEPARATORS = (";", "\t", "|")  # other than a comma, as a one-column header shows them
BUCKET = pd.Timedelta(minutes=15)
AFTER = pd.Timedelta(hours=1)  # an episode this soon after a labelled segment is not false
CATCH = 2  # steps after a segment's start within which an alert still catches it
DELAY_NATIVE = 7  # the AIOps challenge's delay limit, in points at the native step
DELAY_BUCKETS = 2
METHODS = ("default", "iqr", "mad")
IQR_SPEC = {"method": "iqr", "n": 5, "k": 3.0}


UNITS = ((1e17, "ns"), (1e14, "us"), (1e11, "ms"), (0.0, "s"))  # Unix times past the year 5138
# Whole numbers all below this (Unix seconds before March 1973) number the rows instead of
# giving times, as Yahoo's A1 files do (their rows are an hour apart): read `row_step` apart.
ROW_NUMBERS = 1e8
ROW_STEP = pd.Timedelta(hours=1)


def stamps_of(column: pd.Series, row_step: pd.Timedelta = ROW_STEP) -> pd.Series:
    """UTC timestamps, floored to the second, from Unix seconds, milliseconds, microseconds or
    nanoseconds (told apart by size, the same unit throughout) or ISO 8601 text (naive text
    is UTC). Row numbers (`ROW_NUMBERS`) are `row_step` apart from the Unix epoch; such a
    result has `attrs["rows"]` set."""
    numbers = pd.to_numeric(column, errors="coerce")
    if column.empty:
        return pd.Series(pd.to_datetime(column, utc=True), index=column.index)
    if numbers.notna().all():
        whole = numbers.to_numpy(dtype="float64")
        size = np.abs(whole)
        if (whole >= 0).all() and (whole == np.floor(whole)).all() and whole.max() < ROW_NUMBERS:
            if whole.max() * row_step.value > 2**62:
                raise ValueError(f"timestamps are row numbers (up to {whole.max():.0f}), and "
                                 f"{row_step} apart they run past the year 2262: give a "
                                 "smaller --row-step")  # fmt: skip
            nanoseconds = whole.astype(np.int64) * row_step.value
            stamps = pd.Series(pd.to_datetime(nanoseconds, unit="ns", utc=True),
                               index=column.index)  # fmt: skip
            stamps.attrs["rows"] = True
            return stamps
        units = {next(u for floor, u in UNITS if x > floor or floor == 0.0) for x in
                 (float(size.min()), float(size.max()))}  # fmt: skip
        if len(units) > 1:
            raise ValueError(f"timestamps mix units ({' and '.join(sorted(units))} by their "
                             "size): write them all one way")  # fmt: skip
        stamps = pd.to_datetime(whole, unit=units.pop(), utc=True)
        return pd.Series(stamps.floor("s"), index=column.index)
    stamps = pd.to_datetime(column, utc=True, format="ISO8601", errors="coerce")
    unreadable = stamps.isna() & numbers.isna()
    if unreadable.any():
        raise ValueError(f"timestamps must be Unix times or ISO 8601 text; "
                         f"{column[unreadable].iloc[0]!r} is neither")  # fmt: skip
    if stamps.isna().any():
        raise ValueError("timestamps mix numbers and text: write them all one way")
    return pd.Series(stamps.dt.floor("s"), index=column.index)


def warmup_of(index: pd.DatetimeIndex) -> pd.Timedelta:
    """14 days of history before anything is scored; a series spanning less than twice that
    warms up on the first half of its span (the detector's cold start is scored, not skipped)."""
    span = pd.Timedelta(index[-1] - index[0])
    return WARMUP if span >= 2 * WARMUP else span / 2


def read(path: Path, row_step: pd.Timedelta = ROW_STEP) -> tuple[pd.Series, pd.Series]:
    """Value and label on a regular grid at the series' most common step; a ValueError that
    names the file when it is not a labelled series this benchmark can score (or holds
    several: `read_all`)."""
    found = read_all(path, row_step=row_step)
    if len(found) > 1:
        raise ValueError(f"{path.name}: {len(found)} series (a {IDS[0]!r} column); read_all "
                         "reads each")  # fmt: skip
    return found[0][1], found[0][2]


def read_all(
    path: Path, problems: list[str] | None = None, row_step: pd.Timedelta = ROW_STEP
) -> list[tuple[str, pd.Series, pd.Series]]:
    """Each series in the file as (name, value, label): one, or one per id where a `KPI ID`
    column tells several apart (named file:id, rows without an id under file:nan). With
    `problems`, an id that cannot be scored is noted there and the others are kept; a
    ValueError when none can be."""
    stem = path.name.split(".")[0]
    try:
        frame = _csv(path)
        ids = _find(frame, IDS)
        if ids is None:
            return [(stem, *_read(frame, row_step))]
        out, bad = [], []
        for key, part in frame.groupby(ids, sort=True, dropna=False):
            try:
                out.append((f"{stem}:{key}", *_read(part, row_step)))
            except ValueError as exc:
                bad.append(f"{ids} {key}: {exc}")
        if bad and (problems is None or not out):
            raise ValueError(bad[0] if len(bad) == 1 else f"{bad[0]} (and {len(bad) - 1} more)")
        if problems is not None:
            problems.extend(f"{path.name}: {why}" for why in bad)
        if not out:
            raise ValueError(f"no rows with a {ids!r}")
        return out
    except (ValueError, pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError,
            OSError, EOFError, zlib.error) as exc:  # fmt: skip
        message = " ".join(str(exc).removeprefix(f"{path.name}: ").split())  # one line
        raise ValueError(f"{path.name}: {message}") from None


def _csv(path: Path) -> pd.DataFrame:
    """The file as a frame (pandas reads .gz by its name), separated by whichever of a comma,
    a semicolon, a tab or a bar its header line holds most of (a comma on a tie)."""
    line = pd.read_csv(path, header=None, nrows=1, sep="\x1f", quoting=csv.QUOTE_NONE,
                       dtype=str, keep_default_na=False).iat[0, 0]  # fmt: skip
    sep = max((",", *SEPARATORS), key=lambda c: (str(line).count(c), c == ","))
    return pd.read_csv(path, sep=sep)


def _numeric(column: pd.Series) -> pd.Series:
    """Numbers, a decimal comma included ("100,35", as spreadsheets export a semicolon file)."""
    try:
        return pd.to_numeric(column)
    except (ValueError, TypeError):
        text = column.astype(str).str.strip()
        if not text[column.notna()].str.fullmatch(r"[-+]?\d*,?\d+([eE][-+]?\d+)?").all():
            raise
        return pd.to_numeric(text.where(column.notna()).str.replace(",", ".", regex=False))


def _find(frame: pd.DataFrame, names: tuple[str, ...]) -> str | None:
    """The frame's column named one of `names` (the first of them there is): by its exact
    name, else whatever its case and surrounding spaces ("Timestamp", " Value", "KPI ID"); a
    ValueError where two columns would both be it."""
    for name in names:
        if name in frame.columns:
            return name
        alike = [c for c in frame.columns if str(c).strip().lower() == name]
        if len(alike) > 1:
            raise ValueError(f"columns {', '.join(map(repr, alike))} could each be the {name!r} "
                             "column: rename all but one")  # fmt: skip
        if alike:
            return alike[0]
    return None


def _read(frame: pd.DataFrame, row_step: pd.Timedelta) -> tuple[pd.Series, pd.Series]:
    found = {"timestamp": _find(frame, TIMES), "value": _find(frame, ("value",)),
             "label": _find(frame, LABELS)}  # fmt: skip
    lacking = sorted(name for name, column in found.items() if column is None)
    if lacking:
        raise ValueError(f"no column {', '.join(lacking)} "
                         "(a header of timestamp,value,label is needed)")  # fmt: skip
    frame = frame[list(found.values())].set_axis(list(found), axis=1)
    frame = frame.dropna(subset=["timestamp"])
    stamps = stamps_of(frame["timestamp"], row_step)
    rows = bool(stamps.attrs.get("rows"))
    frame = frame.assign(timestamp=stamps).sort_values("timestamp")
    stamps = pd.DatetimeIndex(frame["timestamp"])
    numbers = {}
    for column in ("value", "label"):
        try:
            numbers[column] = _numeric(frame[column]).to_numpy(dtype="float64")
        except (ValueError, TypeError) as exc:
            raise ValueError(f"{column}: {str(exc).strip()}") from None
    value = pd.Series(numbers["value"], index=stamps)
    label = pd.Series(numbers["label"], index=stamps)
    value = value[~value.index.duplicated()]
    label = label[~label.index.duplicated()]
    if value.size < LEAST_POINTS or value.index[-1] - value.index[0] < SHORTEST:
        hours = (value.index[-1] - value.index[0]) / pd.Timedelta(hours=1) if value.size else 0.0
        raise ValueError(f"{value.size} distinct timestamp(s) over {hours:.1f} hours: too short "
                         "to score "
                         f"(at least {LEAST_POINTS} over {SHORTEST.seconds // 3600} hours, "
                         "the first half of a short series being its warm-up)")  # fmt: skip
    step = pd.Series(value.index[1:] - value.index[:-1]).mode().iloc[0]
    # Snap to the grid: real collectors jitter by seconds.
    start = value.index[0].floor(step)
    value.index = value.index.floor(step)
    label.index = label.index.floor(step)
    value = value[~value.index.duplicated()]
    label = label[~label.index.duplicated()]
    grid = pd.date_range(start, value.index[-1], freq=step)
    value = value.reindex(grid)
    value.attrs["rows"] = rows  # its timestamps were row numbers, `row_step` apart
    return value, label.reindex(grid).fillna(0.0)


def to_buckets(
    value: pd.Series, label: pd.Series, bucket: pd.Timedelta = BUCKET
) -> tuple[pd.Series, pd.Series]:
    """Means over `bucket` (15 minutes; NaN where a bucket has no point); a bucket is labelled
    if any point is."""
    if value.index.freq is not None and pd.Timedelta(value.index.freq) >= bucket:
        return value, label
    return value.resample(bucket).mean(), label.resample(bucket).max().fillna(0.0)


def long_marks(label: pd.Series) -> pd.Series:
    """1.0 on the points of labelled segments longer than 15 minutes at the label's own step."""
    step = pd.Timedelta(label.index[1] - label.index[0])
    marks = np.zeros(label.size)
    for a, b in runs(label.to_numpy() > 0):
        if (b - a + 1) * step > BUCKET:
            marks[a : b + 1] = 1.0
    return pd.Series(marks, index=label.index)


def mad_band(series: pd.Series, days: int = 7, k: float = 3.0) -> pd.DataFrame:
    """Same slot on the previous `days` days: median +- k robust sd of those values."""
    step = pd.Timedelta(series.index[1] - series.index[0])
    period = int(pd.Timedelta(days=1) / step)
    values = series.to_numpy(dtype="float64")
    n = values.size
    past = np.full((n, days), np.nan)
    for d in range(1, days + 1):
        lag = d * period
        if lag < n:
            past[lag:, d - 1] = values[: n - lag]
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN rows: no band there
        med = np.nanmedian(past, axis=1)
        mad = 1.4826 * np.nanmedian(np.abs(past - med[:, None]), axis=1)
    enough = np.sum(np.isfinite(past), axis=1) >= 3
    med = np.where(enough, med, np.nan)
    return pd.DataFrame(
        {"expected": med, "lower": med - k * mad, "upper": med + k * mad}, index=series.index
    )


def firing(
    method: str, series: pd.Series, overrides: dict[str, str], *, mask_gaps: bool = True,
    weight: pd.Series | None = None,
) -> np.ndarray:
    """Per point, whether `method` alerts there. `weight`: the default's ratio weight (a
    CTR's views, as the bot passes a ratio metric's denominator)."""
    if method == "default":
        spec = {**detectors.DEFAULT_SPEC, **overrides}
        band = detectors.build(spec).band(series, weight=weight)
        fire = detectors.build_rule(spec).evaluate(series, band)["firing"].to_numpy(dtype=bool)
        # A gap in the record is unknown, not an outage: no verdict there.
        return fire & series.notna().to_numpy() if mask_gaps else fire
    # The baselines alert on every point outside their band, whatever the step.
    band = detectors.build(IQR_SPEC).band(series) if method == "iqr" else mad_band(series)
    v = series.to_numpy(dtype="float64")
    with np.errstate(invalid="ignore"):
        return (v < band["lower"].to_numpy()) | (v > band["upper"].to_numpy())


def runs(flags: np.ndarray) -> list[tuple[int, int]]:
    """(first, last) of each run of True."""
    padded = np.concatenate([[False], flags, [False]]).astype(int)
    edges = np.diff(padded)
    starts = np.flatnonzero(edges == 1)
    ends = np.flatnonzero(edges == -1) - 1
    return list(zip(starts.tolist(), ends.tolist(), strict=True))


@dataclass
class Tally:
    days: float = 0.0
    series: int = 0
    false: int = 0
    episodes: int = 0
    segments: int = 0
    caught: int = 0
    long_segments: int = 0
    long_caught: int = 0
    delays: list[int] = field(default_factory=list)
    tp: int = 0
    fp: int = 0
    fn: int = 0
    seconds: float = 0.0
    points: int = 0  # scored points
    absent: int = 0  # of which absent from the record (no verdict)
    short: int = 0  # series spanning under 28 days: warm-up the first half of their span
    rows: int = 0  # series whose timestamps were row numbers, read `--row-step` apart
    per_series: dict[str, tuple[int, int, int]] = field(default_factory=dict)

    def add(self, other: Tally) -> None:
        for name in ("days", "series", "false", "episodes", "segments", "caught",
                     "long_segments", "long_caught", "tp", "fp", "fn", "seconds", "points",
                     "absent", "short", "rows"):  # fmt: skip
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.delays.extend(other.delays)
        self.per_series.update(other.per_series)


def episodes(fire: np.ndarray, resolve_after: int) -> list[tuple[int, int]]:
    """Runs of firing points, a run ending only after `resolve_after` quiet points in a row
    (the bot's RESOLVE_AFTER: 1 counts every run on its own)."""
    out: list[tuple[int, int]] = []
    for a, b in runs(fire):
        if out and a - out[-1][1] - 1 < resolve_after:
            out[-1] = (out[-1][0], b)
        else:
            out.append((a, b))
    return out


def score(
    name: str,
    fire: np.ndarray,
    label: pd.Series,
    *,
    delay_limit: int,
    resolve_after: int = 1,
    long: pd.Series | None = None,
    start: pd.Timestamp | None = None,
) -> Tally:
    """`long` marks the points of segments longer than 15 minutes at the native step (default:
    this label's own segments by their length); points from `start` on are scored (default:
    after `warmup_of` the label's index)."""
    index = label.index
    step = pd.Timedelta(index[1] - index[0])
    scored = np.asarray(index >= (index[0] + warmup_of(index) if start is None else start))
    lab = label.to_numpy() > 0
    fire = fire & scored
    segments = runs(lab)
    after = int(AFTER / step)
    covered = np.zeros(lab.size, dtype=bool)
    for a, b in segments:
        # The hour after, and never less than the catch window: an alert that catches a
        # segment is never also a false one (at an hourly step the hour is 1 bucket, CATCH 2).
        covered[a : min(max(b + after, a + CATCH) + 1, lab.size)] = True
    t = Tally(days=float(scored.sum() * step / pd.Timedelta(days=1)), series=1)
    for a, b in episodes(fire, resolve_after):
        t.episodes += 1
        if not covered[a : b + 1].any():
            t.false += 1
    marks = (long_marks(label) if long is None else long).to_numpy() > 0
    pa = fire.copy()
    for a, b in segments:
        if not scored[a]:
            continue
        t.segments += 1
        is_long = bool(marks[a : b + 1].any())
        t.long_segments += is_long
        hits = np.flatnonzero(fire[a : max(b, a + CATCH) + 1])
        if hits.size:
            t.caught += 1
            t.long_caught += is_long
            t.delays.append(int(hits[0]))
        found = fire[a : min(a + delay_limit + 1, b + 1)].any()
        pa[a : b + 1] = found
    truth = lab & scored
    t.tp = int(np.sum(pa & truth))
    t.fp = int(np.sum(pa & ~truth & scored))
    t.fn = int(np.sum(~pa & truth))
    t.per_series[name] = (t.false, t.caught, t.segments)
    return t


def run_one(
    path: Path,
    methods: tuple[str, ...],
    overrides: dict[str, str],
    resolve_after: int = 1,
    bucket: str = "15min",
    *,
    mask_gaps: bool = True,
    problems: list[str] | None = None,
    row_step: pd.Timedelta = ROW_STEP,
    shift: float = 0.0,
) -> dict[tuple[str, str], Tally]:
    """Every series in the file, each method in each view; a ValueError naming the file when
    it holds no series this benchmark can score (with `problems`, the ids of a `KPI ID` file
    that cannot be are noted there and the others scored). `shift`: each series moved up by
    that many times the range between its 5th and 95th percentiles (a what-if: the same
    series as a level far from zero)."""
    out: dict[tuple[str, str], Tally] = {}
    for name, read_value, label in read_all(path, problems, row_step):
        spread = float(read_value.quantile(0.95) - read_value.quantile(0.05)) if shift else 0.0
        value = read_value + shift * spread if shift else read_value
        for key, tally in _run_series(name, value, label, methods=methods, overrides=overrides,
                                      resolve_after=resolve_after, bucket=bucket,
                                      mask_gaps=mask_gaps).items():  # fmt: skip
            out.setdefault(key, Tally()).add(tally)
    return out


def _run_series(
    name: str,
    value: pd.Series,
    label: pd.Series,
    *,
    methods: tuple[str, ...],
    overrides: dict[str, str],
    resolve_after: int,
    bucket: str,
    mask_gaps: bool,
) -> dict[tuple[str, str], Tally]:
    out: dict[tuple[str, str], Tally] = {}
    warmup = warmup_of(value.index)
    start = value.index[0] + warmup
    native_step = pd.Timedelta(value.index[1] - value.index[0])
    long = long_marks(label)
    views = {"native": (value, label, DELAY_NATIVE, long)}
    size = pd.Timedelta(bucket)
    if native_step < size:
        bucket_value, bucket_label = to_buckets(value, label, size)
        bucket_long = long.resample(size).max().fillna(0.0)
        views[bucket] = (bucket_value, bucket_label, DELAY_BUCKETS, bucket_long)
    else:
        views[bucket] = (value, label, DELAY_BUCKETS, long)
    for view, (v, lab, limit, marks) in views.items():
        for method in methods:
            started = time.perf_counter()
            fire = firing(method, v, overrides, mask_gaps=mask_gaps)
            elapsed = time.perf_counter() - started
            tally = score(name, fire, lab, delay_limit=limit, resolve_after=resolve_after,
                          long=marks, start=start)  # fmt: skip
            tally.seconds = elapsed
            tally.short = int(warmup < WARMUP)
            tally.rows = int(bool(value.attrs.get("rows")))
            scored = np.asarray(v.index >= start)
            tally.points = int(scored.sum())
            tally.absent = int((v.isna().to_numpy() & scored).sum())
            out[(view, method)] = tally
    return out


def run_file(
    path: Path, *args: Any, **kwargs: Any
) -> tuple[dict[tuple[str, str], Tally] | None, list[str]]:
    """`run_one`, and what in the file could not be scored (the whole file, or some of its
    ids): one bad file or id never stops the others."""
    problems: list[str] = []
    try:
        return run_one(path, *args, problems=problems, **kwargs), problems
    except ValueError as exc:
        return None, [*problems, str(exc)]


def report(
    totals: dict[tuple[str, str], Tally],
    methods: tuple[str, ...],
    *,
    per_series: bool,
    views: tuple[str, ...] = ("15min", "native"),
    gaps_judged: bool = False,
) -> None:
    """The table (and with per_series the default's false alerts and catches per series)."""
    gaps = ("gaps judged by the rule as they come" if gaps_judged
            else "gaps: no verdict, never a 'no data' alert")  # fmt: skip
    for view in views:
        t = next((totals[(view, m)] for m in methods if (view, m) in totals), None)
        if t is not None and t.points:
            print(
                f"  {view}: {t.absent / t.points:.1%} of scored points absent from the "
                f"record ({gaps})"
            )
    header = (f"{'view':<7} {'method':<8} {'false/day/100':>13} {'recall':>7} {'>15m':>6} "
              f"{'delay':>5} {'PA-F1':>6} {'segments':>8} {'>15m':>5} {'s/series':>8}")  # fmt: skip
    print(header)
    print("-" * len(header))
    for view in views:
        for method in methods:
            t = totals.get((view, method))
            if t is None:
                continue
            false_rate = t.false / t.days * 100 if t.days else float("nan")
            recall = t.caught / t.segments if t.segments else float("nan")
            long = t.long_caught / t.long_segments if t.long_segments else float("nan")
            delay = float(np.median(t.delays)) if t.delays else float("nan")
            p = t.tp / (t.tp + t.fp) if t.tp + t.fp else 0.0
            r = t.tp / (t.tp + t.fn) if t.tp + t.fn else 0.0
            f1 = 2 * p * r / (p + r) if p + r else 0.0
            per = t.seconds / t.series
            print(f"{view:<7} {method:<8} {false_rate:>13.1f} {recall:>7.3f} {long:>6.3f} "
                  f"{delay:>5.1f} {f1:>6.3f} {t.segments:>8} {t.long_segments:>5} "
                  f"{per:>8.2f}")  # fmt: skip
    if per_series:
        for view in views:
            t = totals.get((view, "default"))
            if t is None:
                continue
            width = max(map(len, t.per_series), default=6)
            print(f"\n{view}, default:\n  {'series':<{width}} {'false':>5} caught/segments")
            for name, (false, caught, segs) in sorted(t.per_series.items()):
                print(f"  {name:<{width}} {false:>5} {caught:>6}/{segs}")


def overrides_of(parser: argparse.ArgumentParser, items: list[str]) -> dict[str, str]:
    """--set PARAM=VALUE pairs as the default's overrides; a malformed pair or a bad setting
    is a usage error here, not a traceback from a worker."""
    if any("=" not in item for item in items):
        parser.error("--set takes PARAM=VALUE pairs, e.g. --set k=4 window=0")
    overrides = dict(item.split("=", 1) for item in items)
    try:
        detectors.build({**detectors.DEFAULT_SPEC, **overrides})
        detectors.build_rule({**detectors.DEFAULT_SPEC, **overrides})
    except ValueError as error:
        parser.error(str(error))
    return overrides


def arguments() -> tuple[argparse.Namespace, dict[str, str], pd.Timedelta]:
    """The command line, checked: its arguments, the default's overrides, the row step."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, help="folder of timestamp,value,label CSVs")
    parser.add_argument("--limit", type=int, help="only the first N files (by name)")
    parser.add_argument("--jobs", type=int, default=2, help="worker processes (default 2)")
    parser.add_argument("--only", nargs="+", choices=METHODS, help="methods to run")
    parser.add_argument("--per-series", action="store_true", help="false/caught per series")
    parser.add_argument(
        "--resolve-after",
        type=int,
        default=1,
        metavar="N",
        help="an episode ends after N quiet points in a row (the bot's RESOLVE_AFTER is 2; "
        "default 1: every run of firing points is an episode)",
    )
    parser.add_argument(
        "--set",
        nargs="+",
        default=[],
        metavar="PARAM=VALUE",
        help="change the default's settings, e.g. --set k=4 window=0 (what-if runs)",
    )
    parser.add_argument("--bucket", choices=("15min", "30min", "1h"), default="15min",
                        help="the coarser view's bucket (default 15min)")  # fmt: skip
    parser.add_argument("--row-step", default="1h", metavar="STEP",
                        help="how far apart rows are where the timestamps number them (1, 2, "
                             "3, ... as in Yahoo's A1 files, hourly) instead of giving times; "
                             "default 1h")  # fmt: skip
    parser.add_argument("--shift", type=float, default=0.0, metavar="N",
                        help="move each series up by N times the range between its 5th and "
                             "95th percentiles: the same series as a level far from zero "
                             "(what-if; default 0)")  # fmt: skip
    parser.add_argument("--gaps", choices=("skip", "judge"), default="skip",
                        help="skip: no verdict on a gap in the record (default); judge: score "
                             "the rule's firing as it comes, gaps included")  # fmt: skip
    args = parser.parse_args()
    overrides = overrides_of(parser, args.set)
    try:
        row_step = pd.Timedelta(args.row_step)
    except ValueError:
        row_step = pd.NaT
    if pd.isna(row_step) or row_step <= pd.Timedelta(0):
        parser.error(f"--row-step takes a positive duration such as 1h, 5min or 1d, "
                     f"not {args.row_step!r}")  # fmt: skip
    return args, overrides, row_step


def heading(args: argparse.Namespace, totals: dict[tuple[str, str], Tally], files: int,
            wall: float) -> None:
    """What was scored and how, above the table."""
    changed = f"; default with {' '.join(args.set)}" if args.set else ""
    if args.resolve_after > 1:
        changed += f"; episodes end after {args.resolve_after} quiet points"
    if args.gaps == "judge":
        changed += "; gaps judged by the rule as they come"
    if args.shift:
        changed += f"; each series moved up by {args.shift:g} times its 5th-95th percentile range"
    first = totals[next(iter(totals))]
    print(f"{first.series} series from {files} files in {args.data}; "
          f"warm-up 14 days; {wall:.0f} s wall with {args.jobs} jobs{changed}")  # fmt: skip
    if first.rows:
        print(f"  {first.rows} of them number their rows instead of giving times: read as "
              f"{args.row_step} apart (--row-step)")  # fmt: skip
    if first.short:
        print(f"  {first.short} of them span under 28 days: each warms up on the first half of "
              "its span")  # fmt: skip


def main() -> None:
    args, overrides, row_step = arguments()
    files = sorted(p for p in Path(args.data).iterdir()
                   if p.name.endswith((".csv", ".csv.gz")))  # fmt: skip
    if args.limit:
        files = files[: args.limit]
    if not files:
        sys.exit(f"no .csv or .csv.gz files in {args.data}")
    methods = tuple(args.only or METHODS)
    started = time.perf_counter()
    totals: dict[tuple[str, str], Tally] = {}
    skipped: list[str] = []
    unscored = 0  # files with nothing scored
    with ProcessPoolExecutor(max_workers=max(args.jobs, 1)) as pool:
        one = partial(run_file, mask_gaps=args.gaps == "skip", row_step=row_step,
                      shift=args.shift)  # fmt: skip
        jobs = pool.map(one, files, [methods] * len(files), [overrides] * len(files),
                        [args.resolve_after] * len(files), [args.bucket] * len(files))  # fmt: skip
        for result, problems in jobs:
            skipped.extend(problems)  # a file, or an id in one, that is not a labelled series
            unscored += result is None
            for key, tally in (result or {}).items():
                totals.setdefault(key, Tally()).add(tally)
    if not totals:
        sys.exit("real_kpi.py: no file could be scored:\n  " + "\n  ".join(skipped))
    wall = time.perf_counter() - started
    heading(args, totals, len(files) - unscored, wall)
    report(totals, methods, per_series=args.per_series, views=(args.bucket, "native"),
           gaps_judged=args.gaps == "judge")
    print(
        "\ntargets (default): 15min false/day/100 <= 10, recall >15m >= 0.80, recall >= 0.50; "
        "native false/day/100 <= 50, PA-F1 >= 0.75"
        + ("" if args.bucket == "15min" else f" (stated for 15-minute means, not {args.bucket})")
    )
    if skipped:
        print(f"\nnot scored ({unscored} of {len(files)} files, {len(skipped)} problems in all; "
              "fix or remove them):")  # fmt: skip
        for why in skipped:
            print(f"  {why}")


if __name__ == "__main__":
    main()
