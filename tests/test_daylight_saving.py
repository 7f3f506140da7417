"""Daily patterns follow people's wall clock: a metric whose users wake at 08:00 in Berlin keeps
that shape across daylight saving, when it moves an hour in UTC. With the detector's
`timezone`, the band compares each bucket with the same local time on previous days."""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import detectors
from bot.core.zones import clock_hint, observes_dst
from bot.service.engines import BAND_ROWS, Engines
from detectors.seasonal import SeasonalDetector, onto_grid, wall_grid
from queries.catalogue import CatalogueError, load_catalogue
from queries.series import Slice
from tests.conftest import SourceSpec
from tests.fakebot import FakeTelegram, render_html
from tests.test_bot import ADMIN, fake, running, settings_for
from tests.test_chat import _say
from tests.test_cli import alertbot

__all__ = ["fake"]

BERLIN = "Europe/Berlin"
START = "2026-09-26"
CATALOGUE = load_catalogue()


def local_counts(start: str, end: str, zone: str, *, level: float, seed: int) -> pd.Series:
    """15-minute counts whose daily curve (a midday and an evening peak, quieter weekends)
    follows `zone`'s wall clock."""
    index = pd.date_range(start, end, freq="15min", tz="UTC", inclusive="left")
    local = index.tz_convert(zone)
    hour = local.hour + local.minute / 60
    curve = 0.25 + 0.75 * np.exp(-((hour - 20) ** 2) / 30) + 0.6 * np.exp(-((hour - 12) ** 2) / 8)
    weekend = np.where(local.day_of_week >= 5, 0.85, 1.0)
    rng = np.random.default_rng(seed)
    return pd.Series(rng.poisson(level * curve * weekend).astype(float), index=index)


def episodes(fire: np.ndarray) -> int:
    return int(np.sum(np.diff(np.concatenate([[0], fire.astype(int)])) == 1))


def firing(series: pd.Series, zone: str) -> np.ndarray:
    spec = {**detectors.DEFAULT_SPEC, "timezone": zone}
    band = detectors.build(spec).band(series)
    return detectors.build_rule(spec).evaluate(series, band)["firing"].to_numpy(dtype=bool)


@pytest.mark.parametrize(("start", "change", "end"), [
    ("2026-09-20", "2026-10-25", "2026-11-08"),  # back to winter time: 02:00-03:00 twice
    ("2026-02-22", "2026-03-29", "2026-04-12"),  # summer time: 02:00-03:00 skipped
])  # fmt: skip
def test_a_berlin_metric_is_quiet_across_daylight_saving_in_its_own_wall_clock(
    start: str, change: str, end: str
) -> None:
    """In UTC, the two weeks after the change fire day after day (the morning ramp an hour
    off); with timezone=Europe/Berlin they stay quiet, as the two weeks before do."""
    series = local_counts(start, end, BERLIN, level=2000, seed=3)
    after = np.asarray(series.index >= pd.Timestamp(change, tz="UTC"))
    before = np.asarray(series.index >= pd.Timestamp(change, tz="UTC") - pd.Timedelta(days=14))
    before &= ~after
    utc, local = firing(series, "UTC"), firing(series, BERLIN)
    assert episodes(utc[after]) >= 3  # what this test is about
    assert episodes(local[before]) == 0 and episodes(utc[before]) == 0
    assert episodes(local[after]) == 0, np.flatnonzero(local & after)


def test_a_drop_right_after_the_change_still_fires_at_once() -> None:
    """Halved for an hour on the Monday after the clocks went back: fires within 2 buckets."""
    series = local_counts("2026-09-20", "2026-10-27", BERLIN, level=2000, seed=4)
    at = series.index.get_loc(pd.Timestamp("2026-10-26 09:00", tz="UTC"))
    series.iloc[at : at + 4] *= 0.5
    fire = firing(series, BERLIN)
    assert fire[at : at + 2].any()
    assert episodes(fire[-7 * 96 :]) == 1


def test_the_repeated_hour_shares_its_slots_and_the_skipped_one_is_a_gap() -> None:
    """On the wall grid a day is always 96 slots: the 8 buckets of 02:00-03:00 on 25 Oct sit on
    4 slots (the later of each pair kept), the 4 of 29 Mar's skipped hour are empty slots."""
    autumn = pd.date_range("2026-10-24 22:00", "2026-10-25 03:00", freq="15min", tz="UTC",
                           inclusive="left")  # fmt: skip
    grid, at = wall_grid(autumn, BERLIN)  # type: ignore[misc]
    assert autumn.size == 20 and grid.size == 16
    assert list(at[:8]) == list(range(8))  # 00:00-01:45 local
    assert list(at[8:12]) == list(at[12:16]) == [8, 9, 10, 11]  # 02:00-02:45, twice
    values = onto_grid(np.arange(20.0), at, grid.size)
    assert list(values[8:12]) == [12.0, 13.0, 14.0, 15.0]  # the later occurrence
    spring = pd.date_range("2026-03-29 00:00", "2026-03-29 02:00", freq="15min", tz="UTC",
                           inclusive="left")  # fmt: skip
    grid, at = wall_grid(spring, BERLIN)  # type: ignore[misc]
    assert grid.size == 12 and list(at) == [0, 1, 2, 3, 8, 9, 10, 11]  # 02:00-02:45 absent
    assert grid[0] == pd.Timestamp("2026-03-29 01:00", tz="UTC")  # 01:00 local, labelled UTC
    assert wall_grid(spring, "UTC") is None


def test_the_check_s_engine_judges_as_the_series_band_does_through_the_repeated_hour() -> None:
    """Checks every 15 minutes from 23:00 to 03:00 UTC over 25 Oct (the repeated hour between),
    a metric's slices judged together by the engine, give each slice the verdict and the band
    the per-series band gives it over the same window."""
    metric, table = CATALOGUE.metric("views"), CATALOGUE.tables["feed_actions"]
    spec = {**detectors.DEFAULT_SPEC, "timezone": BERLIN, "counts": "yes"}
    detector, rule = detectors.build(spec), detectors.build_rule(spec)
    assert isinstance(detector, SeasonalDetector)
    wheres = [Slice("os", name) for name in ("iOS", "Android", "web")]
    full = [local_counts(START, "2026-10-25 03:00", BERLIN, level=level, seed=seed)
            for seed, level in enumerate((40.0, 400.0, 3000.0))]  # fmt: skip
    full[1].iloc[-12:-8] *= 0.4  # a drop during the first 02:00-03:00
    engines = Engines()
    statuses = []
    checks = pd.date_range("2026-10-24 23:00", "2026-10-25 03:00", freq="15min", tz="UTC")
    for end in checks:
        window = [s.loc[: end - pd.Timedelta(minutes=1)] for s in full]  # from START, as History
        index = window[0].index
        values = np.array([s.to_numpy() for s in window])

        def series_of(where: Slice, window: list[pd.Series] = window) -> pd.Series:
            return window[wheres.index(where)]

        got = engines.judge(table, metric, spec=spec, detector=detector, rule=rule,
                            index=index, values=values, weights=None, wheres=wheres,
                            series_of=series_of, fetched_from=len(index) - 2)  # fmt: skip
        for where, series, result in zip(wheres, window, got, strict=True):
            band = detector.band(series, last=BAND_ROWS)
            want = detectors.floored(rule.verdict(series, band))
            assert result.verdict == want, (end, where)
            shown = result.band["expected"].to_numpy()[-BAND_ROWS:]
            np.testing.assert_array_equal(shown, band["expected"].to_numpy()[-BAND_ROWS:])
            if where == wheres[1]:
                statuses.append(result.verdict.status)
    assert detectors.Status.ANOMALY in statuses  # the drop fired
    assert statuses[-1] is detectors.Status.OK  # ... and is over at 03:00


def test_the_timezone_is_a_zone_s_name_in_any_case_and_nothing_else() -> None:
    """timezone=europe/berlin is Europe/Berlin; a name that is no zone is refused saying what
    one looks like; a method without the setting ignores the catalogue's."""
    assert SeasonalDetector(timezone="europe/berlin").timezone == "Europe/Berlin"
    assert SeasonalDetector().timezone == "UTC"
    for bad in ("Berlin/Europe", "../../etc/passwd", "", " UTC", 3):
        with pytest.raises(ValueError, match="a time zone's name, such as Europe/Berlin"):
            SeasonalDetector(timezone=bad)
    assert detectors.build({"method": "iqr", "timezone": BERLIN}) is not None


def test_the_catalogue_s_default_timezone_reaches_every_metric_unless_it_names_its_own(
    tmp_path: Path,
) -> None:
    """[defaults] timezone = "Europe/Berlin": each metric's detector has it, one that sets its
    own keeps that; a zone that does not exist stops the load naming defaults.timezone."""
    for sql in Path("queries").glob("*.sql"):
        shutil.copy(sql, tmp_path)
    text = Path("queries/catalogue.toml").read_text(encoding="utf-8")
    text = text.replace("[defaults]\n", '[defaults]\ntimezone = "Europe/Berlin"\n', 1)
    text = text.replace('[metrics.views]\n', '[metrics.views]\ndetector = { timezone = '
                        '"America/New_York" }\n', 1)  # fmt: skip
    (tmp_path / "c.toml").write_text(text, encoding="utf-8")
    catalogue = load_catalogue(tmp_path / "c.toml")
    assert (catalogue.metric("likes").detector or {})["timezone"] == BERLIN
    assert (catalogue.metric("views").detector or {})["timezone"] == "America/New_York"
    (tmp_path / "c.toml").write_text(text.replace('"Europe/Berlin"', '"Mars/Olympus"'),
                                     encoding="utf-8")  # fmt: skip
    with pytest.raises(CatalogueError, match="defaults: timezone: expected a time zone's name"):
        load_catalogue(tmp_path / "c.toml")


async def test_an_admin_sets_a_metric_s_timezone_from_the_chat(
    fake: FakeTelegram, embedded_spec: SourceSpec, tmp_path: Path
) -> None:
    """/set views timezone europe/berlin takes it as Europe/Berlin and /thresholds shows it;
    /set views timezone Berlin says what a zone's name looks like, in one message."""
    settings = settings_for(fake.url, embedded_spec, tmp_path / "s.db")
    async with running(settings, fake, schedule=False, warm=False) as monitor:
        said = render_html((await _say(fake, "/set views timezone europe/berlin",
                                       user=ADMIN))[0].text)  # fmt: skip
        assert monitor.state.overrides.of("views")["timezone"].value == BERLIN, said
        bad = render_html((await _say(fake, "/set views timezone Berlin", user=ADMIN))[0].text)
        shown = "\n".join(render_html(c.text)
                          for c in await _say(fake, "/thresholds views all", user=ADMIN))
        assert monitor.state.overrides.of("views")["timezone"].value == BERLIN  # kept
    assert "timezone" in shown and BERLIN in shown, shown
    assert "a time zone's name, such as Europe/Berlin or UTC" in bad, bad


def test_three_points_years_apart_are_refused_at_once_in_a_zone_as_in_utc() -> None:
    """Points a minute and six years apart would make a grid of millions of minutes: refused
    with what to do, in a time zone as in UTC, instead of a minute spent on an empty band."""
    index = pd.DatetimeIndex(["2020-01-01 00:00", "2020-01-01 00:01", "2026-01-01"], tz="UTC")
    series = pd.Series([1.0, 2.0, 3.0], index=index)
    for zone in ("UTC", BERLIN):
        with pytest.raises(ValueError, match="too sparse to put on a grid"):
            SeasonalDetector(timezone=zone).band(series)


@pytest.mark.slow
def test_a_team_whose_clock_changes_is_told_its_metrics_follow_utc(tmp_path: Path) -> None:
    """TIMEZONE=Europe/Berlin with a catalogue that names no timezone: `alertbot catalogue`
    ends with a note saying which metrics follow UTC and what to set; Europe/Moscow (no daylight
    saving) and a catalogue that sets it get none."""
    assert observes_dst(BERLIN) and not observes_dst("Europe/Moscow")
    env = {"CLICKHOUSE_URL": "http://127.0.0.1:9", "STATE_PATH": str(tmp_path / "s.db"),
           "CLICKHOUSE_TIMEOUT": "5", "TIMEZONE": BERLIN}  # fmt: skip
    done = alertbot("catalogue", env=env, cwd=tmp_path)
    note = done.stdout.splitlines()[-1]
    assert note.startswith("note: TIMEZONE=Europe/Berlin changes its clocks"), done.stdout
    assert 'set timezone = "Europe/Berlin" in the catalogue\'s [defaults]' in note
    assert "views" in note and "Traceback" not in done.stderr
    moscow = alertbot("catalogue", env={**env, "TIMEZONE": "Europe/Moscow"}, cwd=tmp_path)
    assert "note:" not in moscow.stdout
    catalogue = load_catalogue()
    assert clock_hint(catalogue, BERLIN) is not None
    every = replace(catalogue, metrics={
        name: replace(m, detector={**(m.detector or {}), "timezone": BERLIN})
        for name, m in catalogue.metrics.items()})  # fmt: skip
    assert clock_hint(every, BERLIN) is None


def test_the_server_s_own_clock_is_no_zone_to_follow() -> None:
    """'localtime' (whatever the server's clock is set to) and 'Factory' are in the system's
    list but name no place: refused by the detector, hence by /set and the catalogue."""
    for name in ("localtime", "Factory"):
        with pytest.raises(ValueError, match="a time zone's name"):
            SeasonalDetector(timezone=name)
