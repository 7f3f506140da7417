"""What is normal: detectors that compute a causal expected band for any regular series.

Pure: numpy, pandas, statsmodels; no I/O, no clock, no environment.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from detectors.base import (
    NO_WIDTH,
    Detector,
    Direction,
    Status,
    Verdict,
    capped,
    floored,
    infer_step,
    judge,
    never_negative,
    never_over_one,
    outside_since,
    shown,
)
from detectors.decomposition import HoltWintersDetector, STLDetector
from detectors.iqr import IQRDetector
from detectors.params import Param
from detectors.rule import RULE_PARAMS, Rule
from detectors.seasonal import SeasonalDetector, seasonal_period

__all__ = [
    "DEFAULT_SPEC",
    "METHODS",
    "NO_WIDTH",
    "RULE_PARAMS",
    "Detector",
    "Direction",
    "HoltWintersDetector",
    "IQRDetector",
    "Param",
    "Rule",
    "STLDetector",
    "SeasonalDetector",
    "Status",
    "Verdict",
    "build",
    "build_rule",
    "capped",
    "floored",
    "infer_step",
    "judge",
    "never_negative",
    "never_over_one",
    "outside_since",
    "params_of",
    "seasonal_period",
    "shown",
]

METHODS: Mapping[str, type[Detector]] = MappingProxyType(
    {
        "seasonal": SeasonalDetector,
        "iqr": IQRDetector,
        "stl": STLDetector,
        "holt_winters": HoltWintersDetector,
    }
)

DEFAULT_SPEC: Mapping[str, Any] = MappingProxyType({"method": "seasonal"})


def build(spec: Mapping[str, Any]) -> Detector:
    """A detector from a catalogue spec such as {"method": "seasonal", "k": 4}."""
    if not isinstance(spec, Mapping):
        raise ValueError(f"a detector spec must be a mapping, got {type(spec).__name__}")
    params = {k: v for k, v in spec.items() if k not in RULE_PARAMS}
    method = params.pop("method", DEFAULT_SPEC["method"])
    if method not in METHODS:
        raise ValueError(f"unknown detector method {method!r}; valid: {', '.join(METHODS)}")
    own = getattr(METHODS[method], "PARAMS", {})
    if "counts" not in own:
        params.pop("counts", None)  # the rule's too (a missing count alerts): not this method's
    if "timezone" not in own:
        params.pop("timezone", None)  # the catalogue's for every metric (defaults.timezone)
    return METHODS[method](**params)


def build_rule(spec: Mapping[str, Any]) -> Rule:
    """The alert rule from the same spec: the keys of RULE_PARAMS (the rest is the detector's)."""
    return Rule.from_spec(spec)


def params_of(spec: Mapping[str, Any]) -> dict[str, Param]:
    """Every tunable parameter of a spec's detector and of the rule, with its metadata."""
    method = spec.get("method", DEFAULT_SPEC["method"])
    if method not in METHODS:
        raise ValueError(f"unknown detector method {method!r}; valid: {', '.join(METHODS)}")
    detector_params: Mapping[str, Param] = getattr(METHODS[method], "PARAMS", {})
    return {**detector_params, **RULE_PARAMS}
