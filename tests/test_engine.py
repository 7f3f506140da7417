"""BandEngine against the per-series reference: the same bands, fed at once or bucket by bucket."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from detectors.engine import REDO, BandEngine
from detectors.seasonal import (
    SeasonalDetector,
    _trailing_sum,
    carried,
    carry_terms,
    weekday_points,
)

ROWS = 112
RTOL, ATOL = 1e-9, 1e-12


def _index(n: int, step: str = "15min") -> pd.DatetimeIndex:
    return pd.date_range("2024-03-04", periods=n, freq=step, tz="UTC")


def _daily(n: int, per_day: int, seed: int, scale: float = 100.0) -> np.ndarray:
    """Counts with a daily and a weekly pattern."""
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    day = 1 + 0.6 * np.sin(2 * np.pi * t / per_day)
    week = np.where((t // per_day) % 7 >= 5, 0.7, 1.0)
    return rng.poisson(scale * day * week).astype(float)


def _reference(
    det: SeasonalDetector,
    values: np.ndarray,
    index: pd.DatetimeIndex,
    weight: np.ndarray | None = None,
) -> pd.DataFrame:
    w = None if weight is None else pd.Series(weight, index=index)
    return det.band(pd.Series(values, index=index), weight=w).iloc[-ROWS:]


def _same(out, i: int, ref: pd.DataFrame, rtol: float = RTOL, atol: float = ATOL) -> None:
    np.testing.assert_allclose(out.expected[i], ref["expected"], rtol=rtol, atol=atol)
    np.testing.assert_allclose(out.lower[i], ref["lower"], rtol=rtol, atol=atol)
    np.testing.assert_allclose(out.upper[i], ref["upper"], rtol=rtol, atol=atol)
    assert list(out.basis[i]) == list(ref["basis"])
    np.testing.assert_allclose(out.autocorr[i], ref["autocorr"], rtol=rtol, atol=atol)
    np.testing.assert_allclose(out.relative_cap[i], ref["relative_cap"], rtol=rtol, atol=atol)


def _feed(
    det: SeasonalDetector,
    values: np.ndarray,
    index: pd.DatetimeIndex,
    *,
    window: int,
    steps: int,
    weights: np.ndarray | None = None,
    stride: int = 1,
):
    """One batch of `window` buckets, then `steps` calls each `stride` buckets later."""
    engine = BandEngine(det, ROWS)
    keys = [f"s{i}" for i in range(values.shape[0])]
    end = window
    out = engine.bands(index[:window], values[:, :window], keys,
                       None if weights is None else weights[:, :window])  # fmt: skip
    for _ in range(steps):
        end += stride
        lo = end - window
        out = engine.bands(index[lo:end], values[:, lo:end], keys,
                           None if weights is None else weights[:, lo:end])  # fmt: skip
    return engine, out, end


def _check_all(det, values, index, out, end, *, weights=None, rtol=RTOL, atol=ATOL) -> None:
    for i in range(values.shape[0]):
        w = None if weights is None else weights[i, :end]
        _same(out, i, _reference(det, values[i, :end], index[:end], w), rtol, atol)


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"weekly_gain": 0.1, "weekday_z": 0.0},
        {"weekly_gain": 0.0, "weekday_z": 1.0},
        {"near": 0},
        {"near": 2, "neighbours": 5},
    ],
    ids=["default", "chosen-unpulled", "chosen-pulled", "near-off", "near-2-of-5"],
)
def test_counts_fed_at_once_and_bucket_by_bucket_equal_the_reference(params: dict) -> None:
    """Counts with daily and weekly patterns (weekly median in use): one batch and 40 single
    steps both give the reference's bands and basis strings, with the weekday's shape used
    wherever it stands out (default) or chosen on the past week's errors, pulled or not."""
    n = 96 * 27 + 40
    index = _index(n)
    values = np.stack([_daily(n, 96, s, scale) for s, scale in ((1, 50), (2, 400), (3, 5))])
    det = SeasonalDetector(**params)
    _, stepped, end = _feed(det, values, index, window=96 * 27, steps=40)
    batch = BandEngine(det, ROWS).bands(index, values, ["s0", "s1", "s2"])
    _check_all(det, values, index, stepped, end)
    _check_all(det, values, index, batch, end)
    assert any("weekly" in str(b) for b in stepped.basis.ravel())


def test_the_pull_carried_across_a_weekend_midnight_matches() -> None:
    """Steps across the midnight from a weekend (0.7) to a Monday on counts small enough for
    the weekday's shape to be pulled: the level carries the pull, `carried` gives part of it
    back (its factor is not 1 there), and the engine's two new running totals give the
    reference's bands."""
    n = 96 * 28 + 24
    index = _index(n)
    values = np.stack([_daily(n, 96, s, scale) for s, scale in ((4, 30), (5, 80))])
    det = SeasonalDetector()
    _, stepped, end = _feed(det, values, index, window=96 * 27 + 60, steps=60)
    _check_all(det, values, index, stepped, end)
    assert (end - 1) // 96 % 7 == 0 and (end - 1 - ROWS) // 96 % 7 == 6  # Sunday -> Monday
    given_back = []
    for row in values:
        v = row[:end]
        median, _, unpulled, se = det._median(v, 96, sub_daily=True)
        ok = np.isfinite(v) & np.isfinite(median)
        u, m = carry_terms(unpulled, median, ok)
        w = det.level_window
        factor = carried(unpulled, median, se, _trailing_sum(u, w), _trailing_sum(m, w),
                         z=det.weekday_z, clip=det.level_clip)  # fmt: skip
        given_back.append(np.abs(factor[-ROWS:] - 1).max())
    assert max(given_back) > 0.01


def _ctr(n: int, rng: np.random.Generator, seed: int, views: float, rate: float):
    """Views a bucket (`_daily` around `views`) and likes / views at `rate` (NaN: no view)."""
    shown = _daily(n, 96, seed, views)
    likes = rng.binomial(shown.astype(int), rate).astype(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(shown > 0, likes / shown, np.nan), shown


def test_ratio_with_weights() -> None:
    """A CTR around 0.2 with its denominator as weight: the binomial floor matches."""
    n = 96 * 20 + 30
    ctr, views = _ctr(n, np.random.default_rng(5), 6, 40, 0.2)
    values, weights = ctr[None, :], views[None, :]
    det = SeasonalDetector()
    _, out, end = _feed(det, values, _index(n), window=96 * 20, steps=30, weights=weights)
    _check_all(det, values, _index(n), out, end, weights=weights)


def test_a_ratio_held_at_zero_reads_its_step_from_its_weight_as_the_reference() -> None:
    """Rates at exactly 0 but for one event now and then, with 200 and 20,000 requests a
    bucket: one batch and 30 single steps give the reference's bands, whose width comes from
    one event in the weight (not a step of 1: a band to 162.5%)."""
    n = 96 * 22 + 30
    index = _index(n)
    values = np.zeros((2, n))
    weights = np.stack([np.full(n, 200.0), np.full(n, 20_000.0)])
    values[:, ::41] = 1 / weights[:, ::41]
    values[:, -6:] = 0.05
    det = SeasonalDetector(counts="no")
    _, stepped, end = _feed(det, values, index, window=96 * 22, steps=30, weights=weights)
    _check_all(det, values, index, stepped, end, weights=weights)
    assert (stepped.upper[:, :-6] > 1.5 / weights[:, :1]).all()  # one event is well inside
    assert (stepped.upper < 0.05).all()


def test_a_ratio_keeps_its_band_s_width_below_zero_as_the_reference() -> None:
    """A thin slice's CTR (2-8 views a bucket, so its band is wider than the rate itself) and
    a small noisy mean never below zero keep the band's own width below the expected value in
    the engine as in the reference, lower bound below 0 included: the rule judges by it (the
    range is shown from 0 by the check, `detectors.floored`). A count's stops at 0."""
    n = 96 * 20 + 30
    rng = np.random.default_rng(9)
    ctr, _ = _ctr(n, rng, 10, 5, 0.15)
    mean = np.round(np.abs(rng.normal(0.3, 0.5, n)), 3)
    few = rng.poisson(1.0, n).astype(float)
    values = np.stack([ctr, mean, mean - 0.2, few])
    det = SeasonalDetector()
    _, out, end = _feed(det, values, _index(n), window=96 * 20, steps=30)
    _check_all(det, values, _index(n), out, end)
    assert np.nanmin(out.lower[:3], axis=1).max() < 0.0
    assert np.nanmin(out.lower[3]) == 0.0
    whole = det.band(pd.Series(ctr, index=_index(n)))
    assert (whole["lower"].dropna() < 0).mean() > 0.2


def test_levels_far_from_zero_get_the_reference_s_relative_cap() -> None:
    """A success rate near 0.995, a temperature near 70 with a daily swing and a count near
    5,000: the first two get a `relative_cap` (offset_spans times their week's span) and the
    band floor from it, equal in the engine fed at once, bucket by bucket across midnights
    and with a late fix of yesterday's last buckets; a count gets none."""
    n = 96 * 27 + 120
    rng = np.random.default_rng(12)
    t = np.arange(n)
    rate = np.round(0.995 + rng.normal(0, 0.0008, n), 5)
    temperature = 70 + 3 * np.sin(2 * np.pi * t / 96) + rng.normal(0, 0.3, n)
    count = rng.poisson(5000, n).astype(float)
    values = np.stack([rate, temperature, count])
    index = _index(n)
    det = SeasonalDetector()
    # A window of 27 days, as the check's 28: every span a computed row reads is inside it.
    _, out, end = _feed(det, values, index, window=96 * 27, steps=120)
    _check_all(det, values, index, out, end)
    batch = BandEngine(det, ROWS).bands(index, values, ["s0", "s1", "s2"])
    _check_all(det, values, index, batch, n)
    assert np.isfinite(out.relative_cap[:2]).all() and np.isnan(out.relative_cap[2]).all()
    assert (out.relative_cap[0] < 0.05).all() and (out.relative_cap[1] < 70).all()
    # A late fix of the last buckets before a midnight: today's span reads them.
    engine = BandEngine(det, ROWS)
    cut, w = 96 * 27 + 2, 96 * 27  # two buckets after a midnight
    engine.bands(index[:cut], values[:, :cut], ["a", "b", "c"])
    fixed = values.copy()
    fixed[:2, cut - 6 : cut - 2] *= 1.5
    out = engine.bands(index[cut + 1 - w : cut + 1], fixed[:, cut + 1 - w : cut + 1],
                       ["a", "b", "c"])  # fmt: skip
    _check_all(det, fixed[:, : cut + 1], index, out, cut + 1)


def test_zero_heavy_decimals_use_the_sparse_floor() -> None:
    """A mostly-zero series of decimals: the sparse floor and its basis label match."""
    n = 96 * 21 + 20
    rng = np.random.default_rng(7)
    values = np.where(rng.random(n) < 0.08, np.round(rng.gamma(2.0, 1.5, n), 2), 0.0)[None, :]
    det = SeasonalDetector()
    _, out, end = _feed(det, values, _index(n), window=96 * 21, steps=20)
    _check_all(det, values, _index(n), out, end)
    assert any(", sparse" in str(b) for b in out.basis.ravel())


@pytest.mark.slow
@pytest.mark.parametrize(("step", "per_day"), [("15min", 96), ("5min", 288)])
@pytest.mark.parametrize("counts", ["auto", "no"])
def test_a_rate_held_at_zero_or_one_then_broken_matches_the_reference(
    step: str, per_day: int, counts: str
) -> None:
    """An error rate held at exactly 0 (with rare blips) that jumps to 10%, a success rate held
    at exactly 1 that falls to 0, and a mostly-zero series bursting in clusters, arriving
    bucket by bucket: the sparse floor from the week before the excursion a bucket is part of
    and the resolution a share's whole numbers do not tell match."""
    n = per_day * 21 + 30
    rng = np.random.default_rng(5)
    errors = np.where(rng.random(n) < 0.002, 0.05, 0.0)
    errors[-30:] = 0.1034
    success = np.ones(n)
    success[-30:] = 0.0
    # Bursts in clusters, some held for a few buckets, across the bucket-by-bucket calls.
    bursts = np.where(rng.random(n) < 0.01, np.round(rng.uniform(0.002, 0.006, n), 4), 0.0)
    for at in (-60, -52, -41, -28, -25, -12):
        bursts[at : at + int(rng.integers(1, 5))] = round(float(rng.uniform(0.03, 0.06)), 4)
    values = np.vstack([errors, success, bursts])
    det = SeasonalDetector(counts=counts)
    _, out, end = _feed(det, values, _index(n, step), window=per_day * 21, steps=30)
    _check_all(det, values, _index(n, step), out, end)
    # The jump stays outside its own band for SPARSE_LAG_HOURS (6: 24 buckets at 15 minutes).
    assert (out.upper[0, -30:-8] < 0.1034).all()


def test_noisy_day_widens_through_the_inside_chain() -> None:
    """A day with three times the usual noise: the widening (and which buckets count as noise)
    matches, and the band really is wider than without the noise rule."""
    n = 96 * 22 + 30
    rng = np.random.default_rng(9)
    values = _daily(n, 96, 10, 300)
    noisy = slice(n - 96 - 10, n)
    values[noisy] += rng.normal(0, 3 * np.sqrt(300), n - (n - 96 - 10))
    values[n - 60] += 400  # an event inside the noisy day
    values = np.round(values)[None, :]
    det = SeasonalDetector()
    _, out, end = _feed(det, values, _index(n), window=96 * 22, steps=30)
    _check_all(det, values, _index(n), out, end)
    plain = _reference(SeasonalDetector(noise_max=1.0), values[0], _index(n))
    assert np.nanmax(out.upper[0] - plain["upper"].to_numpy()) > 1.0


def test_level_shift_held_20_hours_is_rebased() -> None:
    """A level shift held for 20 hours: the re-based expected values (factor) match."""
    n = 96 * 22 + 24
    values = _daily(n, 96, 11, 200)
    values[-80:] = np.round(values[-80:] * 1.6)
    values = values[None, :]
    det = SeasonalDetector()
    _, out, end = _feed(det, values, _index(n), window=96 * 22, steps=24)
    _check_all(det, values, _index(n), out, end)
    assert any("rebased" in str(b) for b in out.basis.ravel())


def test_a_weekend_re_based_on_a_new_metric_ends_where_monday_passes_the_old_level() -> None:
    """Two weeks of counts whose weekends run at 0.35: the weekday's shape is not known on the
    second Sunday yet, so its low is re-based; Monday's first buckets are past the level the
    re-base left, which ends it at once, in the engine as in the reference."""
    n = 96 * 28 + 24
    index = _index(n)
    rng = np.random.default_rng(3)
    t = np.arange(n)
    mean = 300 * (1 + 0.6 * np.sin(2 * np.pi * t / 96)) * np.where((t // 96) % 7 >= 5, 0.35, 1)
    values = rng.poisson(mean).astype(float)[None, :]
    values[:, : 96 * 14] = np.nan  # the metric began two weeks before the last day
    det = SeasonalDetector()
    _, out, end = _feed(det, values, index, window=96 * 27, steps=120)
    _check_all(det, values, index, out, end)
    _check_all(det, values, index, BandEngine(det, ROWS).bands(index, values, ["s0"]), end)
    basis = [str(b) for b in out.basis[0]]
    monday = ROWS - 24  # the first row of day 14
    assert "rebased" in basis[monday - 1] and "rebased" not in basis[monday], basis[monday - 2:]


def test_the_hand_over_from_a_re_base_to_the_level_matches_the_reference() -> None:
    """A count whose level falls 25% for good, fed bucket by bucket through the third day
    after the change, when the slow level takes the change over from the re-base: the re-base's
    factor read against the expected value without the level, and a value back past the
    old level after it, as in the reference."""
    from tests.test_real_shapes import lasting_change

    series, change = lasting_change(0.75, 1, days=35)
    values = series.to_numpy()[None, :]
    index = pd.DatetimeIndex(series.index)
    det = SeasonalDetector()  # steady calls from the second day after the change to the fourth
    _, out, end = _feed(det, values, index, window=change + 2 * 96, steps=2 * 96)
    _check_all(det, values, index, out, end)
    assert any("rebased" in str(b) for b in out.basis.ravel())


def test_a_mean_back_from_a_day_long_outage_matches_the_reference() -> None:
    """A mean down to 2% for 30 hours, fed bucket by bucket from its last hours down to a day
    after it is back: the buckets back are not re-based again, as in the reference."""
    from tests.test_real_shapes import outage_of_a_mean

    series, back = outage_of_a_mean(2, 30)
    values = series.to_numpy()[None, :]
    index = pd.DatetimeIndex(series.index)
    det = SeasonalDetector()
    _, out, end = _feed(det, values, index, window=back - 8, steps=96)
    _check_all(det, values, index, out, end)
    basis = [str(b) for b in out.basis[0]]
    assert "rebased" in basis[ROWS - 105] and "rebased" not in "".join(basis[-86:]), basis


@pytest.mark.slow  # 14 s: ten days at a 10-second step
def test_running_counts_over_more_than_65536_buckets_match_the_reference() -> None:
    """At a 10-second step two weeks are 120,960 buckets: the sparse floor's counts of exact
    errors over them are kept wide enough not to wrap, and the engine's band matches the
    reference's on a series whose exact errors (constant days) are few among many (in 16 bits
    the count of known errors wrapped, and the series read as mostly exact: a sparse band)."""
    per_day = 8640
    pattern = "CCNCNNNNNN"  # C: a constant day (its errors exactly 0); N: Poisson noise
    rng = np.random.default_rng(1)
    values = rng.poisson(50, per_day * len(pattern)).astype(float)
    for d, kind in enumerate(pattern):
        if kind == "C":
            values[d * per_day : (d + 1) * per_day] = 50.0
    index = _index(values.size, "10s")
    det = SeasonalDetector()
    out = BandEngine(det, ROWS).bands(index, values[None, :], ["s"])
    _same(out, 0, _reference(det, values, index))
    assert "sparse" not in "".join(out.basis[0])


def test_a_doubled_level_and_a_dead_count_match_the_reference() -> None:
    """A level that doubles, one that halves (followed in the steady noise after the loose
    width gave up on them, 3 and 5 days on), and a count that dies (its errors re-based to
    zero, its band not; a weekday-only count, zero a week before): fed bucket by bucket
    across those days, the engine's bands match the reference's, and the halved level's band
    is narrow again by its seventh day. On its fifth day the fast level starts to follow the
    halved values while the re-base's factor still reads the hours before, when it did not:
    the expected value comes out about 14% low and the band about twice as wide for that day
    (since the weekday's shape comes from two weeks of history; a known defect, README "What
    is still weak"), held here to no worse than 20% low."""
    n = 96 * 33
    values = np.stack([_daily(n, 96, 21, 300), _daily(n, 96, 22, 300), _daily(n, 96, 23, 300),
                       _daily(n, 96, 24, 300)])
    values[3] = np.where((np.arange(n) // 96) % 7 >= 5, 0.0, values[3])  # weekends at zero
    values[0, 96 * 26 :] *= 2
    values[1, 96 * 26 :] = np.round(values[1, 96 * 26 :] / 2)
    values[2, 96 * 29 :] = 0.0
    det = SeasonalDetector()
    _, out, end = _feed(det, values, _index(n), window=96 * 28, steps=240, stride=2)
    _check_all(det, values, _index(n), out, end)
    assert any("rebased" in str(b) for b in out.basis[0])
    ref = _reference(det, values[1, :end], _index(n)[:end])  # no wider than before it halved
    before = det.band(pd.Series(values[1, : 96 * 20], index=_index(96 * 20))).iloc[-96:]
    width = (ref["upper"] - ref["lower"]) / ref["expected"]
    was = (before["upper"] - before["lower"]) / before["expected"]
    assert width.median() < was.median(), (width.median(), was.median())
    assert np.all(out.expected[2][-24:] > 100)
    fifth = slice(96 * 30, 96 * 31)
    full = det.band(pd.Series(values[1], index=_index(n)))
    assert np.median(full["expected"].to_numpy()[fifth] / values[1, fifth]) > 0.8


def test_negative_values_rebase_by_offset() -> None:
    """A series that goes below zero re-bases by an offset, as the reference does."""
    n = 96 * 20 + 24
    rng = np.random.default_rng(12)
    t = np.arange(n)
    values = 5 * np.sin(2 * np.pi * t / 96) + rng.normal(0, 1, n)
    values[-80:] -= 6
    values = values[None, :]
    det = SeasonalDetector()
    _, out, end = _feed(det, values, _index(n), window=96 * 20, steps=24)
    _check_all(det, values, _index(n), out, end)
    assert any("rebased" in str(b) for b in out.basis.ravel())


def test_a_series_that_crosses_zero_has_no_level_as_a_share() -> None:
    """A daily wave around 0: the level's sums of medians cancel, so both the engine and the
    reference keep the median (a rounding leftover once made their levels differ by 1e12)."""
    n = 96 * 27 + 24
    t = np.arange(n)
    values = np.stack(
        [
            np.round(
                np.sin(2 * np.pi * t / 96) + 0.3 * np.random.default_rng(s).standard_normal(n), 3
            )
            for s in (3, 4)
        ]
    )
    det = SeasonalDetector()
    _, out, end = _feed(det, values, _index(n), window=96 * 27, steps=24)
    _check_all(det, values, _index(n), out, end)
    assert np.nanmax(np.abs(out.expected)) < 1.5


def test_nan_gaps_and_a_constant_series() -> None:
    """Missing buckets (single ones and a six-hour hole) and a constant series match."""
    n = 96 * 20 + 30
    gappy = _daily(n, 96, 13, 80)
    rng = np.random.default_rng(14)
    gappy[rng.random(n) < 0.05] = np.nan
    gappy[n - 200 : n - 176] = np.nan
    gappy[n - 12] = np.nan
    values = np.stack([gappy, np.full(n, 7.0)])
    det = SeasonalDetector()
    _, out, end = _feed(det, values, _index(n), window=96 * 20, steps=30)
    _check_all(det, values, _index(n), out, end)


def test_cold_start_young_series() -> None:
    """A series with under three days of data in its 22-day window (missing before): the
    recent and daily-short bands match."""
    n = 96 * 22 + 40
    values = _daily(n, 96, 15, 60)[None, :]
    values[:, : n - (96 * 2 + 40)] = np.nan
    det = SeasonalDetector()
    _, out, end = _feed(det, values, _index(n), window=96 * 22, steps=40)
    _check_all(det, values, _index(n), out, end)
    assert "daily-short" in set(out.basis[0])


def test_series_appearing_and_disappearing() -> None:
    """A key first passed mid-way equals the reference over what it was given; a key left
    out of 12 calls catches up on the buckets it missed when it is passed again; forget()
    drops what it is not told to keep."""
    n = 96 * 22 + 60
    index = _index(n)
    values = np.stack([_daily(n, 96, 16, 100), _daily(n, 96, 17, 100), _daily(n, 96, 4, 30)])
    det = SeasonalDetector()
    engine = BandEngine(det, ROWS)
    window = 96 * 22
    engine.bands(index[:window], values[::2, :window], ["old", "gone"])
    first_seen = 10  # the window start of the first call that passes "new"
    for end in range(window + 1, n + 1):
        lo = end - window
        rows = [0] + ([1] if end >= window + 10 else []) + ([2] if not 20 <= lo < 32 else [])
        keys = [("old", "new", "gone")[i] for i in rows]
        out = engine.bands(index[lo:end], values[rows, lo:end], keys)
    _same(out, 0, _reference(det, values[0], index))
    _same(out, 1, _reference(det, values[1, first_seen:], index[first_seen:]))
    _same(out, 2, _reference(det, values[2], index))
    engine.forget(["new", "old"])
    assert len(engine) == 2


def test_late_rows_change_the_last_three_buckets() -> None:
    """Each call first sees the last three buckets incomplete, then the final values: the
    bands equal the reference over the final values."""
    n = 96 * 20 + 30
    index = _index(n)
    final = np.stack([_daily(n, 96, 18, 300), _daily(n, 96, 19, 40)])
    det = SeasonalDetector()
    engine = BandEngine(det, ROWS)
    window = 96 * 20
    for end in range(window, n + 1):
        lo = end - window
        part = final[:, lo:end].copy()
        part[:, -3:] = np.floor(part[:, -3:] * np.array([0.5, 0.8, 0.95]))  # rows still arriving
        engine.bands(index[lo:end], part, ["a", "b"])
    out = engine.bands(index[n - window : n], final[:, n - window :], ["a", "b"])
    _check_all(det, final, index, out, n)


def test_a_call_that_skips_ahead_ten_buckets() -> None:
    """Calls 10 buckets apart compute the 10 new buckets each time."""
    n = 96 * 20 + 50
    values = np.stack([_daily(n, 96, 20, 150), _daily(n, 96, 21, 15)])
    det = SeasonalDetector()
    _, out, end = _feed(det, values, _index(n), window=96 * 20, steps=5, stride=10)
    _check_all(det, values, _index(n), out, end)


@pytest.mark.parametrize(("step", "per_day", "days"), [("5min", 288, 16), ("1h", 24, 30)])
def test_other_steps(step: str, per_day: int, days: int) -> None:
    """A 5-minute and a 1-hour step: lags, windows and cold start scale with the step."""
    n = per_day * days + 20
    values = np.stack([_daily(n, per_day, 22, 90), _daily(n, per_day, 23, 900)])
    det = SeasonalDetector()
    _, out, end = _feed(det, values, _index(n, step), window=per_day * days, steps=20)
    _check_all(det, values, _index(n, step), out, end)


@pytest.mark.slow
@pytest.mark.parametrize(("step", "per_day", "days", "late"),
                         [("5min", 288, 26, 15), ("1min", 1440, 15, 5)])  # fmt: skip
def test_points_fitting_an_earlier_band_equal_the_reference(
    step: str, per_day: int, days: int, late: float
) -> None:
    """At a 5-minute step with late_minutes=15 (3 points) and at 1 minute with the default 5, a
    point may take the band of one of the points before it: batch and steady calls, and a
    re-sent changed value, give the reference's choice (the points' own bands differ from it).
    With 26 days at 5 minutes the weekday scale is in use too (24 points either side)."""
    n = per_day * days + 20
    values = np.stack([_daily(n, per_day, 28, 90), _daily(n, per_day, 29, 900)])
    values[1, -12] = np.round(values[1, -12] * 1.4)  # moves the choice of the points after it
    det = SeasonalDetector(late_minutes=late)
    window = per_day * days
    engine, out, end = _feed(det, values, _index(n, step), window=window, steps=20)
    _check_all(det, values, _index(n, step), out, end)
    values[0, end - 4] = np.round(values[0, end - 4] * 0.6)  # a late row, sent again changed
    out = engine.bands(_index(n, step)[end - window : end], values[:, end - window : end],
                       ["s0", "s1"])  # fmt: skip
    _check_all(det, values, _index(n, step), out, end)
    index = _index(n, step)[:end]
    own = SeasonalDetector(late_minutes=0).band(pd.Series(values[1, :end], index))
    chosen = det.band(pd.Series(values[1, :end], index))
    assert (chosen["upper"] != own["upper"]).iloc[-200:].any()
    if days >= 21:
        assert any("weekly" in str(b) for b in out.basis.ravel())


def test_non_default_parameters() -> None:
    """k, days=7, weeks=0, noise_hours=0, level_slow=0, tail=0, counts=no, near as wide as
    the neighbours (no narrower width to follow): still the same."""
    n = 96 * 12 + 30
    values = np.stack([_daily(n, 96, 24, 100), _daily(n, 96, 25, 10)])
    values[1, -60:] = np.round(values[1, -60:] * 2)
    det = SeasonalDetector(k=4.5, days=7, weeks=0, noise_hours=0, level_slow=0, tail=0,
                           counts="no", near=3)  # fmt: skip
    _, out, end = _feed(det, values, _index(n), window=96 * 12, steps=30)
    _check_all(det, values, _index(n), out, end)


def test_a_flip_of_counts_restarts_the_key_over_its_window() -> None:
    """A non-whole value in a counts series changes the reference everywhere: the key is
    recomputed from the window it came with, and equals the reference from that window on."""
    n = 96 * 20 + 10
    index = _index(n)
    values = _daily(n, 96, 26, 100)
    values[-5] += 0.5
    det = SeasonalDetector()
    window = 96 * 20
    _, out, end = _feed(det, values[None, :], index, window=window, steps=10)
    start = n - 4 - window  # the window of the first call that saw the value
    _same(out, 0, _reference(det, values[start:end], index[start:end]))


def test_changes_deeper_than_redo_restart_the_key() -> None:
    """A value changed further back than REDO buckets: the key restarts over the window."""
    n = 96 * 20 + 5
    index = _index(n)
    values = _daily(n, 96, 27, 100)[None, :]
    det = SeasonalDetector()
    engine = BandEngine(det, ROWS)
    window = 96 * 20
    engine.bands(index[5 : window + 5], values[:, 5 : window + 5], ["a"])
    changed = values.copy()
    changed[0, window - REDO - 20] += 50
    out = engine.bands(index[5 : window + 5], changed[:, 5 : window + 5], ["a"])
    _same(out, 0, _reference(det, changed[0, 5 : window + 5], index[5 : window + 5]))


def test_a_batch_is_the_reference_with_its_last_rows() -> None:
    """A new key's batch computes as the reference does for `last` = rows + REDO: on a noisy
    day that began before that span (where the noise chain's start can matter) it equals
    that, and stays within the stated tolerance of the reference over everything."""
    n = 96 * 22
    rng = np.random.default_rng(31)
    values = _daily(n, 96, 32, 300)
    values[-300:] += rng.normal(0, 4 * np.sqrt(300), 300)
    values = np.round(np.abs(values))
    det = SeasonalDetector()
    out = BandEngine(det, ROWS).bands(_index(n), values[None, :], ["a"])
    last = det.band(pd.Series(values, index=_index(n)), last=ROWS + REDO).iloc[-ROWS:]
    _same(out, 0, last)
    whole = _reference(det, values, _index(n))
    np.testing.assert_allclose(out.upper[0], whole["upper"], rtol=0.05)


def test_a_window_too_short_for_the_same_slot_values_restarts_the_key() -> None:
    """When the window no longer holds values the new buckets' medians read (3 weeks back,
    and for the weekday scale 3 weeks before 4 hours after the bucket: the spread of its
    shape 2 hours after, a median of ratios up to 2 hours after that), the key restarts
    over the window and equals the reference over it."""
    n = 96 * 21 + 10
    index = _index(n)
    values = _daily(n, 96, 33, 100)[None, :]
    values[0, 5] = 0.5  # before the restart: not counts; after it, counts (a Poisson floor)
    det = SeasonalDetector()
    window = 96 * 20
    _, out, end = _feed(det, values, index, window=window, steps=n - window)
    ahead = 2 * weekday_points(det.weekday_hours, 96)  # 16: the medians 4 hours after it
    start = 96 * 21 - ahead + 1 - window  # the first call whose medians reach past its window
    _same(out, 0, _reference(det, values[0, start:end], index[start:end]))


def test_duplicate_keys_and_bad_shapes_are_refused() -> None:
    """Two series under one key, or values that do not fit the index, raise ValueError."""
    engine = BandEngine(SeasonalDetector(), ROWS)
    index = _index(10)
    with pytest.raises(ValueError, match="distinct"):
        engine.bands(index, np.zeros((2, 10)), ["a", "a"])
    with pytest.raises(ValueError, match="len"):
        engine.bands(index, np.zeros((2, 9)), ["a", "b"])


def test_a_gap_between_calls_restarts_the_key() -> None:
    """A window that starts after the key's last bucket cannot continue it: the key restarts
    there and equals the reference over the new window."""
    n = 96 * 30
    index = _index(n)
    values = _daily(n, 96, 34, 100)[None, :]
    det = SeasonalDetector()
    engine = BandEngine(det, ROWS)
    engine.bands(index[: 96 * 8], values[:, : 96 * 8], ["a"])
    out = engine.bands(index[96 * 8 + 5 :], values[:, 96 * 8 + 5 :], ["a"])
    _same(out, 0, _reference(det, values[0, 96 * 8 + 5 :], index[96 * 8 + 5 :]))
