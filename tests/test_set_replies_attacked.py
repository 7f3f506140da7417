"""Attacks on /set and /metric replies (bot/chat/naming.py, bot/chat/admin.py): odd words,
HTML, long values, many metrics; each reply must be valid Telegram HTML under 4096
characters that says what to send."""

from __future__ import annotations

import asyncio
import re
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bot.service.backtesting import collect, data_begins
from queries import seeding
from queries.catalogue import Catalogue, load_catalogue
from tests.conftest import END, SourceSpec
from tests.fakebot import FakeTelegram, render_html
from tests.test_bot import ADMIN, USER, Clock, fake, running, settings_for
from tests.test_chat import STRANGER, _say

__all__ = ["fake"]


def _refused(fake: FakeTelegram, since: int) -> list[object]:
    """What the fake Telegram refused (a 400 for a too-long or unparsable message)."""
    return [c.result for c in fake.calls[since:] if "!" in c.method]


@pytest.mark.slow
async def test_set_with_a_long_value_and_a_word_more_is_answered(
    fake: FakeTelegram, embedded_spec: SourceSpec, tmp_path: Path
) -> None:
    settings = settings_for(fake.url, embedded_spec, tmp_path / "s.db")
    async with running(settings, fake, schedule=False, warm=False):
        before = len(fake.calls)
        await fake.send("/set views k " + "9" * 4000 + " x", user=ADMIN)
        await asyncio.sleep(3)
        refused = _refused(fake, before)
        answers = [render_html(c.text) for c in fake.sent_to(ADMIN)]
    assert answers and answers[0].startswith("/set takes one value"), (answers, refused)
    assert not refused, refused


async def test_set_with_a_double_equals_sign_is_not_told_to_name_all_three(
    fake: FakeTelegram, embedded_spec: SourceSpec, tmp_path: Path
) -> None:
    settings = settings_for(fake.url, embedded_spec, tmp_path / "s.db")
    async with running(settings, fake, schedule=False, warm=False):
        said = render_html((await _say(fake, "/set views k==4", user=ADMIN))[0].text)
    assert not said.startswith("Name the metric, the parameter and its new value."), said


async def test_the_line_a_one_value_refusal_offers_is_accepted(
    fake: FakeTelegram, embedded_spec: SourceSpec, tmp_path: Path
) -> None:
    settings = settings_for(fake.url, embedded_spec, tmp_path / "s.db")
    async with running(settings, fake, schedule=False, warm=False) as monitor:
        said = render_html((await _say(fake, "/set views k = 4 = 5", user=ADMIN))[0].text)
        line = said.split("send ", 1)[1].split("\n", 1)[0]
        again = render_html((await _say(fake, line, user=ADMIN))[0].text)
        assert "k" in monitor.state.overrides.of("views"), (said, again)


def _many(n: int) -> Catalogue:
    """The bundled catalogue and `n` copies of views with long names."""
    c = load_catalogue()
    metrics = dict(c.metrics)
    for i in range(n):
        name = f"feed_views_all_platforms_long_{i:03d}"
        metrics[name] = replace(c.metrics["views"], name=name, title=f"Feed views {i:03d}")
    return replace(c, metrics=metrics)


@pytest.mark.slow
async def test_an_unknown_metric_among_many_is_answered(
    fake: FakeTelegram, embedded_spec: SourceSpec, tmp_path: Path
) -> None:
    settings = settings_for(fake.url, embedded_spec, tmp_path / "s.db")
    async with running(settings, fake, schedule=False, catalogue=_many(200), warm=False):
        before = len(fake.calls)
        await fake.send("/set nosuch k 4", user=ADMIN)
        await asyncio.sleep(3)
        refused = _refused(fake, before)
        answers = [render_html(c.text) for c in fake.sent_to(ADMIN)]
    assert answers and answers[0].startswith("There is no metric 'nosuch'."), (answers, refused)
    assert not refused, refused


ODD = [
    ("/set views <b>k</b> 4", "views has no parameter '<b>k</b>'."),
    ("/set views k&amp; 4", "views has no parameter 'k&amp;'."),
    ("/set views k: 4", "Did you mean k?"),
    ("/set views k nan", "k must be a number from 0.5 to 20, not 'nan'."),
    ("/set views k 1e309", "not '1e309'."),
    ("/set views k -inf", "not '-inf'."),
    ("/set views min_rel_change nan%", "not 'nan%'."),
    ("/set views k " + " ".join(["4"] * 2000), "/set takes one value, not '4 4 4"),
    ("/set views " + "<script>" * 50 + " 4", "views has no parameter '<script><script>"),
    ("/metric views =", "'=' is not a slice"),
    ("/metric views =iOS", "'=iOS' is not a slice"),
    ("/metric views os=" + "Ж:<script>" * 30, "has no slice 'os=Ж:<script>"),
    ("/metric views 😀=😀", "not '😀'"),
    ("/metric " + "<b>" * 100, "There is no metric '<b><b>"),
]


async def test_odd_words_get_escaped_answers_that_say_what_to_send(
    fake: FakeTelegram, embedded_spec: SourceSpec, tmp_path: Path
) -> None:
    settings = settings_for(fake.url, embedded_spec, tmp_path / "s.db")
    async with running(settings, fake, schedule=False, warm=False) as monitor:
        got = [render_html((await _say(fake, text, user=ADMIN))[0].text) for text, _ in ODD]
        stranger = render_html((await _say(fake, "/set views k nan", user=STRANGER,
                                           language="ru"))[0].text)  # fmt: skip
        user = render_html((await _say(fake, "/set views <b>k</b> 4", user=USER))[0].text)
        assert monitor.state.overrides.of("views") == {}
    for (text, wanted), said in zip(ODD, got, strict=True):
        assert wanted in said, (text[:60], said)
        assert "Usage: /" in said, said
        assert len(said) < 4096
    assert not _refused(fake, 0)
    assert stranger.startswith("Извините, менять настройки"), stranger
    assert user.startswith("Sorry, only admins"), user


@pytest.mark.slow
async def test_a_metric_titled_in_html_whose_table_cannot_be_read(
    fake: FakeTelegram, embedded_spec: SourceSpec, tmp_path: Path
) -> None:
    """cannot_check gets the title escaped: a title with <b>, & and $ is shown as typed."""
    c = load_catalogue()
    title = "<b>Msgs</b> & $x\nline"
    metrics = {**c.metrics, "messages": replace(c.metrics["messages"], title=title, names={})}
    settings = settings_for(fake.url, embedded_spec, tmp_path / "s.db")
    source = embedded_spec.open(f"attack_{tmp_path.name[-12:]}")
    await seeding.seed(source, days=2, end=END)
    await source.execute("DROP TABLE message_actions")
    async with running(settings, fake, Clock(), schedule=False, source=source,
                       catalogue=replace(c, metrics=metrics)):  # fmt: skip
        said = await _say(fake, "/metric messages", user=USER, language="ru")
    assert not _refused(fake, 0)
    shown = render_html(said[0].text)
    assert "<b>Msgs</b> & $x" in shown, shown
    assert "Исправьте то, что названо" in shown, shown


@pytest.mark.slow
async def test_a_title_in_html_is_escaped_in_set_and_metric_replies(
    fake: FakeTelegram, embedded_spec: SourceSpec, tmp_path: Path
) -> None:
    c = load_catalogue()
    title = "<b>Views</b> & $x\nline"
    views = replace(c.metrics["views"], title=title, names={"ru": {"title": "<i>Просмотры"}})
    settings = settings_for(fake.url, embedded_spec, tmp_path / "s.db")
    async with running(settings, fake, schedule=False,
                       catalogue=replace(c, metrics={**c.metrics, "views": views})):  # fmt: skip
        said = [render_html((await _say(fake, text, user=ADMIN, language=lang))[0].text)
                for text, lang in (("/set views k 4", None), ("/set views k 4", "ru"),
                                   ("/metric views os=Nowhere", None),
                                   ("/metric views os=Nowhere", "ru"),
                                   ("/reset views", None))]  # fmt: skip
    assert not _refused(fake, 0)
    assert said[0].startswith("✅ <b>Views</b> & $x"), said[0]
    assert "<i>Просмотры" in said[1], said[1]
    assert "has no slice 'os=Nowhere'" in said[2] and "<b>Views</b>" in said[2], said[2]
    assert "<i>Просмотры" in said[3], said[3]


async def test_set_and_backtest_on_two_days_of_data_say_where_the_data_begins(
    fake: FakeTelegram, embedded_spec: SourceSpec, tmp_path: Path
) -> None:
    """On a source that holds two days, /set's preview said "over the last 7 days": it says
    since when, as /backtest does. The data begins mid-bucket (12:07:30), a bucket both leave
    out, and the CLI's backtest named that bucket (12:00) as its first: all three say 12:15."""
    settings = settings_for(fake.url, embedded_spec, tmp_path / "s.db")
    source = embedded_spec.open(f"short_{tmp_path.name[-12:]}")
    await seeding.seed(source, days=2, end=END)
    async with running(settings, fake, Clock(), schedule=False, source=source, warm=False):
        said = [render_html((await _say(fake, text, user=ADMIN, language=lang))[0].text)
                for text, lang in (("/set views k 4", None), ("/set views k 5", "ru"),
                                   ("/set views k 5", None),
                                   ("/backtest views", None))]  # fmt: skip
    first = END - timedelta(days=2) + timedelta(minutes=7.5)  # 11-25 12:15
    assert f"{first:%H:%M}" == "12:15"
    assert re.search(r"\nSince 11-25 12:15 UTC, where the data begins, this would have raised "
                     r"(\d+ alerts? instead of \d+ \([+-]\d+\)|the same \d+ alerts?)\.\n",
                     said[0]), said[0]  # fmt: skip
    assert re.search(r"\nС 25\.11 12:15 UTC \(с начала данных\) это дало бы (\d+ оповещени|"
                     r"столько же оповещений: \d+\.)", said[1]), said[1]  # fmt: skip
    assert "7 days" not in said[0] and "7 дней" not in said[1], said
    assert "nothing changed" in said[2], said[2]  # no replay, no claim about the days
    assert "raised" in said[3] and " since 11-25 12:15 UTC, where the data begins " in said[3]
    try:
        collected = await collect(source, load_catalogue(), now=END, days=7,
                                  delay=settings.data_delay, metrics=["views"])  # fmt: skip
        before = await collect(source, load_catalogue(), now=END - timedelta(days=3), days=7,
                               delay=settings.data_delay, metrics=["views"])  # fmt: skip
        after = await collect(source, load_catalogue(), now=END + timedelta(days=10), days=7,
                              delay=settings.data_delay, metrics=["views"])  # fmt: skip
    finally:
        await source.close()  # the embedded database is one process's, and one session's
    assert collected.start == first, collected.start
    assert before.empty == ["feed_actions"] and not before.later, before
    assert after.empty == ["feed_actions"], after  # its data ended before the days asked
    held = pd.Series([np.nan, 1.0, np.nan], index=pd.DatetimeIndex(
        [first + timedelta(minutes=15 * i) for i in range(3)]))  # fmt: skip
    assert data_begins([held], first) == first + timedelta(minutes=15)
    assert data_begins([held], first + timedelta(minutes=30)) is None  # it ended before


@pytest.mark.parametrize(("alerts", "held", "lang", "said"), [
    ((0, 0), 7, "en", "Over the last 7 days this would have raised no alert, nor did the old "
     "value."),
    ((0, 0), 2, "ru", "С 25.11 12:15 UTC (с начала данных) это не дало бы ни одного "
     "оповещения, как и прежнее значение."),
    ((3, 3), 7, "en", "Over the last 7 days this would have raised the same 3 alerts."),
    ((3, 1), 2, "en", "Since 11-25 12:15 UTC, where the data begins, this would have raised "
     "1 alert instead of 3 (-2)."),
])  # fmt: skip
def test_a_set_preview_says_what_the_replay_found(
    alerts: tuple[int, int], held: int, lang: str, said: str
) -> None:
    """/set's sentence on its replay: "no alert, nor did the old value" where neither raised
    any (not "the same 0 alerts"); since where the data begins on fewer days than 7."""
    from zoneinfo import ZoneInfo

    from bot.chat.previews import replayed
    from bot.core.i18n import translator
    from bot.service.answers import SetResult

    end = END.replace(minute=15, second=0)
    result = SetResult("views", "k", 3.25, 4.0, *alerts, 7,
                       (end - timedelta(days=held), end))  # fmt: skip
    assert replayed(result, ZoneInfo("UTC"), translator(lang)) == said
