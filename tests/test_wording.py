"""How the alert texts write a change."""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from zoneinfo import ZoneInfo

from bot.core.i18n import translator
from bot.core.plan import Open
from bot.core.render import Style, render_open
from bot.core.report import SeriesResult
from bot.core.text import plain
from bot.core.wording import check_summary, metric_caption
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
