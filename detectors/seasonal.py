"""Seasonal detector: a robust band from the same time of day on previous days.

expected(t) = median of the values at t - d*period, d = 1..days (scaled to t's weekday by how
the same weekday of previous weeks compared with that median around the same time, where that
stands out from its own noise), times a level factor (recent actual against that
median), so slow growth or a holiday-wide shift is not an anomaly. The level is two-speed: a
slow one over `level_slow` buckets, and a fast one over `level_window` buckets that may stray at
most `level_clip` from the slow one, so a decline over a few hours cannot drag the expected
value down with it.
width = k robust standard deviations of the past forecast errors at the same time of day,
never narrower than min_rel_width of expected.
A level far from zero next to its own span (a gauge, a success rate, a temperature: the 1st to
99th percentile of the last `SPAN_DAYS` days) counts as `offset_spans` spans in relative terms:
the narrowest width and the rule's relative effect guards read the `relative_cap` column.
At a step of `late_minutes` (5) or finer, a point is judged against its own band or that of one
of the points of the last 5 minutes, whichever it fits best: a day's shape comes a few minutes
late without anything being wrong.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from datetime import timedelta
from typing import Any

import numpy as np
import pandas as pd

from detectors.base import (
    REFERENCE_STEP,
    Detector,
    first_week,
    infer_step,
    relative_to,
    require_timestamps,
)
from detectors.params import Param, validate

__all__ = [
    "SeasonalDetector",
    "count_floor",
    "late_match",
    "late_points",
    "near_columns",
    "near_least",
    "near_width",
    "noise_units",
    "robust_sd",
    "same_time_autocorr",
    "same_time_pairs",
    "same_weekday",
    "seasonal_period",
    "widths_of",
]

WEEKLY_MIN = 2  # fewest same-weekday values that may stand in for the daily median (`same_weekday`)
DECIMALS_MAX = 9  # values with more decimal places than this have no resolution to speak of
COLD_MIN_POINTS = 4  # fewest points a cold-start band rests on, whatever the step
# Fewest buckets the noisy-day widening reads (where `noise_hours` makes it read any): a median
# of 6 hourly errors is moved by 3 of them, so an incident of 2 or 3 hours read as a noisy day
# and widened its own band; over 12 an incident must hold for 6 to do that, as at 15 minutes.
NOISE_MIN_BUCKETS = 12
# The tail the width also follows: the 80th percentile of past absolute errors (1.2816 sd for
# normal errors). Not higher: in two weeks of one time of day, past incidents can be a tenth.
TAIL_Q, TAIL_Z = 0.8, 1.2816
RESOLUTION_SD = 0.5  # narrowest sd, in the series' resolution: a step of 1 is never noise-free
# Recent noise must be this many times the usual before the band widens (then by the excess:
# at 3x the usual, 2.5x): the estimate wobbles around 1 on an ordinary day.
NOISE_SLACK = 1.5
# A bucket this many times the band's half-width (as widened then) from the expected value
# is an event, not noise: it does not widen the band after it. Far enough out that a noisy
# day's errors, which grow past the band a few at a time, still count.
EVENT_BEYOND = 1.5
# The errors' lag-1 correlation at the same time of day (`same_time_autocorr`): the fewest
# pairs it rests on, and the standard errors of sampling noise taken off it (the rule's
# `autocorr_se` default, which does the same for the last day's correlation).
AUTOCORR_PAIRS_MIN = 20
AUTOCORR_SE = 2.0
# Only pairs of errors both within this share of the bucket's half-width count: the first
# buckets of a past incident lean one way inside the band, and on the days it came at this
# time they would read as the time of day's habit (a gradual decline then fired hours late).
AUTOCORR_WITHIN = 0.75
# Below this many events a bucket a count's noise is its discreteness and its bursts (a sender
# of five messages) more than its level: its errors are read as at this level (`noise_units`).
# From 1 on, a messenger's night buckets of 1-3 messages doubled their share past the band.
UNITS_FROM = 30.0
# A count's lower edge (`count_floor`): noise within this share of Poisson's is read as
# Poisson's, and the least usual count is looked for among the first COUNT_FLOOR_MAX.
POISSON_SLACK = 0.01
# The chance of a count under that edge, as a share of the one a normal band's edge has at `k`
# (a tenth: 1 in 17,000 at 3.25). The spread is the band's robust one, and real counts fall
# further below it than a negative binomial says (a partial outage, a crowd that leaves): at
# the normal band's own chance the demo's small slices raised half as many false alerts
# again (0.19 a day against 0.13) for one incident more; at a tenth, 0.14.
COUNT_TAIL = 0.1
FLOOR_REACH = 2.0  # ... where the band's lower side reaches below 1 / FLOOR_REACH of expected
COUNT_FLOOR_MAX = 64
REBASE_MIN = 1.0  # smallest lasting level change, in robust sd, that is re-based
# A level change of this share or more (x1.4, or /1.4) is followed for the `days` after it in
# the series' own noise from one bucket to the next, not in the loose width (`_rebase`) ...
REBASE_BIG = 0.4
REBASE_SHARE = 0.05  # ... never finer than this share of the expected value
REBASE_DEAD = 0.05  # a count re-based to under this share of its level: dead, not a new normal
# The width also rises towards the errors of this time of day and the `near` slots either
# side alone, where they run larger than those of all the `neighbours` by more than a slack of
# NEAR_SLACK / sqrt(their count) of the width (10% from 14 days of 3 slots, 42 errors; 20%
# from 11): a day whose level steps at midnight misses most in its first buckets, while the
# slots that reach back into the evening before were forecast from that evening's own level.
# The slack is about the relative wobble of that narrower estimate against the wider one, so
# on a series whose errors are alike at every slot it seldom widens the band, and then little.
NEAR_SLACK = 0.65
# One side of the band widens where the errors on that side run wider than all of them together
# (counts and traffic are right-skewed: noise goes further above the expected value than below
# it), to their ratio less SKEW_SLACK / sqrt(that side's count). Under symmetric noise that
# ratio wobbles by 0.88 / sqrt(count) (robust sds of normal errors), so the slack is about two
# of its standard errors and a symmetric series seldom gets a lopsided band, and then little.
SKEW_SLACK = 1.75
# What a band rests on (the `basis` column; None where there is no band).
NONE = None
WEEKLY = "weekly"
DAILY = "daily"
DAILY_SHORT = "daily-short"
RECENT = "recent"
REBASED = ", rebased"
SPARSE = ", sparse"  # the width is the sparse floor: sums of buckets mean little there
# A series is sparse where this share of its forecast errors is exactly 0: below
# half already (a mean of a few events is 0 most of the time, and its rare blips vary).
SPARSE_SHARE = 0.3
# ... of the errors over this many weeks: a series dead (exactly 0) for three days and re-based
# there is no mostly-zero series, whose floor from its recovery's errors (a band of +-120%)
# would hide its next outage.
SPARSE_WEEKS = 2
# The sparse floor reads the week before the excursion a bucket is part of, up to this many
# hours back: one that is still going on (an error rate held at 0 that jumps to 10%) must not
# set its own floor within two buckets and stop alerting; after this long it counts as one the
# series makes. A burst that is over counts at once, as before.
SPARSE_LAG_HOURS = 6
# A series' span, for `offset_spans`: its SPAN_Q to 1 - SPAN_Q quantiles over the SPAN_DAYS whole
# (UTC) days before a bucket's day, from at least a day's worth of values. Whole days, so a
# bucket's span changes once a day and the band engine computes it once a day per series.
SPAN_DAYS = 7
# An irregular series goes on a grid at its most common spacing, unless that grid would hold
# more than this many buckets per point (and more than GRID_ALWAYS): three points, two of them
# a second apart and the third a month later, would make 2.7 million buckets and gigabytes.
GRID_SPARSEST = 100
GRID_ALWAYS = 100_000
# The span a share pinned at exactly 1 for SPAN_DAYS (a success rate that never failed) is
# measured in: a fall by a tenth of it is an effect (0.1 percentage point).
PINNED_SHARE = 0.01
SPAN_Q = 0.01
DAY_NS = 86_400 * 10**9


def seasonal_period(step: timedelta) -> int:
    """Points per season: a day for sub-daily steps, a week for daily steps, else none (1)."""
    seconds = step.total_seconds()
    if seconds <= 0:
        raise ValueError(f"the step must be positive, got {step}")
    if seconds < 86400 and 86400 % seconds == 0:
        return int(86400 // seconds)
    if seconds == 86400:
        return 7
    if seconds <= 86400 / 4:
        # A step that does not divide a day (7 min, 25 min): the nearest whole number of
        # steps, so the same time of day drifts by under half a step a day, not "no season".
        return round(86400 / seconds)
    return 1


def weekday_points(hours: float, period: int, *, spread: bool = True) -> int:
    """Points each side over which a weekday's shape is taken (`weekday_hours`); under a
    season, and with `spread` (the shape pulled by its standard error, which reads the shapes
    either side, twice as far ahead) under half a season, so every median it reads rests on
    values before the point it serves. 0: off."""
    if hours <= 0 or period <= 2:
        return 0
    return min(max(round(hours * period / 24), 1), (period - 1) // 2 if spread else period - 1)


def late_points(minutes: float, step: timedelta) -> int:
    """How many points before each late_match looks at: the whole steps in `minutes` (for the
    default 5: 5 at 1 minute, 1 at 5 minutes, none at 10 minutes and coarser)."""
    seconds = step.total_seconds()
    return int(minutes * 60 / seconds + 1e-9) if seconds > 0 else 0


def late_match(
    values: np.ndarray, expected: np.ndarray, lower: np.ndarray, upper: np.ndarray, j: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each point judged against its own band or the band of one of the j points before it,
    whichever it fits best (the smallest distance from expected in half-widths; the nearest
    on a tie), along the last axis. At a fine step a day's shape comes a few minutes late: a
    peak a minute after the usual one, or its usual minute without it yet, is no anomaly. A
    point without a value or without a band of its own keeps its own."""
    if j <= 0:
        return expected, lower, upper

    def distance(e: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
        with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
            half = np.where(values >= e, hi - e, e - lo)
            d = np.where(half > 0, np.abs(values - e) / half, np.where(values == e, 0.0, np.inf))
        return np.where(np.isfinite(e) & np.isfinite(lo) & np.isfinite(hi), d, np.inf)

    free = np.isfinite(values) & np.isfinite(expected)
    e, lo, hi = expected.copy(), lower.copy(), upper.copy()
    best = distance(e, lo, hi)
    pad = np.full((*expected.shape[:-1], j), np.nan)
    for s in range(1, j + 1):
        if s >= expected.shape[-1]:
            break
        shifted = [np.concatenate([pad[..., :s], a[..., :-s]], axis=-1)
                   for a in (expected, lower, upper)]  # fmt: skip
        d = distance(*shifted)
        take = free & (d < best)
        e, lo, hi = (np.where(take, new, old) for new, old in zip(shifted, (e, lo, hi),
                                                                  strict=True))  # fmt: skip
        best = np.where(take, d, best)
    return e, lo, hi


def settled(shape: np.ndarray, se: np.ndarray, z: float) -> np.ndarray:
    """The weekday's shape pulled towards 1 by `z` standard errors `se` of its own estimate
    (`shape_se` of the spread and count of its ratios).

    The spread is the median, over the same window, of how far each same-weekday / same-slot
    ratio lies from the shape at its own point, the count how many there are. On a slice with no
    weekly pattern those ratios scatter around 1, the standard error of their median (1.2533 x
    the robust sd / sqrt(count)) is as large as the shape's distance from 1, and the shape goes:
    the range rests on the days alone instead of on their noise. A real weekend, 20% low on
    every ratio, keeps nearly all of it; and its step at midnight is no spread (each ratio is
    measured from the shape at its own point, not from the window's). Unknown spread, no
    shape."""
    with np.errstate(invalid="ignore", divide="ignore"):
        gap = shape - 1.0
        pulled = 1.0 + np.sign(gap) * np.maximum(np.abs(gap) - z * se, 0.0)
    return np.where(np.isfinite(se), pulled, np.nan)


def same_weekday(
    median: np.ndarray, count: np.ndarray, low: np.ndarray, high: np.ndarray, around: np.ndarray
) -> np.ndarray:
    """What the same weekday of past weeks says a slot is (NaN from fewer than WEEKLY_MIN):
    the `median` of their `count` values; of just two (`low` <= `high`, the first two of a
    sorted row), only as much of a difference from the days' median `around` as both show: the
    one nearer it where both lie on one side, `around` itself (no difference) where they lie
    either side. A real weekend is low in both weeks (both 40% low: the shape is 40% low);
    their mean would make half a weekday's pattern of a level that moved a week ago, of last
    week's outage, or of two weeks' days that simply came out high and low. (Where `around`
    is NaN, so is the ratio the caller takes of it, whatever this returns.)"""
    with np.errstate(invalid="ignore"):
        nearer = np.where(np.abs(high - around) < np.abs(low - around), high, low)
        agreed = np.where((low < around) & (high > around), around, nearer)
    return np.where(count >= WEEKLY_MIN, np.where(count > 2, median, agreed), np.nan)


def same_time_pairs(lags: np.ndarray) -> np.ndarray:
    """Of the width's lags (the same time of day on previous days, and neighbouring slots),
    those whose bucket before is a lag too: the later bucket of each pair of errors that
    `same_time_autocorr` correlates is `lag` buckets back, the earlier one `lag + 1`."""
    return lags[np.isin(lags + 1, lags)]


def same_time_autocorr(later: np.ndarray, earlier: np.ndarray, half: np.ndarray) -> np.ndarray:
    """How much the errors at this time of day followed the one before them on previous days:
    the lag-1 correlation of the pairs (`later`, `earlier`: the errors of each pair, pairs on
    the last axis), of the pairs with both errors within AUTOCORR_WITHIN of `half` (this
    bucket's half-width: an incident's run is what the rule is for, not this series' habit,
    and its first buckets lean one way inside the band), less AUTOCORR_SE standard
    errors of a correlation from that many pairs; 0 with fewer than AUTOCORR_PAIRS_MIN pairs
    or no spread (as with `neighbours=0`: no pairs at all).

    Where each day's level steps at midnight the first buckets of a day share one error, every
    day, while the rest of the day's errors barely follow one another: the last day's
    correlation, which the rule also measures, averages that away."""
    with np.errstate(invalid="ignore", divide="ignore", over="ignore", under="ignore"):
        width = half.astype(np.float32)[..., None]
        limit = AUTOCORR_WITHIN * width
        ok = (np.abs(later) <= limit) & (np.abs(earlier) <= limit)  # NaN: False
        # In half-widths (within +-0.75: no overflow at any scale) and centred before the
        # products; float32 terms (a correlation needs no more), float64 sums.
        x = np.divide(later, width, out=np.zeros(later.shape, np.float32), where=ok)
        y = np.divide(earlier, width, out=np.zeros(earlier.shape, np.float32), where=ok)
        n = ok.sum(axis=-1).astype(np.float64)

        def total(a: np.ndarray) -> np.ndarray:
            return a.sum(axis=-1, dtype=np.float64)

        mx = (total(x) / n).astype(np.float32)[..., None]
        my = (total(y) / n).astype(np.float32)[..., None]
        x = np.where(ok, x - mx, np.float32(0.0))
        y = np.where(ok, y - my, np.float32(0.0))
        var = np.sqrt(total(x * x) * total(y * y))
        rho = np.where((n >= AUTOCORR_PAIRS_MIN) & (var > 0), total(x * y) / var, np.nan)
        rho = rho - AUTOCORR_SE / np.sqrt(n)
    return np.nan_to_num(rho, nan=0.0, posinf=0.0, neginf=0.0)


def _robust_of(
    size: Callable[[np.ndarray], np.ndarray], count: np.ndarray, tail: float
) -> np.ndarray:
    """1.4826 x the median of `count` sizes, or where larger the `tail` share of what their
    80th percentile implies; `size(i)` is the i-th smallest (as float64)."""
    sd = 1.4826 * ((size((count - 1) // 2) + size(count // 2)) / 2)
    if tail > 0:
        sd = np.maximum(sd, tail * size(np.floor((count - 1) * TAIL_Q).astype(int)) / TAIL_Z)
    return sd


def _picker(ordered: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
    """Per row, the value at position `at` along the last axis (clipped to the row), as
    float64."""
    top = max(ordered.shape[-1] - 1, 0)

    def pick(at: np.ndarray) -> np.ndarray:
        at = np.clip(at, 0, top)[..., None]
        return np.take_along_axis(ordered, at, axis=-1)[..., 0].astype(np.float64)

    return pick


def noise_units(forecast: np.ndarray, counts: bool | np.ndarray) -> np.ndarray:
    """What the width reads a count's forecast errors in: the square root of the forecast, as
    Poisson noise grows, from UNITS_FROM events on; 1 for anything else, whose errors are read
    as they are. The same time of day on previous days is not always the same volume: a
    count whose weekends run at a third of its weekdays mixes four quiet weekend errors into
    a weekday's fourteen, and read as they are they made weekdays' bands too narrow (and
    weekends' too wide). In these units each error counts for what it says about the noise
    at its own volume; the width is then scaled back to the volume at hand."""
    with np.errstate(invalid="ignore"):
        root = np.sqrt(np.maximum(forecast, UNITS_FROM))
    return np.where(counts & np.isfinite(root), root, 1.0)


def count_floor(expected: np.ndarray, sd: np.ndarray, k: float,
                counts: bool | np.ndarray = True) -> np.ndarray:  # fmt: skip
    """The lowest a count's range may reach where its symmetric band reaches below half the
    expected value: half an event under the least count its noise, read as a count's (negative
    binomial of that mean and variance, Poisson where the variance is no larger), makes no more
    often than `COUNT_TAIL` of the chance a normal band's edge is crossed (one side past `k`
    sd: 1 in 17,000 at 3.25); 0 where that count is 0. A symmetric band around 26 events of
    sd 8 reached below 0 and held a zero inside it: an hour's outage of a small slice alerted
    only once the sustained-shift test had summed up 4 hours of it. Further from zero a
    count's noise is near symmetric and the band's own edge stands. Rows that are no count
    (`counts` False) have no floor (-inf): a ratio's or a mean's band keeps its own width below
    the expected value."""
    out = np.where(counts, 0.0, -np.inf) * np.ones(np.shape(expected))
    with np.errstate(invalid="ignore"):
        todo = (counts & np.isfinite(expected) & np.isfinite(sd) & (expected > 0)
                & (expected < FLOOR_REACH * k * sd))  # fmt: skip
    if not todo.any():
        return out
    mu = np.asarray(expected, dtype="float64")[todo]
    var = np.maximum(np.asarray(sd, dtype="float64")[todo] ** 2, mu)
    tail = COUNT_TAIL * 0.5 * math.erfc(k / math.sqrt(2.0))
    poisson = var <= mu * (1 + POISSON_SLACK)
    with np.errstate(divide="ignore", invalid="ignore"):
        r = np.where(poisson, np.inf, mu**2 / (var - mu))  # the negative binomial's size
        p = mu / var
        pmf = np.where(poisson, np.exp(-mu), np.exp(r * np.log(p)))
    cdf = pmf.copy()
    least = np.zeros(mu.size)
    for x in range(COUNT_FLOOR_MAX):
        within = cdf <= tail  # P(count <= x) still within the tail: x + 1 is the least usual
        if not within.any():  # the chance only grows with x: every row's least is found
            break
        least += within
        with np.errstate(invalid="ignore"):
            ratio = np.where(poisson, mu / (x + 1), (r + x) / (x + 1) * (1 - p))
        pmf = pmf * ratio
        cdf = cdf + pmf
    out[todo] = np.maximum(least - 0.5, 0.0)
    return out


def robust_sd(ordered: np.ndarray, count: np.ndarray, tail: float) -> np.ndarray:
    """Per row of absolute errors ordered along the last axis (sorted, NaNs last, or
    partitioned at the picks below), `count` of them known: `_robust_of` them."""
    return _robust_of(_picker(ordered), count, tail)


def side_sds(past: np.ndarray, tail: float) -> tuple[np.ndarray, ...]:
    """Per row of signed errors (along the last axis, NaN unknown): the robust sd
    (`robust_sd`) of those >= 0 and how many there are, then of those <= 0 and how many (0
    counts for both sides). One sort serves both: the errors >= 0 are its top part in order of
    size, those <= 0 its bottom part in reverse. `past` is sorted in place (a copy of it is
    what a cold check's peak memory is made of; the sizes' robust sd reads only their order
    statistics, so it can be taken from the sorted row)."""
    count = np.sum(~np.isnan(past), axis=-1)
    negative = np.sum(past < 0, axis=-1)
    nonpositive = np.sum(past <= 0, axis=-1)
    past.sort(axis=-1)  # NaNs last
    value = _picker(past)
    up = count - negative
    return (_robust_of(lambda i: value(negative + i), up, tail), up,
            _robust_of(lambda i: -value(nonpositive - 1 - i), nonpositive, tail),
            nonpositive)  # fmt: skip


def side_factors(
    sides: tuple[np.ndarray, ...], scale: np.ndarray, least: int, skew: float
) -> tuple[np.ndarray, np.ndarray]:
    """How many times `scale` (the robust sd of all the errors' sizes) the band reaches above
    and below the expected value: each side's robust sd (`side_sds`) over `scale`, less
    SKEW_SLACK / sqrt(that side's count), held within 1 and `skew`; 1 with fewer than `least`
    errors on the side."""

    def factor(sd: np.ndarray, n: np.ndarray) -> np.ndarray:
        with np.errstate(invalid="ignore", divide="ignore"):
            ratio = sd / scale - SKEW_SLACK / np.sqrt(np.maximum(n, 1))
        ok = (n >= max(least, 1)) & (scale > 0) & np.isfinite(ratio)
        return np.where(ok, np.clip(ratio, 1.0, skew), 1.0)

    up_sd, up_n, down_sd, down_n = sides
    return factor(up_sd, up_n), factor(down_sd, down_n)


def widths_of(
    detector: SeasonalDetector,
    past: np.ndarray,
    near: np.ndarray | None,
    per_row: int,
    *,
    sides: bool,
    robust: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]],
) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray] | None]:
    """The seasonal width of each row of `past` (the errors at a point's lags, along the last
    axis; sorted and made sizes in place): the `robust` sd of their sizes, widened where the
    nearest slots' own errors (`near` columns) call for it, NaN with fewer than `min_history`
    days of them; and with `sides` (and `skew` above 1) how many times it each side of the
    band reaches (`side_factors`, from the same errors), else None. One code for a series
    (`SeasonalDetector`) and a matrix of them (`detectors.engine`), each with its own way to
    take the robust sd."""
    own_past = None if near is None else np.abs(past[..., near])
    split = side_sds(past, detector.tail) if sides and detector.skew > 1 else None  # sorts
    np.abs(past, out=past)  # the sizes (in whatever order: a robust sd reads its ranks)
    scale, count = robust(past)
    factors = None
    if split is not None:
        least = detector.min_history * per_row // 2
        factors = side_factors(split, scale, least, detector.skew)
    if own_past is not None:
        own, own_count = robust(own_past)
        scale = near_width(scale, own, own_count, near_least(detector.days, detector.near))
    known = count >= detector.min_history * per_row
    return np.where(known & (count > 0), scale, np.nan), factors


def near_columns(nb: int, days: int, near: int) -> np.ndarray | None:
    """Of the width's lags (`days` rows of offsets -nb..nb), the columns within `near` slots
    of this time of day; None where that is all of them, or `near` is 0 (off)."""
    if near <= 0 or nb <= near:
        return None
    offsets = np.tile(np.arange(-nb, nb + 1), days)
    return np.flatnonzero(np.abs(offsets) <= near)


def near_width(scale: np.ndarray, near: np.ndarray, count: np.ndarray, least: int) -> np.ndarray:
    """The width from all the neighbouring slots' errors (`scale`), or where the nearest
    slots' own (`near`, from `count` errors) exceed it by more than the slack (NEAR_SLACK /
    sqrt(count) of it), `near` less the slack. Only from `least` errors on (NaN `near`:
    `scale`): with a few days of history the narrower estimate is mostly its own wobble."""
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        slack = NEAR_SLACK / np.sqrt(np.maximum(count, 1))
        raised = np.fmax(scale, near - slack * scale)  # inf - inf: NaN, and fmax keeps scale
    return np.where(count >= least, raised, scale)


def near_least(days: int, near: int) -> int:
    """The fewest errors `near_width` takes the nearest slots' width from: those of half the
    days the width reads."""
    return (2 * near + 1) * max(days // 2, 1)


def shape_se(spread: np.ndarray, count: np.ndarray) -> np.ndarray:
    """The standard error of a weekday's shape (see `settled`): 1.2533 x the robust sd of its
    ratios / sqrt(count)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        return 1.2533 * 1.4826 * spread / np.sqrt(count)


def carry_terms(
    unpulled: np.ndarray, median: np.ndarray, ok: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The terms whose trailing sums `carried` compares: the unpulled and the pulled median at
    `ok` points where both are above 0 (0 elsewhere)."""
    use = ok & (median > 0) & (unpulled > 0)
    return np.where(use, unpulled, 0.0), np.where(use, median, 0.0)


def carried(
    unpulled: np.ndarray,
    median: np.ndarray,
    se: np.ndarray,
    before_u: np.ndarray,
    before_m: np.ndarray,
    *,
    z: float,
    clip: float,
) -> np.ndarray:
    """Per point, the factor that gives back the part of the weekday's pull the fast level
    carried in from the points before it, where the weekday's shape changed since.

    The pull towards 1 (see `settled`) leaves part of a real weekend to the level: on a
    Saturday shaped 0.76 and pulled to 0.79 the level settles near 0.96 and the range is right.
    At midnight the level still holds Saturday's 0.96 while Sunday's shape has no pull left to
    make up, and Sunday's first hours are expected 4-10% low. The factor is the ratio of the
    unpulled to the pulled median now over the same ratio of their sums across the fast
    level's window (`before_u`, `before_m`: trailing sums of `carry_terms`), pulled towards 1
    by `z` standard errors of the shape now: within a weekday whose pull holds steady the two
    ratios agree and it is 1 (near 1 where the pull drifts over the window), and on a slice
    whose shape is noise the change is within its error. 1 where either is unknown; never
    more than `clip` (the fast level's own `level_clip`) from 1, as the level it corrects is
    held within that of the slow one: a window whose few usable points have a pull unlike the
    bucket's (a weekend night at 2% of the week's volume) cannot swing the range by 80%."""
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        factor = (unpulled / median) / (before_u / before_m)
        gap = factor - 1.0
        out = 1.0 + np.sign(gap) * np.maximum(np.abs(gap) - z * se, 0.0)
        known = (median > 0) & (unpulled > 0) & (before_u > 0) & (before_m > 0)
    return np.where(known & np.isfinite(out), np.clip(out, 1.0 - clip, 1.0 + clip), 1.0)


def _lagged(values: np.ndarray, lags: np.ndarray, first: int = 0) -> np.ndarray:
    """Matrix m[t - first, i] = values[t - lags[i]] for rows t >= first (NaN before the start)."""
    n = values.size
    top = int(lags.max()) if lags.size else 0
    padded = np.concatenate([np.full(top, np.nan, dtype=values.dtype), values])
    out = np.empty((n - first, lags.size), dtype=values.dtype)
    for i, lag in enumerate(lags):
        out[:, i] = padded[top - lag + first : top - lag + n]
    return out


def _trailing_sum(values: np.ndarray, window: int) -> np.ndarray:
    """s[t] = sum of values[t - window .. t - 1] (the points before t; missing ones as 0)."""
    total = np.concatenate([[0.0], np.cumsum(np.nan_to_num(values))])
    ends = np.arange(values.size)
    return total[ends] - total[np.maximum(ends - window, 0)]


def confirm_least(confirm: int) -> int:
    """Points of the `confirm` last that must be there for lasting_shift to read them: half,
    so that a collector's gaps (one bucket in ten missing) do not deny the re-base (all of
    them would, a third of the time)."""
    return max((confirm + 1) // 2, 1)


def lasting_shift(z: np.ndarray, window: int, confirm: int) -> np.ndarray | None:
    """Per point, whether the deviation `z` (in its noise) held at least REBASE_MIN one way
    over the last `window` points (their median) and the last `confirm`, and the point itself
    is not on the other side of the old level: a weekend's low re-based on a new metric
    whose shape does not know weekends yet ends with Monday's first bucket, not 45 minutes
    into it, alerting all the while. None where no point can be (the usual case, told without a
    rolling median: no window has half of its points beyond REBASE_MIN on one side)."""
    finite = _trailing_sum(np.isfinite(z).astype(float), window)
    with np.errstate(invalid="ignore"):
        high = _trailing_sum((z >= REBASE_MIN).astype(float), window)
        low = _trailing_sum((z <= -REBASE_MIN).astype(float), window)
    if not bool(np.any(2 * np.maximum(high, low) >= np.maximum(finite, 1))):
        return None
    long = _rolling_median(z, window, window // 2)
    if not bool(np.any(np.abs(long) >= REBASE_MIN)):
        return None
    short = _rolling_median(z, confirm, confirm_least(confirm))
    shifted = (np.abs(long) >= REBASE_MIN) & (np.abs(short) >= REBASE_MIN)
    with np.errstate(invalid="ignore"):
        back = np.sign(z) * np.sign(long) < 0  # this point is past the old level already
    return shifted & (np.sign(long) == np.sign(short)) & ~back


def steady_noise(
    loose: np.ndarray, floor: np.ndarray, expected: np.ndarray, move: np.ndarray
) -> np.ndarray:
    """The noise a lasting shift is measured in after a big level change: the series' mean
    move from one bucket to the next (`move`) where that is less than the loose width, at
    least REBASE_SHARE of the expected value, never under the floor."""
    with np.errstate(invalid="ignore"):
        return np.fmax(np.minimum(loose, np.fmax(REBASE_SHARE * np.abs(expected), move)), floor)


def _ratio(
    values: np.ndarray,
    median: np.ndarray,
    centre: np.ndarray,
    ok: np.ndarray,
    *,
    window: int,
    clip: float,
) -> np.ndarray:
    """sum(values) / sum(median) over the `window` points before each one, counting only `ok`
    points, each value clipped to within `clip` (a share) of `centre`; NaN where fewer than
    half the window's points are ok, or where any of their medians is below zero: a series
    that crosses zero has no level as a share (its medians' sum cancels towards 0, and the
    ratio of two such sums can be anything, 1e12 from a rounding leftover)."""
    low, high = centre - clip * np.abs(centre), centre + clip * np.abs(centre)
    clipped = np.clip(values, low, high)
    num = _trailing_sum(np.where(ok, clipped, 0.0), window)
    den = _trailing_sum(np.where(ok, median, 0.0), window)
    count = _trailing_sum(ok.astype(float), window)
    below = _trailing_sum((ok & (median < 0)).astype(float), window)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where((count * 2 >= window) & (den > 0) & (below == 0), num / den, np.nan)


def _nanquantile(m: np.ndarray, q: float) -> np.ndarray:
    """Row quantile ignoring NaN (lower interpolation; NaN where a row has none), by one sort."""
    ordered = np.sort(m, axis=1)
    count = np.sum(~np.isnan(m), axis=1)
    at = np.clip(np.floor((count - 1) * q).astype(int), 0, max(m.shape[1] - 1, 0))
    out = ordered[np.arange(m.shape[0]), at]
    return np.where(count > 0, out, np.nan)


def _rolling_median(values: np.ndarray, window: int, min_periods: int) -> np.ndarray:
    """Median of the `window` points before each one (causal: not the point itself)."""
    if window < 1 or values.size == 0:
        return np.full(values.size, np.nan)
    rolled = pd.Series(values).rolling(window, min_periods=max(min(min_periods, window), 1))
    return np.concatenate([[np.nan], rolled.median().to_numpy()[:-1]])


def _nanmedian(m: np.ndarray, axis: int = 1) -> np.ndarray:
    """Row medians ignoring NaN (NaN where a row has none), via one sort: np.nanmedian takes
    a slow per-row path whenever a row holds a NaN, which is most rows near a series' start."""
    if axis != 1:
        raise ValueError("only row medians are needed here")
    ordered = np.sort(m, axis=1)  # NaNs sort last
    count = np.sum(~np.isnan(m), axis=1)
    rows = np.arange(m.shape[0])
    lo = np.clip((count - 1) // 2, 0, None)
    hi = np.clip(count // 2, 0, None)
    hi = np.minimum(hi, m.shape[1] - 1)
    out = (ordered[rows, lo] + ordered[rows, hi]) / 2
    return np.where(count > 0, out, np.nan)


class SeasonalDetector(Detector):
    name = "seasonal"
    PARAMS: Mapping[str, Param] = {
        "days": Param(int, 14, 2, 56, "previous days the expected value is built from"),
        "k": Param(float, 3.25, 0.5, 20.0, "half-width of the band in robust standard deviations"),
        "neighbours": Param(int, 3, 0, 8, "adjacent slots each side whose errors set the width"),
        "near": Param(
            int, 1, 0, 8, "slots each side whose errors alone widen the band where larger (0 off)"
        ),
        "level_window": Param(int, 12, 0, 192, "buckets of the fast level (recent vs median)"),
        "level_inlier": Param(
            float, 3.5, 0.5, 20.0, "robust sd within which a bucket counts for the level (not k)"
        ),
        "fine_inlier": Param(
            float, 0.2, 0.0, 1.0,
            "level_inlier x (steps per 15 minutes) ^ this at finer steps (0: the same at any step)",
        ),
        "level_slow": Param(int, 192, 0, 4032, "buckets of the slow level (0 = one level only)"),
        "level_clip": Param(
            float, 0.1, 0.01, 1.0, "most the fast level may differ from the slow one (share)"
        ),
        "weeks": Param(
            int, 3, 0, 8, "weeks of the same weekday that shape the daily median (<2 off)"
        ),
        "weekday_hours": Param(
            float,
            2.0,
            0.0,
            12.0,
            "hours each side over which this weekday's shape scales the daily median (0 = off)",
        ),
        "weekly_gain": Param(
            float,
            -1.0,
            -1.0,
            10.0,
            "how much better (share) the weekday's shape must have forecast over the past week"
            " (-1 = wherever it stands out)",
        ),
        "weekday_z": Param(
            float,
            2.0,
            0.0,
            10.0,
            "standard errors of its own the weekday's shape is pulled towards 1 (0 = as it is)",
        ),
        "min_history": Param(
            int, 3, 1, 56, "days for the same-time-of-day width; before that, the cold start"
        ),
        "cold_hours": Param(
            float, 2.0, 0.0, 48.0, "hours of history before a band from recent hours (0 = off)"
        ),
        "tail": Param(
            float, 0.75, 0.0, 3.0, "width at least this share of what the 80th-pct error implies"
        ),
        "sparse_per_day": Param(
            float, 0.15, 0.0, 100.0, "mostly-zero series: band covers the excursion this often/day"
        ),
        "noise_hours": Param(
            float, 6.0, 0.0, 48.0, "hours of recent errors that widen the band on a noisy day"
        ),
        "noise_max": Param(float, 3.0, 1.0, 20.0, "the most a noisy day widens the band"),
        "skew": Param(
            float, 1.25, 1.0, 5.0,
            "the most one side of the band widens where the errors on that side run wider "
            "(1 = the same both sides)",
        ),
        "rebase_hours": Param(
            float, 24.0, 0.0, 168.0, "a level change held for half of this is the new normal"
        ),
        "min_rel_width": Param(
            float, 0.02, 0.0, 1.0, "narrowest half-width, as a share of expected"
        ),
        "late_minutes": Param(
            float,
            5.0,
            0.0,
            60.0,
            "a point may fit the band of a point up to this many minutes before",
        ),
        "offset_spans": Param(
            float, 5.0, 0.0, 1000.0,
            "a level further from 0 than this many of its week's spans (1st-99th pct) counts as "
            "that far for relative changes and the narrowest width: smaller, more alerts (0 = "
            "off; no effect on counts; a share near 1 counts from 1)",
        ),
        "timezone": Param(
            str,
            "UTC",
            None,
            None,
            "the wall clock the daily and weekly pattern follow: 09:00 stays 09:00 across "
            "daylight saving",
            zone=True,
        ),
        "counts": Param(
            str,
            "auto",
            None,
            None,
            "event counts: never narrower than Poisson, a missing bucket alerts (auto: whole "
            "non-negative values)",
            choices=("auto", "yes", "no"),
        ),
    }

    def __init__(self, **params: Any) -> None:
        values = validate(self.name, self.PARAMS, params)
        self.days: int = values["days"]
        self.k: float = values["k"]
        self.neighbours: int = values["neighbours"]
        self.near: int = values["near"]
        self.level_window: int = values["level_window"]
        self.level_inlier: float = values["level_inlier"]
        self.fine_inlier: float = values["fine_inlier"]
        self.level_slow: int = values["level_slow"]
        self.level_clip: float = values["level_clip"]
        self.weeks: int = values["weeks"]
        self.weekday_hours: float = values["weekday_hours"]
        self.weekly_gain: float = values["weekly_gain"]
        self.weekday_z: float = values["weekday_z"]
        self.min_history: int = values["min_history"]
        self.min_rel_width: float = values["min_rel_width"]
        self.counts: str = values["counts"]
        self.cold_hours: float = values["cold_hours"]
        self.tail: float = values["tail"]
        self.noise_hours: float = values["noise_hours"]
        self.noise_max: float = values["noise_max"]
        self.skew: float = values["skew"]
        self.sparse_per_day: float = values["sparse_per_day"]
        self.rebase_hours: float = values["rebase_hours"]
        self.late_minutes: float = values["late_minutes"]
        self.offset_spans: float = values["offset_spans"]
        self.timezone: str = values["timezone"]
        if self.min_history > self.days:
            raise ValueError(
                f"seasonal: min_history must be <= days ({self.days}), got {self.min_history}"
            )

    def inlier_bar(self, step: timedelta) -> float:
        """Robust sd within which a point counts for the level at this step: `level_inlier`,
        grown at steps finer than 15 minutes by (steps per 15 minutes) ^ `fine_inlier` (6.0 at
        1 minute, 4.4 at 5), never lowered at coarser ones. The level's windows are counted in
        points, so at 1 minute they span minutes, not hours: where a stretch of ordinary
        minutes sits a few sd from the median of earlier days (an evening busier than last
        week's), a bar fixed in sd kept the level from following it, and every minute fired
        for hours."""
        fine = max(REFERENCE_STEP / step.total_seconds(), 1.0)
        return float(self.level_inlier * fine**self.fine_inlier)

    def _level(self, values: np.ndarray, median: np.ndarray, inlier: np.ndarray) -> np.ndarray:
        """Recent actual / recent seasonal median, so growth or a weekend is not flagged.

        Two speeds: the slow level (each point clipped to 25% of its median) follows growth and
        day-to-day shifts; the fast one (each point clipped to `level_clip` of the slow level's
        forecast) follows the last few hours, but cannot follow a decline past that clip. Only
        points that looked normal count, so an incident neither drags the level along nor
        leaves an echo after it ends.
        """
        if self.level_window == 0:
            return np.ones_like(median)
        ok = inlier & np.isfinite(values) & np.isfinite(median)
        if self.level_slow == 0:
            return np.nan_to_num(
                _ratio(values, median, median, ok, window=self.level_window, clip=0.25), nan=1.0
            )
        # Where an incident leaves too few normal points for a level, the slower one stands in.
        slow = np.nan_to_num(
            _ratio(values, median, median, ok, window=self.level_slow, clip=0.25), nan=1.0
        )
        fast = _ratio(
            values, median, median * slow, ok, window=self.level_window, clip=self.level_clip
        )
        return np.where(np.isfinite(fast), fast, slow)

    def _carried(
        self,
        values: np.ndarray,
        median: np.ndarray,
        inlier: np.ndarray,
        unpulled: np.ndarray,
        shape_error: np.ndarray,
    ) -> np.ndarray | float:
        """`carried` over the fast level's window and its points (1 without a level)."""
        if self.level_window == 0:
            return 1.0
        ok = inlier & np.isfinite(values) & np.isfinite(median)
        u, m = carry_terms(unpulled, median, ok)
        before_u = _trailing_sum(u, self.level_window)
        before_m = _trailing_sum(m, self.level_window)
        return carried(unpulled, median, shape_error, before_u, before_m, z=self.weekday_z,
                       clip=self.level_clip)  # fmt: skip

    def _median(
        self, values: np.ndarray, period: int, *, sub_daily: bool
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Per point, the median of the same slot on the previous `days` days (from one day
        on: with fewer than min_history the width comes from the cold start), scaled to this
        weekday where `weeks` weeks (at least two, `same_weekday`) show it: by the median, over the
        `weekday_hours` each side, of the same slot on the same weekday of those weeks against
        the same slot on previous days, pulled towards 1 by `weekday_z` standard errors of
        that median (see `settled`), and only where it would have forecast `weekly_gain`
        better over the past week (-1: wherever it is not pulled to 1). A product whose
        weekends run 15% low expects Saturday low from its first bucket, not once the level
        has caught up, while each slot's value still rests on 14 days rather than on three.
        Every median read is of values a day or more before the point it serves, so the scale
        is causal although it looks up to 2 x `weekday_hours` ahead of the point. Also which
        points are scaled, and for `carried` the median scaled by the shape before its pull
        (the median itself where nothing is pulled) and the shape's standard error (NaN)."""
        n = values.size
        seasons = np.arange(1, self.days + 1) * period
        week = 7 * period
        h = weekday_points(self.weekday_hours, period, spread=self.weekday_z > 0)
        if not sub_daily or self.weeks < WEEKLY_MIN or WEEKLY_MIN * week >= n or h == 0:
            plain = _nanmedian(_lagged(values, seasons), axis=1)
            return plain, np.zeros(n, dtype=bool), plain, np.full(n, np.nan)
        # The medians at the 2h points after the last one too: they read only earlier values.
        ahead = np.concatenate([values, np.full(2 * h, np.nan)])
        around = _nanmedian(_lagged(ahead, seasons), axis=1)
        same_day = np.sort(_lagged(ahead, np.arange(1, self.weeks + 1) * week), axis=1)
        weekly = same_weekday(_nanmedian(same_day, axis=1), np.sum(~np.isnan(same_day), axis=1),
                              same_day[:, 0], same_day[:, 1], around)  # fmt: skip
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            ratio = np.where((around > 0) & (weekly >= 0), weekly / around, np.nan)
        ratio[~np.isfinite(ratio)] = np.nan  # an overflow is no shape
        shape = pd.Series(ratio).rolling(2 * h + 1, center=True, min_periods=h + 1).median()
        scale = raw = shape.to_numpy()[:n]
        se = np.full(n, np.nan)
        if self.weekday_z > 0:
            with np.errstate(invalid="ignore"):
                off = pd.Series(np.abs(ratio - shape.to_numpy()))
            spread = off.rolling(2 * h + 1, center=True, min_periods=h + 1).median().to_numpy()
            count = off.notna().astype(float).rolling(2 * h + 1, center=True, min_periods=1).sum()
            se = shape_se(spread[:n], count.to_numpy()[:n])
            scale = settled(scale, se, self.weekday_z)
        daily = around[:n]
        scaled = np.isfinite(scale)
        weekday = np.where(scaled, daily * scale, daily)
        if self.weekly_gain <= -1:
            unpulled = np.where(scaled, daily * raw, weekday)
            # Scaled where a shape is left after its pull (pulled to 1: the days' median alone).
            return weekday, scaled & (scale != 1.0), unpulled, se
        # Only where the weekday's shape would have forecast better over the past week: on a
        # small slice with no weekly pattern the scale adds noise of its own.
        both = np.isfinite(values) & np.isfinite(daily) & scaled
        daily_err = _trailing_sum(np.where(both, np.abs(values - daily), 0.0), week)
        weekday_err = _trailing_sum(np.where(both, np.abs(values - weekday), 0.0), week)
        seen = _trailing_sum(both.astype(float), week)
        better = (seen * 2 >= week) & (weekday_err * (1 + self.weekly_gain) < daily_err) & scaled
        chosen = np.where(better, weekday, daily)
        return chosen, better, chosen, np.full(n, np.nan)  # a choice, not a pull: nothing carried

    def _is_counts(self, values: np.ndarray) -> bool:
        finite = values[np.isfinite(values)]
        return self.counts == "yes" or (
            self.counts == "auto"
            and finite.size > 0
            and bool(np.all(finite >= 0))
            and bool(np.all(finite == np.round(finite)))
        )

    def _caps(
        self, values: np.ndarray, index: pd.DatetimeIndex, step: timedelta, first: int, *,
        counts: bool,
    ) -> np.ndarray:  # fmt: skip
        """The `relative_cap` column (`offset_caps`) for rows from `first` on (NaN before);
        none for counts, whose zero is always theirs."""
        cap = np.full(values.size, np.nan)
        if self.offset_spans <= 0 or counts:
            return cap
        days = bucket_days(pd.DatetimeIndex(index).as_unit("ns").asi8)
        step_ns = int(pd.Timedelta(step).value)
        cap[first:] = offset_caps(values[None, :], days, days[first:], self.offset_spans,
                                  step_ns)[0]  # fmt: skip
        return cap

    def _floor(
        self,
        expected: np.ndarray,
        resolution: np.ndarray,
        kinds: tuple[bool, np.ndarray],
        cap: np.ndarray,
    ) -> np.ndarray:
        """The narrowest standard deviation a band may have: a share of the expected value
        (of `cap` where that is smaller), a share of the series' resolution (the decimals it is
        stored with: an expected 0 or a constant still has a width), and for counts Poisson
        noise. `kinds`: whether the series is counts, and per point shares_before."""
        counts, within = kinds
        floor = self.min_rel_width * relative_to(expected, cap)
        told = share_resolution(resolution, expected, counts, within)
        floor = np.fmax(floor, RESOLUTION_SD * told)
        if counts:
            # Counts: never narrower than Poisson noise, so a quiet series is not flagged for
            # the difference between 0 and 2 events.
            floor = np.maximum(floor, np.sqrt(np.maximum(expected, 1.0)))
        return floor

    def _scale(
        self,
        errors: np.ndarray,
        lags: np.ndarray,
        per_row: int,
        first: int = 0,
        near: np.ndarray | None = None,
    ) -> np.ndarray:
        """Robust sd of past errors at the same time of day (and neighbouring slots), for rows
        from `first` on (NaN before). float32: a width needs no more, and sorts twice as fast.

        The median absolute error collapses to 0 where most errors are exactly 0 (a series
        that is mostly zeros, or constant most of the time): the upper tail (`tail`) then keeps
        the width, so the rare non-zero values that are normal for the series stay inside.
        `near` (columns of `lags`, see `near_columns`): where the robust sd of those columns'
        errors alone is larger by more than a slack, the width rises to it less the slack
        (`near_width`, from half the days' worth of them)."""
        return self._widths(errors, lags, per_row, first, near, sides=False)[0]

    def _widths(
        self,
        errors: np.ndarray,
        lags: np.ndarray,
        per_row: int,
        first: int,
        near: np.ndarray | None,
        *,
        sides: bool,
        units: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """`_scale`, and with `sides` how many times it each side of the band reaches
        (`side_factors`, from the same errors; 1 where there are too few, and before
        `first`). With `units` (`noise_units`, what the errors were divided by) the scale is
        in the values' own units again."""
        past = _lagged(errors.astype(np.float32), lags, first)
        width, split = widths_of(self, past, near, per_row, sides=sides, robust=self._robust)
        above, below = np.ones(errors.size), np.ones(errors.size)
        if split is not None:
            above[first:], below[first:] = split
        out = np.full(errors.size, np.nan)
        out[first:] = width
        return (out if units is None else out * units), above, below

    def _robust(self, past: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """`robust_sd` of each row of absolute errors, and how many there are."""
        count = np.sum(~np.isnan(past), axis=1)
        return robust_sd(np.sort(past, axis=1), count, self.tail), count  # NaNs sort last

    def _pooled(self, errors: np.ndarray, window: int, first: int, points: int) -> np.ndarray:
        """Robust sd of the errors of the last `window` points, all times of day together: the
        width while there is too little history for one per time of day."""
        out = np.full(errors.size, np.nan)
        if first >= errors.size:
            return out
        part = np.abs(errors[first:])
        minimum = max(points // 2, 2)
        median = _rolling_median(part, window, minimum)
        upper = pd.Series(part).rolling(window, min_periods=minimum).quantile(TAIL_Q).to_numpy()
        upper = np.concatenate([[np.nan], upper[:-1]])
        scale = 1.4826 * median
        if self.tail > 0:
            scale = np.fmax(scale, self.tail * upper / TAIL_Z)
        out[first:] = scale
        return out

    def band(
        self, series: pd.Series, last: int | None = None, weight: pd.Series | None = None
    ) -> pd.DataFrame:
        """The band for every bucket, or (faster) only for the `last` buckets: the rest NaN.

        A live check needs the last day (its chart and verdict); a backtest needs all of it.
        With `weight` (a ratio's denominator) the width never drops below the binomial
        standard error of a share estimated from that many events.
        A series with gaps or timestamps off the grid is put on its own regular grid first
        (absent buckets missing), so irregular data still gets a band.

        Column `basis` says what the range rests on: weekly (same time of day, scaled to this
        weekday), daily (same time of day), daily-short (fewer than min_history days), recent
        (the last hours only), or none. Column `autocorr`: how much the errors at the bucket's
        time of day followed the one before them on previous days (`same_time_autocorr`),
        which the rule's sustained-shift test allows for. Column `first_week`: 1 within a
        week of the series' first known value (`first_week`), where the rule asks more of a
        shift; by the series' own timestamps, as the check's matrix path reads them.
        """
        out = None
        if series.size >= 2:
            wall = wall_grid(series.index, self.timezone)
            if wall is not None:
                out = self._irregular(series, wall, last, weight, latest=True)
            elif (grid := _grid(series.index)) is not None:
                out = self._irregular(series, grid, last, weight)
        if out is None:
            out = self._band(series, last, weight)
        fresh = first_week(series.to_numpy(dtype="float64"), series.index)
        out["first_week"] = np.where(np.isfinite(out["expected"].to_numpy()), fresh, np.nan)
        return out

    def _irregular(
        self,
        series: pd.Series,
        grid: tuple[pd.DatetimeIndex, np.ndarray],
        last: int | None,
        weight: pd.Series | None,
        *,
        latest: bool = False,
    ) -> pd.DataFrame:
        """The band on `grid` (a regular index and each point's position on it), picked back
        for each point. Points sharing a position are averaged (weights added); with
        `latest`, the last of them stands for all (daylight saving's repeated hour: a count
        stays whole, and the newest bucket is the one judged)."""
        index, position = grid
        values = series.to_numpy(dtype="float64")
        w = None if weight is None else weight.reindex(series.index).to_numpy(dtype="float64")
        if latest:
            regular = pd.Series(onto_grid(values, position, index.size), index=index)
            grid_weight = None if w is None else pd.Series(
                onto_grid(w, position, index.size), index=index)  # fmt: skip
        else:
            total = np.bincount(position, np.nan_to_num(values), minlength=index.size)
            count = np.bincount(position, np.isfinite(values).astype(float), minlength=index.size)
            with np.errstate(invalid="ignore", divide="ignore"):
                regular = pd.Series(np.where(count > 0, total / count, np.nan), index=index)
            grid_weight = None
            if w is not None:
                added = np.bincount(position, np.nan_to_num(w), minlength=index.size)
                grid_weight = pd.Series(added, index=index)
        if last is None:
            wanted = None
        elif latest:  # as the check's band engine computes them: the last grid rows, and
            # the slots a clock change skipped among them (wall_extra)
            wanted = last + wall_extra(self.timezone, pd.Timedelta(index[1] - index[0]))
        else:
            wanted = int(index.size - position[max(-last, -position.size)])
        out = self._band(regular, wanted, grid_weight)
        picked = out.iloc[position]
        picked.index = series.index
        return picked

    def _band(self, series: pd.Series, last: int | None, weight: pd.Series | None) -> pd.DataFrame:
        values = series.to_numpy(dtype="float64")
        if values.size < 2:
            nothing = np.full(values.size, np.nan)
            return pd.DataFrame(
                {"expected": nothing, "lower": nothing, "upper": nothing,
                 "basis": pd.Series([None] * values.size, index=series.index, dtype=object),
                 "autocorr": nothing, "relative_cap": nothing},
                index=series.index,
            )  # fmt: skip
        step = infer_step(series.index)
        period = seasonal_period(step)
        sub_daily = period > 1 and step < timedelta(days=1)
        points_per_hour = 3600 / step.total_seconds()
        seasons = np.arange(1, self.days + 1) * period
        median, weekly, unpulled, shape_error = self._median(values, period, sub_daily=sub_daily)
        # Width: how wrong the forecast was at the same time of day on previous days (and a
        # few neighbouring slots). Same time of day means similar volume, so noise that grows
        # with volume and steep daily ramps are both accounted for.
        nb = min(self.neighbours, max((period - 1) // 2, 0))
        lags = (seasons[:, None] + np.arange(-nb, nb + 1)[None, :]).ravel()

        n = values.size
        # Fitting the band of a point before the first row shown needs its band: `late` more.
        late = late_points(self.late_minutes, step)
        shown = n if last is None else min(max(last, 1), n)
        wanted = min(shown + late, n)
        cold_points = (
            max(round(self.cold_hours * points_per_hour), COLD_MIN_POINTS)
            if self.cold_hours > 0
            else 0
        )
        noise_window = self.noise_window(points_per_hour)
        rebase_window = round(self.rebase_hours * points_per_hour)
        confirm = max(round(points_per_hour), 2)
        # With `last`, each stage needs the rows the next one looks back on: the noise the
        # widths of `noise_hours` before; the widths the errors of `days` before; a re-based
        # expected value the shift of `rebase_hours` before; the level `level_slow` before.
        first_wide = max(0, n - wanted - noise_window)
        first_rebase = max(0, first_wide - int(lags.max()) - rebase_window - int(seasons[-1]))
        first_loose = max(0, first_rebase - int(lags.max()) - self.level_window - self.level_slow)

        # Pass 1, without a level: which points look normal at all.
        loose = self._scale(values - median, lags, 2 * nb + 1, first_loose)
        kinds = (self._is_counts(values), shares_before(values))  # counts; within 0..1 so far
        resolution, cap = (weighted_resolution(_resolution(values), _on(weight, series), *kinds),
                           self._caps(values, series.index, step, first_loose, counts=kinds[0]))
        floor0 = self._floor(median, resolution, kinds, cap)
        inlier = np.abs(values - median) <= self.inlier_bar(step) * np.maximum(loose, floor0)
        # Pass 2: the level from normal-looking points, then the width from its own errors.
        carry = self._carried(values, median, inlier, unpulled, shape_error)
        expected = median * self._level(values, median, inlier) * carry
        # A count's level of zero re-bases the errors the width reads, not the band.
        moved, expected, rebased = self._rebase(
            values,
            expected,
            median * carry,
            (loose, floor0),
            counts=kinds[0],
            first=first_rebase,
            window=rebase_window,
            confirm=confirm,
            memory=int(seasons[-1]),
            week=7 * period,
        )
        # Until min_history days of errors exist, the seasonal width is NaN: a cold-start
        # width stands in (or nothing, and the series is UNKNOWN).
        # A count's errors in its own noise units (see `noise_units`), as the engine keeps them.
        units = noise_units(moved, kinds[0])
        errors2 = ((values - moved) / units).astype(np.float32)
        scale, above, below = self._widths(errors2, lags, 2 * nb + 1, first_wide,
                                           near_columns(nb, self.days, self.near), sides=True,
                                           units=units)  # fmt: skip
        basis = np.full(n, NONE, dtype=object)
        seasonal = np.isfinite(scale)
        basis[seasonal] = np.where(weekly, WEEKLY, DAILY)[seasonal]
        expected, scale, basis = self._cold(
            values, expected, scale, basis, period=period, first=first_wide, points=cold_points
        )
        floor = self._floor(expected, resolution, kinds, cap)
        if weight is not None:
            floor = np.maximum(floor, _binomial(expected, weight.reindex(series.index)))
        sd = np.maximum(scale, floor)
        sd = sd * self._noise(values - expected, sd, first_wide, noise_window)
        sparse = self._sparse(values - expected, first_wide, period)
        half = np.where(np.isfinite(sd), np.fmax(self.k * sd, sparse), np.nan)
        autocorr = _same_time(errors2, lags, half / units, first_wide)
        expected = np.where(np.isfinite(half) & (np.arange(n) >= n - wanted), expected, np.nan)
        # A count cannot go below zero, nor to where its noise seldom goes (`count_floor`). A
        # ratio or a mean that never did keeps its band's own width below the expected value,
        # which the rule judges by: the range is shown from 0 (`detectors.base.floored`), but
        # held at 0 here it would score every dip of a thin slice's CTR against a narrower side
        # than its noise (a 5-view CTR then fired 20 times as often).
        lower = expected - half * below
        lower = np.maximum(lower, count_floor(expected, half * below / self.k, self.k, kinds[0]))
        # Without late points the rows before `shown` were never computed: already NaN.
        expected, lower, upper = _shown(
            late_match(values, expected, lower, expected + half * above, late),
            n - shown if late else 0,
        )
        basis = _label(basis, expected, rebased, sparse > self.k * np.nan_to_num(sd))
        return pd.DataFrame(
            {
                "expected": expected,
                "lower": lower,
                "upper": upper,
                "basis": pd.Series(basis, index=series.index, dtype=object),
                # The bucket's own (not a late point's): the rule's window test allows for it.
                "autocorr": np.where(np.isfinite(expected), autocorr, np.nan),
                "relative_cap": np.where(np.isfinite(expected), cap, np.nan),
            },
            index=series.index,
        )

    def _rebase(
        self,
        values: np.ndarray,
        expected: np.ndarray,
        unlevelled: np.ndarray,
        noise: tuple[np.ndarray, np.ndarray],
        *,
        counts: bool | np.bool_,
        first: int,
        window: int,
        confirm: int,
        memory: int,
        week: int,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """A level change that has held for most of the last `rebase_hours` (and still holds
        over the last hour) becomes the new normal: the expected value moves by the median
        shift of that span (as a factor for a series that never goes below zero, else as an
        offset). The seasonal median catches up by itself within days; until then this keeps a
        release that moved the baseline from alerting for days. An incident of a few hours
        never holds for half the span, so it is never absorbed.
        `noise`: the loose width (errors against the median alone) and its floor: a shift is
        measured in it. For `memory` points (the `days`) after a shift of REBASE_BIG or more
        of a series that never goes below zero, a further shift the same way is measured in
        `steady_noise` instead: the loose width reads the days since the change as errors,
        and three days of a doubled level (five of a halved one) had it end the re-base long
        before the median caught up (a week of echo alerts, then two weeks of a band wide
        enough to hide an outage).
        The factor is read against `unlevelled` (the expected value without the fast and slow
        level) and replaces the level: both had counted the change once the slow level began
        to follow it, on the third day (expected at 0.68 of the old level against 0.75). Where
        a value is back past the old level after a re-base the other way (within the span, and
        nearer the expected value without the level than with it: Monday after a new metric's
        quiet weekend) the level that followed the shift is left out too: the level of a
        weekend had Monday's first hours about 30% low. A shifted point whose value is at least
        twice as near the expected value of before as the re-based one is back, not re-based: a
        mean back from a day-long outage had each dip under its level re-based to the outage.
        A level of zero (or under REBASE_DEAD of the expected one) is never the new normal of a
        count, unless the count was at zero a `week` before: a metric that died keeps alerting
        until someone says otherwise, a weekday-only count's weekend is re-based as before. Its
        errors are still read against the new level: days of an outage read as noise would
        widen the band for weeks after it.
        Returns the expected values the errors are read against, those of the band (the same
        but where a count re-based to zero) and where the band's were re-based."""
        rebased = np.zeros(values.size, dtype=bool)
        if window < 2 or first >= values.size:
            return expected, expected, rebased
        v, e = values[first:], expected[first:]
        finite = v[np.isfinite(v)]
        ratio_ok = finite.size > 0 and bool(np.all(finite >= 0))
        loose, floor0 = np.fmax(noise[0][first:], noise[1][first:]), noise[1][first:]
        residual = v - e
        with np.errstate(invalid="ignore", divide="ignore"):
            shifted = lasting_shift(residual / loose, window, confirm)
        if shifted is None:
            return expected, expected, rebased
        if ratio_ok:
            with np.errstate(invalid="ignore", divide="ignore"):
                factor = _rolling_median(np.where(e > 0, v / e, np.nan), window, window // 2)
            big = self._after_big(values, residual, (loose, floor0, e), shifted, factor,
                                  first=first, window=window, memory=memory)  # fmt: skip
            if big is not None:
                with np.errstate(invalid="ignore", divide="ignore"):
                    shifted = lasting_shift(residual / big, window, confirm)
                if shifted is None:
                    return expected, expected, rebased
            b = unlevelled[first:]
            with np.errstate(invalid="ignore", divide="ignore"):
                whole = _rolling_median(np.where(b > 0, v / b, np.nan), window, window // 2)
            moved = np.where(shifted & np.isfinite(whole) & (b > 0), b * whole, e)
            # Back past the old level after a re-base the other way within the span.
            with np.errstate(invalid="ignore", divide="ignore"):
                down = _trailing_sum((shifted & (whole < 1)).astype(float), window) > 0
                up = _trailing_sum((shifted & (whole > 1)).astype(float), window) > 0
                back = np.where(residual > 0, down, up) & (np.abs(v - b) < np.abs(v - e))
            moved = np.where(back & ~shifted & (b > 0), b, moved)
        else:
            offset = _rolling_median(residual, window, window // 2)
            moved = np.where(shifted & np.isfinite(offset), e + offset, e)
        # A value at least twice as near the old level as the re-based one is back, whichever
        # side of the old level it stands: after an outage of a day, a dip under the old level
        # must not re-base again. (Half-way back, the noise of a lasting change that holds
        # narrowed its band later.)
        with np.errstate(invalid="ignore"):
            returned = shifted & (2 * np.abs(v - e) < np.abs(v - moved))
        moved = np.where(returned, e, moved)
        out = expected.copy()
        out[first:] = moved
        rebased[first:] = shifted & ~returned & np.isfinite(moved)
        dead = rebased & (out <= REBASE_DEAD * expected) & (expected > 0)
        dead &= bool(counts and ratio_ok)
        dead[week:] &= values[:-week] != 0  # at zero a week before: a shutdown it knows
        return out, np.where(dead, expected, out), rebased & ~dead

    @staticmethod
    def _after_big(
        values: np.ndarray,
        residual: np.ndarray,
        noise: tuple[np.ndarray, np.ndarray, np.ndarray],
        shifted: np.ndarray,
        factor: np.ndarray,
        *,
        first: int,
        window: int,
        memory: int,
    ) -> np.ndarray | None:
        """`_rebase`'s noise (`noise`: its loose width, floor and expected values) where a
        shift of REBASE_BIG or more the way the residual now stands was re-based within
        `memory` points before (`steady_noise`, the mean move over `window`); None where
        there was none."""
        with np.errstate(invalid="ignore"):
            up = _trailing_sum((shifted & (factor >= 1 + REBASE_BIG)).astype(float), memory)
            down = _trailing_sum((shifted & (factor <= 1 / (1 + REBASE_BIG))).astype(float),
                                 memory)  # fmt: skip
            recent = np.where(residual > 0, up, down) > 0
        if not recent.any():
            return None
        with np.errstate(invalid="ignore", over="ignore"):
            move = np.abs(np.diff(values, prepend=np.nan))[first:]
        move = np.where(np.isfinite(move), move, np.nan)  # a move from or to inf is no scale
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = _trailing_sum(move, window) / _trailing_sum(np.isfinite(move), window)
        return np.where(recent, steady_noise(*noise, mean), noise[0])

    def _sparse(self, errors: np.ndarray, first: int, period: int) -> np.ndarray:
        """Half-width floor for a series whose forecast is mostly exactly right (mostly zeros,
        or a value that mostly repeats): there the spread at each time of day says 0, and every
        rare non-zero value would fire. Where SPARSE_SHARE (30%) of the last two weeks' errors are
        exactly 0, the band is never narrower than the excursion the series makes `sparse_per_day`
        times a day (over the last week, all times of day together; where the buckets just
        before are off their forecast, the week before that run of them, up to
        SPARSE_LAG_HOURS back). The default, 0.15, is about once a week: a floor the series
        crosses once a day would be crossed, and would alert, about once a day."""
        out = np.zeros(errors.size)
        window = 7 * max(period, 1)
        lag = sparse_lag(period)
        start = max(0, first - SPARSE_WEEKS * window - lag)
        if self.sparse_per_day <= 0 or start >= errors.size or period < 2:
            return out
        size = np.abs(errors[start:])
        exact = pd.Series(np.where(np.isfinite(size), size <= 1e-12, np.nan))
        share = exact.rolling(SPARSE_WEEKS * window, min_periods=period).mean().to_numpy()
        if not bool(np.any(share >= SPARSE_SHARE)):
            return out  # not a sparse series: spare the rolling quantile
        q = float(np.clip(1 - self.sparse_per_day / period, 0.5, 1.0))
        tail = pd.Series(size).rolling(window, min_periods=period).quantile(q).to_numpy()
        # Causal: the floor for a point comes from the points before it; its size from those
        # before the excursion it is part of (the run of errors off 0 just before it).
        share = np.concatenate([[np.nan], share[:-1]])
        run = np.minimum(excursion_runs(size), lag)
        at = np.arange(size.size) - 1 - np.concatenate([[0], run[:-1]])
        tail = np.where(at >= 0, tail[np.maximum(at, 0)], np.nan)
        out[start:] = np.where(share >= SPARSE_SHARE, np.nan_to_num(tail), 0.0)
        return out

    def noise_window(self, points_per_hour: float) -> int:
        """Buckets of errors the noisy-day widening reads: `noise_hours` of them, never fewer
        than NOISE_MIN_BUCKETS (by the hour 12, not 6); 0 or 1 (off) where `noise_hours` is
        shorter than two buckets (a daily step)."""
        window = round(self.noise_hours * points_per_hour)
        return max(window, NOISE_MIN_BUCKETS) if window >= 2 else window

    def _widen(self, recent: np.ndarray) -> np.ndarray:
        """The band's widening for a robust noise size in usual sds: only noise clearly above
        the usual widens it, and then by the excess (the estimate wobbles around 1 on an
        ordinary day), up to `noise_max`."""
        excess = np.nan_to_num(recent, nan=1.0) - (NOISE_SLACK - 1.0)
        return np.clip(excess, 1.0, self.noise_max)

    def _noise(self, errors: np.ndarray, sd: np.ndarray, first: int, window: int) -> np.ndarray:
        """How much noisier than usual the recent past is: the robust size of the last
        `noise_hours` of errors in units of their usual same-time-of-day spread, less the
        slack of NOISE_SLACK, from 1 (never narrower than usual) up to `noise_max`. A day whose
        noise is three times the usual widens its band instead of firing all day; an outage
        that holds for hours does not widen its own (its buckets are events, not noise), nor
        do spikes shorter than half the span (a median)."""
        out = np.ones(errors.size)
        if window < 2 or self.noise_max <= 1 or first >= errors.size:
            return out
        with np.errstate(invalid="ignore", divide="ignore"):
            units = np.abs(errors[first:]) / sd[first:]
        least = max(window // 2, 2)
        factor = self._widen(1.4826 * _rolling_median(units, window, least))
        # Noise is what fits the band as it stood: a bucket beyond its own band (widened by
        # the noise before it) is an event, not noise, and does not widen the band after it.
        # So an outage that holds its level is judged against the band from before it began,
        # while a noisy day, whose errors grow past the band a few at a time, still widens it.
        # Leaving buckets out only lowers the median, so where counting them all gives no
        # widening there is none, and only the rest needs the bucket-by-bucket pass.
        beyond = EVENT_BEYOND * self.k
        inside = units <= beyond
        for t in np.flatnonzero(factor > 1.0):
            factor[t] = 1.0
            start = max(t - window, 0)
            kept = units[start:t][inside[start:t]]
            if kept.size >= least:
                factor[t] = self._widen(np.array([1.4826 * np.median(kept)]))[0]
            inside[t] = units[t] <= beyond * factor[t]
        out[first:] = factor
        return out

    def _cold(
        self,
        values: np.ndarray,
        expected: np.ndarray,
        scale: np.ndarray,
        basis: np.ndarray,
        *,
        period: int,
        first: int,
        points: int,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Cold start. With a day or two of history the same time of day on the days there are
        (daily-short), and before that the median of the last hours (recent); either way the
        width is the robust spread of that forecast's errors over the last day, all times of
        day together."""
        cold = ~np.isfinite(scale)
        cold[:first] = False
        if points == 0 or not cold.any():
            return expected, scale, basis
        end = int(np.flatnonzero(cold)[-1]) + 1  # only the rows that need it
        start = max(0, first - period)
        v = values[:end]
        recent = _rolling_median(v, points, max(points // 2, 1))
        seen = np.concatenate([[0], np.cumsum(np.isfinite(v))[:-1]])
        recent = np.where(seen >= points, recent, np.nan)
        short = np.isfinite(expected[:end])
        forecast = np.where(short, expected[:end], recent)
        pooled = self._pooled(v - forecast, max(period, points), start, points)
        expected, scale, basis = expected.copy(), scale.copy(), basis.copy()
        use = cold[:end] & np.isfinite(forecast) & np.isfinite(pooled)
        expected[:end] = np.where(use, forecast, np.where(cold[:end], np.nan, expected[:end]))
        scale[:end] = np.where(use, pooled, scale[:end])
        basis[:end] = np.where(use, np.where(short, DAILY_SHORT, RECENT), basis[:end])
        return expected, scale, basis

    def describe(self) -> str:
        return f"seasonal (median of {self.days} days, k={self.k:g})"


def _same_time(errors: np.ndarray, lags: np.ndarray, half: np.ndarray, first: int) -> np.ndarray:
    """The `autocorr` column for rows from `first` on (NaN before): `same_time_autocorr` of
    the `errors` (float32, as the engine keeps them) at the width's lags."""
    out = np.full(errors.size, np.nan)
    if first < errors.size:
        pairs = same_time_pairs(lags)
        out[first:] = same_time_autocorr(
            _lagged(errors, pairs, first), _lagged(errors, pairs + 1, first), half[first:]
        )
    return out


def _shown(
    band: tuple[np.ndarray, np.ndarray, np.ndarray], hidden: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The band without its first `hidden` rows (computed only for the rows after them)."""
    if hidden <= 0:
        return band
    out = tuple(a.copy() for a in band)
    for a in out:
        a[:hidden] = np.nan
    return out[0], out[1], out[2]


def _label(
    basis: np.ndarray, expected: np.ndarray, rebased: np.ndarray, sparse: np.ndarray
) -> np.ndarray:
    """The basis column: None where there is no band; re-based and sparse noted."""
    known = np.isfinite(expected)
    basis = basis.copy()
    basis[~known] = NONE
    moved = rebased & known
    basis[moved] = basis[moved] + REBASED
    spare = known & sparse
    basis[spare] = basis[spare] + SPARSE
    return basis


def _binomial(expected: np.ndarray, weight: pd.Series) -> np.ndarray:
    """Standard error of a share estimated from `weight` events (0 where unknown)."""
    trials = weight.to_numpy(dtype="float64")
    share = np.clip(expected, 0.0, 1.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        binomial = np.sqrt(share * (1 - share) / np.maximum(trials, 1.0))
    return np.where(np.isfinite(binomial), binomial, 0.0)


def sparse_lag(period: int) -> int:
    """SPARSE_LAG_HOURS in buckets, for a day of `period` buckets."""
    return round(SPARSE_LAG_HOURS * period / 24)


def excursion_runs(size: np.ndarray) -> np.ndarray:
    """Per point, how many points in a row up to it are finite and off 0 (absolute errors,
    `size`): the excursion it ends."""
    off = np.isfinite(size) & (size > 1e-12)
    where = np.arange(off.size)
    return where - np.maximum.accumulate(np.where(off, -1, where))


def shares_before(values: np.ndarray) -> np.ndarray:
    """Per point, whether every finite value before it was within 0..1."""
    with np.errstate(invalid="ignore"):
        beyond = np.isfinite(values) & ((values < 0) | (values > 1))
    return ~np.logical_or.accumulate(np.concatenate([[False], beyond[:-1]]))


def share_resolution(
    resolution: np.ndarray,
    expected: np.ndarray,
    counts: bool | np.ndarray,
    share: bool | np.ndarray,
) -> np.ndarray:
    """The resolution a floor reads: whole numbers tell none on a series that is not counts,
    where every value before was within 0..1 (`share`, shares_before) and it is expected above
    0 (a success rate held at exactly 1: a step of 1 is its whole scale, and would hide a fall
    from 100% to 0%). An expected 0 keeps it, so a band there always has a width."""
    with np.errstate(invalid="ignore"):
        whole = np.asarray(share) & ~np.asarray(counts) & (resolution >= 1)
        told = ~(whole & (expected > 0) & (expected <= 1))
    return np.where(told, resolution, 0.0)


def _on(weight: pd.Series | None, series: pd.Series) -> np.ndarray | None:
    """`weight`'s values on `series`' index (None: no weight)."""
    return None if weight is None else weight.reindex(series.index).to_numpy(dtype="float64")


def weighted_resolution(
    resolution: np.ndarray, weight: np.ndarray | None, counts: bool | np.ndarray,
    share: bool | np.ndarray,
) -> np.ndarray:  # fmt: skip
    """The resolution of a share whose denominator is known (`weight`, a ratio's views or
    requests), where every value before was within 0..1 (`share`) and the series is not
    counts: one event in `weight`, or the decimals it is stored with where those are coarser.
    A rate held at exactly 0 reads as whole numbers, a step of 1: its band ran to 162.5%,
    which no rise of a rate can leave; one event in 200 (0.005) read as a step of 0.001, and
    the next such event fired. No `weight`: `resolution` as it is."""
    if weight is None:
        return resolution
    with np.errstate(divide="ignore", invalid="ignore"):
        step = np.where(np.isfinite(weight) & (weight > 0), 1.0 / weight, np.nan)
    use = np.asarray(share) & ~np.asarray(counts) & np.isfinite(step)
    stored = np.where(resolution >= 1, 0.0, resolution)  # whole numbers: 0s and 1s tell none
    return np.where(use, np.fmax(stored, step), resolution)


def _resolution(values: np.ndarray) -> np.ndarray:
    """Per point, the resolution of the values before it: 10^-d for the most decimal places d
    (up to 9) any of them has. Whole numbers (and zeros) give 1, values stored to 0.001 give
    0.001; values with more decimals than that, in effect none."""
    finite = np.where(np.isfinite(values), np.abs(values), 0.0)
    if bool(np.all(finite == np.round(finite))):  # whole numbers: the common case, fast
        return np.concatenate([[0.0], np.ones(max(values.size - 1, 0))])
    places = np.full(values.size, DECIMALS_MAX, dtype=float)
    for d in range(DECIMALS_MAX - 1, -1, -1):
        scaled = finite * 10.0**d
        exact = np.abs(scaled - np.round(scaled)) <= 1e-6 * np.maximum(scaled, 1.0)
        places = np.where(exact, d, places)
    most = np.maximum.accumulate(np.concatenate([[0.0], places[:-1]]))
    return np.where(most >= DECIMALS_MAX, 0.0, 10.0**-most)


def wall_grid(index: pd.DatetimeIndex, zone: str) -> tuple[pd.DatetimeIndex, np.ndarray] | None:
    """For a `zone` other than UTC: a regular grid of that zone's wall-clock time (labelled as
    UTC) and each timestamp's position on it, so that a day is always as many buckets and the
    same slot is the same local time: daylight saving's skipped hour is a gap, its repeated
    hour shares the first one's positions. None for UTC."""
    if zone == "UTC":
        return None
    require_timestamps(index)
    utc = index.tz_localize("UTC") if index.tz is None else index.tz_convert("UTC")
    if np.any(np.diff(utc.asi8) <= 0):  # as in UTC (`_grid`): not sorted here in silence
        raise ValueError("the series index must be increasing")
    wall = utc.tz_convert(zone).tz_localize(None).tz_localize("UTC")
    step = pd.Timedelta(infer_step(utc))
    # Half a step off (a 30-minute change at an hourly step, an hour's at two-hourly): rounded
    # up, never to even, which would put every other point on its neighbour's slot for as
    # long as the offset lasts and leave the slot between them empty.
    offsets = np.asarray((wall - wall[0]) / step, dtype="float64")
    position = np.floor(offsets + 0.5).astype(np.int64)
    start = int(position.min())
    position -= start
    rows = int(position.max()) + 1
    _dense_enough(index.size, rows, step)
    grid = pd.date_range(wall[0] + start * step, periods=rows, freq=step)
    return grid, position


def wall_extra(zone: str, step: pd.Timedelta) -> int:
    """The grid rows a band on `zone`'s wall clock computes beyond those asked for: the slots of
    the longest change of the clocks (an hour), which a skip ahead leaves empty among them, so
    that the last `last` buckets all have a band. 0 in UTC."""
    if zone == "UTC" or step <= pd.Timedelta(0):
        return 0
    return int(np.ceil(pd.Timedelta(hours=1) / step))


def onto_grid(values: np.ndarray, position: np.ndarray, size: int) -> np.ndarray:
    """`values` (points, or series x points) at their `position`s on a grid of `size`, NaN
    where none falls; where several share one, the last of them. `values` itself (no copy)
    where each point has its own position in order, as in a window without a clock change."""
    if position.size == size and (size == 0 or bool(np.all(np.diff(position) == 1))):
        return values
    out = np.full((*values.shape[:-1], size), np.nan)
    reverse = position[::-1]
    _, first = np.unique(reverse, return_index=True)
    keep = position.size - 1 - first  # the last point at each position
    out[..., position[keep]] = values[..., keep]
    return out


def _grid(index: pd.DatetimeIndex) -> tuple[pd.DatetimeIndex, np.ndarray] | None:
    """For an index with gaps or off-grid timestamps: a regular grid at its usual step and each
    timestamp's position on it. None when the index is regular already."""
    require_timestamps(index)
    spacing = np.diff(index.asi8)
    if spacing.size and bool(np.all(spacing == spacing[0])) and spacing[0] > 0:
        return None
    step = pd.Timedelta(infer_step(index))
    offsets = np.asarray((index - index[0]) / step, dtype="float64")
    position = np.rint(offsets).astype(np.int64)
    if np.any(np.diff(position) < 0):
        raise ValueError("the series index must be increasing")
    rows = int(position[-1]) + 1
    _dense_enough(index.size, rows, step)
    grid = pd.date_range(index[0], periods=rows, freq=step)
    return grid, position


def _dense_enough(points: int, rows: int, step: pd.Timedelta) -> None:
    """A ValueError saying what to do when `points` would spread over `rows` buckets of `step`:
    too sparse for a grid (its memory and time would grow with the span, not the points)."""
    if rows > max(GRID_SPARSEST * points, GRID_ALWAYS):
        raise ValueError(
            f"{points:,} points would spread over {rows:,} buckets of their most common "
            f"spacing, {step.total_seconds():g} s: too sparse to put on a grid; resample the "
            f"series to a coarser step first, e.g. series.resample('15min').sum() for counts or "
            f".mean()"
        )


def span_quantiles(block: np.ndarray, least: int) -> tuple[np.ndarray, np.ndarray]:
    """Per row of `block` (series x values): its SPAN_Q and 1 - SPAN_Q quantiles (linear
    between order statistics; NaN and inf left out), NaN where fewer than `least` values are
    finite. The band engine calls it too: the same picks and arithmetic, bit for bit."""
    rows, width = block.shape
    lo, hi = np.full(rows, np.nan), np.full(rows, np.nan)
    if width == 0 or rows == 0:
        return lo, hi
    finite = np.isfinite(block)
    count = finite.sum(axis=1)
    pos = np.stack([SPAN_Q * (count - 1), (1 - SPAN_Q) * (count - 1)], axis=1)
    pos = np.maximum(pos, 0.0)
    below = np.floor(pos).astype(np.int64)
    above = np.minimum(below + 1, np.maximum(count - 1, 0)[:, None])
    if bool(finite.all()):  # the same order statistics as the sort, sooner
        picks = sorted({int(i) for i in np.concatenate([below[0], above[0]])})
        ordered = np.partition(block, picks, axis=1)
    else:
        ordered = np.sort(np.where(finite, block, np.nan), axis=1)  # NaN last
    a = np.take_along_axis(ordered, below, axis=1)
    b = np.take_along_axis(ordered, above, axis=1)
    with np.errstate(invalid="ignore", over="ignore"):
        q = a + (b - a) * (pos - below)
    enough = count >= max(least, 1)
    return np.where(enough, q[:, 0], np.nan), np.where(enough, q[:, 1], np.nan)


def offset_caps(
    values: np.ndarray, days: np.ndarray, wanted: np.ndarray, spans: float, step_ns: int
) -> np.ndarray:
    """`relative_cap` for buckets on the days `wanted` (R,), of each series (rows of
    `values`, S x W, on buckets of days `days` (W,), increasing, `step_ns` apart): `spans`
    times the series' span over the SPAN_DAYS days before (from at least a day's worth), where
    that span keeps clear of zero (both quantiles on one side of it) and is not 0; else NaN, no
    cap. A share (both quantiles within 0..1, not
    equal: a CTR, a success rate) is measured from its nearer end instead: the cap is 1 less
    its low quantile, whatever `spans` says but 0, which only a share near 1 is closer to than
    to 0 (a success rate's failures are what move; a CTR of 0.2 keeps its level); a share held
    at exactly 1 (no span to measure) from PINNED_SHARE below it."""
    out = np.full((values.shape[0], wanted.size), np.nan)
    if spans <= 0 or wanted.size == 0:
        return out
    least = max(DAY_NS // max(step_ns, 1), 1)  # a day's worth of buckets at `step_ns`
    unique, inverse = np.unique(wanted, return_inverse=True)
    starts = np.searchsorted(days, unique - SPAN_DAYS)
    widths = np.searchsorted(days, unique) - starts
    series = values.shape[0]
    lo, hi = np.full((series, unique.size), np.nan), np.full((series, unique.size), np.nan)
    # The days whose spans read as many buckets, all at once (a row per series and day).
    for width in np.unique(widths):
        at = np.flatnonzero(widths == width)
        block = values[:, starts[at][:, None] + np.arange(width)[None, :]]
        low, high = span_quantiles(block.reshape(series * at.size, width), least)
        lo[:, at], hi[:, at] = low.reshape(series, at.size), high.reshape(series, at.size)
    with np.errstate(invalid="ignore", over="ignore"):
        clear = ((lo > 0) | (hi < 0)) & (hi > lo)
        share = (lo >= 0) & (hi <= 1) & (hi > lo)
        pinned = (lo == 1) & (hi == 1)
        caps = np.where(share, 1 - lo, np.where(clear, spans * (hi - lo), np.nan))
        caps = np.where(pinned, PINNED_SHARE, caps)
    return caps[:, inverse.ravel()]


def bucket_days(ns: np.ndarray) -> np.ndarray:
    """The (UTC) day number of buckets starting at `ns` (int64 nanoseconds)."""
    return np.floor_divide(ns, DAY_NS)
