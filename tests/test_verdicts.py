"""The rule's verdicts over matrices (detectors.verdicts) against Rule.verdict, series by series."""

from __future__ import annotations

import zlib
from collections import Counter
from dataclasses import fields

import numpy as np
import pandas as pd
import pytest

from detectors import Rule, Status, Verdict
from detectors.verdicts import verdicts

BASES = (None, "daily", "weekly", "weekly, rebased", "daily, sparse", "daily-short", "recent",
         "weekly, sparse", "holiday")  # fmt: skip
SHAPES = ("inside", "one out", "two of three", "severe", "shift", "small effect", "missing",
          "missing run", "no band", "holes", "flat band", "small expected", "late drop")  # fmt: skip


def stack(
    rng: np.random.Generator, rows: int, width: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Series and bands (rows x width) in every shape the rule tells apart, counts and ratios,
    independent and autocorrelated errors, each row with a random basis."""
    values = np.empty((rows, width))
    expected = np.empty((rows, width))
    lower = np.empty((rows, width))
    upper = np.empty((rows, width))
    basis = np.empty((rows, width), dtype=object)
    t = np.arange(width)
    for i in range(rows):
        counts = rng.random() < 0.6
        level = float(rng.choice([20.0, 200.0, 2000.0])) if counts else rng.uniform(0.01, 5)
        exp = level * (1 + 0.3 * np.sin(2 * np.pi * (t + rng.integers(96)) / 96))
        half = exp * rng.choice([0.03, 0.1, 0.3, 0.6])
        phi = rng.choice([0.0, 0.0, 0.9, 0.97])  # errors that follow one another
        noise = rng.normal(0, 1, width)
        for j in range(1, width):
            noise[j] = phi * noise[j - 1] + np.sqrt(1 - phi**2) * noise[j]
        val = exp + noise * half / 3
        shape = SHAPES[i % len(SHAPES)]
        way = rng.choice([-1.0, 1.0])
        k = int(rng.integers(2, 5))
        if shape == "one out":
            val[-1] = exp[-1] + way * half[-1] * rng.uniform(1.05, 1.9)
        elif shape == "two of three":
            for j in (-1, int(rng.choice([-2, -3]))):
                val[j] = exp[j] + way * half[j] * rng.uniform(1.05, 1.9)
        elif shape == "severe":
            val[-1] = exp[-1] + way * half[-1] * rng.uniform(2.2, 6)
        elif shape == "shift":  # inside the band, bucket after bucket
            val[-k:] = exp[-k:] + way * half[-k:] * rng.uniform(0.5, 0.95, k)
        elif shape == "small effect":  # a narrow band: out, but by little
            half = exp * 0.01
            val[-3:] = exp[-3:] + way * half[-3:] * rng.uniform(1.5, 5, 3)
        elif shape == "missing":
            val[-1] = np.nan
        elif shape == "missing run":
            val[-int(rng.integers(2, 16)) :] = np.nan
        elif shape == "no band":
            exp[-int(rng.integers(1, width)) :] = np.nan
        elif shape == "holes":
            val[rng.random(width) < 0.1] = np.nan
            exp[rng.random(width) < 0.05] = np.nan
            val[-k:] = exp[-k:] + way * half[-k:] * rng.uniform(0.5, 1.5, k)
        elif shape == "flat band":  # a band of no width on one side
            val[-2:] = exp[-2:] + way * rng.uniform(0.2, 0.5) * exp[-2:]
            half = np.where(rng.random(width) < 0.5, 0.0, half)
        elif shape == "small expected":  # few events: guards in events, missing below 50
            exp, val, half = exp / 40, val / 40, half / 40
            val[-1] = np.nan if rng.random() < 0.5 else val[-1]
        elif shape == "late drop":  # the band's level itself drops: a ratio's usual size
            exp[-k:] *= 0.1
            half[-k:] *= 0.1
            val[-k:] = exp[-k:] + way * half[-k:] * rng.uniform(0.6, 0.95, k)
        if counts:
            val = np.maximum(np.round(val), 0.0)
        elif rng.random() < 0.2:
            val = val - level  # a ratio's change, negative: no counts
        values[i], expected[i] = val, exp
        lower[i] = exp - half * rng.uniform(0.8, 1.2)
        upper[i] = exp + half * rng.uniform(0.8, 1.2)
        lower[i][np.isnan(exp)] = np.nan
        upper[i][np.isnan(exp)] = np.nan
        basis[i] = BASES[int(rng.integers(len(BASES)))]
    return values, expected, lower, upper, basis


def reference(
    rule: Rule, index: pd.DatetimeIndex, arrays: tuple[np.ndarray, ...], with_basis: bool
) -> list[Verdict]:
    """Rule.verdict on each row as a series and its band."""
    values, expected, lower, upper, basis = arrays
    found = []
    for i in range(values.shape[0]):
        band = {"expected": expected[i], "lower": lower[i], "upper": upper[i]}
        if with_basis:
            band["basis"] = basis[i]
        found.append(rule.verdict(pd.Series(values[i], index=index),
                                  pd.DataFrame(band, index=index)))  # fmt: skip
    return found


def differences(want: Verdict, got: Verdict) -> list[str]:
    """Fields that differ: floats beyond 1e-12 relative, anything else at all."""
    wrong = []
    for field in fields(Verdict):
        a, b = getattr(want, field.name), getattr(got, field.name)
        if isinstance(a, float) and isinstance(b, float):
            if a != pytest.approx(b, rel=1e-12, abs=0):
                wrong.append(f"{field.name}: {a!r} != {b!r}")
        elif a != b or type(a) is not type(b):
            wrong.append(f"{field.name}: {a!r} != {b!r}")
    return wrong


def kind(reason: str) -> str:
    """The branch of the rule a reason comes from."""
    for words in ("no data, while", "no data for", "too little history", "buckets together",
                  "buckets outside)", "x the band's half-width", "inside the band",
                  "moves alert", "minimum effect", "waiting for"):  # fmt: skip
        if words in reason:
            return words
    return reason


RULES = [
    ({}, "15min"),
    ({"direction": "down"}, "15min"),
    ({"direction": "up"}, "15min"),
    ({"window": 0}, "15min"),
    ({"window": 1, "persist_k": 1}, "15min"),
    ({"autocorr_max": 0.0, "missing_min_expected": 0.0}, "15min"),
    ({"window": 8, "window_min_expected": 100, "min_abs_change": 5.0}, "15min"),
    ({"persist_k": 3, "persist_m": 5, "severe": 3.0, "persist_level": 1.5}, "15min"),
    ({"window_min_share": 0.05, "window_min_rel": 0.0, "min_rel_change": 0.0}, "15min"),
    ({}, "5min"),
    ({"direction": "down", "fine_persist": 0.5}, "5min"),
    ({}, "1min"),
]


@pytest.mark.parametrize(("params", "step"), RULES, ids=[f"{p}-{s}" for p, s in RULES])
def test_matrix_verdicts_equal_the_rule_series_by_series(params: dict, step: str) -> None:
    """Every field of every verdict equals Rule.verdict's, for each rule variant and step."""
    rng = np.random.default_rng(zlib.crc32(f"{params}{step}".encode()))
    rule = Rule(**params)
    width = 112 if step != "1min" else 150
    index = pd.date_range("2026-11-27", periods=width, freq=step, tz="UTC")
    arrays = stack(rng, 78, width)
    for with_basis in (True, False):
        want = reference(rule, index, arrays, with_basis)
        got = verdicts(rule, index, *arrays[:4], arrays[4] if with_basis else None)
        assert len(got) == len(want)
        wrong = {i: d for i, (w, g) in enumerate(zip(want, got, strict=True))
                 if (d := differences(w, g))}  # fmt: skip
        assert not wrong, wrong


def test_the_comparison_reaches_every_branch_of_the_rule() -> None:
    """The random stacks above make the rule give every kind of reason, so the comparison
    covers each branch (and a few hundred series of each)."""
    seen: Counter[str] = Counter()
    rebased = 0
    for params, step in RULES[:3] + RULES[-3:]:
        rng = np.random.default_rng(zlib.crc32(f"{params}{step}".encode()))
        width = 112 if step != "1min" else 150
        index = pd.date_range("2026-11-27", periods=width, freq=step, tz="UTC")
        arrays = stack(rng, 78, width)
        for verdict in verdicts(Rule(**params), index, *arrays):
            seen[kind(verdict.reason)] += 1
            rebased += "re-based" in verdict.reason
    assert set(seen) == {"no data, while", "no data for", "too little history",
                         "buckets together", "buckets outside)", "x the band's half-width",
                         "inside the band", "moves alert", "minimum effect",
                         "waiting for"}, seen  # fmt: skip
    assert rebased > 0
