"""Attacks on the wall-clock `timezone` of the seasonal detector (and its catalogue default,
its chat setting and the start-up hint) and on the alert's "shifted since": what broke, kept as
tests, and what held, kept as tests too."""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import detectors
from bot.core.zones import clock_hint, follows_utc
from bot.service.engines import BAND_ROWS, Engines
from detectors.seasonal import SeasonalDetector, wall_grid
from queries.catalogue import CatalogueError, load_catalogue
from queries.series import Slice
from tests.conftest import SourceSpec
from tests.fakebot import FakeTelegram, render_html
from tests.test_bot import ADMIN, USER, fake, running, settings_for
from tests.test_chat import _say
from tests.test_daylight_saving import episodes, firing

__all__ = ["fake"]

CATALOGUE = load_catalogue()
LORD_HOWE = "Australia/Lord_Howe"  # +10:30, +11:00 in summer: a 30-minute change
BERLIN = "Europe/Berlin"


def local_counts(index: pd.DatetimeIndex, zone: str, *, level: float, seed: int) -> np.ndarray:
    """Counts whose daily curve (a midday and an evening peak) follows `zone`'s wall clock."""
    local = index.tz_convert(zone)
    hour = local.hour + local.minute / 60
    curve = 0.25 + 0.75 * np.exp(-((hour - 20) ** 2) / 30) + 0.6 * np.exp(-((hour - 12) ** 2) / 8)
    return np.random.default_rng(seed).poisson(level * curve).astype(float)


# ---- a change of half a step --------------------------------------------------------------------


@pytest.mark.parametrize(("zone", "start", "change", "end", "step"), [
    (LORD_HOWE, "2026-09-01", "2026-10-03 15:30", "2026-10-25", "1h"),  # 02:00 -> 02:30
    (BERLIN, "2026-02-01", "2026-03-29 01:00", "2026-04-20", "2h"),  # 02:00 -> 03:00
])  # fmt: skip
def test_a_change_of_half_a_step_keeps_every_bucket_on_a_slot_of_its_own(
    zone: str, start: str, change: str, end: str, step: str
) -> None:
    """Lord Howe's clocks move 30 minutes, half an hourly step (an hour is half a two-hourly
    one): each bucket after the change sits half a step off the grid the days before laid
    out. Rounded half to even, every other bucket took its neighbour's slot and was dropped
    from the history for as long as the offset lasted, and the zone then fired twice as often
    as UTC (18 episodes against 9 at Lord Howe, 21 against 10 in Berlin)."""
    index = pd.date_range(start, end, freq=step, tz="UTC", inclusive="left")
    _, at = wall_grid(index, zone)  # type: ignore[misc]
    assert np.all(np.diff(at) >= 1), "two buckets on one slot where no hour repeats"
    series = pd.Series(local_counts(index, zone, level=2000, seed=1), index=index)
    after = np.asarray(index >= pd.Timestamp(change, tz="UTC"))
    utc, local = firing(series, "UTC"), firing(series, zone)
    assert episodes(local[after]) < episodes(utc[after])


def test_the_engine_judges_as_the_series_band_does_through_a_half_hour_change() -> None:
    """Hourly checks across Lord Howe's 30-minute change, three slices judged together by the
    check's engine, give each slice the band and verdict its own series band gives it."""
    metric, table = CATALOGUE.metric("views"), CATALOGUE.tables["feed_actions"]
    spec = {**detectors.DEFAULT_SPEC, "timezone": LORD_HOWE, "counts": "yes"}
    detector, rule = detectors.build(spec), detectors.build_rule(spec)
    wheres = [Slice("os", name) for name in ("iOS", "Android", "web")]
    full = pd.date_range("2026-09-01", "2026-10-04 06:00", freq="1h", tz="UTC",
                         inclusive="left")  # fmt: skip
    values = np.array([local_counts(full, LORD_HOWE, level=level, seed=seed)
                       for seed, level in enumerate((40.0, 400.0, 3000.0))])  # fmt: skip
    engines = Engines()
    for end in range(full.size - 16, full.size + 1):
        index, window = full[:end], values[:, :end]

        def series_of(where: Slice, index: pd.DatetimeIndex = index,
                      window: np.ndarray = window) -> pd.Series:  # fmt: skip
            return pd.Series(window[wheres.index(where)], index=index)

        got = engines.judge(table, metric, spec=spec, detector=detector, rule=rule,
                            index=index, values=window, weights=None, wheres=wheres,
                            series_of=series_of, fetched_from=len(index) - 2)  # fmt: skip
        for where, result in zip(wheres, got, strict=True):
            series = series_of(where)
            band = detector.band(series, last=BAND_ROWS)
            want = detectors.floored(rule.verdict(series, band))
            assert result.verdict.status == want.status, (index[-1], where)
            np.testing.assert_allclose(result.band["expected"].to_numpy()[-BAND_ROWS:],
                                       band["expected"].to_numpy()[-BAND_ROWS:], rtol=1e-9)


# ---- what a series may be ------------------------------------------------------------------------


def test_an_unsorted_or_repeated_index_is_refused_in_a_zone_as_in_utc() -> None:
    """In UTC a series whose timestamps go back (two swapped, or a stretch appended twice) is
    refused: the rule reads it in its own order. In a time zone the wall grid sorted it in
    silence and kept the last of the repeats: judged, but not as the series said."""
    index = pd.date_range("2026-10-01", periods=96 * 10, freq="15min", tz="UTC")
    series = pd.Series(local_counts(index, BERLIN, level=300, seed=5), index=index)
    swapped = series.iloc[np.r_[0:500, 501, 500, 502 : index.size]]
    twice = pd.concat([series.iloc[:600], series.iloc[590:600]])
    for bad in (swapped, twice):
        for zone in ("UTC", BERLIN):
            with pytest.raises(ValueError, match="must be increasing"):
                SeasonalDetector(timezone=zone).band(bad)


def test_a_naive_or_berlin_indexed_series_gets_the_band_of_its_utc_twin() -> None:
    """Held: the same instants, naive (read as UTC) or indexed in Berlin time, get the same
    band in a zone as the UTC-indexed series, across the repeated hour."""
    index = pd.date_range("2026-10-10", "2026-10-26", freq="15min", tz="UTC", inclusive="left")
    values = local_counts(index, BERLIN, level=300, seed=6)
    detector = SeasonalDetector(timezone=BERLIN)
    want = detector.band(pd.Series(values, index=index))["expected"].to_numpy()
    for other in (index.tz_localize(None), index.tz_convert(BERLIN)):
        got = detector.band(pd.Series(values, index=other))["expected"].to_numpy()
        np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("zone", ["America/New_York", "Australia/Sydney", "Asia/Kolkata"])
def test_a_series_that_starts_or_ends_inside_the_repeated_hour_or_holds_no_value(
    zone: str,
) -> None:
    """Held: a series of NaN only, of two points, or starting in the first of two repeated
    hours gets a band (none where there is no history) without an error."""
    change = {"America/New_York": "2026-11-01 05:15", "Australia/Sydney": "2026-04-04 15:15",
              "Asia/Kolkata": "2026-10-25 00:15"}[zone]  # fmt: skip
    index = pd.date_range(change, periods=96 * 16, freq="15min", tz="UTC")
    detector, rule = SeasonalDetector(timezone=zone), detectors.build_rule(detectors.DEFAULT_SPEC)
    for series in (pd.Series(np.nan, index=index), pd.Series([1.0, 2.0], index=index[:2]),
                   pd.Series(local_counts(index, zone, level=300, seed=7), index=index)):
        band = detector.band(series, last=BAND_ROWS)
        assert band.index.equals(series.index)
        rule.verdict(series, band)


# ---- where the zone is named ---------------------------------------------------------------------


def _catalogue_with(tmp_path: Path, zone: str) -> Path:
    for sql in Path("queries").glob("*.sql"):
        shutil.copy(sql, tmp_path)
    text = Path("queries/catalogue.toml").read_text(encoding="utf-8")
    text = text.replace("[defaults]\n", f'[defaults]\ntimezone = "{zone}"\n', 1)
    (tmp_path / "c.toml").write_text(text, encoding="utf-8")
    return tmp_path / "c.toml"


@pytest.mark.parametrize("zone", ["posix/Europe/Berlin", "right/UTC", "posixrules", "localtime"])
def test_the_catalogue_refuses_a_default_zone_the_detector_refuses(
    tmp_path: Path, zone: str
) -> None:
    """ZoneInfo opens posix/Europe/Berlin, right/UTC and posixrules (files of the zone
    database), the detector takes none of them: the catalogue loaded and every seasonal
    metric's detector then failed to build (at start-up, blamed on each metric in turn, not
    on defaults.timezone)."""
    with pytest.raises(CatalogueError, match="defaults: timezone: expected a time zone's name"):
        load_catalogue(_catalogue_with(tmp_path, zone))


def test_the_catalogue_takes_a_default_zone_in_any_case_as_the_chat_does(tmp_path: Path) -> None:
    """'/set views timezone utc' is UTC and 'europe/berlin' Europe/Berlin, and so is
    `timezone = "europe/berlin"` in a metric's detector; in [defaults] both were refused."""
    for written, name in (("utc", "UTC"), ("europe/berlin", BERLIN)):
        catalogue = load_catalogue(_catalogue_with(tmp_path, written))
        assert (catalogue.metric("likes").detector or {})["timezone"] == name
        assert detectors.build({"timezone": written}).timezone == name  # type: ignore[attr-defined]


@pytest.mark.parametrize("spelled", ["Etc/UTC", "utc", "GMT", "Zulu"])
def test_the_clock_hint_counts_utc_under_its_other_names(spelled: str) -> None:
    """A metric whose detector names UTC as Etc/UTC, utc, GMT or Zulu follows UTC all the
    same: the hint named only those spelled 'UTC', and was silent when all were spelled
    otherwise. Berlin and London (offset 0 in winter only) follow no UTC clock."""
    every = replace(CATALOGUE, metrics={
        name: replace(m, detector={**(m.detector or {}), "timezone": spelled})
        for name, m in CATALOGUE.metrics.items()})  # fmt: skip
    hint = clock_hint(every, BERLIN)
    assert hint is not None and "views" in hint
    assert not follows_utc(BERLIN) and not follows_utc("Europe/London")
    assert not follows_utc("posix/UTC")


@pytest.mark.slow
async def test_odd_zones_from_the_chat_are_refused_in_one_escaped_message_or_named_right(
    fake: FakeTelegram, embedded_spec: SourceSpec, tmp_path: Path
) -> None:
    """Held: HTML, Cyrillic, a path, 300 characters are refused saying what a zone's name is,
    each in one message with the value escaped; 'utc', 'Etc/GMT+3' and 'EST' are zones (as
    the zone database names them); a stranger's /set changes nothing; /reset goes back to the
    catalogue's UTC."""
    settings = settings_for(fake.url, embedded_spec, tmp_path / "s.db")
    async with running(settings, fake, schedule=False, warm=False) as monitor:
        for bad in ("<b>Europe/Berlin</b>", "Европа/Берлин", "../../etc/localtime",
                    "Europe/" + "x" * 300):  # fmt: skip
            said = await _say(fake, f"/set views timezone {bad}", user=ADMIN)
            assert len(said) == 1, bad
            text = render_html(said[0].text)
            assert "a time zone's name, such as Europe/Berlin or UTC" in text, text
            if bad.startswith("<b>"):
                assert "&lt;b&gt;Europe/Berlin&lt;/b&gt;" in said[0].text, said[0].text
            assert "timezone" not in monitor.state.overrides.of("views"), bad
        stranger = await _say(fake, "/set views timezone Europe/Berlin", user=USER)
        assert "only admins" in render_html(stranger[0].text)
        assert "timezone" not in monitor.state.overrides.of("views")
        for good, name in (("Etc/GMT+3", "Etc/GMT+3"), ("EST", "EST"), ("utc", "UTC")):
            said = await _say(fake, f"/set views timezone {good}", user=ADMIN)
            overrides = monitor.state.overrides.of("views")
            if name == "UTC":  # the catalogue's own: nothing to change, or back to it
                assert "timezone" not in overrides or overrides["timezone"].value == "UTC"
            else:
                assert overrides["timezone"].value == name, render_html(said[0].text)
        await _say(fake, "/reset views", user=ADMIN)
        assert "timezone" not in monitor.state.overrides.of("views")


def test_after_the_clocks_skip_ahead_a_five_minute_check_has_every_band_row_the_rule_reads() -> (
    None
):
    """As tests/test_engine_attacks.py asks in UTC: none of the rows the default rule's verdict
    reads lacks a band for want of one computed. Two hours after Berlin's clocks skipped
    02:00-03:00, the oldest 9 of the 117 rows a 5-minute verdict reads had none (for 10
    hours after the change, at every check)."""
    index = pd.date_range("2026-03-01", "2026-03-29 03:00", freq="5min", tz="UTC",
                          inclusive="left")  # fmt: skip
    series = pd.Series(local_counts(index, BERLIN, level=300, seed=2), index=index)
    reads = detectors.build_rule(detectors.DEFAULT_SPEC).verdict_rows(3.0)
    for zone in ("UTC", BERLIN):
        band = SeasonalDetector(timezone=zone).band(series, last=BAND_ROWS)
        assert band["expected"].iloc[-reads:].notna().all(), zone
