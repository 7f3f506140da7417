"""The rule's verdicts over matrices (detectors.verdicts) against Rule.verdict, series by series."""

from __future__ import annotations

import warnings
import zlib
from collections import Counter
from collections.abc import Callable
from dataclasses import fields

import numpy as np
import pandas as pd
import pytest

import detectors
from detectors import NO_WIDTH, Rule, Status, Verdict
from detectors.backtest import SeriesKey, alerts_of
from detectors.rule import USUAL_WINDOW, _trailing_median
from detectors.verdicts import CHUNK, _day_autocorrelation, _joined, _median_of_finite, verdicts

BASES = (None, "daily", "weekly", "weekly, rebased", "daily, sparse", "daily-short", "recent",
         "weekly, sparse", "holiday")  # fmt: skip
Arrays = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]
Shape = Callable[[np.random.Generator, np.ndarray, np.ndarray, np.ndarray], None]


def _one_out(rng: np.random.Generator, val: np.ndarray, exp: np.ndarray, half: np.ndarray) -> None:
    """The last bucket just outside the band."""
    val[-1] = exp[-1] + rng.choice([-1, 1]) * half[-1] * rng.uniform(1.05, 1.9)


def _two_of_three(
    rng: np.random.Generator, val: np.ndarray, exp: np.ndarray, half: np.ndarray
) -> None:
    """The last bucket and one of the two before it outside."""
    way = rng.choice([-1, 1])
    for j in (-1, int(rng.choice([-2, -3]))):
        val[j] = exp[j] + way * half[j] * rng.uniform(1.05, 1.9)


def _severe(rng: np.random.Generator, val: np.ndarray, exp: np.ndarray, half: np.ndarray) -> None:
    """The last bucket far outside."""
    val[-1] = exp[-1] + rng.choice([-1, 1]) * half[-1] * rng.uniform(2.2, 6)


def _shift(rng: np.random.Generator, val: np.ndarray, exp: np.ndarray, half: np.ndarray) -> None:
    """2 to 4 buckets in a row close to one edge of a wide band, inside it (mostly)."""
    k = int(rng.integers(2, 5))
    half[:] = exp * rng.choice([0.3, 0.6])
    val[-k:] = exp[-k:] + rng.choice([-1, 1]) * half[-k:] * rng.uniform(0.8, 0.99, k)


def _small_effect(
    rng: np.random.Generator, val: np.ndarray, exp: np.ndarray, half: np.ndarray
) -> None:
    """A narrow band: the last buckets outside it, by a few percent."""
    half[:] = exp * 0.01
    val[-3:] = exp[-3:] + rng.choice([-1, 1]) * half[-3:] * rng.uniform(1.5, 5, 3)


def _missing(rng: np.random.Generator, val: np.ndarray, exp: np.ndarray, half: np.ndarray) -> None:
    """The last bucket, or the last 2 to 15, missing."""
    val[-(1 if rng.random() < 0.5 else int(rng.integers(2, 16))) :] = np.nan


def _no_band(rng: np.random.Generator, val: np.ndarray, exp: np.ndarray, half: np.ndarray) -> None:
    """No expected value for the last buckets (too little history)."""
    exp[-int(rng.integers(1, exp.size)) :] = np.nan


def _holes(rng: np.random.Generator, val: np.ndarray, exp: np.ndarray, half: np.ndarray) -> None:
    """Missing values, expected values and band edges here and there, a move at the end."""
    val[rng.random(val.size) < 0.1] = np.nan
    exp[rng.random(exp.size) < 0.05] = np.nan
    k = int(rng.integers(2, 5))
    val[-k:] = exp[-k:] + rng.choice([-1, 1]) * half[-k:] * rng.uniform(0.5, 1.5, k)
    half[rng.random(half.size) < 0.1] = np.nan


def _flat_band(
    rng: np.random.Generator, val: np.ndarray, exp: np.ndarray, half: np.ndarray
) -> None:
    """A band of no width at half of the buckets, a move at the end."""
    val[-2:] = exp[-2:] + rng.choice([-1, 1]) * rng.uniform(0.2, 0.5) * exp[-2:]
    half[rng.random(half.size) < 0.5] = 0.0


def _small_expected(
    rng: np.random.Generator, val: np.ndarray, exp: np.ndarray, half: np.ndarray
) -> None:
    """A series 40 times smaller: volume guards and missing data below 50 expected."""
    val /= 40
    exp /= 40
    half /= 40
    if rng.random() < 0.5:
        val[-1] = np.nan


def _late_drop(
    rng: np.random.Generator, val: np.ndarray, exp: np.ndarray, half: np.ndarray
) -> None:
    """The band's level drops for the last buckets, below or above a quarter of the series'
    usual size (whose median is no mean), with a shift inside the band."""
    k = int(rng.integers(2, 5))
    exp[:-k] *= np.where(rng.random(exp.size - k) < 0.4, 4.0, 1.0)
    exp[: exp.size - 8][rng.random(exp.size - 8) < 0.1] = np.nan  # odd and even counts
    exp[-k:] *= rng.uniform(0.1, 0.8)
    half[:] = exp * rng.choice([0.3, 0.6])
    val[-k:] = exp[-k:] + rng.choice([-1, 1]) * half[-k:] * rng.uniform(0.8, 0.99, k)


def _inside(rng: np.random.Generator, val: np.ndarray, exp: np.ndarray, half: np.ndarray) -> None:
    """Noise only."""


SHAPES: dict[str, Shape] = {
    "inside": _inside, "one out": _one_out, "two of three": _two_of_three, "severe": _severe,
    "shift": _shift, "small effect": _small_effect, "missing": _missing, "no band": _no_band,
    "holes": _holes, "flat band": _flat_band, "small expected": _small_expected,
    "late drop": _late_drop,
}  # fmt: skip


def stack(rng: np.random.Generator, rows: int, width: int) -> Arrays:
    """Series and bands (rows x width) in every shape the rule tells apart (in turn), counts
    and ratios, independent and autocorrelated errors, each row with a random basis."""
    out = [np.empty((rows, width)) for _ in range(4)]
    basis = np.empty((rows, width), dtype=object)
    t = np.arange(width)
    names = list(SHAPES)
    for i in range(rows):
        name = names[i % len(names)]
        counts = rng.random() < (0.3 if name == "late drop" else 0.6)
        level = float(rng.choice([20.0, 200.0, 2000.0])) if counts else rng.uniform(0.01, 5)
        exp = level * (1 + 0.3 * np.sin(2 * np.pi * (t + rng.integers(96)) / 96))
        half = exp * rng.choice([0.03, 0.1, 0.3, 0.6])
        # Errors that follow one another; mostly independent where a shift is to show.
        phi = rng.choice([0.0, 0.0, 0.9, 0.97])
        phi = phi if name not in ("shift", "late drop") or rng.random() < 0.3 else 0.0
        noise = rng.normal(0, 1, width)
        for j in range(1, width):
            noise[j] = phi * noise[j - 1] + np.sqrt(1 - phi**2) * noise[j]
        val = exp + noise * half / 3
        SHAPES[name](rng, val, exp, half)
        if counts:
            val = np.maximum(np.round(val), 0.0)
        elif rng.random() < 0.2:
            val, exp = val - level, exp - level  # a ratio's change, negative: no counts
        out[0][i], out[1][i] = val, exp
        out[2][i] = np.where(np.isnan(exp), np.nan, exp - half * rng.uniform(0.8, 1.2))
        out[3][i] = np.where(np.isnan(exp), np.nan, exp + half * rng.uniform(0.8, 1.2))
        basis[i] = BASES[int(rng.integers(len(BASES)))]
    return out[0], out[1], out[2], out[3], basis


def reference(
    rule: Rule, index: pd.DatetimeIndex, arrays: Arrays, with_basis: bool = True
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
    for words in BRANCHES:
        if words in reason:
            return words
    return reason


BRANCHES = ("no data, while", "no data for", "too little history", "buckets together",
            "buckets outside)", "x the band's half-width", "inside the band", "moves alert",
            "minimum effect", "waiting for", "largest of the last",
            "a sustained shift over", "has no width there")  # fmt: skip
RULES: list[tuple[dict[str, object], str, int]] = [  # a rule, its step, the arrays' width
    ({}, "15min", 112),
    ({"direction": "down"}, "15min", 100),  # exactly the tail the rule looks at
    ({"direction": "up"}, "15min", 112),
    ({"window": 0}, "15min", 112),
    ({"jump": 0.0}, "15min", 112),
    ({"jump": 1.0, "severe": 4.0}, "15min", 99),
    ({"window": 1, "persist_k": 1}, "15min", 112),
    ({"autocorr_max": 0.0, "missing_min_expected": 0.0}, "15min", 112),
    ({"window": 8, "window_min_expected": 100, "min_abs_change": 5.0}, "15min", 300),
    ({"persist_k": 3, "persist_m": 5, "severe": 3.0, "persist_level": 1.5}, "15min", 112),
    ({"window_min_share": 0.05, "window_min_rel": 0.0, "min_rel_change": 0.0}, "15min", 112),
    ({"min_rel_change": 0.25, "window_min_rel": 0.05, "autocorr_max": 0.5}, "15min", 112),
    ({"autocorr_se": 0.0}, "15min", 112),
    ({"autocorr_se": 3.0, "autocorr_max": 0.5}, "5min", 112),
    # Inserted here: tests below pick rows by position from both ends.
    ({}, "1h", 112),  # coarser steps: a lower bar for one bucket to fire at once
    ({"severe": 3.0, "persist_k": 3, "persist_m": 4}, "30min", 112),
    ({"window_pair_up": 3.0, "window_confirm_up": 1}, "15min", 112),
    ({"window_pair_up": 0.5, "window_score": 1.1}, "5min", 112),  # a bar below window_score: as 1.1
    ({"window_pair_up": 1.25}, "15min", 112),
    ({"window_up_peak": 0.0}, "15min", 112),  # rises inside the band, confirmed
    ({"window_up_peak": 2.5, "window_confirm_up": 1}, "5min", 112),
    ({"window_up_peak": 0.0, "window_confirm_up": 3, "window_confirm_down": 2}, "15min", 112),
    ({}, "5min", 112),
    ({"direction": "down", "fine_persist": 0.5}, "5min", 112),
    ({}, "1min", 150),
    ({"window_confirm_up": 3, "window_confirm_down": 2}, "15min", 112),
    ({"window_confirm_up": 1, "direction": "down", "window_confirm_down": 4}, "15min", 103),
]


def random_case(
    params: dict[str, object], step: str, width: int
) -> tuple[Rule, pd.DatetimeIndex, Arrays]:
    """The rule, index and arrays of one row of RULES, the same on every run."""
    rng = np.random.default_rng(zlib.crc32(f"{params}{step}".encode()))
    index = pd.date_range("2026-11-27", periods=width, freq=step, tz="UTC")
    return Rule(**params), index, stack(rng, 84, width)


@pytest.mark.parametrize(("params", "step", "width"), RULES, ids=[f"{p}-{s}" for p, s, _ in RULES])
def test_matrix_verdicts_equal_the_rule_series_by_series(
    params: dict[str, object], step: str, width: int
) -> None:
    """Every field of every verdict equals Rule.verdict's, for each rule variant and step."""
    rule, index, arrays = random_case(params, step, width)
    before = [a.copy() for a in arrays]
    for rows, with_basis in ((slice(None), True), (slice(36), False)):
        values, expected, lower, upper, basis = (a[rows] for a in arrays)
        want = reference(rule, index, (values, expected, lower, upper, basis), with_basis)
        got = verdicts(rule, index, values, expected, lower, upper, basis if with_basis else None)
        assert len(got) == len(want)
        wrong = {i: d for i, (w, g) in enumerate(zip(want, got, strict=True))
                 if (d := differences(w, g))}  # fmt: skip
        assert not wrong, wrong
    for kept, now in zip(before, arrays, strict=True):  # the caller's arrays are left alone
        np.testing.assert_array_equal(kept, now)


@pytest.mark.parametrize(("params", "step", "width"), [RULES[0], RULES[-3]])
def test_infinite_values_decide_as_the_rule(
    params: dict[str, object], step: str, width: int
) -> None:
    """Infinite values, expected values and band edges here and there (and last) give the
    rule's verdicts, without a warning from the matrix path."""
    rule, index, arrays = random_case(params, step, width)
    rng = np.random.default_rng(3)
    values, expected, lower, upper, basis = (a.copy() for a in arrays)
    for a in (values, expected, lower, upper):
        a[rng.random(a.shape) < 0.01] = np.inf * rng.choice([-1, 1])
    values[::7, -1], expected[::11, -2], upper[::5, -1] = np.inf, -np.inf, np.inf
    arrays = (values, expected, lower, upper, basis)
    with warnings.catch_warnings():  # inf - inf in the reference
        warnings.simplefilter("ignore", RuntimeWarning)
        want = reference(rule, index, arrays)
    got = verdicts(rule, index, *arrays)
    assert not [d for w, g in zip(want, got, strict=True) if (d := differences(w, g))]
    assert sum(v.value is None for v in got) >= len(got) // 7  # an infinite value shows none


def test_the_comparison_reaches_every_branch_of_the_rule() -> None:
    """The random stacks make the rule give every kind of reason, at every length of the
    sustained-shift window (and a small count's longer ones, `window_small`), so the
    comparison above covers each branch."""
    seen: Counter[str] = Counter()
    lengths: set[int] = set()
    rebased = 0
    for params, step, width in RULES:
        rule, index, arrays = random_case(params, step, width)
        for verdict in verdicts(rule, index, *arrays):  # the rule's, as the test above shows
            seen[kind(verdict.reason)] += 1
            rebased += "re-based" in verdict.reason
            if "together" in verdict.reason:
                lengths.add(int(verdict.reason.split("last ")[1].split()[0]))
    assert set(seen) == set(BRANCHES), seen
    assert {2, 3, 4} <= lengths and max(lengths) > 4, lengths
    assert max(lengths) <= Rule().window_small
    assert rebased > 0


def test_shifts_held_back_and_confirmed_are_among_the_compared() -> None:
    """Among the verdicts compared above, rises inside the band that the sustained-shift test
    fires on at the last bucket only are held back (with window_confirm_up 1 they alert),
    and others that held for two buckets alert: both ways of Rule._confirmed are checked.
    (Such rises need window_up_peak 0: by default a rise needs a bucket 1.35 half-widths out.)"""
    rng = np.random.default_rng(29)
    index = pd.date_range("2026-11-27", periods=112, freq="15min", tz="UTC")
    arrays = stack(rng, 480, 112)
    rule, eager = Rule(window_up_peak=0), Rule(window_confirm_up=1, window_up_peak=0)
    now, then = verdicts(rule, index, *arrays), verdicts(eager, index, *arrays)
    rises = [i for i, v in enumerate(then) if "above" in v.reason and "no single" in v.reason]
    held = [i for i in rises if now[i].reason.startswith("inside the band")]
    confirmed = [i for i in rises if now[i].reason == then[i].reason]
    assert held and confirmed, (held, confirmed)
    assert len(held) + len(confirmed) == len(rises)
    picked = held + confirmed
    want = reference(rule, index, tuple(a[picked] for a in arrays))  # type: ignore[arg-type]
    assert [now[i] for i in picked] == want


def test_the_buckets_before_are_judged_as_counts_or_not_by_the_whole_tail() -> None:
    """Counts of 100 that rise to 118 for 3 buckets, the last of them 118.5: Rule.evaluate
    judges the whole tail as no counts, so the bucket before the last fires its shift on the
    non-count volume guard (a quarter of a usual window), not on 400 events, and confirms
    the last one's; the matrix path re-judges that bucket the same way. (A rise over 2
    buckets needs window_pair_up, and any rise a bucket window_up_peak out; here it needs no
    more than a drop.)"""
    index = pd.date_range("2026-11-27", periods=110, freq="15min", tz="UTC")
    values = np.full((1, 110), 100.0)
    values[0, -3:] = [118, 118, 118.5]
    expected = np.full((1, 110), 100.0)
    rule = Rule(autocorr_max=0, window_pair_up=1.25, window_up_peak=0)
    band = pd.DataFrame({"expected": expected[0], "lower": 80.0, "upper": 120.0}, index=index)
    want = rule.verdict(pd.Series(values[0], index=index), band)
    got = verdicts(rule, index, values, expected, expected - 20, expected + 20)
    assert got == [want]
    assert want.reason.startswith("above expected for the last 2 buckets together")
    whole = values.copy()
    whole[0, -1] = 118  # all counts: 236 events over 2 buckets is short of 283, nothing fires
    assert verdicts(rule, index, whole, expected, expected - 20, expected + 20)[0].reason == (
        "inside the band"
    )


def _rule_rho(rule: Rule, *arrays: np.ndarray) -> np.ndarray:
    """Rule's correlation at every bucket: the last day's, joined with the band's (a 5th
    array) where given."""
    same_time = arrays[4] if len(arrays) > 4 else None
    return rule._joined(rule._day_autocorrelation(*arrays[:4]), same_time)


def _autocorrelation(  # noqa: PLR0917 - the arrays as the matrix verdicts have them
                     rule: Rule, value: np.ndarray, expected: np.ndarray, lower: np.ndarray,
                     upper: np.ndarray, same_time: np.ndarray, *,
                     buckets: range) -> np.ndarray:  # fmt: skip
    """The matrix verdicts' correlation at `buckets`, as `_judge` joins it: (buckets x series)."""
    day = _day_autocorrelation(rule, value, expected, lower, upper, buckets=buckets)
    return _joined(rule, day, same_time[:, list(buckets)].T)


def test_autocorrelation_equals_the_rule_at_every_bucket() -> None:
    """The lag-1 autocorrelation of each series' scores, at each bucket of a tail (from no
    pairs at all to a full trailing window), equals the rule's."""
    rule, _, (values, expected, lower, upper, _) = random_case({}, "15min", 130)
    want = np.array([_rule_rho(rule, *(a[i] for a in (values, expected, lower, upper)))
                     for i in range(values.shape[0])])  # fmt: skip
    none = np.full(values.shape, np.nan)
    got = _autocorrelation(rule, values, expected, lower, upper, none, buckets=range(130))
    assert (want > 0).sum() > 100  # correlated errors are among them
    np.testing.assert_allclose(got.T, want, rtol=1e-12, atol=0)
    # With the band's correlation at the same time of day, whichever is larger, capped.
    same_time = same_time_column(np.random.default_rng(8), values.shape)
    want = np.array([_rule_rho(rule, *(a[i] for a in (values, expected, lower, upper,
                                                        same_time)))
                     for i in range(values.shape[0])])  # fmt: skip
    got = _autocorrelation(rule, values, expected, lower, upper, same_time, buckets=range(130))
    np.testing.assert_allclose(got.T, want, rtol=1e-12, atol=0)
    assert (want == rule.autocorr_max).any() and (want == np.nan_to_num(same_time)).any()


def same_time_column(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """A band's `autocorr` column: correlations from below 0 to above the rule's cap, NaN
    (no band) here and there."""
    column = rng.uniform(-0.3, 1.1, shape)
    column[rng.random(shape) < 0.1] = np.nan
    return column


@pytest.mark.parametrize(("params", "step", "width"), [RULES[0], RULES[2], RULES[7],
                                                       RULES[12], RULES[-2],
                                                       ({"window_confirm_up": 1}, "1min", 150)])
def test_the_band_s_same_time_correlation_is_taken_as_the_rule_takes_it(
    params: dict[str, object], step: str, width: int
) -> None:
    """With a band's `autocorr` column (the errors' correlation at the same time of day),
    every field of every verdict equals Rule.verdict's on the band with that column, and
    the column holds some sustained shifts back that fire without it."""
    rule, index, arrays = random_case(params, step, width)
    values, expected, lower, upper, basis = arrays
    same_time = same_time_column(np.random.default_rng(width), values.shape)
    want = []
    for i in range(values.shape[0]):
        band = pd.DataFrame({"expected": expected[i], "lower": lower[i], "upper": upper[i],
                             "basis": basis[i], "autocorr": same_time[i]}, index=index)
        want.append(rule.verdict(pd.Series(values[i], index=index), band))
    got = verdicts(rule, index, values, expected, lower, upper, basis, same_time)
    wrong = {i: d for i, (w, g) in enumerate(zip(want, got, strict=True))
             if (d := differences(w, g))}  # fmt: skip
    assert not wrong, wrong
    without = verdicts(rule, index, values, expected, lower, upper, basis)
    if rule.autocorr_max > 0 and rule.window >= 2:
        assert any(w.reason != g.reason for w, g in zip(without, got, strict=True))
    else:
        assert [w.reason for w in without] == [g.reason for g in got]


def test_usual_size_is_the_rule_trailing_median() -> None:
    """The median of a window's known values, with odd and even counts and none at all, is
    the rule's trailing median at the window's end."""
    rng = np.random.default_rng(5)
    recent = rng.lognormal(0, 1, (60, USUAL_WINDOW))
    recent[rng.random(recent.shape) < 0.3] = np.nan
    recent[0] = np.nan
    want = [_trailing_median(recent[i], USUAL_WINDOW)[-1] for i in range(60)]
    counts = set((~np.isnan(recent)).sum(axis=1) % 2)
    assert counts == {0, 1}
    np.testing.assert_array_equal(_median_of_finite(recent), want)


def flat(
    tails: list[list[float]], *, expected: float = 100.0, half: float = 10.0,
    step: str = "15min", basis: str | None = None,
) -> tuple[pd.DatetimeIndex, Arrays]:  # fmt: skip
    """Series at `expected` then ending in each of `tails`, against a constant band."""
    width = 110
    index = pd.date_range("2026-11-27", periods=width, freq=step, tz="UTC")
    values = np.full((len(tails), width), float(expected))
    for i, tail in enumerate(tails):
        values[i, width - len(tail) :] = tail
    band = np.full(values.shape, expected)
    return index, (values, band, band - half, band + half, np.full(values.shape, basis))


def judged(rule: Rule, index: pd.DatetimeIndex, arrays: Arrays) -> list[Verdict]:
    """verdicts(), after checking it says what Rule.verdict says."""
    got = verdicts(rule, index, *arrays)
    assert got == reference(rule, index, arrays)
    return got


def test_reasons_of_a_flat_band() -> None:
    """Hand-made tails give the reasons the rule words: waiting, persistence, severity,
    direction, minimum effect, a sustained shift, missing data."""
    rule = Rule(window_min_expected=100, min_rel_change=0.05, window_min_rel=0.05,
                autocorr_max=0)  # fmt: skip
    index, arrays = flat([[100, 100, 100, 85], [100, 100, 85, 86], [100, 100, 100, 60],
                          [100, 100, 100, 100], [100, 100, float("nan")], [100, 91, 91],
                          [93, 93, 93, 93], [100, 100, 100, 88.5],
                          [100, 70, 70, 70, 99], [80, 80, 80, 92]])  # fmt: skip
    got = judged(rule, index, arrays)
    assert [(v.status, v.reason) for v in got] == [
        (Status.OK, "below the band for 1 bucket; waiting for 2 of 3"),
        (Status.ANOMALY, "below the expected range (2 of the last 3 buckets outside)"),
        (Status.ANOMALY, "below the expected range (4.0x the band's half-width)"),
        (Status.OK, "inside the band"),
        (Status.ANOMALY, "no data, while about 100 was expected"),
        (Status.ANOMALY, "below expected for the last 2 buckets together (a sustained shift "
                         "no single bucket shows)"),
        (Status.ANOMALY, "below expected for the last 4 buckets together (a sustained shift "
                         "no single bucket shows)"),
        (Status.OK, "below the band for 1 bucket; waiting for 2 of 3"),
        # Back inside after a drop: the shift is the earlier buckets', and the reason says so.
        (Status.ANOMALY, "below expected for the last 2 buckets together (1 of them outside "
                         "the band)"),
        (Status.ANOMALY, "below expected for the last 2 buckets together (1 of them outside "
                         "the band)"),
    ]  # fmt: skip
    assert got[2].score == -4.0 and got[4].value is None and got[4].score is None
    up = judged(Rule(direction="up", min_rel_change=0.5), *flat([[100, 100, 60], [100, 130]]))
    assert [v.reason for v in up] == [
        "below the band, but only up moves alert",
        # How small, against what: 30 of an expected 100 is under the rule's 50%.
        "above the band, but the change is below the minimum effect (30.0% of 100, less than "
        "50%)",
    ]


def test_a_band_of_no_width_left_by_a_value_fires_at_once() -> None:
    """A band with no width (the rolling IQR of a constant series): a value off it is as far
    out as it gets, and fires at once, as judge() has it; it used to score 0 and never fire,
    a jump from 100 to a million included. A value on it is inside."""
    tails = [[100, 100, 1_000_100], [100, 100, 50], [100, 100, 99], [100, 100, 100]]
    index, arrays = flat(tails, half=0.0)
    got = judged(Rule(), index, arrays)
    assert [(v.status, v.reason) for v in got] == [
        (Status.ANOMALY, "above the expected range (the band has no width there)"),
        (Status.ANOMALY, "below the expected range (the band has no width there)"),
        (Status.OK, "below the band, but the change is below the minimum effect (1.0% of 100, "
                    "less than 10%)"),
        (Status.OK, "inside the band"),
    ]  # fmt: skip
    assert (got[0].score, got[1].score, got[3].score) == (NO_WIDTH, -NO_WIDTH, 0.0)
    series = pd.Series(np.r_[np.full(200, 100.0), 1_000_100.0],
                       index=pd.date_range("2026-11-01", periods=201, freq="15min", tz="UTC"))
    iqr = detectors.build({"method": "iqr"})
    assert iqr.band(series)["upper"].iloc[-1] == 100.0  # the classic baseline, as it is
    table = detectors.build_rule({}).evaluate(series, iqr.band(series))
    assert table["firing"].iloc[-1]
    # A backtest's alert there is the largest deviation a score has, not "no data" (an
    # infinite peak is a run with no value at all).
    (alert,) = alerts_of(SeriesKey("views"), table["firing"], table["score"])
    assert alert.peak == NO_WIDTH


def test_basis_words_and_a_sparse_basis() -> None:
    """The reason says what the range rests on (re-based after a level change), and a
    sparse basis keeps the same sustained shift from firing."""
    rule = Rule(window_min_expected=100, min_rel_change=0.05, window_min_rel=0.05,
                autocorr_max=0)  # fmt: skip
    tails: list[list[float]] = [[930, 930, 930, 930], [float("nan")]]
    rebased = judged(rule, *flat(tails, expected=1000, half=100, basis="weekly, rebased"))
    words = ("range from previous days, shaped to this weekday by previous weeks, re-based after "
             "a lasting level change")
    assert [v.reason for v in rebased] == [
        "below expected for the last 4 buckets together (a sustained shift no single bucket "
        f"shows); {words}",
        f"no data, while about 1,000 was expected; {words}",
    ]
    sparse = judged(rule, *flat(tails, expected=1000, half=100, basis="daily, sparse"))
    assert sparse[0].status is Status.OK
    assert sparse[0].reason == "inside the band; range from the same time on previous days"


def test_a_fine_step_needs_a_quarter_hour_of_missing_data() -> None:
    """At 5-minute steps one missing point is a hiccup, three in a row are an outage; and
    persistence counts in quarter-hours' worth of steps."""
    nan = float("nan")
    index, arrays = flat([[100, nan], [nan, nan, nan], [100, 100, 100, 85, 85, 85, 85, 85, 85],
                          [100, 100, 85]], step="5min")  # fmt: skip
    got = judged(Rule(), index, arrays)
    assert [v.reason for v in got] == [
        "no data for this bucket",
        "no data, while about 100 was expected",
        "below the expected range (6 of the last 9 buckets outside)",
        "below the band for 1 bucket; waiting for 6 of 9",
    ]


def test_only_counts_alert_on_missing_data() -> None:
    """A missing bucket is an outage where about 100 events were expected (whole numbers
    before it); in a mean or a ratio (decimals) it is a gap in the record with no verdict,
    unless the series is said to count events (`counts`, which the checker sets from the
    metric's kind), and a series said not to never alerts on one. The engine and
    Rule.verdict agree on each."""
    nan = float("nan")
    index, arrays = flat([[100, 100, nan], [100.5, 99.75, nan], [nan, nan, nan]])
    alert, gap = "no data, while about 100 was expected", "no data for this bucket"
    for rule, want in ((Rule(), [alert, gap, alert]), (Rule(counts="yes"), [alert, alert, alert]),
                       (Rule(counts="no"), [gap, gap, gap])):  # fmt: skip
        assert [v.reason for v in judged(rule, index, arrays)] == want, rule.counts
        assert [v.reason for v in reference(rule, index, arrays)] == want, rule.counts
    assert [v.status for v in judged(Rule(), index, arrays)] == [
        Status.ANOMALY, Status.UNKNOWN, Status.ANOMALY]
    assert detectors.build_rule({"counts": "yes"}).counts == "yes"
    with pytest.raises(ValueError, match="rule: counts must be one of auto, yes, no"):
        Rule(counts="maybe")


def test_a_long_outage_keeps_the_verdict_the_metric_s_kind_gives() -> None:
    """Values, then nothing for longer than the rows a verdict reads (a day at 15 minutes,
    3 hours at 1 minute): a count's outage keeps alerting, said to count events or (auto)
    whole numbers, whose rows with no known value may still be counts; a mean's, said not to
    (as the checker says for a ratio), stays a gap. The live verdict, the engine and the
    backtest over the whole series agree."""
    alert = "no data, while about 100 was expected"
    for step, width in (("15min", 300), ("1min", 400)):
        index = pd.date_range("2026-11-27", periods=width, freq=step, tz="UTC")
        for fill, rule, fires in ((100.0, Rule(), True), (100.5, Rule(counts="yes"), True),
                                  (100.5, Rule(counts="no"), False),
                                  (100.0, Rule(counts="no"), False)):  # fmt: skip
            values = np.full((1, width), np.nan)
            values[0, :100] = fill
            band = np.full((1, width), 100.0)
            arrays = (values, band, band - 10, band + 10, np.full((1, width), None))
            reason = alert if fires else "no data for this bucket"
            case = (step, fill, rule.counts)
            assert judged(rule, index, arrays)[0].reason == reason, case
            assert reference(rule, index, arrays)[0].reason == reason, case
            frame = pd.DataFrame({"expected": band[0], "lower": band[0] - 10,
                                  "upper": band[0] + 10}, index=index)  # fmt: skip
            table = rule.evaluate(pd.Series(values[0], index=index), frame)
            assert bool(table["missing"].iloc[-1]) is fires, case


def test_the_arrays_must_agree() -> None:
    """Arrays of other shapes than the values', or an index of another length, are refused;
    no series, no verdicts."""
    index, (values, expected, lower, upper, _) = flat([[100]])
    with pytest.raises(ValueError, match="upper must be shaped as values"):
        verdicts(Rule(), index, values, expected, lower, upper[:, 1:])
    with pytest.raises(ValueError, match="values must be"):
        verdicts(Rule(), index[1:], values, expected, lower, upper)
    assert verdicts(Rule(), index, *(a[:0] for a in (values, expected, lower, upper))) == []


def test_a_short_window_on_counts_needs_less_volume() -> None:
    """Counts of 150 a bucket: a 2-bucket move (300 events) passes the volume guard of a
    2-bucket window (400 x sqrt(2/4) = 283), the same move on counts of 100 does not. (Drops:
    a rise over 2 buckets needs more, window_pair_up.)"""
    rule = detectors.build_rule(detectors.DEFAULT_SPEC)
    index, arrays = flat([[150, 150, 150, 72, 102]], expected=150.0, half=60.0)
    assert judged(rule, index, arrays)[0].reason.startswith(
        "below expected for the last 2 buckets together"
    )
    index, arrays = flat([[100, 100, 100, 48, 68]], expected=100.0, half=40.0)
    assert judged(rule, index, arrays)[0].reason == "inside the band"


def test_many_series_are_judged_as_each_alone() -> None:
    """Over ten thousand series (judged a few thousand at a time), each verdict is the one the
    same series gets in a stack of 84."""
    rule, index, arrays = random_case({}, "15min", 112)
    alone = verdicts(rule, index, *arrays)
    many = verdicts(rule, index, *(np.tile(a, (121, 1)) for a in arrays))
    assert len(many) == 121 * 84 > CHUNK
    assert many == alone * 121


def _wobbling(rng: np.random.Generator, rows: int) -> Arrays:
    """Series wobbling within 0.1 half-widths of a band 100 +- 10 (moves of at most 0.2)."""
    width = 112
    values = 100 + rng.uniform(-1, 1, (rows, width))
    expected = np.full(values.shape, 100.0)
    return values, expected, expected - 10, expected + 10, np.full(values.shape, None)


def test_a_sudden_move_fires_only_from_inside_the_band() -> None:
    """A bucket that leaves the band in one move far larger than the day's moves fires at once,
    and says so; one that was already outside and steps further does not fire by it (its
    reason would credit persistence it does not have)."""
    index = pd.date_range("2026-11-27", periods=112, freq="15min", tz="UTC")
    values, expected, lower, upper, basis = _wobbling(np.random.default_rng(4), 2)
    values[0, -1] = 85.0  # from inside to -1.5 half-widths: a move of about 1.5
    values[1, -7:] = [98.0, 96.0, 94.0, 92.0, 90.0, 88.5, 82.0]  # drifts out, then -1.15 to -1.8
    rule = Rule(persist_level=1.5, autocorr_max=0, window=0)  # the jump and persistence
    got = judged(rule, index, (values, expected, lower, upper, basis))
    assert got[0].status is Status.ANOMALY
    assert "a sudden move" in got[0].reason and "largest of the last 96 buckets" in got[0].reason
    assert got[1].status is Status.OK, got[1].reason
    assert "waiting for 2 of 3" in got[1].reason


def test_an_overflowing_score_earlier_is_no_scale_of_moves() -> None:
    """A score that overflows to infinity (1e300 over a half-width of 1e-10) earlier in the
    day neither disables the jump test in one path nor drives it in the other."""
    index = pd.date_range("2026-11-27", periods=112, freq="15min", tz="UTC")
    values, expected, lower, upper, basis = _wobbling(np.random.default_rng(0), 1)
    values[0, -1] = 85.0
    values[0, 60], expected[0, 60], upper[0, 60] = 1e300, 0.0, 1e-10
    got = judged(Rule(), index, (values, expected, lower, upper, basis))
    assert got[0].status is Status.ANOMALY and "a sudden move" in got[0].reason


def test_an_infinite_expected_value_is_no_usual_size() -> None:
    """A ratio's sustained shift is weighed against the series' usual size, the median of its
    recent expected values; an infinite expected value there is missing, as pandas reads it,
    not a size that makes every shift too small to count."""
    index = pd.date_range("2026-11-27", periods=20, freq="15min", tz="UTC")
    values = np.full((1, 20), 0.205)
    values[0, -2:] = [0.175, 0.17]  # 1.5 and 1.75 half-widths below: together past the window's
    expected = np.full(values.shape, 0.205)
    expected[0, :11] = np.inf  # most of the recent past: the median would be inf
    rule = Rule(autocorr_max=0, jump=0, persist_k=3)  # only the sustained shift
    got = judged(rule, index, (values, expected, expected - 0.02, expected + 0.02,
                               np.full(values.shape, None)))  # fmt: skip
    assert got[0].status is Status.ANOMALY
    assert got[0].reason == "below the expected range (a sustained shift over the last 2 buckets)"


def test_at_a_fine_step_a_small_sudden_move_fires_once_the_series_is_outside_again() -> None:
    """At 1 minute a sudden move to a small change (12%, under the 17% a move needs there to
    fire at once) fires only when the series is outside again on the same side within the
    quarter-hour after it, and the reason credits the move; a large move fires at once. The
    matrix path says what the rule says."""
    index = pd.date_range("2026-11-27", periods=150, freq="1min", tz="UTC")
    values, expected, lower, upper, _ = _wobbling(np.random.default_rng(5), 6)
    values, expected, lower, upper = (np.pad(a, ((0, 0), (38, 0)), mode="edge")
                                      for a in (values, expected, lower, upper))  # fmt: skip
    values[0, -1] = 112.0  # the move itself: small, not yet confirmed
    values[1, -7], values[1, -1] = 112.0, 111.0  # back inside, then outside again
    values[2, -20], values[2, -1] = 112.0, 111.0  # outside again, but 19 minutes later
    values[3, -1] = 125.0  # a large move: at once
    values[4, -5], values[4, -1] = 88.0, 111.0  # outside again on the other side
    values[5, -7], values[5, -1] = 125.0, 111.0  # after a large move, outside again
    basis = np.full(values.shape, None)
    rule = Rule(autocorr_max=0, window=0)
    got = judged(rule, index, (values, expected, lower, upper, basis))
    fired = [v.status is Status.ANOMALY for v in got]
    assert fired == [False, True, False, True, False, True], [v.reason for v in got]
    for i in (1, 3, 5):
        assert "a sudden move" in got[i].reason, got[i].reason
    assert "waiting for 30 of 45" in got[0].reason
    # At 15 minutes the same small move fires at once.
    coarse = pd.date_range("2026-11-27", periods=150, freq="15min", tz="UTC")
    first = judged(rule, coarse, tuple(a[:1] for a in (values, expected, lower, upper, basis)))
    assert first[0].status is Status.ANOMALY and "a sudden move" in first[0].reason


def test_a_move_on_a_sparse_band_confirms_nothing_at_a_fine_step() -> None:
    """A mostly-zero series' bursts are what it does: a small sudden move made where the band
    was sparse confirms no bucket after it, and a bucket on a sparse band is not confirmed by
    a move before it; the matrix path reads each bucket's own basis, as the rule does."""
    index = pd.date_range("2026-11-27", periods=150, freq="1min", tz="UTC")
    values, expected, lower, upper, _ = _wobbling(np.random.default_rng(6), 3)
    values, expected, lower, upper = (np.pad(a, ((0, 0), (38, 0)), mode="edge")
                                      for a in (values, expected, lower, upper))  # fmt: skip
    basis = np.full(values.shape, "daily", dtype=object)
    for i in range(3):
        values[i, -7], values[i, -1] = 112.0, 111.0
    basis[1, -7] = "daily, sparse"  # the move on a sparse band
    basis[2, -1] = "daily, sparse"  # the bucket after it on one
    got = judged(Rule(autocorr_max=0, window=0), index, (values, expected, lower, upper, basis))
    assert [v.status for v in got] == [Status.ANOMALY, Status.OK, Status.OK], [
        v.reason for v in got
    ]
    assert "a sudden move" in got[0].reason


def test_both_paths_read_the_same_buckets_whatever_is_judged_over_them() -> None:
    """Whether a series is a count is judged over the buckets a verdict reads: a decimal just
    before them changes neither path, just inside them both (a missing bucket of a count is
    no data; of a mean, no verdict)."""
    rule = Rule()
    index = pd.date_range("2026-11-27", periods=150, freq="15min", tz="UTC")
    rows = rule.verdict_rows(1.0)
    values = np.full((2, 150), 100.0)
    values[0, -rows - 1] = 100.5  # before the buckets read
    values[1, -rows] = 100.5  # the first of them
    values[:, -1] = np.nan
    band = np.full(values.shape, 100.0)
    got = judged(rule, index, (values, band, band - 10, band + 10, np.full(values.shape, None)))
    assert got[0].status is Status.ANOMALY and "no data, while" in got[0].reason
    assert got[1].status is Status.UNKNOWN and got[1].reason.startswith("no data for this bucket")


@pytest.mark.parametrize("params", [{"fine_persist": 0}, {"persist_k": 1, "persist_m": 1}])
def test_at_a_fine_step_the_live_verdict_judges_a_move_as_the_whole_series_does(
    params: dict[str, object],
) -> None:
    """A small move a quarter-hour back, with a larger one just before the 96 moves it is
    measured against: the verdict reads enough buckets to see that larger move, as an
    evaluation of the whole series (a backtest) does, so neither calls the move sudden."""
    n = 200
    index = pd.date_range("2026-11-27", periods=n, freq="1min", tz="UTC")
    values = 100 + np.random.default_rng(1).uniform(-1, 1, n)
    values[: n - 112] = 92.0  # the larger move is at n - 112
    values[-16], values[-1] = 112.0, 111.0
    expected = np.full(n, 100.0)
    rule = Rule(**params, autocorr_max=0, window=0)
    series = pd.Series(values, index=index)
    band = pd.DataFrame({"expected": expected, "lower": 90.0, "upper": 110.0}, index=index)
    whole = rule.evaluate(series, band)
    assert not whole["firing"].iloc[-1] and whole["jump"].iloc[-16] == 0
    live = rule.verdict(series, band)
    assert live.status is Status.OK and "sudden" not in live.reason
    arrays = tuple(a[None, :] for a in (values, expected, expected - 10, expected + 10))
    assert judged(rule, index, (*arrays, np.full((1, n), None)))[0] == live


def test_the_live_verdict_reads_the_correlation_where_its_longest_window_starts() -> None:
    """Eight buckets 0.45 half-widths low, inside the band, at the end of a series whose
    errors alternate by a hundredth of a half-width but for one pair 0.9 high just where the
    96 pairs before the longest window begin. Only all eight together reach `window_score`
    (1.27 combined half-widths; seven 1.19): with that pair the errors look correlated
    (0.68), the window's own band widens and nothing fires; without it they do not. The
    verdict reads that pair as an evaluation of the whole series does (one bucket more than
    the window and its 96 pairs), and the matrix verdicts agree."""
    rule = Rule(window=8, window_confirm_up=1, window_confirm_down=1, jump=0.0, persist_k=1,
                persist_m=1, autocorr_se=0.0, min_rel_change=0.0, window_min_rel=0.0,
                window_min_share=0.0, window_small=0)  # fmt: skip
    rows = rule.verdict_rows(1.0)
    assert rows == 8 + 96 + 1
    # A small count's longer windows, and the bucket before that confirms a rise:
    assert Rule(window=8).verdict_rows(1.0) == 16 + 96 + 1 + 1
    n = 150
    index = pd.date_range("2026-11-27", periods=n, freq="15min", tz="UTC")
    values = 100 + 0.1 * np.where(np.arange(n) % 2 == 0, 1.0, -1.0)
    values[n - rows : n - rows + 2] = 109.0  # the pair the longest window's correlation begins with
    values[-8:] = 95.5
    expected = np.full(n, 100.0)
    series = pd.Series(values, index=index)
    band = pd.DataFrame({"expected": expected, "lower": 90.0, "upper": 110.0}, index=index)
    whole = rule.evaluate(series, band)
    assert not whole["firing"].iloc[-1]
    assert rule.evaluate(series.iloc[-rows + 1 :], band.iloc[-rows + 1 :])["window"].iloc[-1] == 8
    live = rule.verdict(series, band)
    assert live.status is Status.OK, live.reason
    arrays = tuple(a[None, :] for a in (values, expected, expected - 10, expected + 10))
    assert judged(rule, index, (*arrays, np.full((1, n), None)))[0] == live


def test_a_series_shorter_than_the_longest_window_gets_a_verdict() -> None:
    """A new metric with 1 to 7 buckets and windows of up to 8: the windows it is long
    enough for are tested, the rule judges it as the matrix verdicts do (with 3 to 6 it
    raised a broadcasting error in the rule)."""
    rule = Rule(window=8)
    for n in range(1, 8):
        index = pd.date_range("2026-11-27", periods=n, freq="15min", tz="UTC")
        values, expected = np.full(n, 70.0), np.full(n, 100.0)
        band = pd.DataFrame({"expected": expected, "lower": 80.0, "upper": 120.0}, index=index)
        live = rule.verdict(pd.Series(values, index=index), band)
        table = rule.evaluate(pd.Series(values, index=index), band)
        assert (table["window"] <= n).all()
        arrays = tuple(a[None, :] for a in (values, expected, expected - 20, expected + 20))
        assert judged(rule, index, (*arrays, np.full((1, n), None)))[0] == live
        assert live.status is (Status.ANOMALY if n >= 2 else Status.OK), (n, live.reason)


def _with_column(
    rule: Rule, index: pd.DatetimeIndex, arrays: Arrays, column: str, extra: np.ndarray
) -> tuple[list[Verdict], list[Verdict]]:
    """verdicts() with a band's optional `column` (the `relative_cap` or `fresh` argument),
    after checking each equals Rule.verdict on the band with that column; and without it."""
    values, expected, lower, upper, basis = arrays
    want = []
    for i in range(values.shape[0]):
        band = pd.DataFrame({"expected": expected[i], "lower": lower[i], "upper": upper[i],
                             "basis": basis[i], column: extra[i]}, index=index)  # fmt: skip
        want.append(rule.verdict(pd.Series(values[i], index=index), band))
    argument = {"relative_cap": "relative_cap", "first_week": "fresh"}[column]
    got = verdicts(rule, index, values, expected, lower, upper, basis, **{argument: extra})
    wrong = {i: d for i, (w, g) in enumerate(zip(want, got, strict=True))
             if (d := differences(w, g))}  # fmt: skip
    assert not wrong, wrong
    return got, verdicts(rule, index, values, expected, lower, upper, basis)


@pytest.mark.parametrize(("params", "step", "width"), [RULES[0], RULES[8]])
def test_a_series_first_week_decides_as_the_rule(
    params: dict[str, object], step: str, width: int
) -> None:
    """With the band's `first_week` column (the series' first week: a sustained shift needs
    `window_first_week`, 40%, there), every verdict equals Rule.verdict's, a week ending
    inside the tail included; and it holds back some shifts the usual 15% lets fire."""
    rule, index, arrays = random_case({**params, "window_first_week": 0.4}, step, width)
    # And series of 1000 +- 300 whose last 4 buckets are 20% down, each inside the band; and
    # small counts of 30 +- 18 halved for their last 16 buckets (the longer windows of a small
    # count need twice the usual shift, 30%, or the first week's 40%, whichever is more).
    shifted = np.vstack([np.full((6, width), 1000.0), np.full((6, width), 30.0)])
    shifted[:6, -4:], shifted[6:, -16:] = 800.0, 15.0
    band = [np.repeat(np.array([[a], [b]]), 6, axis=0) * np.ones(width)
            for a, b in ((1000.0, 30.0), (700.0, 12.0), (1300.0, 48.0))]  # fmt: skip
    values, expected, lower, upper = (np.vstack([a, b]) for a, b in zip(
        arrays[:4], (shifted, *band), strict=True))
    basis = np.vstack([arrays[4], np.full((12, width), "daily-short", dtype=object)])
    rng = np.random.default_rng(5)
    fresh = np.zeros(values.shape)
    fresh[rng.random(values.shape[0]) < 0.5] = 1.0
    fresh[rng.random(values.shape[0]) < 0.2, -2:] = 0.0  # its week ended 2 buckets ago
    got, plain = _with_column(rule, index, (values, expected, lower, upper, basis),
                              "first_week", fresh)  # fmt: skip
    held = [i for i, (a, b) in enumerate(zip(plain, got, strict=True)) if a != b]
    assert held, "the first week changed no verdict"
    assert all(fresh[i, -1] and "together" in plain[i].reason for i in held), held
    assert all(got[i].status is not Status.ANOMALY or "together" not in got[i].reason
               for i in held)  # fmt: skip
    halved = [i for i in range(values.shape[0] - 6, values.shape[0]) if fresh[i, -1]]
    if not params:  # the default rule: a small count halved alerts in its first week too
        assert halved and all(got[i].status is Status.ANOMALY for i in halved), halved
    off = Rule(**{**params, "window_first_week": 0.0})
    assert verdicts(off, index, values, expected, lower, upper, basis, fresh=fresh) == (
        verdicts(off, index, values, expected, lower, upper, basis))


@pytest.mark.parametrize(("params", "step", "width"), [RULES[0], RULES[-3], RULES[8]])
def test_a_relative_cap_decides_as_the_rule(
    params: dict[str, object], step: str, width: int
) -> None:
    """With the band's `relative_cap` column (a level far from zero next to its span: the
    relative effect guards read the cap where it is smaller than the level), every verdict
    equals Rule.verdict's; and the cap changes some of them, small effects now alerting."""
    rule, index, arrays = random_case(params, step, width)
    expected = arrays[1]
    rng = np.random.default_rng(11)
    cap = np.abs(expected) * rng.choice([0.05, 0.3, 2.0], size=(expected.shape[0], 1))
    cap[rng.random(expected.shape[0]) < 0.25] = np.nan  # no cap: the level itself
    cap[:, -3:][rng.random((expected.shape[0], 3)) < 0.1] = np.nan  # a day without a span
    got, plain = _with_column(rule, index, arrays, "relative_cap", cap)
    changed = [i for i, (a, b) in enumerate(zip(plain, got, strict=True)) if a != b]
    assert changed, "the cap changed no verdict"
    assert any(kind(plain[i].reason) == "minimum effect" for i in changed)
