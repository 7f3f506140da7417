"""The detector interface: a causal band for every point, and a Verdict for the last one."""

from __future__ import annotations

import enum
import math
from abc import ABC, abstractmethod
from dataclasses import dataclass, replace
from datetime import timedelta

import numpy as np
import pandas as pd

__all__ = [
    "NO_WIDTH",
    "REFERENCE_STEP",
    "Detector",
    "Direction",
    "Status",
    "Verdict",
    "first_week",
    "floored",
    "infer_step",
    "judge",
    "never_negative",
    "outside_since",
    "relative_to",
]

# Seconds: the step the rule's bucket counts, and what grows or shrinks with the step in the
# band and the rule, are stated for (15 minutes).
REFERENCE_STEP = 900.0
# The score of a value off a band side with no width (as far out as a score goes): finite, so
# that it sums, sorts and prints as a number.
NO_WIDTH = 1e6


class Status(enum.StrEnum):
    OK = "ok"
    ANOMALY = "anomaly"
    UNKNOWN = "unknown"


class Direction(enum.StrEnum):
    BOTH = "both"
    DOWN = "down"
    UP = "up"


@dataclass(frozen=True)
class Verdict:
    """How one bucket compares with its band.

    score is the signed distance from expected in band half-widths: |score| > 1 is outside.
    """

    status: Status
    bucket: pd.Timestamp
    value: float | None
    expected: float | None
    lower: float | None
    upper: float | None
    score: float | None
    reason: str

    @property
    def deviation(self) -> float | None:
        """(value - expected) / expected, or None where it is undefined."""
        if self.value is None or self.expected is None or self.expected == 0:
            return None
        return (self.value - self.expected) / abs(self.expected)


def relative_to(expected: np.ndarray, cap: np.ndarray | None) -> np.ndarray:
    """What a relative change or width is a share of: |expected|, or the band's
    `relative_cap` where it has one and that is smaller (a level far from zero next to its
    own span: see SeasonalDetector's `offset_spans`). NaN where `expected` is NaN."""
    size = np.abs(expected)
    if cap is None:
        return size
    with np.errstate(invalid="ignore"):
        return np.where(np.isfinite(cap), np.minimum(size, cap), size)


def never_negative(values: np.ndarray) -> np.ndarray:
    """Per row (along the last axis), whether the series has known values and none below 0:
    a ratio, a mean or a count whose range is shown from 0 (`floored`)."""
    v = np.asarray(values, dtype="float64")
    with np.errstate(invalid="ignore"):
        below = (v < 0).any(axis=-1)  # NaN compares False; -inf is below zero
    return ~below & np.isfinite(v).any(axis=-1)


def floored(verdict: Verdict) -> Verdict:
    """The verdict as it is shown for a series that never went below zero: its range stops at
    0 (a thin slice's CTR reads 0% - 41%, not -10% - 41%). Only the display: the rule judged
    by the band's own width below the expected value, which a range held at 0 would narrow
    (every dip of a noisy ratio would then count as further out than it is). A value never
    below zero is outside the one range exactly where it is outside the other."""
    if verdict.lower is None or verdict.lower >= 0:
        return verdict
    return replace(verdict, lower=0.0)


def never_over_one(values: np.ndarray) -> np.ndarray:
    """Per row (along the last axis), whether the series has known values and none above 1:
    with `never_negative`, a share whose range is shown up to 100% (`capped`)."""
    v = np.asarray(values, dtype="float64")
    with np.errstate(invalid="ignore"):
        above = (v > 1).any(axis=-1)
    return ~above & np.isfinite(v).any(axis=-1)


def capped(verdict: Verdict) -> Verdict:
    """The verdict as it is shown for a share (a ratio whose values were always within 0..1):
    its range stops at 100% (a 5-view CTR read 0.00% - 140.18%). Only the display, as
    `floored`: a value never above 1 is outside the one range exactly where it is outside
    the other."""
    if verdict.upper is None or verdict.upper <= 1:
        return verdict
    return replace(verdict, upper=1.0)


def shown(
    series: pd.Series, band: pd.DataFrame, verdict: Verdict, *, ratio: bool = False
) -> tuple[pd.DataFrame, Verdict]:
    """The band and verdict as a check shows them: a series that never went below zero is
    shown its range from 0 (`floored`), a ratio that never went above 1 as well its range up
    to 100% (`capped`); the rule judged by the band's own width."""
    values = series.to_numpy(dtype="float64")
    if not never_negative(values):
        return band, verdict
    band, verdict = band.assign(lower=band["lower"].clip(lower=0.0)), floored(verdict)
    if not ratio or not never_over_one(values):
        return band, verdict
    return band.assign(upper=band["upper"].clip(upper=1.0)), capped(verdict)


def require_timestamps(index: pd.Index) -> None:
    """A ValueError that says what to do for a series not indexed by time."""
    if not isinstance(index, pd.DatetimeIndex):
        raise ValueError(
            f"the series must be indexed by its timestamps (a pandas DatetimeIndex); its index "
            f"is of type {type(index).__name__}: e.g. series.index = pd.to_datetime(stamps, "
            f"unit='s')"
        )
    if index.hasnans:
        raise ValueError("the series index has a missing timestamp (NaT): drop or fill it")
    if index.is_monotonic_increasing and not index.is_unique:
        first = index[index.duplicated()][0]
        raise ValueError(
            f"the series index repeats a timestamp ({first}): keep one value per timestamp, "
            f"e.g. series.groupby(level=0).sum() for counts or .mean() for a rate"
        )


def infer_step(index: pd.DatetimeIndex) -> timedelta:
    """The series' step: its most common spacing (whatever the index's time unit)."""
    require_timestamps(index)
    if len(index) < 2:
        raise ValueError("a series needs at least two points to have a step")
    first = index[1] - index[0]
    raw = np.diff(index.asi8)
    if first > pd.Timedelta(0) and bool(np.all(raw == raw[0])):
        return timedelta(seconds=first.total_seconds())  # regular: the common case, and fast
    diffs = pd.Series(index[1:] - index[:-1])
    step = diffs.mode().iloc[0]
    if step <= pd.Timedelta(0):
        raise ValueError("the series index must be increasing")
    return timedelta(seconds=step.total_seconds())


class Detector(ABC):
    """Parameters in the constructor (validated there); band() is causal and vectorised."""

    name: str

    @abstractmethod
    def band(
        self, series: pd.Series, last: int | None = None, weight: pd.Series | None = None
    ) -> pd.DataFrame:
        """Columns expected, lower, upper on series.index; causal: row t uses no value after t.

        `last`: only the last N rows are needed (the others may be NaN), which detectors may
        use to do less work; the rows they do return are the same either way.
        `weight`: for a ratio (likes / views), its denominator per bucket, so that a bucket
        resting on few events gets an honestly wider band. Detectors may ignore it.
        """

    def describe(self) -> str:
        return self.name


def _num(x: float) -> float | None:
    return None if x is None or not math.isfinite(x) else float(x)


def judge(
    series: pd.Series,
    band: pd.DataFrame,
    *,
    at: pd.Timestamp | None = None,
    direction: Direction = Direction.BOTH,
) -> Verdict:
    """The verdict for one bucket (default: the last) from its value and band."""
    if series.empty:
        raise ValueError("cannot judge an empty series")
    bucket = series.index[-1] if at is None else at
    series = series.astype("float64")  # a nullable column's NA, an object's None: NaN
    value = _num(float(series.get(bucket, np.nan)))
    row = band.loc[bucket] if bucket in band.index else None
    expected = _num(float(row["expected"])) if row is not None else None
    lower = _num(float(row["lower"])) if row is not None else None
    upper = _num(float(row["upper"])) if row is not None else None
    if value is None:
        return Verdict(Status.UNKNOWN, bucket, None, expected, lower, upper, None,
                       "no data for this bucket")  # fmt: skip
    if expected is None or lower is None or upper is None:
        return Verdict(Status.UNKNOWN, bucket, value, None, None, None, None,
                       "too little history for an expected range")  # fmt: skip
    half = (upper - expected) if value >= expected else (expected - lower)
    if half > 0:
        score = (value - expected) / half
    else:
        score = 0.0 if value == expected else math.copysign(NO_WIDTH, value - expected)
    score = float(np.clip(score, -NO_WIDTH, NO_WIDTH))
    outside = value < lower or value > upper
    if not outside:
        return Verdict(Status.OK, bucket, value, expected, lower, upper, score, "inside the band")
    side = "below" if value < lower else "above"
    if (direction is Direction.DOWN and side == "above") or (
        direction is Direction.UP and side == "below"
    ):
        return Verdict(Status.OK, bucket, value, expected, lower, upper, score,
                       f"{side} the band, but only {direction.value} moves alert")  # fmt: skip
    return Verdict(Status.ANOMALY, bucket, value, expected, lower, upper, score,
                   f"{side} the expected range")  # fmt: skip


def outside_since(series: pd.Series, band: pd.DataFrame) -> pd.Timestamp | None:
    """First bucket of the run of out-of-band values that ends at the series' last bucket."""
    outside = ((series < band["lower"]) | (series > band["upper"])).to_numpy()
    if outside.size == 0 or not outside[-1]:
        return None
    inside = np.flatnonzero(~outside)
    first = inside[-1] + 1 if inside.size else 0
    return series.index[first]


def first_week(values: np.ndarray, index: pd.DatetimeIndex, last: int | None = None) -> np.ndarray:
    """Per bucket of `values` (a series on `index`, or series x buckets), whether it is less
    than 7 days after its series' first known value: a weekday its history has not seen yet.
    A new metric's first Saturday, or its first Monday, is forecast from other weekdays, and
    its ordinary level may run 30-40% off that all day (the rule's `window_first_week`). By
    the timestamps, whatever the step or a clock change. `last`: only the last buckets."""
    rows = np.atleast_2d(np.asarray(values, dtype="float64"))
    n = rows.shape[1]
    known = np.isfinite(rows)
    first = np.where(known.any(axis=1), np.argmax(known, axis=1), n)
    stamps = pd.DatetimeIndex(index).as_unit("ns").asi8
    week = 7 * 86_400 * 1_000_000_000
    # Past the last bucket where a row has no known value: never within a week of one.
    began = np.where(first < n, stamps[np.minimum(first, n - 1)], np.iinfo(np.int64).max - week)
    at = stamps[n - min(n, n if last is None else last) :]
    fresh = at[None, :] < began[:, None] + week
    return fresh if np.ndim(values) == 2 else fresh[0]
