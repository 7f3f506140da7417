"""The pure planning step: a check's verdicts and the stored incidents, mutes and flags in,
intents out; and each intent rendered within Telegram's limits whatever the slice is called."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import pytest

from bot.core.buttons import DATA_LIMIT, Action, unpack
from bot.core.incidents import Incident, Policy
from bot.core.plan import Digest, Notice, NoticeKind, Open, Remind, Resolve, plan
from bot.core.render import Style, render_open
from bot.core.report import CheckReport, SeriesResult
from bot.core.text import plain, rendered_length
from detectors import Status, Verdict
from queries.catalogue import load_catalogue
from queries.series import Slice

CATALOGUE = load_catalogue()
METRICS = list(CATALOGUE.metrics.values())
NOW = datetime(2026, 11, 27, 12, 7, tzinfo=UTC)
BUCKET = pd.Timestamp("2026-11-27 11:45", tz="UTC")
POLICY = Policy(repeat=timedelta(hours=4), resolve_after=2)
STYLE = Style(ZoneInfo("Europe/Moscow"), timedelta(minutes=15), None, "ClickHouse")


TOTAL = Slice()


def result(metric: str, where: Slice = TOTAL, *, status: Status = Status.OK,
           value: float = 100.0) -> SeriesResult:  # fmt: skip
    index = pd.date_range(BUCKET - pd.Timedelta(hours=2), BUCKET, freq="15min")
    series = pd.Series(np.full(len(index), 100.0), index=index)
    series.iloc[-1] = value
    band = pd.DataFrame({"expected": 100.0, "lower": 90.0, "upper": 110.0}, index=index)
    score = (value - 100.0) / 10.0
    verdict = Verdict(status, BUCKET, value, 100.0, 90.0, 110.0, score, "below the range")
    return SeriesResult(CATALOGUE.metrics[metric], where, series, band, verdict, "seasonal")


def report(*results: SeriesResult, errors: dict[str, str] | None = None) -> CheckReport:
    names = {r.metric.name for r in results}
    quiet = [result(m.name) for m in METRICS if m.name not in names]
    return CheckReport(NOW, "embedded", NOW, [*results, *quiet], errors or {})


def planned(check: CheckReport, *, incidents: dict[str, Incident] | None = None,
            mutes: dict[str, datetime] | None = None,
            flags: dict[str, str] | None = None) -> list[object]:  # fmt: skip
    return list(plan(check, METRICS, incidents=incidents or {}, mutes=mutes or {},
                     flags=flags or {}, now=NOW, policy=POLICY,
                     tables=list(CATALOGUE.tables)).intents)  # fmt: skip


def test_each_metric_that_moved_opens_one_incident_headed_by_its_total() -> None:
    """Two metrics off: two Open intents; the head is the total, the slice that moved is
    listed with it, and the worst metric comes first."""
    intents = planned(report(
        result("views", status=Status.ANOMALY, value=60.0),
        result("views", Slice("os", "Android"), status=Status.ANOMALY, value=40.0),
        result("likes", status=Status.ANOMALY, value=80.0),
    ))  # fmt: skip
    assert [type(i) for i in intents] == [Open, Open]
    first, second = intents
    assert isinstance(first, Open) and isinstance(second, Open)
    assert first.incident.metric == "views" and first.head.slice.is_total
    assert first.incident.since == BUCKET  # its one interval outside: resolutions count from it
    assert [r.slice.label() for r in first.related] == ["os=Android"]
    assert second.incident.metric == "likes"


def test_many_metrics_at_once_make_one_digest() -> None:
    """Four or more metrics opening in one check: one digest, not four alerts."""
    intents = planned(report(*(result(m, status=Status.ANOMALY, value=50.0)
                               for m in ("views", "likes", "feed_users", "messages"))))  # fmt: skip
    assert len(intents) == 1 and isinstance(intents[0], Digest)
    assert len(intents[0].opens) == 4


def test_a_muted_metric_keeps_its_incident_but_says_nothing() -> None:
    """A mute silences the alert, not the bookkeeping: the incident opens quietly, and it
    resolves quietly too."""
    check = report(result("views", status=Status.ANOMALY, value=50.0))
    decided = plan(check, METRICS, incidents={}, mutes={"views": NOW + timedelta(hours=1)},
                   flags={}, now=NOW, policy=POLICY)  # fmt: skip
    assert [i.metric for i in decided.incidents] == ["views"] and decided.intents == ()
    opened = replace(decided.incidents[0], id=1, ok_streak=1)
    back = planned(report(), incidents={"views": opened}, mutes={"*": NOW + timedelta(hours=1)})
    assert len(back) == 1 and isinstance(back[0], Resolve) and back[0].quiet


def test_reminder_after_the_repeat_interval_unless_acknowledged() -> None:
    """An incident still firing after REPEAT_INTERVAL reminds once; acknowledged, it does not."""
    old = Incident("views", NOW - timedelta(hours=5), NOW - timedelta(hours=5), id=3)
    check = report(result("views", status=Status.ANOMALY, value=50.0))
    intents = planned(check, incidents={"views": old})
    assert len(intents) == 1 and isinstance(intents[0], Remind)
    assert planned(check, incidents={"views": replace(old, acknowledged_by="Ann")}) == []


def _walk(checks: list[CheckReport]) -> list[Notice]:
    """The notices of consecutive checks, each planned on the flags the ones before left."""
    flags: dict[str, str] = {}
    said: list[Notice] = []
    for check in checks:
        decided = plan(check, METRICS, incidents={}, mutes={}, flags=flags, now=NOW,
                       policy=POLICY, tables=list(CATALOGUE.tables))  # fmt: skip
        said += [i for i in decided.intents if isinstance(i, Notice)]
        for key, value in decided.flags.items():
            if value is None:
                flags.pop(key, None)
            else:
                flags[key] = value
    return said


def test_source_notices_are_one_shot() -> None:
    """A source error gives one notice and sets its flag; with the flag set, nothing more;
    it is back after RESOLVE_AFTER clean checks in a row (2 here), as an incident resolves."""
    down = report(errors={"feed_actions": "cannot connect"})
    intents = planned(down)
    assert [i.kind for i in intents if isinstance(i, Notice)] == [NoticeKind.SOURCE_DOWN]
    assert not [i for i in planned(down, flags={"down": "feed_actions"}) if isinstance(i, Notice)]
    assert not [i for i in planned(report(), flags={"down": "feed_actions"})
                if isinstance(i, Notice)]  # fmt: skip
    back = planned(report(), flags={"down": "feed_actions", "down_ok": "1"})
    assert [i.kind for i in back if isinstance(i, Notice)] == [NoticeKind.SOURCE_BACK]
    said = _walk([down, down, report(), report(), report()])
    assert [n.kind for n in said] == [NoticeKind.SOURCE_DOWN, NoticeKind.SOURCE_BACK]


def test_a_table_that_starts_failing_while_another_is_down_is_said_too() -> None:
    """message_actions fails, then feed_actions too: a second notice names feed_actions alone
    (its four metrics were unknown with nobody told); one "back" once both are read again."""
    one = report(errors={"message_actions": "HTTP 500"})
    both = report(errors={"message_actions": "HTTP 500", "feed_actions": "HTTP 500"})
    said = _walk([one, both, both, report(), report()])
    assert [n.kind for n in said] == [NoticeKind.SOURCE_DOWN, NoticeKind.SOURCE_DOWN,
                                      NoticeKind.SOURCE_BACK]  # fmt: skip
    assert said[0].details == "message_actions: HTTP 500"
    assert said[1].details == "feed_actions: HTTP 500"


def test_a_source_failing_every_other_check_is_one_notice_not_one_each_check() -> None:
    """A flapping proxy (502 on every other check) said down and back at every flip: 96
    notices a day per operator chat. Now one, and "back" once it holds for two checks."""
    down, ok = report(errors={"feed_actions": "HTTP 502"}), report()
    said = _walk([down, ok] * 10 + [ok, ok])
    assert [n.kind for n in said] == [NoticeKind.SOURCE_DOWN, NoticeKind.SOURCE_BACK]


@pytest.mark.parametrize("value", [
    "Азербайджанская Республика: <b>Баку</b> & " * 3,
    "a:b:c" * 40,
    "🙂" * 300,
])  # fmt: skip
def test_any_slice_value_renders_an_alert_within_telegram_limits(value: str) -> None:
    """Long Cyrillic, ':' and HTML in a slice value and a 760-character dashboard link: the
    caption fits 1024 rendered characters, shows the value as text, and every button's data
    is an id that fits 64 bytes."""
    where = Slice("country", value)
    head = result("views", where, status=Status.ANOMALY, value=40.0)
    incident = Incident("views", NOW, NOW, id=2**40, alert_id=2**41)
    style = replace(STYLE, dashboard="https://bi.example/d?x=" + "&q=\"'" * 126 + "&s={slice}")
    draft = render_open(Open(incident, head, ()), incident, style)
    assert rendered_length(draft.text) <= 1024
    assert "<b>Баку</b>" not in draft.text  # the value's HTML is text, not markup
    assert value[:5] in plain(draft.text)
    datas = [b.data for row in draft.buttons for b in row]
    assert datas and all(len(d.encode()) <= DATA_LIMIT and unpack(d) is not None for d in datas)
    assert {u[0] for d in datas if (u := unpack(d))} >= {Action.ACK, Action.FALSE, Action.MUTE,
                                                        Action.SHOW}  # fmt: skip


def test_a_rate_rising_from_zero_says_its_values_where_it_has_no_percentage() -> None:
    """A CTR expected at exactly 0 that rose (a slice's likes began to come): its change has
    no percentage, and /check's "slices off" line named the slice with nothing after it. It
    now gives the two values there and in the alert's head, in both languages; a change that
    has a percentage keeps it."""
    from bot.core.check_text import check_summary
    from bot.core.i18n import translator
    from bot.core.wording import deviation_text, moved_text

    risen = result("ctr", Slice("country", "Azerbaijan"), status=Status.ANOMALY, value=0.0084)
    risen = replace(risen, verdict=replace(risen.verdict, expected=0.0, lower=0.0,
                                           upper=0.0002))  # fmt: skip
    assert risen.verdict.deviation is None
    for lang, said in (("en", "0.00% → 0.84%"), ("ru", "0,00% → 0,84%")):
        t = translator(lang)
        assert moved_text([risen], t) == f"country=Azerbaijan {said}"
        assert deviation_text(risen, t, values=True) == said and deviation_text(risen, t) == ""
        assert f"country=Azerbaijan {said}" in check_summary(report(risen), zone=STYLE.zone, t=t)
    fell = result("views", Slice("os", "Android"), status=Status.ANOMALY, value=60.0)
    assert moved_text([fell]) == "os=Android -40.0%"
