"""Alerts in English and Russian: each chat hears an incident in its own language (its /lang
choice, else LANGUAGE), through the real notifier, outbox and aiogram against the fake Bot API;
edits after a button keep the chat's language and the keyboard; Russian plurals are right; a
Russian alert with awkward names stays valid HTML within Telegram's caption limit."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

import detectors
from bot.app import BotApp
from bot.core.buttons import Action, unpack
from bot.core.check_text import check_summary
from bot.core.i18n import translator
from bot.core.incidents import Incident
from bot.core.plan import Digest, Open, Resolve
from bot.core.reasons import detector_text, reason_text
from bot.core.render import Style, render_digest, render_open, render_resolve
from bot.core.report import SeriesResult
from bot.core.text import CAPTION_LIMIT, plain
from bot.core.wording import duration_text, metric_caption
from bot.service.monitor import Monitor
from bot.settings import Settings
from bot.state import State
from detectors import Status, Verdict
from queries.catalogue import Catalogue, load_catalogue
from queries.series import Slice
from queries.sources import EmbeddedSource
from tests.conftest import PRISTINE, SourceSpec, copy_database
from tests.fakebot import Call, FakeTelegram, render_html, utf16_length
from tests.test_bot import (
    ALERTS,
    COMMAND_BUDGET,
    USER,
    Clock,
    fake,
    hold_history,
    reply,
    settings_for,
)
from tests.test_cli import alertbot
from tests.test_plan import CATALOGUE, NOW, planned, report, result

__all__ = ["fake"]  # the fixture, shared with tests/test_bot.py

RU_CHAT, MEMBER = -200, 7
ODD = "Азербайджанская Республика: <b>Баку</b> & «Гянджа» " * 12  # ~620 characters
ODD_DB = "odd_ru"


@asynccontextmanager
async def running(settings: Settings, fake: FakeTelegram, catalogue: Catalogue | None = None,
                  *, warm: bool = True) -> AsyncIterator[Monitor]:  # fmt: skip
    """The bot as `alertbot run` starts it (with `catalogue`), stopped cleanly afterwards;
    `warm=False`: no /check charts drawn ahead (test_bot.running's), for tests never asking."""
    source = EmbeddedSource(settings.embedded_path, database=settings.clickhouse_database)
    if catalogue is None:
        hold_history(settings)
    monitor = Monitor(source=source, catalogue=catalogue or load_catalogue(),
                      state=State(settings.state_path), settings=settings,
                      clock=Clock())  # fmt: skip
    monitor.budget = COMMAND_BUDGET
    app = BotApp(settings, monitor)
    monitor.warm = warm
    stop = asyncio.Event()
    task = asyncio.create_task(app.run(stop=stop, handle_signals=False, polling_timeout=1,
                                       schedule=True, drain_every=0.2))  # fmt: skip
    try:
        await fake.wait_for(lambda c: c.method == "setMyCommands")
        yield monitor
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=30)
        monitor.state.close()
        await source.close()


async def alert_in(fake: FakeTelegram, chat: int) -> Call:
    calls = await fake.wait_for(lambda c: c.method == "sendPhoto" and c.chat_id == chat
                                and bool(c.buttons), seconds=120)  # fmt: skip
    return calls[0]


def labels(call: Call) -> dict[Action, str]:
    out = {}
    for b in call.buttons:
        unpacked = unpack(b["callback_data"])
        assert unpacked is not None
        out[unpacked[0]] = b["text"]
    return out


def choose(path: Path, chat: int, lang: str) -> None:
    state = State(path)
    try:
        state.languages.set(chat, lang, None, datetime.now(UTC))
    finally:
        state.close()


async def test_a_russian_chat_and_an_english_chat_hear_the_same_incident_each_in_its_own(
    fake: FakeTelegram, embedded_spec: SourceSpec, tmp_path: Path
) -> None:
    """Two alert chats, one of which chose Russian: the ongoing incident reaches each once, in
    its language (caption, numbers, buttons); an Ack pressed in the Russian chat edits the
    Russian alert in Russian and the English one in English, and both keep a keyboard that
    offers Un-ack, False alarm, the mutes and the chart."""
    path = tmp_path / "s.db"
    choose(path, RU_CHAT, "ru")
    fake.set_member(RU_CHAT, MEMBER)
    settings = settings_for(fake.url, embedded_spec, path, alert_chat_ids=(ALERTS, RU_CHAT))
    async with running(settings, fake, warm=False):  # no /check here: its charts not drawn
        english, russian = await alert_in(fake, ALERTS), await alert_in(fake, RU_CHAT)
        ack = next(b["callback_data"] for b in russian.buttons
                   if (unpack(b["callback_data"]) or (None,))[0] is Action.ACK)  # fmt: skip
        incident_id = unpack(ack)[1][0]  # type: ignore[index]
        await fake.press(ack, user=MEMBER, message=russian, first_name="Ольга <Аналитик>")
        edits = await fake.wait_for(lambda c: c.method == "editMessageCaption", count=2)
    en_text, ru_text = render_html(english.text), render_html(russian.text)
    assert "expected" in en_text and "ожидалось" not in en_text
    assert "ожидалось" in ru_text and "вне нормы с" in ru_text and "expected" not in ru_text
    assert labels(english)[Action.ACK] == "👀 Ack" and labels(russian)[Action.ACK] == "👀 Принято"
    assert labels(russian)[Action.MUTE] == "🔕 24 ч" and labels(russian)[Action.SHOW] == "📈 График"
    photos = {chat: [c for c in fake.calls if c.method == "sendPhoto" and c.chat_id == chat]
              for chat in (ALERTS, RU_CHAT)}  # fmt: skip
    assert len(photos[ALERTS]) == len(photos[RU_CHAT])  # each alert once in each chat
    by_chat = {c.chat_id: c for c in edits}
    ru_edit, en_edit = by_chat[RU_CHAT], by_chat[ALERTS]
    assert render_html(ru_edit.text).startswith("👀 принял(а) Ольга <Аналитик>")
    assert render_html(en_edit.text).startswith("👀 acknowledged by Ольга <Аналитик>")
    for edit in (ru_edit, en_edit):
        actions = {unpack(b["callback_data"]) for b in edit.buttons}
        assert {(Action.UNACK, (incident_id,)), (Action.FALSE, (incident_id,)),
                (Action.MUTE, (incident_id, 1)), (Action.MUTE, (incident_id, 24))} <= actions
        assert any(a is not None and a[0] is Action.SHOW for a in actions)
    assert labels(ru_edit)[Action.UNACK] == "↩️ Снять «Принято»"
    assert labels(ru_edit)[Action.FALSE] == "🙅 Ложная тревога"
    assert labels(en_edit)[Action.UNACK] == "↩️ Un-ack"


def odd_catalogue() -> Catalogue:
    """The bundled catalogue with titles that hold ':' and HTML, and a runbook and owner."""
    fields = {f.name for f in dataclasses.fields(CATALOGUE.metrics["views"])}
    extra: dict[str, Any] = {k: v for k, v in {"runbook": "https://wiki.example/runbook?a=1&b=<2>",
                                "owner": "@analytics <team>"}.items() if k in fields}  # fmt: skip
    odd = ": <i>лента</i> & co"
    metrics = {name: dataclasses.replace(m, title=f"{m.title}{odd}", **extra)
               for name, m in CATALOGUE.metrics.items()}  # fmt: skip
    if "names" in fields:  # the Russian titles, which Russian alerts show, are odd too
        metrics = {name: dataclasses.replace(m, names={**m.names, "ru": {
            **m.names.get("ru", {}), "title": f"{m.title_in('ru')}{odd}"}})
            for name, m in metrics.items()}  # fmt: skip
    return dataclasses.replace(CATALOGUE, metrics=metrics)


_odd_made: set[Path] = set()  # the embedded folders that hold ODD_DB already


async def copy_with_odd_os(spec: SourceSpec) -> None:
    """The seeded data (as seeded) in its own database, Android renamed to a long Cyrillic
    value with ':' and HTML (Android is the slice that is off at END). Made once per test
    session: the bots on it keep their clock at END, so nothing is ever added to it."""
    assert spec.path is not None
    if spec.path in _odd_made:
        return
    await copy_database(spec, PRISTINE, ODD_DB)
    source = spec.open(ODD_DB)
    name = ODD.replace("\\", "\\\\").replace("'", "\\'")
    try:
        tables = await source.query(f"SELECT table FROM system.columns WHERE database = "
                                    f"'{ODD_DB}' AND name = 'os'")  # fmt: skip
        for table in map(str, tables["table"]):  # rewrites the os column of the copy alone
            await source.execute(f"ALTER TABLE {table} UPDATE os = '{name}' WHERE os = "
                                 "'Android' SETTINGS mutations_sync = 1")  # fmt: skip
    finally:
        await source.close()
    _odd_made.add(spec.path)


@pytest.mark.slow
async def test_a_russian_alert_with_long_cyrillic_colons_and_html_is_valid_within_the_limit(
    fake: FakeTelegram, embedded_spec: SourceSpec, tmp_path: Path
) -> None:
    """LANGUAGE=ru, a slice value of ~620 Cyrillic characters with ':' and <b>, metric titles
    with ':' and <i>, a runbook URL with & and <, an owner with <: every alert goes out at the
    first try as HTML Telegram accepts, within 1024 rendered characters, in Russian, with the
    names shown as text, the owner and the runbook link kept, and Russian buttons; an Ack
    edits it in Russian too (the chat chose no language: LANGUAGE holds)."""
    assert embedded_spec.kind == "embedded"  # the odd copy is made inside chDB
    await copy_with_odd_os(embedded_spec)
    settings = settings_for(fake.url, embedded_spec, tmp_path / "s.db", language="ru",
                            clickhouse_database=ODD_DB,
                            dashboard_url="https://bi.example/d?m={metric}&s={slice}")  # fmt: skip
    fake.set_member(ALERTS, MEMBER)
    async with running(settings, fake, odd_catalogue()):
        first = await alert_in(fake, ALERTS)
        await asyncio.sleep(1)
        ack = next(b["callback_data"] for b in first.buttons
                   if (unpack(b["callback_data"]) or (None,))[0] is Action.ACK)  # fmt: skip
        await fake.press(ack, user=MEMBER, message=first, first_name="Ольга")
        edit = (await fake.wait_for(lambda c: c.method == "editMessageCaption"))[0]
        # /metric takes the rest of the line as the slice: a value with spaces is reachable,
        # written as os=VALUE or as the value alone
        for asked in (f"os={ODD.strip()}", ODD.strip()):
            answer = (await reply(fake, f"/metric views {asked}", user=USER))[0]
            assert fake.sent_to(USER)[-1].method == "sendPhoto", render_html(answer)
            assert "Азербайджанская Республика: <b>Баку</b>" in render_html(answer)
    refused = [c.method for c in fake.calls if "!" in c.method]
    assert refused == [], refused
    photos = [c for c in fake.calls if c.method == "sendPhoto" and c.chat_id == ALERTS]
    assert photos
    shown = [render_html(c.text) for c in photos]
    assert all(c.data.get("parse_mode") == "HTML" and c.buttons for c in photos)
    assert all(utf16_length(text) <= CAPTION_LIMIT for text in shown)
    assert any("Азербайджанская Республика: <b>Баку</b>" in text for text in shown), shown
    assert all(": <i>лента</i> & co" in text and "ожидалось" in text for text in shown)
    assert all(labels(c)[Action.FALSE] == "🙅 Ложная тревога" for c in photos)
    # the chat chose nothing: the edit after Ack speaks LANGUAGE too, within the limit
    assert render_html(edit.text).startswith("👀 принял(а) Ольга")
    assert utf16_length(render_html(edit.text)) <= CAPTION_LIMIT
    assert labels(edit)[Action.UNACK] == "↩️ Снять «Принято»"
    assert all('<a href="https://bi.example/d?m=' in c.text for c in photos)
    if "owner" in {f.name for f in dataclasses.fields(CATALOGUE.metrics["views"])}:
        assert all("ответственный: @analytics <team>" in text for text in shown)
        link = '<a href="https://wiki.example/runbook?a=1&amp;b=&lt;2&gt;">инструкция</a>'
        assert all(link in c.text for c in photos)


@pytest.mark.parametrize(
    ("minutes", "english", "russian"),
    [(1, "1 min", "1 минуту"), (2, "2 min", "2 минуты"), (5, "5 min", "5 минут"),
     (21, "21 min", "21 минуту"), (60, "1 h", "1 час"), (120, "2 h", "2 часа"),
     (300, "5 h", "5 часов"), (21 * 60, "21 h", "21 час"), (22 * 60 + 5, "22 h 5 min",
     "22 часа 5 минут"), (3 * 24 * 60 + 60, "3 d 1 h", "3 дня 1 час")],
)  # fmt: skip
def test_durations_take_each_languages_plural_forms(minutes: int, english: str,
                                                    russian: str) -> None:  # fmt: skip
    """1, 2, 5 and 21 minutes, hours and days: English and the three Russian forms (by the
    last digits: 21 takes the form of 1), as an alert says how long a metric has been off."""
    delta = timedelta(minutes=minutes)
    assert duration_text(delta, translator("en")) == english
    assert duration_text(delta, translator("ru")) == russian


def _open_in_both_languages(head, verdict: Verdict, incident: Incident):
    """The opening alert of `incident` for `head` with `verdict`, in English and in Russian."""
    head = dataclasses.replace(head, verdict=verdict)
    style = Style(ZoneInfo("Europe/Moscow"), timedelta(minutes=15))
    en = render_open(Open(incident, head, ()), incident, style)
    return en, render_open(Open(incident, head, ()), incident, style.speaking("ru"))


def test_the_resolution_and_a_half_width_reason_read_in_plain_words_in_both_languages() -> None:
    """A reason the detector words in half-widths reaches neither an English nor a Russian
    alert as such; the resolution counts in the language's plurals."""
    head = result("views", status=Status.ANOMALY, value=40.0)
    odd = Verdict(Status.ANOMALY, head.verdict.bucket, 40.0, 100.0, 90.0, 110.0, -6.0,
                  "below the expected range (6.0x the band's half-width)")  # fmt: skip
    incident = Incident("views", NOW - timedelta(hours=2), NOW, id=1, alert_id=2)
    en, ru = _open_in_both_languages(head, odd, incident)
    assert "half-width" not in en.text and "6.0 times as far from the expected value" in en.text
    assert "half-width" not in ru.text and "отклонение — 6,0 × обычный разброс" in ru.text
    assert "-60,0%" in plain(ru.text) and "−" not in plain(ru.text)
    later = NOW + timedelta(minutes=1)
    style = Style(ZoneInfo("Europe/Moscow"), timedelta(minutes=15)).speaking("ru")
    resolve = render_resolve(Resolve(incident, None, quiet=False), incident, later, "Views",
                             style)  # fmt: skip
    assert "снова в норме спустя 2 часа 1 минуту" in resolve.text


def test_a_metrics_own_dashboard_replaces_dashboard_url_in_its_alerts() -> None:
    """The catalogue's per-metric `dashboard` links that metric's alerts (slice filled in and
    URL-encoded); the others keep DASHBOARD_URL. It used to be read and never used."""
    views = dataclasses.replace(CATALOGUE.metrics["views"],
                                dashboard="https://bi.example/views?os={slice}")  # fmt: skip
    head = dataclasses.replace(result("views", Slice("os", "iOS & <Android>"),
                                      status=Status.ANOMALY, value=40.0), metric=views)  # fmt: skip
    other = result("likes", status=Status.ANOMALY, value=40.0)
    incident = Incident("views", NOW - timedelta(hours=1), NOW, id=1, alert_id=2)
    style = dataclasses.replace(Style(ZoneInfo("UTC"), timedelta(minutes=15)),
                                dashboard="https://bi.example/all?m={metric}")  # fmt: skip
    own = render_open(Open(incident, head, ()), incident, style)
    assert '<a href="https://bi.example/views?os=os%3DiOS%20%26%20%3CAndroid%3E">' in own.text
    rest = render_open(Open(incident, other, ()), incident, style)
    assert '<a href="https://bi.example/all?m=likes">dashboard</a>' in rest.text


def _followed(basis: list[str | None]) -> SeriesResult:
    """The total at 71 views against a range of 60 - 80, with this basis on its band's rows."""
    plain = result("views", value=71.0)
    band = plain.band.assign(basis=basis, expected=70.0, lower=60.0, upper=80.0)
    verdict = dataclasses.replace(plain.verdict, expected=70.0, lower=60.0, upper=80.0)
    return SeriesResult(plain.metric, plain.slice, plain.series, band, verdict, "seasonal")


def test_an_incident_the_detector_re_based_away_says_the_metric_holds_a_new_level() -> None:
    """Views fell for good; after the change held, the detector's range follows the new level
    (or the level accepted in the chat) and the incident resolves. That is no "back to
    normal": the resolution says the metric holds a new level and the range follows it, in
    English and in Russian. Where the range did not move, or already followed a level before
    the incident began (a spike days after a re-base), it says back to normal, as before."""
    rows = len(result("views").band)
    re_based = _followed(["daily"] * 3 + ["daily, rebased"] * (rows - 3))
    accepted = _followed(["weekly"] * 2 + ["weekly, accepted"] * (rows - 2))
    before = _followed(["daily, rebased"] * rows)  # re-based before the incident opened
    back = result("views", value=101.0)
    incident = Incident("views", NOW - timedelta(minutes=100), NOW, id=1, alert_id=2)
    later = NOW + timedelta(minutes=1)
    style = Style(ZoneInfo("Europe/Moscow"), timedelta(minutes=15))
    texts = {}
    for lang in ("en", "ru"):
        for name, total in (("re_based", re_based), ("accepted", accepted), ("before", before),
                            ("back", back)):  # fmt: skip
            texts[lang, name] = render_resolve(Resolve(incident, total, quiet=False), incident,
                                               later, total.metric, style.speaking(lang)).text
    for name in ("re_based", "accepted"):
        assert texts["en", name].startswith("📏 <b>Views</b> holds a new level after 1 h 41 min")
        assert "expected range now follows it" in texts["en", name]
        assert "back to normal" not in texts["en", name]
        assert texts["en", name].endswith(": 71 (expected 60 – 80)")
        assert "держится на новом уровне" in texts["ru", name]
        assert "снова в норме" not in texts["ru", name]
    for name in ("before", "back"):
        assert "back to normal" in texts["en", name] and "снова в норме" in texts["ru", name]


def test_a_sustained_shift_alert_on_an_odd_slice_reads_in_both_languages() -> None:
    """A bucket just outside, fired by the sustained shift, on a slice named with ~600 Cyrillic
    characters, ':' and <b>: the alert says why it fired in plain words in English and Russian,
    shows the name as text (escaped), and stays within a caption."""
    odd = "Республика: <b>Баку</b> " + "Очень длинное название региона " * 20
    head = result("views", Slice("country", odd), status=Status.ANOMALY, value=88.0)
    shift = Verdict(Status.ANOMALY, head.verdict.bucket, 88.0, 100.0, 90.0, 110.0, -1.2,
                    "below the expected range (a sustained shift over the last 2 buckets); "
                    "range from the same time on previous days")  # fmt: skip
    incident = Incident("views", NOW - timedelta(minutes=15), NOW, id=1, alert_id=2)
    en, ru = _open_in_both_languages(head, shift, incident)
    assert "the last 2 intervals taken together show a lasting drop" in en.text
    assert "в сумме за последние 2 интервала — устойчивое падение" in ru.text
    for draft in (en, ru):
        assert "half-width" not in draft.text and "<b>Баку</b>" not in draft.text
        assert "Республика: &lt;b&gt;Баку" in draft.text
        assert utf16_length(render_html(draft.text)) <= CAPTION_LIMIT


def test_an_unknown_language_exits_2_naming_language(tmp_path: Path) -> None:
    """LANGUAGE=de is refused at start with exit 2 and one sentence naming LANGUAGE and the
    languages there are."""
    done = alertbot("check", env={"LANGUAGE": "de", "STATE_PATH": str(tmp_path / "s.db"),
                                  "EMBEDDED_PATH": str(tmp_path / "demo")})  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert "LANGUAGE='de'" in done.stderr and "en or ru" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize(
    ("reason", "english", "russian"),
    [("below the expected range (3 of the last 3 buckets outside)",
      "below the expected range for the last 3 intervals in a row",
      "ниже ожидаемого диапазона (интервалов подряд: 3)"),
     # persist_m=1: one interval, not "for the last 1 interval"
     ("above the expected range (1 of the last 1 buckets outside)",
      "above the expected range in the last interval",
      "выше ожидаемого диапазона в последнем интервале"),
     ("above the expected range (5 of the last 6 buckets outside); range from previous days, "
      "shaped to this weekday by previous weeks, re-based after a lasting level change",
      "above the expected range in 5 of the last 6 intervals; expected range from previous "
      "days, shaped to this weekday by previous weeks, adjusted after a lasting change of level",
      "выше ожидаемого диапазона в 5 из последних 6 интервалов; ожидаемый диапазон — по "
      "предыдущим дням с поправкой на этот день недели по прошлым неделям, диапазон пересчитан "
      "после устойчивого сдвига уровня"),
     ("below expected for the last 4 buckets together (a sustained shift no single bucket "
      "shows)",
      "below expected over the last 4 intervals taken together: a lasting shift that no single "
      "interval shows",
      "ниже ожидаемого в сумме за последние 4 интервала: устойчивый сдвиг, незаметный в "
      "отдельном интервале"),
     ("below expected for the last 4 buckets together (3 of them outside the band); range from "
      "the same time on previous days",
      "below expected over the last 4 intervals taken together, 3 of them outside the range; "
      "expected range from the same time on previous days",
      "ниже ожидаемого в сумме за последние 4 интервала, из них вне диапазона: 3; ожидаемый "
      "диапазон — по тому же времени суток за предыдущие дни"),
     ("below the expected range (a sudden move, 2.6x the largest of the last 96 buckets)",
      "below the expected range after a sudden drop, 2.6 times the largest change of the last 96 "
      "intervals",
      "ниже ожидаемого диапазона после резкого падения: в 2,6 раза больше самого большого "
      "изменения за последние 96 интервалов"),
     ("above the expected range (a sudden move, 12.0x the largest of the last 21 buckets); "
      "range from the same time on previous days",
      "above the expected range after a sudden jump, 12.0 times the largest change of the last 21 "
      "intervals; expected range from the same time on previous days",
      "выше ожидаемого диапазона после резкого скачка: в 12,0 раза больше самого большого "
      "изменения за последний 21 интервал; ожидаемый диапазон — по тому же времени суток за "
      "предыдущие дни"),
     ("below the expected range (a sustained shift over the last 2 buckets)",
      "below the expected range, and the last 2 intervals taken together show a lasting drop",
      "ниже ожидаемого диапазона, в сумме за последние 2 интервала — устойчивое падение"),
     ("above the expected range (a sustained shift over the last 4 buckets); range from the "
      "same time on previous days",
      "above the expected range, and the last 4 intervals taken together show a lasting rise; "
      "expected range from the same time on previous days",
      "выше ожидаемого диапазона, в сумме за последние 4 интервала — устойчивый рост; "
      "ожидаемый диапазон — по тому же времени суток за предыдущие дни"),
     ("no data, while about 1,234 was expected", "no data, while about 1,234 was expected",
      "нет данных, хотя ожидалось около 1\u00a0234"),
     ("above the band, but the change is below the minimum effect (8.7% of 1,250.5, less than "
      "10%)",
      "above the range, but the change is too small to matter (8.7% of 1,250.5; an alert needs "
      "10%)",
      "выше диапазона, но изменение слишком мало для оповещения (8,7% от 1\u00a0250,5; нужно "
      "10%)"),
     ("below the band, but the change is below the minimum effect (3.00, less than 20.0)",
      "below the range, but the change is too small to matter (3.00; an alert needs 20.0)",
      "ниже диапазона, но изменение слишком мало для оповещения (3,00; нужно 20,0)"),
     ("data is late: the newest bucket of feed_actions is only partly there (its last event came "
      "12 min 1 s before the bucket's end, where about 8,960 were due); judged once it fills",
      "data is late: the newest interval of feed_actions is not complete yet; judged once it "
      "fills",
      "данные запаздывают: последний интервал feed_actions ещё неполный; оценка — когда он "
      "заполнится"),
     # A band of no width (the rolling IQR of a constant series) left: no jargon of widths.
     ("above the expected range (the band has no width there)", "above the expected range",
      "выше ожидаемого диапазона"),
     ("a reason no one wrote yet", "a reason no one wrote yet", "a reason no one wrote yet")],
)  # fmt: skip
def test_detector_reasons_read_in_the_chats_language(reason: str, english: str,
                                                     russian: str) -> None:  # fmt: skip
    """Each shape of a detector's reason is said again in English and Russian (all buckets out:
    'in a row'); a reason of a shape not known yet is kept as written, never dropped."""
    assert reason_text(reason, translator("en")) == english
    assert reason_text(reason, translator("ru")) == russian


@pytest.mark.parametrize("method", sorted(detectors.METHODS))
def test_each_detector_is_described_in_the_chats_language(method: str) -> None:
    """`/metric`'s "detector:" line: every detector's description (English in `check --json`)
    is said in Russian with Russian numbers, not kept in English; one not known stays as is."""
    described = detectors.build({"method": method, "k": 3.25}).describe()
    english, russian = detector_text(described, translator("en")), detector_text(
        described, translator("ru"))
    assert "3.25" in english and "3,25" in russian
    assert not any(word in russian for word in ("median", "last", "days", "fits", "buckets"))
    assert detector_text("zscore (window 30)", translator("ru")) == "zscore (window 30)"


def test_check_says_why_a_total_outside_its_range_is_not_an_anomaly() -> None:
    """/check's lines: a total below its range that the rule holds back (the change too small
    for `min_rel_change`) is marked 🟡, not a bare 🟢, and its line says why, in the chat's
    language; totals within range or alerting get no reason. /metric marks it the same way.
    Each total is named by its title, as its alerts name it."""
    base = result("views", value=85.0)
    held = dataclasses.replace(base, verdict=Verdict(
        Status.OK, base.verdict.bucket, 85.0, 100.0, 90.0, 110.0, -1.5,
        "below the band, but the change is below the minimum effect (15.0% of 100, less than "
        "20%)"))  # fmt: skip
    check = report(held, result("likes", status=Status.ANOMALY, value=60.0))
    zone = ZoneInfo("UTC")
    english = check_summary(check, zone=zone, t=translator("en"))
    russian = check_summary(check, zone=zone, t=translator("ru"))
    assert ("\n🟡 Views: 85 (range 90 – 110) — below the range, but the change is too small to "
            "matter (15.0% of 100; an alert needs 20%)\n") in english, english  # fmt: skip
    assert ("\n🟡 Просмотры: 85 (диапазон 90 – 110) — ниже диапазона, но изменение слишком мало "
            "для оповещения (15,0% от 100; нужно 20%)\n") in russian, russian  # fmt: skip
    assert "\n🔴 Likes: 60 (range 90 – 110)\n" in english, english
    assert "\n🟢 Feed active users: 100 (range 90 – 110)\n" in english, english
    assert english.count("🟡") == 1 and "—" not in english.split("🔴")[1], english
    # The interval by its start and its end, in /check and /metric.
    start = held.verdict.bucket
    span = f"{start:%Y-%m-%d %H:%M}–{start + timedelta(minutes=15):%H:%M} UTC"
    assert span in english.splitlines()[0], english
    assert span in metric_caption(held, zone=zone, muted=None, t=translator("en"))
    # /metric says the same of it: not a bare "ok" beside a value below its range.
    caption = metric_caption(held, zone=zone, muted=None, t=translator("en"))
    assert "🟡 outside the range, not alerting" in caption and "🟢" not in caption
    assert "🟡 вне диапазона, без оповещения" in metric_caption(held, zone=zone, muted=None,
                                                                 t=translator("ru"))
    inside = metric_caption(result("views"), zone=zone, muted=None, t=translator("en"))
    assert "🟢 ok" in inside and "🟡" not in inside
    young = dataclasses.replace(base, verdict=Verdict(
        Status.UNKNOWN, base.verdict.bucket, 85.0, None, None, None, None,
        "too little history for an expected range"))  # fmt: skip
    lines = metric_caption(young, zone=zone, muted=None, t=translator("en")).splitlines()
    assert "value <b>85</b>, no expected range yet" in lines and "—" not in lines[2], lines


def test_check_says_how_to_see_the_slices_it_leaves_out() -> None:
    """/check names four slices off of a metric, as its alert does; past them it says how
    many more there are and, in the chat's language, a command that shows one of them."""
    off = [result("views", Slice("country", f"C{n}"), status=Status.ANOMALY, value=60.0)
           for n in range(14)]  # fmt: skip
    check = report(result("views", status=Status.ANOMALY, value=60.0), *off)
    zone = ZoneInfo("UTC")
    english = check_summary(check, zone=zone, t=translator("en"))
    russian = check_summary(check, zone=zone, t=translator("ru"))
    listed = ", ".join(f"country=C{n} -40.0%" for n in range(4))
    assert f"\n• Views (views): {listed} and 10 more\n" in plain(english), english
    assert plain(english).endswith(
        "\nAny slice: /metric METRIC SLICE, e.g. /metric views country=C4"), english
    assert plain(russian).endswith(
        "\nЛюбой срез: /metric МЕТРИКА СРЕЗ, например /metric views country=C4"), russian


@pytest.mark.parametrize(("count", "head"), [(4, "4 метрики вне нормы"), (5, "5 метрик вне нормы")])
def test_a_russian_digest_counts_metrics_in_russian_plurals(count: int, head: str) -> None:
    """Four and five metrics at once: one digest whose head takes the Russian form for the
    number, with Russian numbers and buttons, within a caption."""
    names = ["views", "likes", "feed_users", "messages", "ctr"][:count]
    intents = planned(report(*(result(m, status=Status.ANOMALY, value=50.0) for m in names)))
    digest = intents[0]
    assert isinstance(digest, Digest)
    saved = {o.incident.metric: dataclasses.replace(o.incident, id=n + 1, alert_id=n + 10)
             for n, o in enumerate(digest.opens)}  # fmt: skip
    style = Style(ZoneInfo("Europe/Moscow"), timedelta(minutes=15)).speaking("ru")
    draft = render_digest(digest, saved, style, digest_id=3)
    assert head in draft.text and "вместо" in draft.text and "-50,0%" in draft.text
    assert draft.with_chart and [b.text for b in draft.buttons[0]] == ["👀 Принято",
                                                                       "🙅 Ложная тревога"]
    assert [b.text for b in draft.buttons[1]] == ["🔕 1 ч", "🔕 24 ч", "📈 Графики"]
    assert {unpack(b.data) for row in draft.buttons for b in row} == {
        (Action.DIGEST_ACK, (3,)), (Action.DIGEST_FALSE, (3,)), (Action.DIGEST_MUTE, (3, 1)),
        (Action.DIGEST_MUTE, (3, 24)), (Action.DIGEST_SHOW, (3,))}


@pytest.mark.parametrize(
    ("n", "of", "russian"),
    [(5, 21, "выше ожидаемого диапазона в 5 из последних 21 интервала"),
     (2, 3, "выше ожидаемого диапазона в 2 из последних 3 интервалов"),
     (2, 2, "выше ожидаемого диапазона (интервалов подряд: 2)"),
     (1, 1, "выше ожидаемого диапазона в последнем интервале")],
)  # fmt: skip
def test_n_of_the_last_intervals_takes_the_form_of_the_number_the_noun_follows(
        n: int, of: int, russian: str) -> None:  # fmt: skip
    """'in N of the last OF intervals': the noun follows OF, so OF picks its Russian form
    (из 21 интервала, из 3 интервалов); all intervals out reads the same for any count but
    one, which is the last interval."""
    reason = f"above the expected range ({n} of the last {of} buckets outside)"
    assert reason_text(reason, translator("ru")) == russian


def test_a_russian_alert_names_the_metric_by_its_russian_title() -> None:
    """The bundled catalogue's `views` is "Views" in English and "Просмотры" in a Russian alert,
    reminder and resolution; the English title does not head Russian text."""
    head = result("views", status=Status.ANOMALY, value=40.0)
    incident = Incident("views", NOW - timedelta(hours=2), NOW, id=1, alert_id=2)
    style = Style(ZoneInfo("Europe/Moscow"), timedelta(minutes=15))
    ru, en = style.speaking("ru"), style.speaking("en")
    alert = render_open(Open(incident, head, ()), incident, ru)
    assert plain(alert.text).startswith("🔻 Просмотры") and "Views" not in alert.text
    assert "<b>Views</b>" in render_open(Open(incident, head, ()), incident, en).text
    later = NOW + timedelta(minutes=1)
    resolve = render_resolve(Resolve(incident, head, quiet=False), incident, later,
                             head.metric, ru)  # fmt: skip
    assert "<b>Просмотры</b> снова в норме" in resolve.text


@pytest.mark.slow
async def test_an_alert_whose_title_holds_an_emoji_keeps_its_chart(
    fake: FakeTelegram, embedded_spec: SourceSpec, tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    """Titles with an emoji and Chinese letters, which the charts' font cannot draw: every
    alert still goes out with its chart (the chart leaves the emoji out; the caption keeps the
    title whole), where the chart failed and the alert went as text."""
    metrics = {name: dataclasses.replace(m, title=f"📈 {m.title} 日本")
               for name, m in CATALOGUE.metrics.items()}  # fmt: skip
    catalogue = dataclasses.replace(CATALOGUE, metrics=metrics)
    settings = settings_for(fake.url, embedded_spec, tmp_path / "s.db")
    with caplog.at_level("ERROR"):
        async with running(settings, fake, catalogue):
            first = await alert_in(fake, ALERTS)
            await asyncio.sleep(1)
    assert "📈 " in render_html(first.text) and " 日本" in render_html(first.text), first.text
    texts = [c for c in fake.calls if c.chat_id == ALERTS and c.method == "sendMessage"
             and "📈" in c.text]  # fmt: skip
    assert texts == [], [c.text[:80] for c in texts]
    assert not [r for r in caplog.records if "chart" in r.getMessage()], caplog.text
