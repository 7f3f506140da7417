"""How benchmarks/synthetic.py judges its series at a coarser step (`--step 1h`): counts are
summed, a ratio averaged, and an incident covers every bucket it touches."""

from __future__ import annotations

import numpy as np
import pytest

from tests.benchmark_modules import load_benchmark


def test_an_incident_covers_the_hours_it_touches() -> None:
    """A 45-minute drop from 00:30 touches the hours 00:00 and 01:00; counts are summed (the
    first hour's volume is four quarter-hours'), a ratio is the mean of its quarter-hours."""
    sy = load_benchmark("synthetic")
    values = np.arange(16, dtype=float)
    drop = sy.Incident("drop", start=2, length=3, size=0.5, volume=100.0)
    case = sy.Case("counts-x", False, values, [drop])
    hourly = sy.coarser(case, 4)
    assert hourly.values.tolist() == [6.0, 22.0, 38.0, 54.0]
    assert (hourly.minutes, hourly.per_day) == (60, 24)
    (moved,) = hourly.incidents
    assert (moved.start, moved.length, moved.volume, moved.size) == (0, 2, 400.0, 0.5)
    ratio = sy.coarser(sy.Case("ctr-x", True, values / 100, []), 4)
    assert ratio.values == pytest.approx([0.015, 0.055, 0.095, 0.135])
    assert sy.coarser(case, 1) is case
    with pytest.raises(ValueError, match="do not split"):
        sy.coarser(sy.Case("odd", False, values[:15], []), 4)


def test_an_hourly_outage_is_caught_and_scored_in_hours() -> None:
    """A series judged by the hour (seed 1's second: a 2-hour outage and a drop): 14 scored
    days on an hourly index, the outage caught."""
    sy = load_benchmark("synthetic")
    case = sy.make_case(1, 1)
    assert [i.kind for i in case.incidents] == ["outage", "drop"]
    hourly = sy.coarser(case, 4)
    series = sy.series_of(hourly)
    assert series.index.freq == "60min" and series.size == sy.DAYS * 24
    got = sy.run_one(1, 1, methods=("default",), overrides={}, resolve_after=1,
                     plain=frozenset(), factor=4)["default"][0]  # fmt: skip
    assert got.days == pytest.approx(14.0)
    assert sum(t for _, t in got.found.values()) == len(case.incidents)
    assert got.found["outage"] == [1, 1]


def test_a_catch_by_the_hour_is_not_also_a_false_alert() -> None:
    """An alert 2 hours after a 1-hour incident's start catches it (within 2 buckets) and is
    not counted false (the hour after is 1 bucket at that step)."""
    sy = load_benchmark("synthetic")
    values = np.full(24 * sy.DAYS, 100.0)
    start = 24 * (sy.HISTORY + 3)
    case = sy.Case("counts-x", False, values, [sy.Incident("drop", start, 1, 0.5, 400.0)], 60)
    fire = np.zeros(values.size, dtype=bool)
    fire[start + 2] = True
    tally = sy.score(case, fire, 1)
    assert (tally.found["drop"], tally.false) == ([1, 1], 0)
    fire[start + 2], fire[start + 4] = False, True  # 4 hours after: a miss, and false
    tally = sy.score(case, fire, 1)
    assert (tally.found["drop"], tally.false) == ([0, 1], 1)


def test_a_ctr_keeps_its_views_and_judged_with_them_its_quiet_day_is_no_alert() -> None:
    """The `views` method judges a CTR as the bot does, with its views as the weight. Seed 1's
    293rd series is a CTR of about 0.036 whose quiet days (half the views, so 1.4x the noise)
    fall on Sundays and Mondays: judged alone its band there is the busy days' and a drop
    inside it fires on Monday 10:15 of the second scored week; with its views, no alert."""
    sy = load_benchmark("synthetic")
    case = sy.make_case(1, 293, weekends=(0.3, 0.6))
    assert case.ratio and case.views is not None and case.views.size == case.values.size
    likes = case.values * case.views
    assert np.allclose(likes, np.round(likes))  # likes / views, as drawn
    hourly = sy.coarser(case, 4)
    assert hourly.views is not None
    assert hourly.views[:2].tolist() == [case.views[:4].sum(), case.views[4:8].sum()]
    series = sy.series_of(case)
    monday = series.index.get_loc(sy.pd.Timestamp("2026-10-12 10:15", tz="UTC"))
    alone = sy.firing("default", series, {})
    weighted = sy.weighted_firing(series, case.views, {})
    assert alone[monday] and not weighted[monday]
    assert weighted[sy.HISTORY * sy.DAY :].sum() < alone[sy.HISTORY * sy.DAY :].sum()
    counts = sy.make_case(1, 0)
    assert counts.views is None
    counted = sy.series_of(counts)
    assert (sy.weighted_firing(counted, None, {}) == sy.firing("default", counted, {})).all()


def test_curves_on_a_wall_clock_follow_it_across_the_change_and_start_where_it_is_scored() -> None:
    """`--clock Europe/Berlin`: a count's series (which draws incidents, whose start must not
    become the series') and a CTR's both begin 28 days before 25 Oct 2026 in UTC; the daily
    curve keeps its local time, so its quietest quarter-hour moves an hour later in UTC after
    the clocks go back; the default run's series are as before."""
    sy = load_benchmark("synthetic")
    for i in (0, 2):
        case = sy.make_case(1, i, clock="Europe/Berlin")
        series = sy.series_of(case)
        assert series.index[0] == sy.pd.Timestamp("2026-09-27", tz="UTC"), (i, series.index[0])
        assert series.index[sy.HISTORY * sy.DAY] == sy.CHANGE
    counts = sy.series_of(sy.make_case(1, 0, clock="Europe/Berlin", plain=frozenset({"days"})))
    days = counts.to_numpy().reshape(-1, sy.DAY)
    quietest = np.argmin(days, axis=1)
    before, after = np.median(quietest[14:27]), np.median(quietest[29:41])
    assert after - before == 4  # an hour later in UTC, the same local time
    plain = sy.make_case(1, 0)
    assert sy.series_of(plain).index[0] == sy.START
