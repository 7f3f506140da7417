"""decide(): one alert per incident, reminders only after REPEAT_INTERVAL and never once
acknowledged, resolution only after enough normal checks, and blind checks change nothing."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from bot.core.incidents import Incident, Policy, Reason, decide

T0 = datetime(2026, 11, 27, 12, tzinfo=UTC)
Q = timedelta(minutes=15)
POLICY = Policy(repeat=timedelta(minutes=90), resolve_after=2)


def run(checks: list[bool | None], *, acknowledge_at: int | None = None) -> list[Reason]:
    """Feed a sequence of check outcomes (one per 15 minutes) through decide()."""
    incident: Incident | None = None
    reasons = []
    for n, firing in enumerate(checks):
        if acknowledge_at == n and incident is not None:
            incident = replace(incident, acknowledged_by="ann")
        decision = decide(incident, firing, T0 + n * Q, POLICY, metric="views", score=-2.0)
        incident = decision.incident
        reasons.append(decision.reason)
    return reasons


F, R, N = Reason.FIRST, Reason.RESOLVED, Reason.NONE


@pytest.mark.parametrize(
    ("checks", "expected"),
    [
        ([True, True, True, False, False], [F, N, N, N, R]),  # one alert, one resolution
        ([True, False, True, False, True, False, False], [F, N, N, N, N, N, R]),  # flapping
        ([True, None, None, None, True], [F, N, N, N, N]),  # blind checks resolve nothing
        ([None, None], [N, N]),  # nor open anything
        ([True, False, False, True], [F, N, R, F]),  # a new episode after resolution
        ([True] * 8, [F, N, N, N, N, N, Reason.REPEAT, N]),  # a reminder after 90 minutes
    ],
)
def test_lifecycle(checks: list[bool | None], expected: list[Reason]) -> None:
    """Table-driven: what each check of an episode says."""
    assert run(checks) == expected


def test_acknowledged_incident_gets_no_reminder_but_still_resolves() -> None:
    """Acknowledging stops reminders, not the resolution message."""
    assert run([True] * 8 + [False, False], acknowledge_at=2) == [F] + [N] * 8 + [R]


def test_peak_and_timestamps_are_kept() -> None:
    """The incident remembers when it opened, its worst score and when it resolved."""
    first = decide(None, True, T0, POLICY, metric="views", score=-1.5)
    worse = decide(first.incident, True, T0 + Q, POLICY, metric="views", score=-3.0)
    assert worse.incident is not None and worse.incident.peak_score == 3.0
    done = decide(decide(worse.incident, False, T0 + 2 * Q, POLICY, metric="views").incident,
                  False, T0 + 3 * Q, POLICY, metric="views")  # fmt: skip
    assert done.reason is Reason.RESOLVED and done.incident is not None
    assert done.incident.opened_at == T0 and done.incident.resolved_at == T0 + 3 * Q


def test_an_interval_judged_normal_twice_counts_once_towards_resolving(tmp_path) -> None:
    """A restart a few minutes before a check boundary: the start-up check and the next
    scheduled one both judge the last complete interval. Counted twice, RESOLVE_AFTER=2
    resolved the incident on one normal interval (and a later one re-opened it); so did checks
    more often than the step. The interval counted survives a restart in the state file."""
    from bot.state import State

    opened = decide(None, True, T0, POLICY, metric="views", score=-3.0, bucket=T0 - Q).incident
    first = decide(opened, False, T0 + Q, POLICY, metric="views", bucket=T0)
    assert first.reason is N and first.incident is not None
    assert (first.incident.ok_streak, first.incident.ok_bucket) == (1, T0)
    state = State(tmp_path / "state.sqlite3")
    try:
        saved = state.incidents.save(first.incident)
    finally:
        state.close()
    state = State(tmp_path / "state.sqlite3")  # the bot started again
    try:
        held = state.incidents.open_for("views")
    finally:
        state.close()
    assert held == saved and held is not None and held.ok_bucket == T0
    again = decide(held, False, T0 + Q + timedelta(minutes=6), POLICY, metric="views", bucket=T0)
    assert again.reason is N and again.incident == held
    done = decide(again.incident, False, T0 + 2 * Q, POLICY, metric="views", bucket=T0 + Q)
    assert done.reason is R
    # Firing again between normal intervals starts the count over.
    back = decide(held, True, T0 + 2 * Q, POLICY, metric="views", score=-2.0, bucket=T0 + Q)
    assert back.incident is not None and (back.incident.ok_streak, back.incident.ok_bucket) == (
        0, None)
    later = decide(back.incident, False, T0 + 3 * Q, POLICY, metric="views", bucket=T0 + 2 * Q)
    assert later.reason is N


def test_the_resolution_says_how_long_the_metric_was_off_not_how_long_since_the_alert(
    tmp_path,
) -> None:
    """Off since 02:45, alerted at 03:45 (the rule waits for a few intervals), normal again
    from 03:30, resolved at 04:00 after two normal intervals: "back to normal after 45 min"
    (02:45 to 03:30), on the message and on the edited alert. It said 14 min, the time from
    the alert to the resolution. The intervals survive a restart."""
    from bot.core.i18n import translator
    from bot.core.plan import Resolve
    from bot.core.render import render_resolve
    from bot.service.edits import state_line
    from bot.state import State

    since = datetime(2026, 12, 6, 2, 45, tzinfo=UTC)
    opened = Incident("views", since + 4 * Q + timedelta(minutes=1), since + 4 * Q, since=since)
    state = State(tmp_path / "state.sqlite3")
    try:
        opened = state.incidents.save(opened)
        assert state.incidents.get(opened.id or 0) == opened
    finally:
        state.close()
    back = since + 3 * Q  # 03:30, the first normal interval
    one = decide(opened, False, back + Q + timedelta(minutes=2), POLICY, metric="views",
                 bucket=back).incident  # fmt: skip
    done = decide(one, False, back + 2 * Q + timedelta(minutes=2), POLICY, metric="views",
                  bucket=back + Q)  # fmt: skip
    assert done.reason is R and done.incident is not None
    assert (done.incident.ok_since, done.incident.lasted(T0)) == (back, timedelta(minutes=45))
    now = back + 2 * Q + timedelta(minutes=2)
    draft = render_resolve(Resolve(done.incident, None, quiet=False), done.incident, now, "Views")
    assert "back to normal after 45 min" in draft.text, draft.text
    assert "resolved after 45 min" in state_line(done.incident).say(translator())
    # A reminder says "still off since" the interval the alert said, not the alert's time.
    from bot.core.plan import Remind
    from bot.core.render import Style, render_remind
    from tests.test_plan import result

    style = Style(UTC, Q)
    remind = render_remind(Remind(opened, result("views", value=40.0)), opened,
                           since + 5 * Q + timedelta(minutes=2), style)  # fmt: skip
    assert "still off since 02:45 (1 h 17 min)" in remind.text, remind.text
    # Without the intervals (an incident from before they were kept): from the alert on.
    old = replace(done.incident, since=None)
    assert old.lasted(now) == now - old.opened_at
