"""Charts: what an on-call person reads in them (context before the incident, dates, units, plain
words, titles that fit, both languages) and the chart desk that renders them without queueing
the bot (one render per key, bounded concurrency, failures not kept)."""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass, replace
from zoneinfo import ZoneInfo

import matplotlib.dates as mdates
import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from bot.core.formatting import fmt_value
from bot.core.i18n import translator
from bot.core.reasons import reason_text
from bot.service.chartdesk import ChartDesk
from bot.service.charts import (
    CONTEXT,
    draw_backtest_chart,
    draw_chart,
    render_backtest_chart,
    render_chart,
)
from bot.service.charts_text import deviation_words
from detectors import Status, Verdict
from detectors.backtest import Alert, SeriesKey
from queries.catalogue import Direction, Kind, Metric
from queries.series import Slice

VIEWS = Metric("views", "Views", "views", Kind.COUNT, "feed", Direction.BOTH, ())
CTR = Metric("ctr", "CTR (likes / views)", "", Kind.RATIO, "feed", Direction.BOTH, ())
MOSCOW = ZoneInfo("Europe/Moscow")
PNG = b"\x89PNG"


def synthetic(end: str = "2026-11-27 01:30", drop: int = 6, ratio: bool = False
              ) -> tuple[pd.Series, pd.DataFrame, Verdict]:  # fmt: skip
    """Nine days of a daily cycle in 15-minute buckets whose last `drop` buckets fell 40%."""
    idx = pd.date_range(end=pd.Timestamp(end, tz="UTC"), periods=9 * 96, freq="15min")
    hours = np.asarray(idx.hour + idx.minute / 60, dtype=float)
    expected = 6000 + 4000 * np.sin((hours - 9) / 24 * 2 * np.pi)
    if ratio:
        expected = expected / 100_000
    noise = np.random.default_rng(1).normal(0, 0.03, len(idx))
    series = pd.Series(expected * (1 + noise), index=idx)
    series.iloc[-drop:] *= 0.6
    band = pd.DataFrame({"expected": expected, "lower": expected * 0.85,
                         "upper": expected * 1.15}, index=idx)  # fmt: skip
    last = float(expected[-1])
    why = "below the expected range (1.2x the band's half-width)"
    verdict = Verdict(Status.ANOMALY, idx[-1], float(series.iloc[-1]), last, last * 0.85,
                      last * 1.15, -3.0, why)  # fmt: skip
    return series, band, verdict


def tick_labels(fig: Figure) -> list[str]:
    fig.canvas.draw()
    return [label.get_text() for label in fig.axes[0].get_xticklabels()]


# -- what the chart shows ------------------------------------------------------------------------


@pytest.mark.parametrize("step", ["15min", "1h"])
def test_hours_of_context_before_the_incident_and_the_axis_ends_with_the_last_bucket(
    step: str,
) -> None:
    """The x axis starts at least CONTEXT before the incident's first bucket and ends half a
    bucket after the last one, as it starts half a bucket before the first: no empty hours
    after the data, read as time not yet checked. The percentage beside the last point keeps
    its place after it, inside the picture, in both languages."""
    series, band, verdict = synthetic()
    if step == "1h":
        series, band = series.resample("1h").sum(), band.resample("1h").sum()
        verdict = replace(verdict, bucket=series.index[-1], value=float(series.iloc[-1]))
    for lang in ("en", "ru"):
        fig = draw_chart(VIEWS, Slice(), series, band, verdict, zone=MOSCOW, t=translator(lang))
        left, right = fig.axes[0].get_xlim()
        since = series.index[-6] if step == "15min" else series.index[-2]
        assert left <= mdates.date2num(since - CONTEXT)
        half = pd.Timedelta(step) / 2
        assert right == pytest.approx(mdates.date2num(verdict.bucket + half), abs=1e-6), (
            lang, step)
        fig.canvas.draw()
        label = next(text for text in fig.axes[0].texts if text.get_text().endswith("%"))
        box = label.get_window_extent()
        point = fig.axes[0].transData.transform((mdates.date2num(verdict.bucket), 0))[0]
        assert point < box.x0 and box.x1 <= fig.bbox.x1, (lang, step)


def test_dates_on_the_time_axis_when_the_window_crosses_midnight() -> None:
    """A window from the evening of 26 Nov to the night of 27 Nov (Moscow time) labels both days
    on the x axis, in English and in Russian."""
    series, band, verdict = synthetic()
    en = " ".join(tick_labels(draw_chart(VIEWS, Slice(), series, band, verdict, zone=MOSCOW,
                                         t=translator("en"))))  # fmt: skip
    ru = " ".join(tick_labels(draw_chart(VIEWS, Slice(), series, band, verdict, zone=MOSCOW,
                                         t=translator("ru"))))  # fmt: skip
    assert "26 Nov" in en and "27 Nov" in en
    assert "26 ноя" in ru and "27 ноя" in ru
    assert "00:00" in en


def test_the_y_axis_names_the_unit() -> None:
    """The y label carries the metric's unit and the bucket ('views per 15 min'); a ratio is a
    percentage with percent ticks."""
    series, band, verdict = synthetic()
    fig = draw_chart(VIEWS, Slice(), series, band, verdict, zone=MOSCOW, t=translator("en"))
    assert fig.axes[0].get_ylabel() == "views per 15 min"
    ru = draw_chart(VIEWS, Slice(), series, band, verdict, zone=MOSCOW, t=translator("ru"))
    assert ru.axes[0].get_ylabel() == "просмотров за 15 мин"
    series, band, verdict = synthetic(ratio=True)
    ctr = draw_chart(CTR, Slice(), series, band, verdict, zone=MOSCOW, t=translator("en"))
    assert ctr.axes[0].get_ylabel().endswith(", %")
    ctr.canvas.draw()
    assert all(label.get_text().endswith("%") for label in ctr.axes[0].get_yticklabels())


PER_USER = Metric("views_per_user", "Views per user", "views per user", Kind.RATIO, "feed",
                  Direction.BOTH, (), numerator="views", denominator="users",
                  names={"ru": {"unit": "просмотров на пользователя"}})  # fmt: skip


def test_a_ratio_with_a_unit_of_its_own_is_a_number_in_that_unit() -> None:
    """A ratio whose catalogue unit is neither empty nor "%" (views per user) is no share: its
    values read 3.25, not 325.00%, in texts and on the axis, which names its unit without a
    bucket (it is no count of one). A ratio with unit "%" or none stays a percentage."""
    en, ru = translator("en"), translator("ru")
    assert fmt_value(PER_USER, 3.254, en) == "3.25"
    assert fmt_value(PER_USER, 3.254, ru) == "3,25"
    assert fmt_value(PER_USER, 12345.678, en) == "12,345.68"
    assert fmt_value(PER_USER, 0.00123, en) == "0.0012"
    assert fmt_value(PER_USER, 3.254, en, extra=1) == "3.254"
    assert fmt_value(CTR, 0.03254, en) == "3.25%"
    assert fmt_value(replace(PER_USER, unit="%"), 0.03254, en) == "3.25%"
    series, band, verdict = synthetic()
    series, band = series / 2000, band / 2000  # 1 to 5 views per user
    verdict = replace(verdict, value=verdict.value / 2000, expected=verdict.expected / 2000,
                      lower=verdict.lower / 2000, upper=verdict.upper / 2000)  # type: ignore[operator]
    for t, unit in ((en, "views per user"), (ru, "просмотров на пользователя")):
        fig = draw_chart(PER_USER, Slice(), series, band, verdict, zone=MOSCOW, t=t)
        assert fig.axes[0].get_ylabel() == unit
        fig.canvas.draw()
        ticks = [label.get_text() for label in fig.axes[0].get_yticklabels() if label.get_text()]
        assert ticks and not any("%" in tick for tick in ticks), ticks
        title = texts_of(fig)[0]
        assert title.startswith(f"Views per user: {fmt_value(PER_USER, verdict.value, t)}")
        assert title.count("%") == 1 and title.endswith("%)"), title  # the deviation's alone


def test_plain_words_instead_of_half_widths() -> None:
    """The subtitle says how far below the range's lower edge the value is and since when; the
    detector's 'half-width' jargon is not on the chart."""
    series, band, verdict = synthetic()
    fig = draw_chart(VIEWS, Slice(), series, band, verdict, zone=MOSCOW, t=translator("en"))
    texts = " ".join(text.get_text() for text in fig.texts)
    assert "half-width" not in texts
    assert "28% below the expected range's lower edge" in texts
    assert "outside since 03:15 (1 h 30 min)" in texts
    ru = draw_chart(VIEWS, Slice(), series, band, verdict, zone=MOSCOW, t=translator("ru"))
    assert "на 28% ниже нижней границы ожидаемого диапазона" in " ".join(
        text.get_text() for text in ru.texts
    )


@pytest.mark.parametrize("lang", ["en", "ru"])
def test_long_names_are_shortened_not_cut(lang: str) -> None:
    """A long Cyrillic slice value with '$', ':' and HTML-like text is shortened with '…' so the
    title and subtitle end inside the picture, the numbers stay whole, and '$' is drawn as
    written (no math mode)."""
    series, band, verdict = synthetic()
    name = "Ханты-Мансийский автономный округ — Югра: $x$ <b>очень</b> длинное название среза"
    fig = draw_chart(VIEWS, Slice("region", name), series, band, verdict, zone=MOSCOW,
                     t=translator(lang))  # fmt: skip
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()  # type: ignore[attr-defined]
    for text in fig.texts:
        assert text.get_window_extent(renderer=renderer).x1 <= fig.bbox.width
    title = fig.texts[0].get_text()
    assert title.startswith("Views · region=Ханты-Мансийский")
    assert f"…: {fmt_value(VIEWS, verdict.value, translator(lang))}" in title
    assert title.endswith("%)")
    assert not any(text.get_parse_math() for text in fig.texts)


def texts_of(fig: Figure) -> list[str]:
    fig.canvas.draw()
    return [text.get_text() for text in fig.texts]


LONG = "Просмотры ленты новостей в мобильном приложении по всем платформам и странам мира"


@pytest.mark.parametrize("lang", ["en", "ru"])
def test_a_long_metric_title_is_shortened_before_the_slice(lang: str) -> None:
    """A metric title too long for the picture is shortened first, so each slice's chart still
    says which slice it is ('source=organic') and the numbers stay whole."""
    series, band, verdict = synthetic()
    metric = replace(VIEWS, title=LONG)
    fig = draw_chart(metric, Slice("source", "organic"), series, band, verdict, zone=MOSCOW,
                     t=translator(lang))  # fmt: skip
    title = texts_of(fig)[0]
    assert title.startswith("Просмотры ленты") and "… · source=organic: " in title
    assert fmt_value(metric, verdict.value, translator(lang)) in title and title.endswith("%)")
    renderer = fig.canvas.get_renderer()  # type: ignore[attr-defined]
    assert fig.texts[0].get_window_extent(renderer=renderer).x1 <= fig.bbox.width


def sustained() -> tuple[pd.Series, pd.DataFrame, Verdict]:
    """The last four buckets 10% low, inside the range, flagged as a sustained shift."""
    series, band, _ = synthetic(drop=0)
    series.iloc[-4:] = band["expected"].iloc[-4:] * 0.9
    last = band.iloc[-1]
    why = ("below expected for the last 4 buckets together (a sustained shift no single bucket "
           "shows); range from the same time on previous days")  # fmt: skip
    verdict = Verdict(Status.ANOMALY, series.index[-1], float(series.iloc[-1]),
                      float(last["expected"]), float(last["lower"]), float(last["upper"]), -0.7,
                      why)  # fmt: skip
    return series, band, verdict


@pytest.mark.parametrize("lang", ["en", "ru"])
def test_a_sustained_shift_inside_the_range_says_what_the_detector_found(lang: str) -> None:
    """An anomaly whose value is inside the range (a sustained shift) is not called 'inside
    the expected range': the subtitle says the detector's finding, in the chart's language."""
    series, band, verdict = sustained()
    t = translator(lang)
    fig = draw_chart(VIEWS, Slice(), series, band, verdict, zone=MOSCOW, t=t)
    subtitle = texts_of(fig)[1].replace("\n", " ")
    assert t._("inside the expected range") not in subtitle
    found = reason_text(verdict.reason.split("; ")[0], t)
    assert subtitle.startswith(found) and "4" in found
    assert ("below expected" in found) if lang == "en" else ("ниже ожидаемого" in found)


@dataclass(frozen=True)
class Named(Metric):
    """A metric whose catalogue entry gives a Russian title (and no Russian unit)."""

    def title_in(self, lang: str) -> str:
        return "Просмотры" if lang == "ru" else self.title

    def unit_in(self, lang: str) -> str:
        return self.unit


def test_russian_charts_write_numbers_and_names_the_russian_way() -> None:
    """A Russian chart writes numbers as the captions do (1 234, -29,6%) in its title, beside
    the last point and on the y axis, heads the chart with the metric's Russian title, and puts
    a unit with no translation next to the interval without Russian words glued to it."""
    series, band, verdict = synthetic()
    ru = translator("ru")
    metric = Named("views", "Views", "orders", Kind.COUNT, "feed", Direction.BOTH, ())
    fig = draw_chart(metric, Slice(), series, band, verdict, zone=MOSCOW, t=ru)
    title = texts_of(fig)[0]
    value = fmt_value(metric, verdict.value, ru)
    assert title.startswith(f"Просмотры: {value}, ") and "\u00a0" in value
    assert verdict.deviation is not None and title.endswith(f"(-{-verdict.deviation:.1%})"
                                                            .replace(".", ","))  # fmt: skip
    ticks = [label.get_text() for label in fig.axes[0].get_yticklabels()]
    assert any("\u00a0" in tick for tick in ticks) and not any("," in tick for tick in ticks)
    notes = [text.get_text() for text in fig.axes[0].texts]
    assert notes and all("," in note and "." not in note for note in notes)
    assert fig.axes[0].get_ylabel() == "orders / 15 мин"
    english = draw_chart(metric, Slice(), series, band, verdict, zone=MOSCOW, t=translator("en"))
    assert english.axes[0].get_ylabel() == "orders per 15 min"
    series, band, verdict = synthetic(ratio=True)
    ctr = draw_chart(CTR, Slice(), series, band, verdict, zone=MOSCOW, t=ru)
    ctr.canvas.draw()
    ratio_ticks = [label.get_text() for label in ctr.axes[0].get_yticklabels()]
    assert all(tick.endswith("%") and "." not in tick for tick in ratio_ticks)


@pytest.mark.parametrize("lang", ["en", "ru"])
def test_value_ticks_never_read_alike_however_small_the_range(lang: str) -> None:
    """A CTR held near 0 (its range 0 - 0.03%) and a count of 0 - 2 a bucket: every tick on
    the value axis reads differently, with as many decimals as the spacing needs. One decimal
    of a percent wrote '0.0%' four times and '0.1%' five times on such a rate; whole numbers
    wrote '0', '0', '1', '1'."""
    t = translator(lang)
    idx = pd.date_range(end=pd.Timestamp("2026-11-27 12:30", tz="UTC"), periods=96, freq="15min")
    for metric, top in ((CTR, 0.0003), (VIEWS, 2.0)):
        series = pd.Series(np.linspace(0.0, top * 0.9, idx.size), index=idx)
        band = pd.DataFrame({"expected": series, "lower": 0.0 * series, "upper": 0 * series + top},
                            index=idx)  # fmt: skip
        verdict = Verdict(Status.OK, idx[-1], float(series.iloc[-1]), float(series.iloc[-1]),
                          0.0, top, 0.0, "within the expected range")  # fmt: skip
        fig = draw_chart(metric, Slice(), series, band, verdict, zone=MOSCOW, t=t)
        fig.canvas.draw()
        ticks = [label.get_text() for label in fig.axes[0].get_yticklabels()]
        shown = [tick for tick in ticks if tick]
        assert len(shown) >= 4 and len(set(shown)) == len(shown), ticks
        assert not any(tick.startswith(("-0", "\u22120")) for tick in shown), ticks


@pytest.mark.parametrize(("lang", "words"), [("en", " bn"), ("ru", " млрд")])
def test_ticks_of_billions_are_written_in_billions(lang: str, words: str) -> None:
    """A count of 12 billion a bucket: '12,000,000,000' did not fit the margin and read
    '00,000,000'; its ticks are written in billions, each short enough to be read whole."""
    idx = pd.date_range(end=pd.Timestamp("2026-11-27 12:30", tz="UTC"), periods=96, freq="15min")
    series = pd.Series(np.linspace(1.0e10, 1.2e10, idx.size), index=idx)
    band = pd.DataFrame({"expected": series, "lower": series * 0.9, "upper": series * 1.1},
                        index=idx)  # fmt: skip
    verdict = Verdict(Status.OK, idx[-1], float(series.iloc[-1]), float(series.iloc[-1]),
                      1.08e10, 1.32e10, 0.0, "within the expected range")  # fmt: skip
    fig = draw_chart(VIEWS, Slice(), series, band, verdict, zone=MOSCOW, t=translator(lang))
    fig.canvas.draw()
    ticks = [label.get_text() for label in fig.axes[0].get_yticklabels() if label.get_text()]
    assert ticks[0] == "0" and all(tick.endswith(words) for tick in ticks[1:]), ticks
    assert max(len(tick) for tick in ticks) <= 8 and len(set(ticks)) == len(ticks), ticks


def test_a_series_below_zero_is_drawn_where_it_is() -> None:
    """A metric of about -13 (a balance, a temperature): the axis used to start at 0 and run
    upside down to -12, with the line out of sight. Drawn as it comes, the axis holds every
    value and the range."""
    idx = pd.date_range(end=pd.Timestamp("2026-11-27 12:30", tz="UTC"), periods=96, freq="15min")
    series = pd.Series(-13 + np.sin(np.arange(idx.size) / 8), index=idx)
    band = pd.DataFrame({"expected": series, "lower": series - 2, "upper": series + 2},
                        index=idx)  # fmt: skip
    verdict = Verdict(Status.OK, idx[-1], float(series.iloc[-1]), float(series.iloc[-1]),
                      float(series.iloc[-1]) - 2, float(series.iloc[-1]) + 2, 0.0,
                      "within the expected range")  # fmt: skip
    fig = draw_chart(VIEWS, Slice(), series, band, verdict, zone=MOSCOW, t=translator("en"))
    low, high = fig.axes[0].get_ylim()
    assert low < high and low <= float(band["lower"].min()) and high >= float(band["upper"].max())


def test_numbers_under_one_keep_their_figures_and_zero_has_no_minus() -> None:
    """A mean of -0.0202 against -0.025 read 'value -0, expected -0 (-0 – -0)'; a count
    expected at 0.6 read 1. Under one a value keeps two figures; nothing that reads as zero
    has a minus, in either language."""
    assert fmt_value(VIEWS, -0.0202) == "-0.020" and fmt_value(VIEWS, 0.6) == "0.60"
    assert fmt_value(VIEWS, -0.0202, translator("ru")) == "-0,020"
    assert fmt_value(VIEWS, 1234.4) == "1,234" and fmt_value(VIEWS, 0.0) == "0"
    assert fmt_value(CTR, -1e-9) == "0.00%" and fmt_value(CTR, 0.1234) == "12.34%"


@dataclass(frozen=True)
class Translated(Metric):
    """A metric whose catalogue entry translates both its title and its unit."""

    def title_in(self, lang: str) -> str:
        return "Заказы" if lang == "ru" else self.title

    def unit_in(self, lang: str) -> str:
        return {"ru": {"views": "просмотры", "orders": "заказы"}}.get(lang, {}).get(self.unit,
                                                                                 self.unit)


def test_a_translated_unit_reads_after_the_interval_in_russian() -> None:
    """A unit the catalogue translates is written in Russian with 'за'; a unit the charts know
    keeps the form that reads after a number (просмотров), whatever the catalogue says."""
    series, band, verdict = synthetic()
    ru = translator("ru")
    orders = Translated("orders", "Orders", "orders", Kind.COUNT, "shop", Direction.BOTH, ())
    fig = draw_chart(orders, Slice(), series, band, verdict, zone=MOSCOW, t=ru)
    assert fig.axes[0].get_ylabel() == "заказы за 15 мин"
    assert texts_of(fig)[0].startswith("Заказы: ")
    views = Translated("views", "Views", "views", Kind.COUNT, "feed", Direction.BOTH, ())
    fig = draw_chart(views, Slice(), series, band, verdict, zone=MOSCOW, t=ru)
    assert fig.axes[0].get_ylabel() == "просмотров за 15 мин"


@pytest.mark.parametrize("lang", ["en", "ru"])
@pytest.mark.parametrize("zone", ["Asia/Tokyo", "America/Argentina/ComodRivadavia"])
def test_the_subtitle_fits_whatever_the_zone(lang: str, zone: str) -> None:
    """With a long zone name the subtitle still ends inside the picture, keeps the deviation
    words and the bucket's time whole, and stays clear of the legend below it."""
    series, band, verdict = synthetic()
    t = translator(lang)
    where = ZoneInfo(zone)
    fig = draw_chart(VIEWS, Slice("source", "organic"), series, band, verdict, zone=where, t=t)
    subtitle = texts_of(fig)[1]
    renderer = fig.canvas.get_renderer()  # type: ignore[attr-defined]
    box = fig.texts[1].get_window_extent(renderer=renderer)
    assert box.x1 <= fig.bbox.width
    legend = fig.axes[0].get_legend()
    assert legend is not None and box.y0 >= legend.get_window_extent(renderer=renderer).y1
    words = deviation_words(verdict.value, verdict.lower, verdict.upper, t)
    assert words is not None and subtitle.startswith(words) and "…" not in subtitle
    assert verdict.bucket.tz_convert(where).strftime("%H:%M") in subtitle


def test_short_titles_are_untouched() -> None:
    """A title that fits is drawn whole, with value, expected value and the signed change."""
    series, band, verdict = synthetic()
    fig = draw_chart(VIEWS, Slice("os", "iOS"), series, band, verdict, zone=MOSCOW,
                     t=translator("en"))  # fmt: skip
    title = fig.texts[0].get_text()
    assert "…" not in title
    assert title.startswith("Views · os=iOS: ")
    assert f"vs expected {verdict.expected:,.0f} (-" in title


def test_too_little_history_draws_without_a_range() -> None:
    """A series whose band is still empty (too little history) draws without warnings and says
    that there is no expected range yet, instead of a percentage."""
    series, band, _ = synthetic(drop=0)
    empty = band * np.nan
    verdict = Verdict(Status.UNKNOWN, series.index[-1], float(series.iloc[-1]), None, None, None,
                      None, "too little history")  # fmt: skip
    fig = draw_chart(VIEWS, Slice(), series, empty, verdict, zone=MOSCOW, t=translator("en"))
    assert fig.texts[1].get_text().startswith("no expected range yet")
    assert render_chart(VIEWS, Slice(), series, empty, verdict, zone=MOSCOW).startswith(PNG)


def test_render_chart_keeps_its_call_and_speaks_russian() -> None:
    """The existing call (positional data, zone=) still returns a PNG; lang='ru' another one."""
    series, band, verdict = synthetic()
    en = render_chart(VIEWS, Slice(), series, band, verdict, zone=MOSCOW)
    ru = render_chart(VIEWS, Slice(), series, band, verdict, zone=MOSCOW, lang="ru")
    assert en.startswith(PNG) and ru.startswith(PNG) and en != ru


def test_backtest_chart_dates_units_and_plurals() -> None:
    """The backtest chart dates its ticks, names the unit, and counts alerts with each
    language's plural forms (1 оповещение, 5 оповещений)."""
    series, _, _ = synthetic()
    week = series.iloc[-7 * 96 :]
    one = [Alert(SeriesKey("views"), week.index[100], week.index[103], 3.0, 4)]
    five = one * 5
    en = draw_backtest_chart(VIEWS, week, one, MOSCOW, t=translator("en"))
    assert "Views: 1 alert in the last 7 days" in en.texts[0].get_text()
    assert any("Nov" in label for label in tick_labels(en))
    assert en.axes[0].get_ylabel() == "views per 15 min"
    ru = draw_backtest_chart(VIEWS, week, five, MOSCOW, t=translator("ru"))
    assert "5 оповещений за последние 7 дней" in ru.texts[0].get_text()
    assert render_backtest_chart(VIEWS, week, one, MOSCOW).startswith(PNG)


@pytest.mark.parametrize("days", [3, 7])
def test_backtest_chart_says_each_date_once_at_midnight_and_its_zone(days: int) -> None:
    """Over 3 days the ticks came every 12 hours, each labelled with its date alone: every
    date twice, one of them at noon. Dated ticks stand at midnights only now; the time axis
    names its zone as the alert charts' does, and a count starts from 0 as there."""
    series, _, _ = synthetic()
    part = series.iloc[-days * 96 :]
    for lang, zone_label in (("en", "time (Europe/Moscow)"), ("ru", "время (Europe/Moscow)")):
        fig = draw_backtest_chart(VIEWS, part, [], MOSCOW, t=translator(lang))
        fig.canvas.draw()
        ax = fig.axes[0]
        labels = [label for label in tick_labels(fig) if label]
        assert len(labels) == len(set(labels)) >= 2, labels
        for tick in ax.get_xticks():
            when = mdates.num2date(tick, tz=MOSCOW)
            assert (when.hour, when.minute) == (0, 0), when
        assert ax.get_xlabel() == zone_label
        assert ax.get_ylim()[0] == 0


@pytest.mark.parametrize("step", ["15min", "1h"])
def test_backtest_chart_ends_with_its_last_bucket(step: str) -> None:
    """The backtest chart's time axis runs from half a bucket before the first bucket to half a
    bucket after the last, as the alert chart's does: no empty hours after the replay, read as
    data missing; an alert on the last bucket is shaded up to the axis's end, centred on its
    buckets (12 of them: wider than the least an alert going on is drawn)."""
    series, _, _ = synthetic()
    week = series.iloc[-7 * 96 :]
    if step == "1h":
        week = week.resample("1h").sum()
    half = pd.Timedelta(step) / 2
    last = [Alert(SeriesKey("views"), week.index[-12], week.index[-1], 3.0, 12)]
    for lang in ("en", "ru"):
        ax = draw_backtest_chart(VIEWS, week, last, MOSCOW, t=translator(lang)).axes[0]
        left, right = ax.get_xlim()
        assert left == pytest.approx(mdates.date2num(week.index[0] - half), abs=1e-6), lang
        assert right == pytest.approx(mdates.date2num(week.index[-1] + half), abs=1e-6), lang
        shade = ax.patches[0].get_extents().x0, ax.patches[0].get_extents().x1
        edges = ax.transData.transform([(mdates.date2num(week.index[-12] - half), 0),
                                        (right, 0)])[:, 0]  # fmt: skip
        assert shade == pytest.approx(tuple(edges), abs=1), lang


def test_a_backtest_alert_of_one_bucket_is_marked_and_the_legend_stands_above() -> None:
    """An alert of a bucket on a week's axis was a sliver of shade. Then it got a dark line at
    its middle, which stood out more than the incident still going on and matched no entry of
    the legend. Now its shade is 1/150 of the axis wide around its bucket, as light as the
    legend's "alert (any slice)", and a long one keeps its own width (one going on at the
    axis's end is drawn wider still: test_a_backtest_alert_still_going_on_...). The legend
    stands above the plot: inside it, a peak ran through its words."""
    series, _, _ = synthetic()
    week = series.iloc[-7 * 96 :]
    alerts = [Alert(SeriesKey("views"), week.index[300], week.index[320], 3.0, 2),
              Alert(SeriesKey("views"), week.index[-200], week.index[-200], 3.0, 1)]  # fmt: skip
    fig = draw_backtest_chart(VIEWS, week, alerts, MOSCOW, t=translator("en"))
    fig.canvas.draw()
    ax = fig.axes[0]
    assert not [line for line in ax.lines if len(set(line.get_xdata())) == 1]
    long, short = ax.patches
    axis = ax.get_window_extent().width
    assert long.get_extents().width == pytest.approx(axis * 21 / len(week), abs=2)
    assert short.get_extents().width == pytest.approx(axis / 150, abs=1)
    middle = ax.transData.transform((mdates.date2num(week.index[-200].tz_convert(MOSCOW)),
                                     0))[0]  # fmt: skip
    assert (short.get_extents().x0 + short.get_extents().x1) / 2 == pytest.approx(middle, abs=1)
    assert long.get_alpha() == short.get_alpha() == 0.25
    legend = ax.get_legend().get_window_extent()
    assert legend.y0 >= ax.get_window_extent().y1 - 1


# -- the chart desk -----------------------------------------------------------------------------


class Counted:
    """A real draw function (render_chart on the synthetic series) that counts its calls."""

    def __init__(self, fail: int = 0) -> None:
        self.calls = 0
        self.fail = fail
        self.lock = threading.Lock()
        self.data = synthetic()

    def __call__(self, lang: str = "en") -> bytes:
        with self.lock:
            self.calls += 1
            failing = self.calls <= self.fail
        if failing:
            raise RuntimeError("the source went away mid-render")
        series, band, verdict = self.data
        return render_chart(VIEWS, Slice(), series, band, verdict, zone=MOSCOW, lang=lang)


async def test_twenty_requests_for_one_chart_render_it_once() -> None:
    """Twenty concurrent requests for the same key share one render and get the same bytes;
    a later request is served from the cache."""
    desk = ChartDesk(limit=2, keep=8)
    draw = Counted()
    pngs = await asyncio.gather(*(desk.png(("views", "total"), draw) for _ in range(20)))
    assert draw.calls == 1
    assert len(set(pngs)) == 1 and pngs[0].startswith(PNG)
    assert await desk.png(("views", "total"), draw) == pngs[0]
    assert draw.calls == 1 and desk.renders == 1


async def test_renders_never_exceed_the_limit() -> None:
    """Six distinct charts on a desk of two: never more than two draw calls run at once, and all
    six finish."""
    desk = ChartDesk(limit=2, keep=8)
    release = threading.Event()
    lock = threading.Lock()
    inside = [0, 0]  # now, most
    loop = asyncio.get_running_loop()
    two_in = asyncio.Event()

    def draw(n: int) -> bytes:
        with lock:
            inside[0] += 1
            inside[1] = max(inside[1], inside[0])
            if inside[0] == 2:
                loop.call_soon_threadsafe(two_in.set)
        release.wait()
        with lock:
            inside[0] -= 1
        return b"png %d" % n

    jobs = [asyncio.create_task(desk.png(n, draw, n)) for n in range(6)]
    await two_in.wait()
    await asyncio.sleep(0.1)  # room for a third render to start, were the limit broken
    assert inside[0] == 2 and desk.running == 2
    release.set()
    assert await asyncio.gather(*jobs) == [b"png %d" % n for n in range(6)]
    assert inside[1] == 2 and desk.peak == 2 and desk.renders == 6


async def test_a_failed_render_reaches_every_waiter_and_is_not_kept() -> None:
    """Five requests waiting on a render that raises all get its error; the failure is not
    cached, so the next request renders again and succeeds."""
    desk = ChartDesk(limit=2, keep=8)
    draw = Counted(fail=1)
    results = await asyncio.gather(*(desk.png("k", draw) for _ in range(5)),
                                   return_exceptions=True)  # fmt: skip
    assert all(isinstance(r, RuntimeError) for r in results)
    assert draw.calls == 1 and desk.cached("k") is None and not desk.pending("k")
    assert (await desk.png("k", draw)).startswith(PNG)
    assert draw.calls == 2


async def test_warm_renders_ahead_and_logs_failures(caplog: pytest.LogCaptureFixture) -> None:
    """A warmed chart is rendered once in the background and then served from the cache; a
    warm-up that fails is logged, raises nowhere, and leaves nothing cached."""
    desk = ChartDesk(limit=2, keep=8)
    draw = Counted()
    task = desk.warm("views", draw, "ru")
    assert task is not None and desk.warm("views", draw, "ru") is None
    png = await desk.png("views", draw, "ru")
    assert draw.calls == 1 and png == await task
    broken = Counted(fail=1)
    failing = desk.warm("broken", broken)
    assert failing is not None
    with pytest.raises(RuntimeError):
        await failing
    await asyncio.sleep(0)
    assert desk.cached("broken") is None
    assert "chart 'broken' failed" in caplog.text


async def test_asked_charts_go_before_warm_ups() -> None:
    """With the one slot busy, a chart someone asks for renders before warm-ups queued earlier,
    and asking for a queued warm-up moves it to the front too."""
    desk = ChartDesk(limit=1, keep=8)
    release = threading.Event()
    order: list[str] = []
    loop = asyncio.get_running_loop()
    started = asyncio.Event()

    def draw(name: str) -> bytes:
        if name == "busy":
            loop.call_soon_threadsafe(started.set)
            release.wait()
        order.append(name)
        return name.encode()

    busy = asyncio.create_task(desk.png("busy", draw, "busy"))
    await started.wait()
    warm = [desk.warm(name, draw, name) for name in ("w1", "w2", "w3")]
    asked = asyncio.create_task(desk.png("asked", draw, "asked"))
    promoted = asyncio.create_task(desk.png("w3", draw, "w3"))
    await asyncio.sleep(0)
    release.set()
    await asyncio.gather(busy, asked, promoted, *(t for t in warm if t is not None))
    assert order == ["busy", "asked", "w3", "w1", "w2"]


async def test_the_cache_keeps_the_latest_charts() -> None:
    """With keep=2, a third chart pushes out the least recently used one."""
    desk = ChartDesk(limit=1, keep=2)
    for key in ("a", "b", "c"):
        await desk.png(key, bytes, 3)
    assert desk.cached("a") is None
    assert desk.cached("b") == bytes(3) and desk.cached("c") == bytes(3)


async def test_a_cancelled_waiter_does_not_cancel_the_shared_render() -> None:
    """One caller giving up does not take the render away from the others waiting for it."""
    desk = ChartDesk(limit=1, keep=4)
    release = threading.Event()

    def draw() -> bytes:
        release.wait()
        return b"done"

    quitter = asyncio.create_task(desk.png("k", draw))
    stayer = asyncio.create_task(desk.png("k", draw))
    await asyncio.sleep(0)
    quitter.cancel()
    release.set()
    assert await stayer == b"done"
    assert quitter.cancelled()
    await desk.close()


def test_the_desk_refuses_a_zero_limit() -> None:
    """A desk that could never render is a configuration error, said at once."""
    with pytest.raises(ValueError, match="limit"):
        ChartDesk(limit=0)


def test_check_charts_get_file_names_any_file_system_takes(tmp_path) -> None:
    """`alertbot check --charts`: a slice value of long Cyrillic text with "<b>" and ":" made a
    file name over 255 bytes and stopped the check with OSError. Every chart is written, its
    name within 255 bytes and free of characters file systems refuse; slices that share a long
    beginning keep apart; an ordinary slice keeps its readable name."""
    from datetime import UTC, datetime

    from bot.console import write_charts
    from bot.core.files import chart_file_name
    from bot.core.report import CheckReport, SeriesResult

    bucket = pd.Timestamp("2026-11-27 11:45", tz="UTC")
    index = pd.date_range(bucket - pd.Timedelta(hours=6), bucket, freq="15min")
    band = pd.DataFrame({"expected": 100.0, "lower": 90.0, "upper": 110.0}, index=index)
    long = "Республика<b>Тест</b>: очень длинное название " * 6
    slices = [Slice(), Slice("country", long + "север"), Slice("country", long + "юг"),
              Slice("os", "iOS/16 = new")]  # fmt: skip
    results = []
    for where in slices:
        series = pd.Series(100.0, index=index)
        series.iloc[-1] = 60.0
        verdict = Verdict(Status.ANOMALY, bucket, 60.0, 100.0, 90.0, 110.0, -4.0, "below")
        results.append(SeriesResult(VIEWS, where, series, band, verdict, "seasonal"))
    now = datetime(2026, 11, 27, 12, 7, tzinfo=UTC)
    written = write_charts(CheckReport(now, "embedded", now, results), tmp_path, MOSCOW)
    names = [p.name for p in written]
    assert len(set(names)) == 4 and sorted(p.name for p in tmp_path.iterdir()) == sorted(names)
    assert names[0] == "views__total.png" and names[3] == "views__os_iOS_16___new.png"
    for path in written:
        assert len(path.name.encode()) <= 255 and not set('<>:"/\\|?*') & set(path.name)
        assert path.read_bytes().startswith(PNG)
    assert names[1].startswith("views__country_Республика_b_Тест__b___очень")
    assert chart_file_name("views", "country=Belarus") == "views__country_Belarus.png"


def test_alerts_of_several_slices_at_once_are_one_light_shade() -> None:
    """Alerts that overlap (several slices at once) or touch are one shade as light as the
    legend's, not stacked ones going dark with seams between them; apart, they stay apart."""
    series, _, _ = synthetic()
    week = series.iloc[-7 * 96 :]
    at = week.index
    alerts = [Alert(SeriesKey("views", "os", s), at[100], at[104], 3.0, 5) for s in ("a", "b")]
    alerts += [Alert(SeriesKey("views"), at[104], at[108], 2.0, 5),  # touching the two above
               Alert(SeriesKey("views"), at[300], at[301], 2.0, 2)]  # apart
    ax = draw_backtest_chart(VIEWS, week, alerts, MOSCOW, t=translator("en")).axes[0]
    assert len(ax.patches) == 2
    assert {p.get_alpha() for p in ax.patches} == {0.25}
    assert "4 alerts in the last 7 days" in ax.figure.texts[0].get_text()
    day = draw_backtest_chart(VIEWS, week.iloc[-96:], alerts[-1:], MOSCOW, t=translator("ru"))
    assert "1 оповещение за последний день" in day.texts[0].get_text()  # not "последний 1 день"


def test_a_name_the_font_cannot_draw_leaves_out_its_emoji_and_marks_its_letters() -> None:
    """A title with an emoji, a unit that is one and a Chinese slice value: the chart leaves
    the emoji out and draws '?' for each letter its font lacks, where matplotlib would draw an
    empty box and warn (a warning is an error under this suite, as it would stop /check's
    charts); the rest is drawn as written."""
    series, band, verdict = synthetic()
    metric = replace(VIEWS, title="📈 Просмотры 👍🏽 ленты", unit="👀")
    fig = draw_chart(metric, Slice("country", "日本 🇯🇵"), series, band, verdict, zone=MOSCOW,
                     t=translator("en"))  # fmt: skip
    title = texts_of(fig)[0]
    assert title.startswith("Просмотры ленты · country=??: "), title
    assert fig.axes[0].get_ylabel() == "per 15 min"
    png = render_chart(metric, Slice("country", "日本 🇯🇵"), series, band, verdict, zone=MOSCOW)
    assert png.startswith(PNG)
    fig = draw_chart(VIEWS, Slice("city", "東京"), series, band, verdict, zone=MOSCOW,
                     t=translator("en"))  # fmt: skip
    assert texts_of(fig)[0].startswith("Views · city=??: "), texts_of(fig)[0]


def test_an_infinite_value_is_drawn_without_setting_the_axis() -> None:
    """A value of x / 0 from a table's SQL (inf) in the window or as the checked bucket: the
    chart is still drawn, its y axis set by the finite values."""
    series, band, verdict = synthetic()
    series.iloc[-2] = np.inf
    fig = draw_chart(VIEWS, Slice(), series, band, verdict, zone=MOSCOW, t=translator("en"))
    top = fig.axes[0].get_ylim()[1]
    assert np.isfinite(top) and top < 2 * float(band["upper"].max())
    endless = replace(verdict, value=float("inf"))
    assert render_chart(VIEWS, Slice(), series, band, endless, zone=MOSCOW).startswith(PNG)
    week = series.iloc[-7 * 96 :]
    replay = draw_backtest_chart(VIEWS, week, [], MOSCOW, t=translator("en"))
    assert np.isfinite(replay.axes[0].get_ylim()[1])


def test_a_unit_in_dollars_and_a_name_of_emoji_alone_are_drawn_as_text() -> None:
    """A unit of '$\\alpha$' was drawn as α on the y axis and '$$' stopped the chart (its
    alerts went as text): the axis reads them as written. A slice value of emoji alone drew
    'os=' with nothing after it: it reads 'os=?'. A tab in a name is a space."""
    series, band, verdict = synthetic()
    for unit in ("$\\alpha$", "$$"):
        metric = replace(VIEWS, unit=unit)
        fig = draw_chart(metric, Slice(), series, band, verdict, zone=MOSCOW, t=translator("en"))
        assert fig.axes[0].get_ylabel() == f"{unit} per 15 min"
        assert not fig.axes[0].yaxis.label.get_parse_math()
        assert render_chart(metric, Slice(), series, band, verdict, zone=MOSCOW).startswith(PNG)
    fig = draw_chart(VIEWS, Slice("os", "🔥🔥🔥"), series, band, verdict, zone=MOSCOW,
                     t=translator("en"))  # fmt: skip
    assert texts_of(fig)[0].startswith("Views · os=?: "), texts_of(fig)[0]
    fig = draw_chart(VIEWS, Slice("os", "i\tOS"), series, band, verdict, zone=MOSCOW,
                     t=translator("en"))  # fmt: skip
    assert texts_of(fig)[0].startswith("Views · os=i OS: "), texts_of(fig)[0]


def test_a_backtest_alert_still_going_on_is_drawn_to_the_edge_and_says_since_when() -> None:
    """An alert that has not ended by the replay's last bucket (the incident going on now) was
    a sliver at the axis's end, three buckets of a week, marked by a line at its middle like
    any past alert of a bucket or two. It is now a darker shade that runs to the right edge,
    wide enough to see, and the legend says since when it goes on, in the chart's language;
    a past alert keeps its light shade."""
    series, _, _ = synthetic()
    week = series.iloc[-7 * 96 :]
    alerts = [Alert(SeriesKey("views"), week.index[300], week.index[320], 3.0, 21),
              Alert(SeriesKey("views", "os", "Android"), week.index[-3], week.index[-1], 3.0, 3)]
    for lang, words in (("en", "still going on since 27 Nov 04:00"),
                        ("ru", "продолжается с 27 ноя 04:00")):  # fmt: skip
        fig = draw_backtest_chart(VIEWS, week, alerts, MOSCOW, t=translator(lang))
        fig.canvas.draw()
        ax = fig.axes[0]
        past, now = ax.patches
        right = ax.transData.transform((ax.get_xlim()[1], 0))[0]
        axis = ax.get_window_extent().width
        assert now.get_extents().x1 == pytest.approx(right, abs=1), lang
        assert now.get_extents().width >= axis / 100 - 1, (now.get_extents(), axis)
        assert now.get_alpha() > past.get_alpha() == 0.25
        assert not [line for line in ax.lines if len(set(line.get_xdata())) == 1]
        legend = [text.get_text() for text in ax.get_legend().get_texts()]
        assert words in legend, legend


def shift_of(why: str, n: int, drop: float) -> tuple[pd.Series, pd.DataFrame, Verdict]:
    """The last `n` buckets `drop` low (0.9: 10%), flagged for the reason `why`."""
    series, band, _ = synthetic(drop=0)
    series.iloc[-n:] = band["expected"].iloc[-n:] * drop
    last = band.iloc[-1]
    verdict = Verdict(Status.ANOMALY, series.index[-1], float(series.iloc[-1]),
                      float(last["expected"]), float(last["lower"]), float(last["upper"]), -0.7,
                      why + "; range from the same time on previous days")  # fmt: skip
    return series, band, verdict


def test_a_sustained_shift_is_marked_from_the_bucket_it_started() -> None:
    """A sustained shift inside the range drew no shade and said no time: the alert names the
    last 4 intervals taken together, and the chart said nothing of when they began. It now
    shades them from the first and says "shift since" its time, in the subtitle (with how
    long) and the legend, in the chart's language; a shift that fired just outside the range
    (3 buckets, only the last outside) is marked from its start too, not from the bucket that
    left the range."""
    inside = shift_of("below expected for the last 4 buckets together (a sustained shift no "
                      "single bucket shows)", 4, 0.9)  # fmt: skip
    # 01:30 UTC is the last bucket: 04:30 in Moscow, the four from 03:45.
    for lang, said, legend_words in (
            ("en", "shift since 03:45 (1 h)", "shift since 03:45"),
            ("ru", "сдвиг с 03:45 (1 ч)", "сдвиг с 03:45")):  # fmt: skip
        fig = draw_chart(VIEWS, Slice(), *inside, zone=MOSCOW, t=translator(lang))
        subtitle = texts_of(fig)[1].replace("\n", " ")
        assert said in subtitle, subtitle
        ax = fig.axes[0]
        legend = [text.get_text() for text in ax.get_legend().get_texts()]
        assert legend_words in legend, legend
        (shade,) = ax.patches
        left = mdates.num2date(ax.transData.inverted().transform(
            (shade.get_extents().x0, 0))[0], tz=MOSCOW)  # fmt: skip
        first = pd.Timestamp("2026-11-27 03:45", tz=MOSCOW) - pd.Timedelta("7.5min")
        assert abs((left - first).total_seconds()) < 60, left  # half a bucket before it
    outside = shift_of("below the expected range (a sustained shift over the last 3 buckets)",
                       3, 0.9)
    outside[0].iloc[-1] = outside[1]["lower"].iloc[-1] * 0.97
    fig = draw_chart(VIEWS, Slice(), *outside, zone=MOSCOW, t=translator("en"))
    subtitle = texts_of(fig)[1].replace("\n", " ")
    assert "shift since 04:00 (45 min)" in subtitle and "outside since 04:30" in subtitle
    legend = [text.get_text() for text in fig.axes[0].get_legend().get_texts()]
    assert "shift since 04:00" in legend and "outside since 04:30" not in legend, legend
    plain = draw_chart(VIEWS, Slice(), *synthetic(), zone=MOSCOW, t=translator("en"))
    assert "shift since" not in " ".join(texts_of(plain)), texts_of(plain)


def test_a_rate_far_above_a_narrow_range_is_said_in_times_not_thousands_of_percent() -> None:
    """A rate at 0.84% against a range up to 0.02% read '3715% above the upper edge' under
    its chart; far above (3 times the edge and more) it says how many times the edge it is.
    Nearer the edge, and below it, the percentage stays."""
    en, ru = translator("en"), translator("ru")
    assert deviation_words(0.0084, 0.0, 0.0002, en) == "42x the expected range's upper edge"
    assert deviation_words(0.0084, 0.0, 0.0002, ru) == "42× верхней границы ожидаемого диапазона"
    assert deviation_words(1.5, 0.5, 1.0, en) == "50% above the expected range's upper edge"
    assert deviation_words(0.2, 0.5, 1.0, en) == "60% below the expected range's lower edge"


@pytest.mark.parametrize(("lang", "said"), [("en", "no value for this interval"),
                                            ("ru", "нет значения за этот интервал")])
def test_a_bucket_without_a_value_but_with_a_range_says_so(lang: str, said: str) -> None:
    """A CTR whose views were 0 in the bucket (undefined) has a range but no value: its chart
    said 'no expected range yet' above a drawn range. It says there is no value."""
    series, band, verdict = synthetic(ratio=True)
    unknown = Verdict(Status.UNKNOWN, verdict.bucket, None, verdict.expected, verdict.lower,
                      verdict.upper, None, "undefined: its denominator (views) was 0")  # fmt: skip
    fig = draw_chart(CTR, Slice(), series, band, unknown, zone=MOSCOW, t=translator(lang))
    assert any(text.startswith(said) for text in texts_of(fig)), texts_of(fig)
    young = Verdict(Status.UNKNOWN, verdict.bucket, 0.1, None, None, None, None, "too little")
    fig = draw_chart(CTR, Slice(), series, band, young, zone=MOSCOW, t=translator("en"))
    assert lang == "ru" or any(text.startswith("no expected range yet") for text in texts_of(fig))


@pytest.mark.parametrize("lang", ["en", "ru"])
def test_a_late_bucket_with_a_range_says_it_was_not_judged(lang: str) -> None:
    """A bucket whose data is late has a value and a range but no verdict: its chart said 'no
    expected range yet' above the range it drew, and ringed the value, 70% below it, in the
    green of a value that is fine, its percentage green too. It says why it was not judged,
    and the ring and the percentage are grey."""
    series, band, verdict = synthetic()
    late = Verdict(Status.UNKNOWN, verdict.bucket, verdict.value, verdict.expected,
                   verdict.lower, verdict.upper, verdict.deviation,
                   "data is late: the newest bucket of feed_actions is only partly there "
                   "(12 rows against 1,000 usually)")  # fmt: skip
    fig = draw_chart(VIEWS, Slice(), series, band, late, zone=MOSCOW, t=translator(lang))
    said = {"en": "not judged: data is late: the newest interval of feed_actions is not "
                  "complete yet",
            "ru": "не оценено: "}[lang]  # fmt: skip
    texts = texts_of(fig)
    assert any(text.startswith(said) for text in texts), texts
    assert not any("no expected range" in text for text in texts), texts
    ax = fig.axes[0]
    rings = [c for c in ax.collections if c.get_facecolors().size == 0]  # the value's ring
    assert [tuple(np.round(c.get_edgecolors()[0][:3], 2)) for c in rings] == [(0.59, 0.59, 0.59)]
    percent = [x for x in ax.texts if "%" in x.get_text()]
    assert percent and all(x.get_color() == "#969696" for x in percent)


@pytest.mark.parametrize("lang", ["en", "ru"])
def test_six_digit_numbers_and_a_unit_stay_inside_the_picture(lang: str) -> None:
    """Revenue of some 600,000 ₽ a bucket: the y axis's numbers and its label ('₽ per 15 min')
    ran past the picture's left edge, cut off. The axes start where they fit."""
    series, band, verdict = synthetic()
    rubles = replace(VIEWS, unit="₽")
    big = replace(verdict, value=verdict.value * 60, expected=verdict.expected * 60,
                  lower=verdict.lower * 60, upper=verdict.upper * 60)  # fmt: skip
    for fig in (draw_chart(rubles, Slice(), series * 60, band * 60, big, zone=MOSCOW,
                           t=translator(lang)),
                draw_backtest_chart(rubles, series * 60, [], MOSCOW, t=translator(lang))):
        renderer = fig.canvas.get_renderer()  # type: ignore[attr-defined]
        box = fig.axes[0].yaxis.get_tightbbox(renderer)
        assert box is not None and box.x0 >= 0, box
        assert "₽" in fig.axes[0].get_ylabel()
