"""statsmodels-based detectors: STL decomposition and Holt-Winters exponential smoothing.

Both are refitted on a schedule: the band for a block of buckets comes from a model fitted
on the `history_days` before the block, so it is causal. The width is k robust standard
deviations of the fit's one-step errors, one width for the whole day: simpler than the
seasonal detector's time-of-day width, and measured against it in benchmarks/detection.py.
"""

from __future__ import annotations

import warnings
from abc import abstractmethod
from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np
import pandas as pd

from detectors.base import Detector, infer_step
from detectors.params import Param, validate
from detectors.seasonal import seasonal_period

__all__ = ["HoltWintersDetector", "STLDetector"]

_COMMON: dict[str, Param] = {
    "k": Param(float, 4.0, 0.5, 20.0, "half-width of the band in robust standard deviations"),
    "history_days": Param(int, 14, 3, 56, "days each fit learns from"),
    "refit_days": Param(int, 7, 1, 28, "days between refits (each block uses the fit before it)"),
    "counts": Param(
        str, "auto", None, None,
        "yes: never narrower than Poisson noise, a missing bucket alerts; auto: when whole >= 0",
        choices=("auto", "yes", "no"),
    ),
}  # fmt: skip


class _Refitted(Detector):
    PARAMS: Mapping[str, Param] = _COMMON

    def __init__(self, **params: Any) -> None:
        values = validate(self.name, self.PARAMS, params)
        self.k: float = values["k"]
        self.history_days: int = values["history_days"]
        self.refit_days: int = values["refit_days"]
        self.counts: str = values["counts"]
        self.extra = values

    def _blocks(self, n: int, period: int, wanted: int) -> Iterator[tuple[int, int, int]]:
        """(train start, block start, block end) for the blocks overlapping the last rows."""
        history = self.history_days * period
        refit = self.refit_days * period
        first_needed = n - wanted
        for start in range(history, n, refit):
            end = min(start + refit, n)
            if end > first_needed:
                yield start - history, start, end

    def band(
        self, series: pd.Series, last: int | None = None, weight: pd.Series | None = None
    ) -> pd.DataFrame:
        values = series.to_numpy(dtype="float64")
        n = values.size
        expected = np.full(n, np.nan)
        half = np.full(n, np.nan)
        if n < 2:
            return pd.DataFrame({"expected": expected, "lower": half, "upper": half},
                                index=series.index)  # fmt: skip
        period = max(seasonal_period(infer_step(series.index)), 2)
        finite = values[np.isfinite(values)]
        counts = self.counts == "yes" or (
            self.counts == "auto" and finite.size > 0 and bool(np.all(finite >= 0))
            and bool(np.all(finite == np.round(finite)))
        )  # fmt: skip
        wanted = n if last is None else min(max(last, 1), n)
        for lo, start, end in self._blocks(n, period, wanted):
            train = pd.Series(values[lo:start])
            if train.notna().mean() < 0.7:
                continue  # too little data to fit: the block stays unknown
            train = train.interpolate(limit_direction="both").to_numpy()
            # The block's own values feed the one-step predictions only after each is seen;
            # a missing one is carried forward, never filled from the future.
            block = pd.Series(values[start:end]).ffill().fillna(train[-1]).to_numpy()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # statsmodels' convergence chatter
                predicted, scale = self._predict(train, block, period)
            expected[start:end] = predicted
            floor = np.sqrt(np.maximum(predicted, 1.0)) if counts else 0.0
            half[start:end] = self.k * np.maximum(scale, floor)
        lower = expected - half
        if counts:
            lower = np.maximum(lower, 0.0)
        out = pd.DataFrame({"expected": expected, "lower": lower, "upper": expected + half},
                           index=series.index)  # fmt: skip
        if wanted < n:
            out.iloc[: n - wanted] = np.nan
        return out

    @abstractmethod
    def _predict(
        self, train: np.ndarray, block: np.ndarray, period: int
    ) -> tuple[np.ndarray, float]:
        """Predictions for the block (each from the data before it) and the error scale."""


def _robust_sd(errors: np.ndarray) -> float:
    errors = errors[np.isfinite(errors)]
    if errors.size == 0:
        return float("nan")
    return float(1.4826 * np.median(np.abs(errors - np.median(errors))))


class STLDetector(_Refitted):
    """Trend + daily season by STL (statsmodels); expected = last trend + the season's slot."""

    name = "stl"
    PARAMS: Mapping[str, Param] = {
        **_COMMON,
        "robust": Param(
            str, "no", None, None, "robust STL (resists outliers, 6x slower)", choices=("no", "yes")
        ),
        "level_window": Param(
            int,
            16,
            0,
            192,
            "recent buckets whose deseasonalised median is the level (0 = the fit's last trend)",
        ),
    }

    def _predict(
        self, train: np.ndarray, block: np.ndarray, period: int
    ) -> tuple[np.ndarray, float]:
        from statsmodels.tsa.seasonal import STL

        result = STL(train, period=period, robust=self.extra["robust"] == "yes").fit()
        season = np.asarray(result.seasonal)[-period:]
        trend = float(np.asarray(result.trend)[-1])
        slots = np.arange(block.size) % period
        window = self.extra["level_window"]
        if window == 0:
            return trend + season[slots], _robust_sd(np.asarray(result.resid))
        # The trend moves within a block too: follow it with the median of the last `window`
        # deseasonalised values, each known before the bucket it predicts. The width is that
        # forecast's own one-step error on the training data, not the fit's residual (which a
        # short period makes far too small).
        known = pd.Series(train - np.asarray(result.seasonal))
        moving = known.rolling(window, min_periods=1).median().shift(1)
        errors = (known - moving).to_numpy()[window:]
        tail = known.to_numpy()[-window:]
        flat = pd.Series(np.concatenate([tail, block - season[slots]]))
        level = flat.rolling(window, min_periods=1).median().shift(1).to_numpy()[tail.size :]
        return level + season[slots], _robust_sd(errors)

    def describe(self) -> str:
        return f"stl (daily season, {self.history_days}-day fits, k={self.k:g})"


class HoltWintersDetector(_Refitted):
    """Additive Holt-Winters (statsmodels): parameters fitted on the history, then one-step
    predictions through the block with those parameters fixed."""

    name = "holt_winters"
    PARAMS: Mapping[str, Param] = {
        **_COMMON,
        "trend": Param(str, "none", None, None, "trend component", choices=("none", "add")),
    }

    def _predict(
        self, train: np.ndarray, block: np.ndarray, period: int
    ) -> tuple[np.ndarray, float]:
        from statsmodels.tsa.holtwinters import ExponentialSmoothing

        trend = None if self.extra["trend"] == "none" else "add"
        fitted = ExponentialSmoothing(
            train, trend=trend, seasonal="add", seasonal_periods=period
        ).fit()
        params = fitted.params
        known = {
            "initialization_method": "known",
            "initial_level": params["initial_level"],
            "initial_seasonal": params["initial_seasons"],
        }
        smoothing = {
            "smoothing_level": params["smoothing_level"],
            "smoothing_seasonal": params["smoothing_seasonal"],
        }
        if trend:
            known["initial_trend"] = params["initial_trend"]
            smoothing["smoothing_trend"] = params["smoothing_trend"]
        run = ExponentialSmoothing(
            np.concatenate([train, block]), trend=trend, seasonal="add",
            seasonal_periods=period, **known,
        ).fit(optimized=False, **smoothing)  # fmt: skip
        one_step = np.asarray(run.fittedvalues)
        return one_step[train.size :], _robust_sd(train - one_step[: train.size])

    def describe(self) -> str:
        return f"holt_winters ({self.history_days}-day fits, k={self.k:g})"
