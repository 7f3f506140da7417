"""Attacks on the alert and backtest charts (bot/service/charts.py): a sustained shift longer
than the chart's context (window_small reaches 96 buckets), the ongoing alert at the backtest's
right edge, odd titles and units."""

from __future__ import annotations

from zoneinfo import ZoneInfo

import matplotlib.dates as mdates
import numpy as np
import pandas as pd
import pytest

from bot.core.i18n import translator
from bot.service.charts import draw_backtest_chart, draw_chart, render_chart
from detectors import Status, Verdict
from detectors.backtest import Alert, SeriesKey
from queries.series import Slice
from tests.test_charts import VIEWS, synthetic, texts_of

MOSCOW = ZoneInfo("Europe/Moscow")


def _long_shift(n: int, step: str) -> tuple[pd.Series, pd.DataFrame, Verdict]:
    """A small count (60 a bucket) a third low for its last `n` buckets, inside its range,
    flagged as a sustained shift over them."""
    idx = pd.date_range(end=pd.Timestamp("2026-11-27 05:00", tz="UTC"), periods=9 * 96,
                        freq=step)  # fmt: skip
    exp = np.full(len(idx), 60.0)
    series = pd.Series(exp.copy(), index=idx)
    series.iloc[-n:] = 40.0
    band = pd.DataFrame({"expected": exp, "lower": exp - 25, "upper": exp + 25}, index=idx)
    why = (f"below expected for the last {n} buckets together (a sustained shift no single "
           "bucket shows); range from the same time on previous days")  # fmt: skip
    return series, band, Verdict(Status.ANOMALY, idx[-1], 40.0, 60.0, 35.0, 85.0, -0.7, why)


@pytest.mark.parametrize(("n", "step"), [(16, "1h"), (60, "15min")])
def test_a_shift_longer_than_the_context_is_drawn_from_its_start(n: int, step: str) -> None:
    series, band, verdict = _long_shift(n, step)
    fig = draw_chart(VIEWS, Slice(), series, band, verdict, zone=MOSCOW, t=translator("en"))
    ax = fig.axes[0]
    left = mdates.num2date(ax.get_xlim()[0], tz=MOSCOW)
    began = series.index[-n] - pd.Timedelta(step) / 2
    assert left <= began.tz_convert(MOSCOW), (left, began, texts_of(fig)[1])


def test_odd_titles_and_units_are_drawn() -> None:
    """A title with $, a newline, <b> and an unbalanced $ draws; so does a slice of 300
    Cyrillic characters with ':' and <script>."""
    series, band, verdict = synthetic()
    for title, unit in (("Revenue $", "$"), ("a\nb $x", "$$"), ("<b>Доход</b> & $", "$ $ $")):
        metric = VIEWS.__class__(**{**VIEWS.__dict__, "title": title, "unit": unit})
        where = Slice("country", ("Ж:<script>" * 30)[:300])
        for lang in ("en", "ru"):
            assert render_chart(metric, where, series, band, verdict, zone=MOSCOW,
                                lang=lang).startswith(b"\x89PNG")  # fmt: skip


def test_an_alert_going_on_over_the_whole_replay_is_one_dark_shade() -> None:
    """An alert from the first bucket to the last: one shade, the whole axis, said since when."""
    series, _, _ = synthetic()
    week = series.iloc[-7 * 96 :]
    alerts = [Alert(SeriesKey("views"), week.index[0], week.index[-1], 3.0, len(week))]
    fig = draw_backtest_chart(VIEWS, week, alerts, MOSCOW, t=translator("ru"))
    fig.canvas.draw()
    (shade,) = fig.axes[0].patches
    legend = [text.get_text() for text in fig.axes[0].get_legend().get_texts()]
    assert any(words.startswith("продолжается с ") for words in legend), legend
    assert shade.get_alpha() == 0.45
