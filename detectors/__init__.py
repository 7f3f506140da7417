"""What is normal: detectors that compute a causal expected band for any regular series.

Pure: numpy, pandas, statsmodels; no I/O, no clock, no environment.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from detectors.base import (
    Detector,
    Direction,
    Status,
    Verdict,
    infer_step,
    judge,
    outside_since,
)
from detectors.params import Param
from detectors.seasonal import SeasonalDetector, seasonal_period

__all__ = [
    "DEFAULT_SPEC",
    "METHODS",
    "Detector",
    "Direction",
    "Param",
    "SeasonalDetector",
    "Status",
    "Verdict",
    "build",
    "infer_step",
    "judge",
    "outside_since",
    "seasonal_period",
]

METHODS: Mapping[str, type[Detector]] = MappingProxyType({"seasonal": SeasonalDetector})

DEFAULT_SPEC: Mapping[str, Any] = MappingProxyType({"method": "seasonal"})


def build(spec: Mapping[str, Any]) -> Detector:
    """A detector from a catalogue spec such as {"method": "seasonal", "k": 4}."""
    if not isinstance(spec, Mapping):
        raise ValueError(f"a detector spec must be a mapping, got {type(spec).__name__}")
    params = dict(spec)
    method = params.pop("method", DEFAULT_SPEC["method"])
    if method not in METHODS:
        raise ValueError(f"unknown detector method {method!r}; valid: {', '.join(METHODS)}")
    return METHODS[method](**params)
