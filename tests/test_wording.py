"""How the alert texts write a change: its sign, the order of the slices that moved, and the
order of /check's charts."""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from zoneinfo import ZoneInfo

from bot.core.check_text import check_charts, check_summary
from bot.core.i18n import translator
from bot.core.plan import Digest, Open
from bot.core.render import Style, render_digest, render_open
from bot.core.report import SeriesResult
from bot.core.text import plain
from bot.core.wording import metric_caption, split_message
from bot.service.charts import draw_chart
from detectors import Status, Verdict
from queries.series import Slice
from tests.test_plan import planned, report, result

ZONE = ZoneInfo("Europe/Moscow")
STYLE = Style(ZONE, timedelta(minutes=15))


def moved(where: Slice, value: float, expected: float, score: float) -> SeriesResult:
    """A slice of views judged an anomaly at `value` against `expected`, `score` out."""
    base = result("views", where, status=Status.ANOMALY, value=value)
    verdict = Verdict(Status.ANOMALY, base.verdict.bucket, value, expected, expected * 0.9,
                      expected * 1.1, score, "below the range")  # fmt: skip
    return dataclasses.replace(base, verdict=verdict)


def test_a_change_that_rounds_to_nothing_has_no_sign_and_every_text_writes_minus_alike() -> None:
    """A value 0.04% below expected reads "0.0%" in /metric, not "-0.0%" (nor "+0.0%"); a
    drop of a third reads "-33.2%" (ru "-33,2%") with the same minus in the alert, /metric,
    /check and the chart's title."""
    tiny = moved(Slice(), 99.96, 100.0, -0.1)
    for lang in ("en", "ru"):
        caption = metric_caption(tiny, zone=ZONE, muted=None, t=translator(lang))
        assert "-0" not in caption and "+0" not in caption and "0.0%" in caption.replace(",", ".")
    drop = moved(Slice(), 66.8, 100.0, -3.3)
    intents = planned(report(drop))
    head = intents[0]
    assert isinstance(head, Open)
    saved = dataclasses.replace(head.incident, id=1, alert_id=2)
    for lang, said in (("en", "-33.2%"), ("ru", "-33,2%")):
        t = translator(lang)
        texts = [
            render_open(head, saved, STYLE.speaking(lang)).text,
            metric_caption(drop, zone=ZONE, muted=None, t=t),
            check_summary(report(drop, moved(Slice("os", "iOS"), 66.8, 100.0, -3.3)),
                          zone=ZONE, t=t),  # its slices that are off
            draw_chart(drop.metric, drop.slice, drop.series, drop.band, drop.verdict, zone=ZONE,
                       t=t).texts[0].get_text(),
        ]
        for text in texts:
            assert said in plain(text) and "\u2212" not in text, (lang, text)


def test_an_alert_lists_the_slices_that_moved_the_most_of_the_metric_first() -> None:
    """The alert and the digest list the slices that moved by how much of the metric each
    moved (events lost or gained: what it adds to the total's change), not by the detector's
    score nor by the percentage: a busy slice's -20% (1,000 views) comes before a quiet one's
    -60% (12 views), and past the first four go the smallest, counted: an alert that named 4
    of 5 read as if 4 had moved, where /check said "and 1 more"."""
    total = moved(Slice(), 7000.0, 10000.0, -4.0)
    slices = [moved(Slice("country", "Cyprus"), 8.0, 20.0, -3.5),
              moved(Slice("country", "Chad"), 55.0, 100.0, -2.2),
              moved(Slice("os", "Android"), 4000.0, 5000.0, -1.5),
              moved(Slice("source", "ads"), 1300.0, 1000.0, 2.0),
              moved(Slice("country", "Niue"), 1.0, 3.0, -9.0)]  # fmt: skip
    intents = planned(report(total, *slices))
    head = intents[0]
    assert isinstance(head, Open)
    saved = dataclasses.replace(head.incident, id=1, alert_id=2)
    text = plain(render_open(head, saved, STYLE).text)
    line = next(x for x in text.splitlines() if x.startswith("slices that moved: "))
    assert line == ("slices that moved: os=Android -20.0%, source=ads +30.0%, "
                    "country=Chad -45.0%, country=Cyprus -60.0% and 1 more"), line
    russian = plain(render_open(head, saved, STYLE.speaking("ru")).text)
    assert russian.endswith("country=Cyprus -60,0% и ещё 1"), russian
    others = [result(m, status=Status.ANOMALY, value=50.0)
              for m in ("likes", "feed_users", "messages")]  # a digest: four metrics at once
    digest = planned(report(total, *slices, *others))[0]
    assert isinstance(digest, Digest)
    saved_all = {o.incident.metric: dataclasses.replace(o.incident, id=n + 1, alert_id=n + 10)
                 for n, o in enumerate(digest.opens)}  # fmt: skip
    said = plain(render_digest(digest, saved_all, STYLE, digest_id=1).text)
    assert ("(os=Android -20.0%, source=ads +30.0%, country=Chad -45.0%, country=Cyprus "
            "-60.0% and 1 more)") in said, said


def test_check_charts_go_largest_change_first_and_every_red_total_is_drawn() -> None:
    """/check draws every total it marks 🔴 before any slice, and then the slices the detector
    finds most severe; it sends them by the change each caption writes, largest first: a
    -60% slice before a -40% total before a -20% total, whatever their scores. A quiet slice
    far out in percent but not in score (-90% of a few events) is not drawn."""
    def total(metric: str, value: float, score: float) -> SeriesResult:
        base = result(metric, status=Status.ANOMALY, value=value)
        return dataclasses.replace(base, verdict=dataclasses.replace(base.verdict, score=score))

    views, likes = total("views", 80.0, -5.0), total("likes", 60.0, -3.0)
    android = moved(Slice("os", "Android"), 40.0, 100.0, -9.0)
    chad = moved(Slice("country", "Chad"), 1.0, 10.0, -2.0)
    drawn = check_charts(report(chad, views, android, likes))
    assert [(r.metric.name, r.slice.label()) for r in drawn] == [
        ("views", "os=Android"), ("likes", "total"), ("views", "total")]
    # No data at all (no value, so no change to write) is the farthest out: drawn first.
    silent = dataclasses.replace(likes, verdict=dataclasses.replace(likes.verdict, value=None))
    assert check_charts(report(views, android, silent))[0] is silent


def test_check_lists_the_slices_off_under_their_metric_title_once() -> None:
    """/check's slices off are grouped by metric: its title once, then its slices (a long
    Russian title before each of five slices made one unreadable paragraph)."""
    slices = [Slice("os", "Android"), Slice("os", "iOS"), Slice("country", "Россия")]
    views = [moved(s, 40.0, 100.0, -9.0) for s in slices]
    likes = [dataclasses.replace(r, metric=result("likes").metric) for r in views[:2]]
    for lang, title in (("ru", "Просмотры"), ("en", "Views")):
        check = report(result("views"), result("likes"), *views, *likes)
        text = plain(check_summary(check, zone=ZONE, t=translator(lang)))
        listed = text.split("\n")[-3:]
        assert listed[0] == ("срезы вне нормы:" if lang == "ru" else "slices off:"), text
        assert listed[1].startswith(f"• {title} (views): os=Android -60"), text
        assert listed[1].count("os=") == 2 and "country=Россия" in listed[1], text
        assert text.count(title) == 2, text  # its total's line and its slices' line


def test_check_says_why_a_total_has_no_value() -> None:
    """A total with no data for the interval read "⚪ Messenger active users: — (range 18 –
    78)" in /check with no word of why (and a 🔴 one the same): it now says what /metric
    says, in the chat's language."""
    base = result("views", status=Status.ANOMALY)
    verdict = dataclasses.replace(base.verdict, value=None,
                                  reason="no data, while about 155 was expected")  # fmt: skip
    silent = dataclasses.replace(base, verdict=verdict)
    english = plain(check_summary(report(silent), zone=ZONE, t=translator("en")))
    russian = plain(check_summary(report(silent), zone=ZONE, t=translator("ru")))
    assert "🔴 Views: — (range 90 – 110) — no data, while about 155 was expected" in english
    line = next(x for x in russian.splitlines() if x.startswith("🔴 Просмотры"))
    assert line.startswith("🔴 Просмотры: — (диапазон 90 – 110) — ") and "155" in line, line


def test_check_escapes_a_long_cyrillic_slice_holding_a_colon_and_markup() -> None:
    """A slice value of 300 Cyrillic characters holding ':' and '<b>' is shown in /check's
    slices off as written, escaped (never read as markup), and the reply stays one message."""
    value = ("Москва: <b>центр</b> & область " * 10)[:300]
    odd = moved(Slice("city", value), 40.0, 100.0, -9.0)
    for lang in ("ru", "en"):
        text = check_summary(report(result("views"), odd), zone=ZONE, t=translator(lang))
        assert "&lt;b&gt;центр&lt;/b&gt; &amp; область" in text, text
        assert f"city={value} -60" in plain(text), text
        assert len(split_message(text)) == 1, text
