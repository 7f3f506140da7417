"""A sustained shift's alert says since when the metric has been off: the first interval of
the shift, not only the last one outside the range (or none, for a shift inside it)."""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from zoneinfo import ZoneInfo

import pandas as pd

from bot.cli_report import check_table
from bot.core.incidents import Incident
from bot.core.plan import Open, Remind
from bot.core.render import Style, render_open, render_remind
from bot.core.text import CAPTION_LIMIT
from detectors import Status, Verdict
from queries.series import Slice
from tests.fakebot import render_html, utf16_length
from tests.test_plan import BUCKET, NOW, planned, report, result

STYLE = Style(ZoneInfo("Europe/Moscow"), timedelta(minutes=15))  # UTC+3: 16:00 UTC is 19:00

INSIDE = ("below expected for the last 8 buckets together (a sustained shift no single bucket "
          "shows); range from the same time on previous days")  # fmt: skip
JUST_OUT = "below the expected range (a sustained shift over the last 3 buckets)"


def shifted(reason: str, value: float) -> object:
    head = result("views", status=Status.ANOMALY, value=value)
    verdict = Verdict(Status.ANOMALY, BUCKET, value, 100.0, 90.0, 110.0, (value - 100) / 10,
                      reason)  # fmt: skip
    return dataclasses.replace(head, verdict=verdict)


def test_a_shift_inside_the_range_is_off_since_its_first_interval() -> None:
    """The checked interval is inside its range and the last 8 together are low: the alert
    says the shift began 7 intervals before it (1 h 45 min earlier, 2 h with it), in both
    languages, and the incident counts from there."""
    head = shifted(INSIDE, 95.0)
    assert head.off_since is None
    assert head.shift_since == BUCKET - timedelta(minutes=15 * 7)
    [intent] = planned(report(head))
    assert isinstance(intent, Open)
    assert intent.incident.since == BUCKET - timedelta(minutes=105)
    intent = dataclasses.replace(intent, incident=dataclasses.replace(intent.incident, id=1,
                                                                      alert_id=2))
    start = f"{(BUCKET - timedelta(minutes=105)).tz_convert('Europe/Moscow'):%H:%M}"
    en = render_open(intent, intent.incident, STYLE).text
    ru = render_open(intent, intent.incident, STYLE.speaking("ru")).text
    assert f"shifted since {start} (2 h)" in en, en
    assert f"сдвиг с {start} (уже 2 часа)" in ru, ru
    assert "off since" not in en
    for text in (en, ru):
        assert utf16_length(render_html(text)) <= CAPTION_LIMIT
    later = Remind(intent.incident, head)
    again = render_remind(later, intent.incident, NOW + timedelta(hours=1), STYLE).text
    assert f"still off since {start}" in again, again


def test_a_shift_just_outside_says_both_since_when_outside_and_since_when_shifted() -> None:
    """The checked interval alone is outside; the shift it completes spans 3 intervals: the
    alert says both, and the incident begins with the shift."""
    head = shifted(JUST_OUT, 88.0)
    assert head.off_since == BUCKET
    assert head.shift_since == BUCKET - timedelta(minutes=30)
    [intent] = planned(report(head))
    assert isinstance(intent, Open)
    assert intent.incident.since == BUCKET - timedelta(minutes=30)
    intent = dataclasses.replace(intent, incident=dataclasses.replace(intent.incident, id=1))
    en = render_open(intent, intent.incident, STYLE).text
    zone = "Europe/Moscow"
    assert f"off since {BUCKET.tz_convert(zone):%H:%M} (15 min)" in en, en
    assert f"shifted since {(BUCKET - timedelta(minutes=30)).tz_convert(zone):%H:%M} (45 min)" in en


def test_other_reasons_and_a_one_bucket_window_name_no_shift() -> None:
    """A bucket outside for its size, or an OK one, has no shift start; its incident begins
    where it left the range, as before."""
    far = shifted("below the expected range (3.0x the band's half-width)", 60.0)
    assert far.shift_since is None and far.off_since == BUCKET
    ok = result("views", Slice("os", "iOS"))
    assert ok.shift_since is None
    [intent] = planned(report(far))
    assert isinstance(intent, Open) and intent.incident.since == BUCKET


def test_the_command_line_summary_says_since_when_shifted() -> None:
    """`alertbot check`'s summary line of a shift just outside names both times."""
    text = check_table(report(shifted(JUST_OUT, 88.0)), ZoneInfo("UTC"))
    line = next(x for x in text.splitlines() if x.startswith("  ! views"))
    assert "; outside since 11:45; shifted since 11:15)" in line, line


def test_a_start_on_another_day_says_its_date() -> None:
    """A shift of 8 intervals checked at 00:30 Moscow time began the evening before: the alert
    says its date; a reminder the next day says the date the incident began, too; a start on
    the same day stays a bare time."""
    late = BUCKET.replace(hour=21, minute=30)  # 00:30 in Moscow
    head = shifted(INSIDE, 95.0)
    index = pd.date_range(late - timedelta(hours=2), late, freq="15min")
    head = dataclasses.replace(
        head, verdict=dataclasses.replace(head.verdict, bucket=late),
        _series=pd.Series(100.0, index=index),
        _band=pd.DataFrame({"expected": 100.0, "lower": 90.0, "upper": 110.0}, index=index))
    begun = late - timedelta(minutes=105)  # 22:45 Moscow, the day before
    assert head.shift_since == begun
    incident = Incident("views", begun.to_pydatetime(), NOW, id=1, alert_id=2, since=begun)
    text = render_open(Open(incident, head, ()), incident, STYLE).text
    day = f"{begun.tz_convert('Europe/Moscow'):%Y-%m-%d}"
    assert f"shifted since {day} 22:45 (2 h)" in text, text
    reminder = render_remind(Remind(incident, head), incident, late + timedelta(hours=4),
                             STYLE).text  # fmt: skip
    assert f"still off since {day} 22:45" in reminder, reminder
    same = render_remind(Remind(incident, head), incident, begun + timedelta(hours=1), STYLE)
    assert "still off since 22:45 (" in same.text, same.text
