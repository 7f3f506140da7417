"""Seasonal detector: a robust band from the same time of day on previous days.

expected(t) = median of the values at t - d*period, d = 1..days (or, where it has forecast
better over the past week, of the same time on the same weekday of previous weeks), times a
level factor (recent actual against that median), so slow growth or a holiday-wide shift is not
an anomaly. The level is two-speed: a slow one over `level_slow` buckets, and a fast one over
`level_window` buckets that may stray at most `level_clip` from the slow one, so a decline over
a few hours cannot drag the expected value down with it.
width = k robust standard deviations of the past forecast errors at the same time of day,
never narrower than min_rel_width of expected.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any

import numpy as np
import pandas as pd

from detectors.base import Detector, infer_step
from detectors.params import Param, validate

__all__ = ["SeasonalDetector", "seasonal_period"]

WEEKLY_MIN = 3  # fewest same-weekday values whose median may stand in for the daily one


def seasonal_period(step: timedelta) -> int:
    """Points per season: a day for sub-daily steps, a week for daily steps, else none (1)."""
    seconds = step.total_seconds()
    if seconds <= 0:
        raise ValueError(f"the step must be positive, got {step}")
    if seconds < 86400 and 86400 % seconds == 0:
        return int(86400 // seconds)
    if seconds == 86400:
        return 7
    return 1


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
    half the window's points are ok."""
    low, high = centre - clip * np.abs(centre), centre + clip * np.abs(centre)
    clipped = np.clip(values, low, high)
    num = _trailing_sum(np.where(ok, clipped, 0.0), window)
    den = _trailing_sum(np.where(ok, median, 0.0), window)
    count = _trailing_sum(ok.astype(float), window)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where((count * 2 >= window) & (den > 0), num / den, np.nan)


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
        "days": Param(int, 14, 2, 56, "previous seasons (days) the expected value is built from"),
        "k": Param(float, 3.25, 0.5, 20.0, "half-width of the band in robust standard deviations"),
        "neighbours": Param(
            int, 3, 0, 8, "adjacent slots on each side whose past errors also set the width"
        ),
        "level_window": Param(
            int,
            12,
            0,
            192,
            "recent buckets whose total against the seasonal median sets the (fast) level",
        ),
        "level_inlier": Param(
            float,
            3.5,
            0.5,
            20.0,
            "robust standard deviations within which a bucket counts as normal for the level; "
            "apart from k, so a wider band never lets an incident into the level",
        ),
        "level_slow": Param(
            int,
            192,
            0,
            4032,
            "buckets of the slow level, which follows growth and holiday-wide shifts "
            "(0 = one level only)",
        ),
        "level_clip": Param(
            float,
            0.1,
            0.01,
            1.0,
            "the most the fast level may differ from the slow one, as a share; a decline over "
            "hours then shows as a decline instead of being absorbed",
        ),
        "weeks": Param(
            int,
            3,
            0,
            8,
            "previous weeks of the same-weekday median, used where it forecast better over "
            "the past week (under 3 = off: a median of two is no defence against last week's "
            "incident): weekday/weekend differences are then expected",
        ),
        "weekly_gain": Param(
            float,
            0.1,
            0.0,
            10.0,
            "how much smaller (a share) the same-weekday median's past errors must be to be used",
        ),
        "min_history": Param(int, 3, 1, 56, "fewest previous seasons needed for a band"),
        "min_rel_width": Param(
            float, 0.02, 0.0, 1.0, "narrowest half-width, as a share of expected"
        ),
        "counts": Param(
            str,
            "auto",
            None,
            None,
            "yes: the values are event counts, never narrower than Poisson noise; "
            "auto: yes when every value is a whole non-negative number",
            choices=("auto", "yes", "no"),
        ),
    }

    def __init__(self, **params: Any) -> None:
        values = validate(self.name, self.PARAMS, params)
        self.days: int = values["days"]
        self.k: float = values["k"]
        self.neighbours: int = values["neighbours"]
        self.level_window: int = values["level_window"]
        self.level_inlier: float = values["level_inlier"]
        self.level_slow: int = values["level_slow"]
        self.level_clip: float = values["level_clip"]
        self.weeks: int = values["weeks"]
        self.weekly_gain: float = values["weekly_gain"]
        self.min_history: int = values["min_history"]
        self.min_rel_width: float = values["min_rel_width"]
        self.counts: str = values["counts"]
        if self.min_history > self.days:
            raise ValueError(
                f"seasonal: min_history must be <= days ({self.days}), got {self.min_history}"
            )

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

    def _median(self, values: np.ndarray, period: int, *, sub_daily: bool) -> np.ndarray:
        """Per point, the median of the same slot on the previous `days` days; or, where that
        would have been the better forecast over the past week, on the same weekday of the
        previous `weeks` weeks (needs at least three, so one incident a week ago cannot set
        it)."""
        seasons = np.arange(1, self.days + 1) * period
        same_slot = _lagged(values, seasons)
        enough = np.sum(~np.isnan(same_slot), axis=1) >= self.min_history
        daily = np.where(enough, _nanmedian(same_slot, axis=1), np.nan)
        week = 7 * period
        # Only where the season is a day: for daily data the season already is the week.
        if not sub_daily or self.weeks < WEEKLY_MIN or WEEKLY_MIN * week >= values.size:
            return daily
        same_day = _lagged(values, np.arange(1, self.weeks + 1) * week)
        weekly = np.where(
            np.sum(~np.isnan(same_day), axis=1) >= WEEKLY_MIN,
            _nanmedian(same_day, axis=1),
            np.nan,
        )
        both = np.isfinite(values) & np.isfinite(daily) & np.isfinite(weekly)
        daily_err = _trailing_sum(np.where(both, np.abs(values - daily), 0.0), week)
        weekly_err = _trailing_sum(np.where(both, np.abs(values - weekly), 0.0), week)
        seen = _trailing_sum(both.astype(float), week)
        better = (seen * 2 >= week) & (weekly_err * (1 + self.weekly_gain) < daily_err)
        return np.where(better & np.isfinite(weekly), weekly, daily)

    def _is_counts(self, values: np.ndarray) -> bool:
        finite = values[np.isfinite(values)]
        return self.counts == "yes" or (
            self.counts == "auto"
            and finite.size > 0
            and bool(np.all(finite >= 0))
            and bool(np.all(finite == np.round(finite)))
        )

    def _floor(self, values: np.ndarray, expected: np.ndarray) -> np.ndarray:
        floor = self.min_rel_width * np.abs(expected)
        if self._is_counts(values):
            # Counts: never narrower than Poisson noise, so a quiet series is not flagged for
            # the difference between 0 and 2 events.
            floor = np.maximum(floor, np.sqrt(np.maximum(expected, 1.0)))
        return floor

    def _scale(
        self, errors: np.ndarray, lags: np.ndarray, per_row: int, first: int = 0
    ) -> np.ndarray:
        """Robust sd of past errors at the same time of day (and neighbouring slots), for rows
        from `first` on (NaN before). float32: a width needs no more, and sorts twice as fast."""
        past = _lagged(np.abs(errors).astype(np.float32), lags, first)
        scale = 1.4826 * _nanmedian(past, axis=1).astype(np.float64)
        known = np.sum(~np.isnan(past), axis=1) >= self.min_history * per_row
        out = np.full(errors.size, np.nan)
        out[first:] = np.where(known, scale, np.nan)
        return out

    def band(
        self, series: pd.Series, last: int | None = None, weight: pd.Series | None = None
    ) -> pd.DataFrame:
        """The band for every bucket, or (faster) only for the `last` buckets: the rest NaN.

        A live check needs the last day (its chart and verdict); a backtest needs all of it.
        With `weight` (a ratio's denominator) the width never drops below the binomial
        standard error of a share estimated from that many events.
        """
        values = series.to_numpy(dtype="float64")
        out = pd.DataFrame(
            np.nan, index=series.index, columns=["expected", "lower", "upper"], dtype="float64"
        )
        if values.size < 2:
            return out
        step = infer_step(series.index)
        period = seasonal_period(step)
        seasons = np.arange(1, self.days + 1) * period
        median = self._median(values, period, sub_daily=period > 1 and step < timedelta(days=1))
        # Width: how wrong the forecast was at the same time of day on previous days (and a
        # few neighbouring slots). Same time of day means similar volume, so noise that grows
        # with volume and steep daily ramps are both accounted for.
        nb = min(self.neighbours, max((period - 1) // 2, 0))
        lags = (seasons[:, None] + np.arange(-nb, nb + 1)[None, :]).ravel()

        n = values.size
        wanted = n if last is None else min(max(last, 1), n)
        # Rows whose pass-1 width feeds the level of the rows whose errors set the final width.
        first_loose = max(0, n - wanted - int(lags.max()) - self.level_window - self.level_slow)

        # Pass 1, without a level: which points look normal at all.
        loose = self._scale(values - median, lags, 2 * nb + 1, first_loose)
        # Not k: were it k, a wider band would admit incident buckets into the level, which
        # then leaves echoes after the incident: a less sensitive setting would alert more.
        inlier = np.abs(values - median) <= self.level_inlier * np.maximum(
            loose, self._floor(values, median)
        )
        # Pass 2: the level from normal-looking points, then the width from its own errors.
        expected = median * self._level(values, median, inlier)
        # Until min_history days of errors exist, there is no honest width: NaN (UNKNOWN).
        scale = self._scale(values - expected, lags, 2 * nb + 1, n - wanted)
        floor = self._floor(values, expected)
        if weight is not None:
            trials = weight.reindex(series.index).to_numpy(dtype="float64")
            share = np.clip(expected, 0.0, 1.0)
            with np.errstate(divide="ignore", invalid="ignore"):
                binomial = np.sqrt(share * (1 - share) / np.maximum(trials, 1.0))
            floor = np.maximum(floor, np.where(np.isfinite(binomial), binomial, 0.0))
        half = self.k * np.maximum(scale, floor)
        if wanted < n:
            expected = expected.copy()
            expected[: n - wanted] = np.nan
        lower = expected - half
        if self._is_counts(values):
            lower = np.maximum(lower, 0.0)  # a count cannot go below zero
        return pd.DataFrame(
            {"expected": expected, "lower": lower, "upper": expected + half},
            index=series.index,
        )

    def describe(self) -> str:
        return f"seasonal (median of {self.days} days, k={self.k:g})"
