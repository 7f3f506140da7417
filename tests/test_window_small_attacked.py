"""Attacks on the sustained-shift test's longer windows for small counts (window_small): the
matrix verdicts must equal Rule.verdict series by series for odd settings and small counts
with holes, halvings and tiny levels."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from detectors.rule import Rule
from detectors.verdicts import verdicts
from tests.test_verdicts import differences, reference

SETTINGS = [
    {}, {"window_small": 0}, {"window_small": 5}, {"window_small": 96},
    {"window": 8, "window_small": 4}, {"window": 2, "window_small": 16},
    {"window": 1, "window_small": 16}, {"window_small": 16, "direction": "down"},
    {"window_small": 40, "window_min_expected": 5000.0},
    {"window_small": 16, "window_min_rel": 0.0, "min_rel_change": 0.0},
]


def _small(seed: int, rows: int, width: int) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(seed)
    t = np.arange(width)
    vals, exps, lows, ups = (np.empty((rows, width)) for _ in range(4))
    for i in range(rows):
        level = float(rng.choice([0.5, 2.0, 8.0, 30.0, 60.0, 120.0]))
        exp = level * (1 + 0.3 * np.sin(2 * np.pi * (t + rng.integers(96)) / 96))
        half = exp * rng.choice([0.3, 0.6, 1.0])
        val = rng.poisson(np.maximum(exp, 0)).astype(float)
        start = width - int(rng.integers(1, 40))
        val[start:] = np.round(val[start:] * rng.choice([0.0, 0.3, 0.5, 1.6, 2.5]))
        if rng.random() < 0.3:
            val[int(rng.integers(width - 20, width - 1))] = np.nan
        if rng.random() < 0.15:
            exp[int(rng.integers(width - 20, width))] = np.nan
        vals[i], exps[i] = val, exp
        lows[i] = np.where(np.isnan(exp), np.nan, exp - half)
        ups[i] = np.where(np.isnan(exp), np.nan, exp + half)
    return vals, exps, lows, ups


@pytest.mark.slow
@pytest.mark.parametrize("params", SETTINGS, ids=str)
def test_small_counts_judged_as_the_rule_judges_them(params: dict[str, object]) -> None:
    rule = Rule(**params)
    width = 160
    index = pd.date_range("2026-11-27", periods=width, freq="15min", tz="UTC")
    vals, exps, lows, ups = _small(7, 120, width)
    basis = np.full(vals.shape, None, dtype=object)
    want = reference(rule, index, (vals, exps, lows, ups, basis), with_basis=False)
    got = verdicts(rule, index, vals, exps, lows, ups, None)
    wrong = {i: d for i, (w, g) in enumerate(zip(want, got, strict=True))
             if (d := differences(w, g))}  # fmt: skip
    assert not wrong, wrong
    if params in ({}, {"window_small": 96}):  # the longer windows are reached and fire
        longest = [int(m[1]) for v in want if (m := re.search(r"last (\d+) buckets", v.reason))]
        assert max(longest) > rule.window, longest
