"""A level accepted as the new normal ("📏 New normal" on an alert): the band follows the level
from the bucket it began instead of alerting until the detector re-bases by itself; a further
move still alerts; the matrix path moves the band exactly as the per-series path; and in the
chat only admins can press it, the alert shows it, and its undo takes it back."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import detectors
from bot.core.buttons import Action, Button, alert_buttons, digest_buttons, pack, unpack
from bot.service.checker import detect, run_check
from bot.service.history import History
from detectors import Status
from detectors.accept import accept_level, accepted_basis
from queries.catalogue import load_catalogue
from tests.conftest import END, SourceSpec
from tests.fakebot import FakeTelegram
from tests.test_bot import ADMIN, ALERTS, Clock, running, settings_for
from tests.test_chat import MEMBER, _alert, _answer, _button, fake

__all__ = ["fake"]  # the fixture, shared with tests/test_bot.py

CATALOGUE = load_catalogue()
DELAY = timedelta(minutes=2)
STEP = pd.Timedelta(minutes=15)
ACCEPTED_SPEC = {**detectors.DEFAULT_SPEC, "rebase_hours": 0.0}  # what the check judges with


def _stepped(drop_at: int, factor: float = 0.7, days: int = 21) -> pd.Series:
    """A daily-seasonal count of about 1,000 a bucket that moves to `factor` of itself for
    good at bucket `drop_at` (a release that changed the baseline)."""
    rng = np.random.default_rng(3)
    index = pd.date_range("2026-01-01", periods=96 * days, freq=STEP, tz="UTC")
    day = 1 + 0.3 * np.sin(np.arange(len(index)) / 96 * 2 * np.pi)
    values = rng.poisson(1000 * day).astype(float)
    values[drop_at:] *= factor
    return pd.Series(values, index=index)


def _moved(series: pd.Series, band: pd.DataFrame, start: int) -> pd.DataFrame:
    expected, lower, upper = (band[c].to_numpy(dtype="float64")[None]
                              for c in ("expected", "lower", "upper"))  # fmt: skip
    expected, lower, upper, basis = accept_level(
        series.to_numpy(dtype="float64")[None], expected, lower, upper,
        band["basis"].to_numpy(dtype=object)[None], start, window=96)  # fmt: skip
    assert basis is not None
    out = band.copy()
    out["expected"], out["lower"], out["upper"] = expected[0], lower[0], upper[0]
    out["basis"] = pd.Series(basis[0], index=band.index, dtype=object)
    return out


def test_accept_level_moves_by_the_median_of_the_buckets_before_never_the_bucket_itself() -> None:
    """A row at 100 that drops to 50 at column 10: from column 12 on the band is centred on 50
    (a factor, the row never goes below zero), the width kept; columns 10-11 take the level
    they set together; a signed row moves by an offset; a row whose last column would be
    measured on itself does not move at all."""
    values = np.array([[100.0] * 10 + [50.0] * 10, [-5.0] * 10 + [5.0] * 10])
    expected = np.array([[100.0] * 20, [-5.0] * 20])
    lower, upper = expected - 20, expected + 20
    basis = np.array([["daily"] * 20, ["daily, sparse"] * 20], dtype=object)
    e, lo, hi, named = accept_level(values, expected, lower, upper, basis, 10, window=96)
    assert named is not None
    np.testing.assert_allclose(e[0, :10], 100.0)
    np.testing.assert_allclose(e[0, 10:], 50.0)
    np.testing.assert_allclose(hi[0] - e[0], 20.0)
    np.testing.assert_allclose(lo[0, 10:], 30.0)
    np.testing.assert_allclose(e[1, 10:], 5.0)  # offset +10 on a signed row
    assert named[0, 9] == "daily" and named[0, 12] == "daily, accepted"
    assert named[1, 12] == "daily, accepted, sparse"
    np.testing.assert_array_equal(expected, [[100.0] * 20, [-5.0] * 20])  # inputs untouched
    # The last column is 11: the level would be measured on it. Nothing moves.
    e, *_ = accept_level(values[:, :12], expected[:, :12], lower[:, :12], upper[:, :12], None,
                         10, window=96)  # fmt: skip
    np.testing.assert_array_equal(e, expected[:, :12])
    assert accepted_basis(None) is None
    assert accepted_basis("weekly, sparse") == "weekly, accepted, sparse"


def test_accept_level_over_gaps_zeros_and_a_start_before_the_first_column() -> None:
    """Missing buckets are skipped (not a reason to stop); a count expected at 0 (a quiet
    night) stays at 0; a start before the first column measures from column 0; a count's lower
    bound stays at or above 0."""
    values = np.array([[np.nan, 40.0, np.nan, 42.0, 41.0, 39.0, 40.0],
                       [3.0, 4.0, 5.0, 3.0, 4.0, 4.0, 3.0]])  # fmt: skip
    expected = np.array([[100.0] * 7, [0.0] * 7])
    lower, upper = np.maximum(expected - 30, 0), expected + 30
    e, lo, _, _ = accept_level(values, expected, lower, upper, None, -3, window=96)
    assert np.isfinite(e).all()
    np.testing.assert_allclose(e[0, 6], 40.5)  # median of 40, 42, 41, 39 (x 100 / 100)
    np.testing.assert_array_equal(e[1], 0.0)
    assert (lo >= 0).all()


def test_each_side_of_a_lopsided_band_keeps_its_width_when_the_level_moves() -> None:
    """A band 25 above and 20 below its expected value (the detector's `skew`) moves with the
    accepted level and stays 25 above and 20 below it; a count whose lower bound was held at 0
    (its side's width unknown) takes the upper side's, and stays at or above 0."""
    values = np.array([[100, 100, 150, 150, 150, 150], [2, 2, 6, 6, 6, 6]], dtype=float)
    expected = np.array([[100.0] * 6, [4.0] * 6])
    lower = np.array([[80.0] * 6, [0.0] * 6])
    upper = np.array([[125.0] * 6, [12.0] * 6])
    e, lo, hi, _ = accept_level(values, expected, lower, upper, None, 2, window=10)
    np.testing.assert_allclose(e[0, 2:], 150.0)
    np.testing.assert_allclose(hi[0] - e[0], 25.0)
    np.testing.assert_allclose(e[0] - lo[0], 20.0)
    np.testing.assert_allclose(e[1, 2:], 6.0)  # 4 x 1.5
    np.testing.assert_allclose(hi[1, 2:] - e[1, 2:], 8.0)
    np.testing.assert_allclose(lo[1, 2:], 0.0)  # 6 - 8, held at 0


def test_a_ratio_s_moved_band_keeps_its_own_width_below_a_count_s_stays_at_zero() -> None:
    """A CTR of 0.15 whose band (0.05 - 0.25) never went below 0 falls to 0.03 and is
    accepted: its band moves to 0.03 and keeps its own width of 0.1 below it (its low end at
    -0.07), which the rule judges by (the check shows the range from 0); held at 0 it would
    score every further dip against a side less than a third as wide. A count moved alike
    stays at or above 0, as the detector holds it; with the detector's `counts` "no" not."""
    values = np.array([[0.15, 0.152, 0.03, 0.031, 0.029, 0.03], [15, 15, 3, 3, 3, 3]], dtype=float)
    expected = np.array([[0.15] * 6, [15.0] * 6])
    lower = np.array([[0.05] * 6, [1.0] * 6])
    upper = np.array([[0.25] * 6, [29.0] * 6])
    e, lo, _, _ = accept_level(values, expected, lower, upper, None, 2, window=10)
    np.testing.assert_allclose(e[0, 4:] - lo[0, 4:], 0.1)
    assert (lo[0, 4:] < 0).all()
    np.testing.assert_allclose(lo[1, 4:], 0.0)  # 3 - 14, held at 0
    _, lo, _, _ = accept_level(values, expected, lower, upper, None, 2, window=10, counts="no")
    np.testing.assert_allclose(lo[1, 4:], 3.0 - 14.0)


def test_buckets_the_detector_re_based_by_itself_are_not_moved_twice() -> None:
    """Where the basis says the detector re-based (its expected value is at the new level
    already), the band stays as the detector made it, and those buckets do not measure the
    shift of the others."""
    values = np.array([[100.0] * 4 + [70.0] * 8])
    expected = np.array([[100.0] * 8 + [70.0] * 4])
    basis = np.array([["daily"] * 8 + ["daily, rebased"] * 4], dtype=object)
    e, _, _, named = accept_level(values, expected, expected - 10, expected + 10, basis, 4,
                                  window=96)  # fmt: skip
    assert named is not None
    np.testing.assert_allclose(e[0, 4:8], 70.0)
    np.testing.assert_allclose(e[0, 8:], 70.0)  # not 49
    assert list(named[0, 8:]) == ["daily, rebased"] * 4


def test_a_level_shift_stops_alerting_once_accepted_and_a_further_move_still_alerts() -> None:
    """Views drop by 30% for good. Left alone, the product alerts for hours; accepted from the
    bucket the drop began, every check from two buckets later is ok, the reason says the range
    follows the accepted level; a spike or a further drop on top of it still alerts."""
    drop = 96 * 20 + 40
    series = _stepped(drop)
    detector = detectors.build(detectors.DEFAULT_SPEC)
    rule = detectors.build_rule(detectors.DEFAULT_SPEC)
    band = detector.band(series)
    # As the check does for an accepted level: the detector's own re-base is off meanwhile.
    following = detectors.build(ACCEPTED_SPEC).band(series)
    alone, accepted = [], []
    # A day and a bit: through the hours the detector re-bases by itself (from about 12 h).
    for end in range(drop + 2, drop + 110):
        head, part = series.iloc[: end + 1], band.iloc[: end + 1]
        alone.append(rule.verdict(head, part).status)
        accepted.append(rule.verdict(head, _moved(head, following.iloc[: end + 1], drop)))
    assert alone[:38].count(Status.ANOMALY) >= 30, alone
    assert all(v.status is Status.OK for v in accepted), [v.reason for v in accepted]
    assert "accepted in the chat as the new normal" in accepted[-1].reason
    for jump in (1.6, 0.5):
        moved = series.iloc[: drop + 20].copy()
        moved.iloc[-1] *= jump
        verdict = rule.verdict(moved, _moved(moved, detectors.build(ACCEPTED_SPEC).band(moved),
                                             drop))  # fmt: skip
        assert verdict.status is Status.ANOMALY, (jump, verdict.reason)


def test_a_count_at_zero_every_night_stays_quiet_at_night_once_a_drop_is_accepted() -> None:
    """About 200 a bucket by day, exactly 0 at night, down 40% by day from one afternoon on,
    accepted: the night's zeros are not judged against a day's level."""
    rng = np.random.default_rng(8)
    index = pd.date_range("2026-01-01", periods=96 * 21, freq=STEP, tz="UTC")
    hour = index.hour.to_numpy()
    values = np.where((hour >= 7) & (hour < 22), rng.poisson(200, len(index)), 0).astype(float)
    drop = 96 * 20 + 60  # 15:00 on the last day
    values[drop:] *= 0.6
    series = pd.Series(values, index=index)
    detector = detectors.build(ACCEPTED_SPEC)
    rule = detectors.build_rule(detectors.DEFAULT_SPEC)
    night = [j for j in range(drop + 2, len(index)) if hour[j] >= 22]
    assert len(night) >= 6
    for end in night:
        head = series.iloc[: end + 1]
        verdict = rule.verdict(head, _moved(head, detector.band(head), drop))
        assert verdict.status is Status.OK, (index[end], verdict.reason)


def test_at_a_fine_step_a_point_fits_the_moved_bands_not_the_unmoved_ones() -> None:
    """A 1-minute series with a job's peak (2x for 3 minutes) at 10:00 every day, halved from
    08:00 on the last day and accepted: the on-time peak is no alert. The bands are moved to
    the level first and a point then fits the moved band of one of the last 5 minutes; fitting
    the unmoved bands first picked a band that the move put far from the value (3 alerts)."""
    from bot.service.engines import following

    per_day, days = 1440, 15
    rng = np.random.default_rng(11)
    t = np.arange(days * per_day)
    shape = 1 + 0.5 * np.sin(2 * np.pi * (t % per_day) / per_day - np.pi / 2)
    values = 1000.0 * shape * (1 + 0.02 * rng.standard_normal(t.size))
    for day in range(days):
        values[day * per_day + 600 : day * per_day + 603] *= 2
    last = (days - 1) * per_day
    values[last + 480 :] *= 0.5
    series = pd.Series(values, pd.date_range("2026-10-01", periods=t.size, freq="1min", tz="UTC"))
    detector = detectors.build(detectors.DEFAULT_SPEC)
    follow, changes = following(detector, series.index, series.index[last + 480],  # type: ignore[arg-type]
                                timedelta(minutes=1))  # fmt: skip
    assert follow.late == 5
    spec = {**detectors.DEFAULT_SPEC, **changes}
    band = follow.band(series, detectors.build(spec).band(series))
    firing = detectors.build_rule(spec).evaluate(series, band)["firing"]
    assert not firing.iloc[last + 560 :].any(), list(firing.iloc[last + 560 :][firing].index)
    values_then = series.iloc[last + 600]
    assert band["lower"].iloc[last + 600] <= values_then <= band["upper"].iloc[last + 600]
    # A further drop (half the new level for 10 minutes at 11:00) still alerts.
    drop = series.copy()
    drop.iloc[last + 660 : last + 670] /= 2
    band = follow.band(drop, detectors.build(spec).band(drop))
    assert detectors.build_rule(spec).evaluate(drop, band)["firing"].iloc[last + 660 :].any()


@pytest.mark.slow
@pytest.mark.parametrize("hours", [6, 40])
async def test_the_matrix_path_moves_the_band_as_the_per_series_path(
    embedded_spec: SourceSpec, hours: int
) -> None:
    """With views' level accepted from 6 hours before (inside the band rows a check keeps) or
    40 (before them), a check through the engines gives the per-series path's bands (1e-6),
    bases and verdicts for all views slices; the other metrics are not moved."""
    source = embedded_spec.open()
    accepted = {"views": END - timedelta(hours=hours)}
    try:
        history = History(source, CATALOGUE, None)
        report = await run_check(history, END, delay=DELAY, accepted=accepted)
        sliced, window = await history.held_slices(CATALOGUE.tables["feed_actions"])  # type: ignore[misc]
        reference = detect(pd.DataFrame(), window, CATALOGUE.tables["feed_actions"],
                           CATALOGUE.metrics_of("feed_actions"), CATALOGUE.step, sliced=sliced,
                           accepted=accepted)  # fmt: skip
    finally:
        await source.close()
    got = {(r.metric.name, r.slice): r for r in report.results}
    moved = 0
    for ref in reference:
        mine = got[(ref.metric.name, ref.slice)]
        assert mine.verdict.status == ref.verdict.status
        assert mine.verdict.reason == ref.verdict.reason
        tail, ours = ref.band.iloc[-112:], mine.band.iloc[-112:]
        for col in ("expected", "lower", "upper"):
            np.testing.assert_allclose(ours[col], tail[col], rtol=1e-6, err_msg=str(ref.slice))
        assert list(ours["basis"]) == list(tail["basis"])
        flagged = any(isinstance(b, str) and "accepted" in b for b in tail["basis"])
        assert flagged == (ref.metric.name == "views"), ref.metric.name
        moved += flagged
    assert moved >= 5
    views = [r for r in report.results if r.metric.name == "views" and r.verdict.value]
    assert all("accepted in the chat" in r.verdict.reason for r in views)


async def test_new_normal_is_for_admins_shows_on_the_alert_moves_the_band_and_can_be_undone(  # noqa: PLR0915  (one story)
    fake: FakeTelegram, embedded_spec: SourceSpec, tmp_path: Path
) -> None:
    """A member's press is refused and accepts nothing. An admin's acknowledges the
    incident, accepts the metric's level from the alerted bucket, edits the alert (a state
    line, the undo button), says so in the chat and in /thresholds; checks from 45 minutes
    later judge that metric (only it) against the accepted level. The undo takes it back (and
    the acknowledgement it made): the next check is as before."""
    fake.set_member(ALERTS, MEMBER)
    clock = Clock()
    settings = settings_for(fake.url, embedded_spec, tmp_path / "s.db")
    async with running(settings, fake, clock, warm=False) as monitor:
        alert = await _alert(fake)
        normal = _button(alert, Action.ACCEPT)
        incident_id = unpack(normal)[1][0]  # type: ignore[index]
        incident = monitor.state.incidents.get(incident_id)
        assert incident is not None and incident.alert_id is not None
        record = monitor.state.journal.alert(incident.alert_id)
        assert record is not None
        refused = await _answer(fake, await fake.press(normal, user=MEMBER, message=alert))
        assert monitor.state.baselines.of_metric(incident.metric, END) is None
        done = await _answer(fake, await fake.press(normal, user=ADMIN, message=alert))
        edit = (await fake.wait_for(lambda c: c.method == "editMessageCaption" and c.data.get(
            "message_id") == str(alert.message_id)))[0]  # fmt: skip
        said = (await fake.wait_for(lambda c: c.method == "sendMessage" and c.chat_id == ALERTS
                                    and "new normal" in c.data.get("text", "")))[0]  # fmt: skip
        level = monitor.state.baselines.of_metric(incident.metric, END)
        acknowledged = monitor.state.incidents.get(incident_id)
        await fake.send(f"/thresholds {incident.metric}", user=MEMBER, chat=ALERTS)
        shown = (await fake.wait_for(lambda c: c.method == "sendMessage" and c.chat_id == ALERTS
                                     and "what decides an alert" in c.data.get("text", "")))[0]
        await fake.send("/thresholds", user=MEMBER, chat=ALERTS)
        overview = (await fake.wait_for(lambda c: c.method == "sendMessage" and c.chat_id == ALERTS
                                        and "Settings in force" in c.data.get("text", "")))[0]
        # A member can neither Un-ack what the new normal acknowledged nor take it back.
        unack = await _answer(fake, await fake.press(pack(Action.UNACK, incident_id), user=MEMBER,
                                                     message=alert))  # fmt: skip
        undo = _button(edit, Action.UNACCEPT)
        not_yours = await _answer(fake, await fake.press(undo, user=MEMBER, message=alert))
        still = monitor.state.incidents.get(incident_id)
        clock.now = END + timedelta(minutes=45)
        later = await monitor.check(fresh=True)
        taken = await _answer(fake, await fake.press(undo, user=ADMIN, message=alert))
        after = await monitor.check(fresh=True)
        gone = monitor.state.baselines.of_metric(incident.metric, clock.now)
        unacknowledged = monitor.state.incidents.get(incident_id)
    assert "Only admins" in refused
    assert "accepted" in done
    assert "an admin takes both back with ↩️ Not the new normal" in unack, unack
    assert not_yours == "Only admins can take back a new normal.", not_yours
    assert still is not None and still.acknowledged_by is not None
    assert level is not None and level.since == record.bucket and level.incident_id == incident_id
    assert level.until - max(level.since, END) == timedelta(hours=24)
    assert acknowledged is not None and acknowledged.acknowledged_by is not None
    assert "📏" in edit.data["caption"].split("\n")[0]
    assert any(unpack(b["callback_data"]) == (Action.UNACCEPT, (incident_id,))
               for b in edit.buttons)  # fmt: skip
    title = monitor.catalogue.metrics[incident.metric].title
    assert said.data["text"].startswith(f"📏 <b>{title}</b> (<code>{incident.metric}</code>): "
                                        "its level since "), said.data["text"]
    assert done == f"{title} ({incident.metric}): the new level is accepted as normal.", done
    assert taken.startswith(f"Taken back: {title} ({incident.metric}) is judged"), taken
    assert "is the new normal" in said.data["text"]
    assert "📏 New normal: the level since" in shown.data["text"]
    lines = overview.data["text"].split("\n")
    assert [line.split("</code>")[0].split("<code>")[1] for line in lines if "📏" in line] == [
        incident.metric]
    following = {r.metric.name for r in later.results if "accepted in the chat" in r.verdict.reason}
    assert following == {incident.metric}
    assert "Taken back" in taken and gone is None
    # accepting acknowledged the incident; taking it back turns the reminders on again
    assert unacknowledged is not None and unacknowledged.acknowledged_by is None
    assert not any("accepted in the chat" in r.verdict.reason for r in after.results)


async def test_an_ack_made_before_the_new_normal_stays_a_members_to_take_back(
    fake: FakeTelegram, embedded_spec: SourceSpec, tmp_path: Path
) -> None:
    """A member acknowledged first; the admin's New normal then acknowledged nothing (and its
    undo takes nothing back): the member's Un-ack goes through, as before the new normal."""
    fake.set_member(ALERTS, MEMBER)
    settings = settings_for(fake.url, embedded_spec, tmp_path / "s.db")
    async with running(settings, fake, warm=False) as monitor:
        alert = await _alert(fake)
        incident_id = unpack(_button(alert, Action.ACCEPT))[1][0]  # type: ignore[index]
        await _answer(fake, await fake.press(_button(alert, Action.ACK), user=MEMBER,
                                             message=alert))  # fmt: skip
        await _answer(fake, await fake.press(_button(alert, Action.ACCEPT), user=ADMIN,
                                             message=alert))  # fmt: skip
        unack = await _answer(fake, await fake.press(pack(Action.UNACK, incident_id),
                                                     user=MEMBER, message=alert))  # fmt: skip
        after = monitor.state.incidents.get(incident_id)
    assert unack == "No longer acknowledged: reminders are on again.", unack
    assert after is not None and after.acknowledged_by is None


@pytest.mark.slow
async def test_a_changed_re_base_withdraws_the_level_and_one_that_never_re_bases_refuses_it(
    fake: FakeTelegram, embedded_spec: SourceSpec, tmp_path: Path
) -> None:
    """An accepted level stands for the detector's own re-base: a /set of rebase_hours
    withdraws it and the answer says so; with rebase_hours 0 (the detector never re-bases,
    nothing would take over when the level lapses) the press is refused, saying why."""
    clock = Clock()
    settings = settings_for(fake.url, embedded_spec, tmp_path / "s.db")
    async with running(settings, fake, clock, warm=False) as monitor:
        alert = await _alert(fake)
        normal = _button(alert, Action.ACCEPT)
        incident = monitor.state.incidents.get(unpack(normal)[1][0])  # type: ignore[index]
        assert incident is not None
        again = await _answer(fake, await fake.press(normal, user=ADMIN, message=alert))
        accepted_again = monitor.state.baselines.of_metric(incident.metric, clock.now)
        await fake.send(f"/set {incident.metric} rebase_hours 48", user=ADMIN, chat=ALERTS)
        changed = (await fake.wait_for(lambda c: c.method == "sendMessage" and c.chat_id == ALERTS
                                       and "rebase_hours" in c.data.get("text", ""),
                                       seconds=60))[0]  # fmt: skip
        withdrawn = monitor.state.baselines.of_metric(incident.metric, clock.now)
        # With the detector's own re-base off, nothing would take over when the level lapses.
        await fake.send(f"/set {incident.metric} rebase_hours 0", user=ADMIN, chat=ALERTS)
        await fake.wait_for(lambda c: c.method == "sendMessage" and c.chat_id == ALERTS
                            and "rebase_hours" in c.data.get("text", "")
                            and "48 → " in c.data.get("text", ""), seconds=60)  # fmt: skip
        cannot = await _answer(fake, await fake.press(normal, user=ADMIN, message=alert))
        refused_level = monitor.state.baselines.of_metric(incident.metric, clock.now)
    assert "accepted" in again and accepted_again is not None
    assert "is withdrawn" in changed.data["text"] and withdrawn is None
    assert "cannot follow a new level" in cannot and refused_level is None


def test_the_keyboard_offers_new_normal_while_open_its_undo_while_accepted_and_never_in_a_digest(
) -> None:
    """Open: New normal on a row of its own. Accepted: the undo, resolved or not. Resolved and
    not accepted, or a digest (which never shows which metric): neither."""

    def actions(keyboard: tuple[tuple[Button, ...], ...]) -> set[Action]:
        return {unpack(b.data)[0] for row in keyboard for b in row}  # type: ignore[index]

    assert alert_buttons(5, 9)[-1] == (Button("📏 New normal", "normal:5"),)
    assert Action.UNACCEPT in actions(alert_buttons(5, 9, accepted=True))
    assert Action.UNACCEPT in actions(alert_buttons(5, 9, accepted=True, resolved=True))
    assert not {Action.ACCEPT, Action.UNACCEPT} & actions(alert_buttons(5, 9, resolved=True))
    assert not {Action.ACCEPT, Action.UNACCEPT} & actions(alert_buttons(5, 9, normal=False))
    assert not {Action.ACCEPT, Action.UNACCEPT} & actions(digest_buttons(3))
