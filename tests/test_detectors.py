"""The seasonal detector: causal bands on any regular series, drops and spikes caught on both
sides, missing data and short history as UNKNOWN, parameters validated with the rule stated."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import detectors
from detectors import Direction, Status, judge
from detectors.seasonal import weekday_points

DAILY_SHAPE = [10.0, 40.0, 100.0, 60.0]  # a day in four 6-hour buckets


def daily(days: int, *, tail: list[float] | None = None, step: str = "6h") -> pd.Series:
    """A repeating day (plus a little deterministic wobble) and an optional last few values."""
    values = np.tile(DAILY_SHAPE, days) * (1 + 0.02 * np.sin(np.arange(days * 4) * 1.7))
    values = np.round(values, 3)
    if tail:
        values[-len(tail) :] = tail
    index = pd.date_range("2026-11-01", periods=values.size, freq=step, tz="UTC")
    return pd.Series(values, index=index, dtype="float64")


@pytest.mark.parametrize(
    ("tail", "status", "side"),
    [
        ([60.0], Status.OK, None),  # the usual value for the last slot
        ([20.0], Status.ANOMALY, "below"),  # a drop
        ([150.0], Status.ANOMALY, "above"),  # a spike
        ([np.nan], Status.UNKNOWN, "no data"),  # missing bucket stays unknown
    ],
)
def test_last_bucket_verdicts(tail: list[float], status: Status, side: str | None) -> None:
    """Table-driven: the last of 10 days judged against the same slot on previous days."""
    series = daily(10, tail=tail)
    detector = detectors.build({"method": "seasonal", "min_rel_width": 0.1})
    verdict = judge(series, detector.band(series))
    assert verdict.status is status
    if side:
        assert side in verdict.reason
    if status is Status.ANOMALY:
        assert abs(verdict.score or 0) > 1


def test_too_little_history_is_unknown_not_an_error() -> None:
    """Three points cannot make any band, not even a cold-start one: UNKNOWN with the reason."""
    series = daily(1).iloc[:3]
    band = detectors.build(detectors.DEFAULT_SPEC).band(series)
    assert band.isna().all().all()
    verdict = judge(series, band)
    assert verdict.status is Status.UNKNOWN and "history" in verdict.reason


@pytest.mark.parametrize("dtype", ["Int64", "object"])
def test_a_missing_last_value_of_a_nullable_or_object_column_is_no_crash(dtype: str) -> None:
    """A database column read as nullable integers (NA) or objects (None): the band and the
    rule read the gap as missing, and so do judge() and Rule.verdict(), which raised
    TypeError on float(NA). judge says no data; the rule, for a count, that none came."""
    index = pd.date_range("2026-01-05", periods=4 * 96, freq="15min", tz="UTC")
    series = pd.Series(list(np.arange(index.size) % 50 + 100), index=index, dtype=dtype)
    series.iloc[-1] = pd.NA if dtype == "Int64" else None
    band = detectors.build({}).band(series)
    assert judge(series, band).reason == "no data for this bucket"
    verdict = detectors.build_rule({}).verdict(series, band)
    assert verdict.value is None and verdict.reason.startswith("no data, while about")


def test_points_too_sparse_for_a_grid_are_refused_with_what_to_do() -> None:
    """Two points a second apart and a third a month later: the most common spacing, a second,
    would make a grid of 2.7 million buckets (gigabytes, then MemoryError). The band says
    what to do instead; a series with a long gap at its own step still gets its grid."""
    index = pd.DatetimeIndex(["2026-01-01 00:00:00", "2026-01-01 00:00:01", "2026-02-01"],
                             tz="UTC")  # fmt: skip
    with pytest.raises(ValueError, match=r"3 points .* 2,678,401 buckets .* 1 s: .*resample"):
        detectors.build({}).band(pd.Series([1.0, 2.0, 3.0], index=index))
    gapped = daily(40)  # 6-hour steps
    gapped = gapped.drop(gapped.index[4 * 5 : 4 * 12])  # a week missing
    band = detectors.build({}).band(gapped)
    assert band["expected"].iloc[-4:].notna().all()


def test_band_is_causal() -> None:
    """Changing the future never changes the band of the past."""
    series = daily(12)
    detector = detectors.build({"method": "seasonal"})
    before = detector.band(series)
    changed = series.copy()
    changed.iloc[-8:] = 1e6
    after = detector.band(changed)
    pd.testing.assert_frame_equal(before.iloc[:-8], after.iloc[:-8])


@pytest.mark.parametrize("period", [3, 4, 24, 48, 96, 288, 1440])
def test_the_weekday_shape_never_reads_the_point_it_serves(period: int) -> None:
    """The shape's spread reads same-slot medians up to twice `weekday_hours` ahead, each of
    values a season or more before its own point: whatever the setting (up to 12 hours each
    side), that stays under a season, so no band reads its own bucket."""
    for hours in (0.1, 1.0, 2.0, 6.0, 11.9, 12.0):
        assert 2 * weekday_points(hours, period) < period
        assert weekday_points(hours, period, spread=False) < period


def test_direction_down_ignores_spikes() -> None:
    """A metric that alerts only on drops lets a spike pass, with the reason."""
    series = daily(10, tail=[150.0])
    band = detectors.build({"method": "seasonal", "min_rel_width": 0.1}).band(series)
    verdict = judge(series, band, direction=Direction.DOWN)
    assert verdict.status is Status.OK and "only down" in verdict.reason


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"method": "seasonal", "k": -1}, r"k must be float in \[0.5, 20\], got -1"),
        ({"method": "seasonal", "days": 2.5}, r"days must be int"),
        ({"method": "seasonal", "days": 3, "min_history": 5}, r"min_history must be <= days"),
        ({"method": "seasonal", "speed": 1}, r"unknown parameter\(s\) speed"),
        ({"method": "magic"}, r"unknown detector method 'magic'; valid: seasonal"),
        ({"method": "seasonal", "k": "wide"}, r"k must be float"),
    ],
)
def test_bad_parameters_name_the_rule(spec: dict, message: str) -> None:
    """Bad specs raise ValueError naming the parameter and its valid range."""
    with pytest.raises(ValueError, match=message):
        detectors.build(spec)


def _noisy_day_series(days: int, seed: int) -> pd.Series:
    """15-minute counts with a daily curve, weekends, growth and Poisson noise."""
    rng = np.random.default_rng(seed)
    index = pd.date_range("2026-10-01", periods=days * 96, freq="15min", tz="UTC")
    hours = index.hour + index.minute / 60
    curve = 0.6 + 0.5 * np.sin((hours - 8) / 24 * 2 * np.pi)
    weekend = np.where(index.day_of_week >= 5, 1.08, 1.0)
    growth = 1 + 0.003 * np.arange(index.size) / 96
    mean = 800 * curve * weekend * growth
    return pd.Series(rng.poisson(mean).astype("float64"), index=index)


def test_injected_incidents_are_caught_with_few_false_alerts() -> None:
    """On a realistic seasonal count series, a -40% hour and a +60% hour are flagged while
    fewer than 0.5% of normal buckets fall outside the band."""
    series = _noisy_day_series(21, seed=3)
    drop = slice(19 * 96 + 40, 19 * 96 + 44)
    spike = slice(20 * 96 + 60, 20 * 96 + 64)
    series.iloc[drop] *= 0.6
    series.iloc[spike] *= 1.6
    band = detectors.build(detectors.DEFAULT_SPEC).band(series)
    outside = (series < band["lower"]) | (series > band["upper"])
    assert outside.iloc[drop].sum() >= 3
    assert outside.iloc[spike].sum() >= 3
    normal = np.ones(series.size, bool)
    normal[14 * 96 :] = True
    normal[drop.start : drop.stop + 8] = False
    normal[spike.start : spike.stop + 8] = False
    evaluated = normal & band["expected"].notna().to_numpy()
    assert outside.to_numpy()[evaluated].mean() < 0.005


def test_a_wider_band_keeps_the_same_expected_value() -> None:
    """k sets the width only: the level (and so the expected value) is the same for any k,
    so a less sensitive setting cannot let an incident into the level and leave echoes."""
    series = _noisy_day_series(21, seed=5)
    series.iloc[18 * 96 + 40 : 18 * 96 + 64] *= 0.7  # six hours 30% low
    expected = [
        detectors.build({"method": "seasonal", "k": k}).band(series)["expected"]
        for k in (3.0, 3.5, 5.0, 8.0)
    ]
    for other in expected[1:]:
        pd.testing.assert_series_equal(expected[0], other)
    coupled = detectors.build({"method": "seasonal", "k": 8.0, "level_inlier": 8.0})
    assert not coupled.band(series)["expected"].equals(expected[0])  # the level can move


def test_a_decline_over_hours_is_not_absorbed_into_the_level() -> None:
    """A 40% decline over five hours: the fast level may stray only level_clip (10%) from the
    slow one, so the expected value stays near normal and the decline is caught before it
    reaches 30%; a single fast level follows it most of the way down."""
    rng = np.random.default_rng(7)
    clean = _noisy_day_series(21, seed=7)  # plus 4% overdispersion, as real traffic has
    clean = np.round(clean * np.exp(rng.normal(0.0, 0.04, clean.size)))
    start = 19 * 96 + 36  # 09:00 UTC
    ramp = np.linspace(0.0, 0.4, 21)[1:]
    series = clean.copy()
    series.iloc[start : start + 20] *= 1 - ramp
    reaches_30 = start + int(np.argmax(ramp >= 0.3))
    caught, dragged = {}, {}
    for slow in (192, 0):
        spec = {"method": "seasonal", "level_slow": slow}
        band = detectors.build(spec).band(series)
        normal = detectors.build(spec).band(clean)["expected"]
        firing = detectors.build_rule(spec).evaluate(series, band)["firing"].to_numpy()
        caught[slow] = int(np.argmax(firing[start:])) + start if firing[start:].any() else None
        end = start + 19
        dragged[slow] = 1 - band["expected"].iloc[end] / normal.iloc[end]
    assert caught[192] is not None and caught[192] < reaches_30, caught
    assert caught[0] is None or caught[0] > caught[192], caught
    assert dragged[192] <= 0.11 < dragged[0], dragged


def _weekly_series(days: int, weekend: float, seed: int) -> pd.Series:
    """15-minute counts whose weekends run at `weekend` times the weekday level."""
    rng = np.random.default_rng(seed)
    index = pd.date_range("2026-01-05", periods=days * 96, freq="15min", tz="UTC")
    hours = index.hour + index.minute / 60
    curve = 0.3 + 0.7 * np.exp(-(((hours - 14) / 5) ** 2))
    mean = 2000 * curve * np.where(index.day_of_week >= 5, weekend, 1.0)
    return pd.Series(rng.poisson(mean).astype("float64"), index=index)


def test_weekends_are_expected_on_a_strongly_weekly_series() -> None:
    """Weekends at -30%: with the four weeks of history a live check reads, the same-slot
    median scaled to the weekday (by the same weekday of previous weeks) takes over where it
    forecast better. Over the next two weeks of four series that
    leaves at most one alert in all; the daily median alone raises at least one per weekend on
    average, 8 weekends in all, without the width of a weekend midnight's own errors (`near`)
    as then (the noisy-day widening, re-basing and the errors' correlation at a weekend's
    midnight absorb the rest)."""
    alerts = {3: 0, 0: 0}
    for seed in range(4):
        series = _weekly_series(42, 0.7, seed=seed)
        for weeks in alerts:
            spec = {"method": "seasonal", "counts": "yes", "weeks": weeks}
            if not weeks:  # as before the width of midnight's own errors, too
                spec["near"] = 0
            band = detectors.build(spec).band(series)
            firing = detectors.build_rule(spec).evaluate(series, band)["firing"].iloc[28 * 96 :]
            alerts[weeks] += int((firing & ~firing.shift(1, fill_value=False)).sum())
    assert alerts[3] <= 1 and alerts[0] >= 2 * 4, alerts


def test_a_new_metric_expects_its_weekend_from_two_weeks_of_history() -> None:
    """Weekends at half the weekdays, and only two weeks of history: the third weekend is
    expected low from the same weekday of the two weeks before (the reason says so), where
    the daily median alone fires on it. Last week's Saturday outage (six hours at zero) is no
    part of the weekday's pattern: of two weeks, the shape keeps only what both show."""
    alerts = {3: 0, 0: 0}
    for seed in range(4):
        series = _weekly_series(21, 0.5, seed=seed)
        if seed % 2:
            series.iloc[12 * 96 + 40 : 12 * 96 + 64] = 0.0  # the second Saturday, 10:00-16:00
        for weeks in alerts:
            spec = {"method": "seasonal", "counts": "yes", "weeks": weeks}
            band = detectors.build(spec).band(series)
            firing = detectors.build_rule(spec).evaluate(series, band)["firing"].iloc[19 * 96 :]
            alerts[weeks] += int((firing & ~firing.shift(1, fill_value=False)).sum())
            if weeks:
                assert band["basis"].iloc[19 * 96 + 52].startswith("weekly"), band["basis"]
    assert alerts[3] == 0 and alerts[0] >= 4, alerts


def test_a_new_metric_s_monday_after_a_quiet_weekend_does_not_alert() -> None:
    """Weekends at 0.3-0.4 of the weekdays and two weeks of history: on the second Sunday the
    weekday's shape is not known yet (it needs the same weekday of two weeks), so the low is
    re-based; that re-base ended 45 minutes into Monday and alerted two or three times on its
    first hour. It now ends with Monday's first bucket past the old level: no alert all day."""
    alerts = []
    for weekend in (0.3, 0.4):
        for seed in range(3):
            series = _weekly_series(15, weekend, seed=seed)
            spec = {"method": "seasonal", "counts": "yes"}
            band = detectors.build(spec).band(series)
            assert "rebased" in band["basis"].iloc[14 * 96 - 1], band["basis"].iloc[14 * 96 - 1]
            firing = detectors.build_rule(spec).evaluate(series, band)["firing"].iloc[14 * 96 :]
            alerts.append(int((firing & ~firing.shift(1, fill_value=False)).sum()))
    assert alerts == [0] * 6, alerts


def test_stl_follows_a_level_that_moves_between_refits() -> None:
    """STL refits weekly; between refits its level follows the recent data, so a slow drift
    (no incident at all) does not leave the series outside the band for days."""
    rng = np.random.default_rng(1)
    index = pd.date_range("2026-01-01", periods=24 * 60, freq="1h", tz="UTC")
    t = np.arange(index.size)
    series = pd.Series(100 + 10 * np.sin(t / 50) + rng.normal(0, 1, t.size), index=index)
    outside = {}
    for window in (16, 0):
        band = detectors.build({"method": "stl", "level_window": window}).band(series)
        known = band["expected"].notna()
        off = (series < band["lower"]) | (series > band["upper"])
        outside[window] = float(off[known].mean())
    assert outside[16] < 0.1 < outside[0], outside


def test_any_step_and_scale() -> None:
    """Hourly data and daily data (weekly season) at tiny and huge scales both get bands."""
    hourly = _noisy_day_series(10, seed=1).resample("1h").sum() * 1e-3
    band = detectors.build({"method": "seasonal"}).band(hourly)
    assert band["expected"].iloc[-24:].notna().all()
    assert (band["upper"] > band["lower"]).iloc[-24:].all()
    index = pd.date_range("2026-01-01", periods=70, freq="1D", tz="UTC")
    weekly = pd.Series(1e9 * (1 + 0.3 * (index.day_of_week >= 5)), index=index, dtype="float64")
    band = detectors.build({"method": "seasonal"}).band(weekly)
    assert band["expected"].iloc[-1] == pytest.approx(weekly.iloc[-1], rel=0.01)
    assert detectors.seasonal_period(pd.Timedelta("1D").to_pytimedelta()) == 7


@pytest.mark.parametrize(
    ("outside", "since"),
    [
        ([0, 0, 0, 0], None),  # inside now: no run
        ([0, 1, 0, 1], 3),  # only the last bucket
        ([0, 1, 1, 1], 1),  # three buckets
        ([1, 1, 1, 1], 0),  # the whole series
    ],
)
def test_outside_since_finds_the_start_of_the_current_run(
    outside: list[int], since: int | None
) -> None:
    """ "Since when" is the first bucket of the out-of-band run that reaches the last bucket."""
    index = pd.date_range("2026-11-27", periods=4, freq="15min", tz="UTC")
    series = pd.Series([5.0 if o else 1.0 for o in outside], index=index)
    band = pd.DataFrame({"expected": 1.0, "lower": 0.0, "upper": 2.0}, index=index)
    expected = None if since is None else index[since]
    assert detectors.outside_since(series, band) == expected


def test_count_bands_never_go_below_zero() -> None:
    """For counts the lower bound stops at 0; a generic series may have negative bounds."""
    counts = _noisy_day_series(10, seed=2) * 0.01
    counts = counts.round()
    band = detectors.build({"method": "seasonal", "counts": "yes"}).band(counts)
    assert (band["lower"].dropna() >= 0).all()
    assert (band["lower"].dropna() == 0).any()
    generic = counts - 50
    band = detectors.build({"method": "seasonal", "counts": "no"}).band(generic)
    assert (band["lower"].dropna() < -50).any()


@pytest.mark.slow
@pytest.mark.parametrize(
    ("method", "caught"),
    # The rolling IQR widens once two low buckets are in its window: the baseline's weakness.
    [("seasonal", 3), ("stl", 3), ("holt_winters", 3), ("iqr", 1)],
)
def test_every_detector_is_causal_and_catches_a_drop(method: str, caught: int) -> None:
    """Each method of the library: the band never looks ahead, and a -40% hour in the busy part
    of the day of a 15-minute seasonal count series falls below it."""
    series = _noisy_day_series(16, seed=9).iloc[:-40]  # ends mid-afternoon
    drop = slice(series.size - 6, series.size - 2)
    series.iloc[drop] = (series.iloc[drop] * 0.6).round()
    detector = detectors.build({"method": method})
    band = detector.band(series)
    assert (series.iloc[drop] < band["lower"].iloc[drop]).sum() >= caught
    changed = series.copy()
    changed.iloc[-20:] = 0.0
    pd.testing.assert_frame_equal(detector.band(changed).iloc[:-20], band.iloc[:-20])
    tail = detector.band(series, last=48)
    pd.testing.assert_frame_equal(tail.iloc[-48:], band.iloc[-48:])


def test_decomposition_detectors_validate_their_parameters() -> None:
    """STL and Holt-Winters state their rules too."""
    with pytest.raises(ValueError, match=r"stl: robust must be one of no, yes"):
        detectors.build({"method": "stl", "robust": "maybe"})
    with pytest.raises(ValueError, match=r"holt_winters: history_days must be int in \[3, 56\]"):
        detectors.build({"method": "holt_winters", "history_days": 1})


def test_ratio_band_widens_where_the_denominator_is_small() -> None:
    """A CTR resting on 50 views gets at least a binomial standard error's width; on 50,000
    views the band is as narrow as the history says."""
    index = pd.date_range("2026-11-01", periods=12 * 96, freq="15min", tz="UTC")
    ctr = pd.Series(0.2, index=index) + 0.001 * np.sin(np.arange(index.size))
    detector = detectors.build({"method": "seasonal", "counts": "no"})
    few = detector.band(ctr, weight=pd.Series(50.0, index=index))
    many = detector.band(ctr, weight=pd.Series(50_000.0, index=index))
    half_few = (few["upper"] - few["expected"]).iloc[-1]
    half_many = (many["upper"] - many["expected"]).iloc[-1]
    assert half_few >= detector.k * np.sqrt(0.2 * 0.8 / 50) * 0.99  # type: ignore[attr-defined]
    assert half_many < half_few / 5


@pytest.mark.parametrize("method", ["seasonal", "stl", "holt_winters"])
def test_a_series_without_timestamps_or_out_of_order_is_refused_with_what_to_do(
    method: str,
) -> None:
    """The contract API on a series indexed 0, 1, 2 ... (no step in time), with a missing
    timestamp, whose timestamps run backwards or repeat one: a ValueError that says what is
    wrong, never an AttributeError, an overflow or duplicated rows."""
    values = np.arange(2000, dtype=float) % 96 + 100
    with pytest.raises(ValueError, match=r"indexed by its timestamps .*of type RangeIndex"):
        detectors.build({"method": method}).band(pd.Series(values))
    index = pd.date_range("2026-10-01", periods=2000, freq="15min", tz="UTC")
    holed = index.insert(5, pd.NaT)[:-1]
    with pytest.raises(ValueError, match=r"a missing timestamp \(NaT\)"):
        detectors.build({"method": method}).band(pd.Series(values, index=holed))
    with pytest.raises(ValueError, match=r"the series index must be increasing"):
        detectors.build({"method": method}).band(pd.Series(values, index=index[::-1]))
    # A timestamp given twice (a join that doubled a row): refused, not banded twice.
    twice = index.insert(100, index[100])[:-1]
    with pytest.raises(ValueError, match=r"repeats a timestamp .*groupby\(level=0\)"):
        detectors.build({"method": method}).band(pd.Series(values, index=twice))
