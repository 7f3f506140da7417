"""The classic rolling-IQR band: quartiles of the last n buckets, widened by k IQRs.

Kept as the baseline to beat and for users who want it. Correct on both sides (a drop below
Q1 - k*IQR fires as well as a spike above Q3 + k*IQR), and causal: the band at t uses the n
buckets before t, never t itself.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

from detectors.base import Detector
from detectors.params import Param, validate

__all__ = ["IQRDetector"]


class IQRDetector(Detector):
    name = "iqr"
    PARAMS: Mapping[str, Param] = {
        "n": Param(int, 5, 3, 500, "previous buckets whose quartiles make the band"),
        "k": Param(float, 3.0, 0.1, 20.0, "IQRs added below Q1 and above Q3"),
    }

    def __init__(self, **params: Any) -> None:
        values = validate(self.name, self.PARAMS, params)
        self.n: int = values["n"]
        self.k: float = values["k"]

    def band(
        self, series: pd.Series, last: int | None = None, weight: pd.Series | None = None
    ) -> pd.DataFrame:
        past = series.astype("float64").shift(1).rolling(self.n, min_periods=self.n)
        q1, median, q3 = past.quantile(0.25), past.median(), past.quantile(0.75)
        spread = q3 - q1
        return pd.DataFrame(
            {"expected": median, "lower": q1 - self.k * spread, "upper": q3 + self.k * spread},
            index=series.index,
        )

    def describe(self) -> str:
        return f"iqr (last {self.n} buckets, k={self.k:g})"
