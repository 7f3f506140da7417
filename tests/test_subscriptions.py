"""/subscribe, /unsubscribe, /mute and /unmute through the real dispatcher and the fake Bot API:
each reply says what the chat (or the metric) gets after the command, `all` included, and in a
group only its administrators (or ADMIN_IDS) change what it gets."""

from __future__ import annotations

import asyncio
import re
import time
from datetime import timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from bot.core.buttons import Action, pack
from bot.core.incidents import Incident
from bot.state import State
from tests.conftest import END, SourceSpec
from tests.fakebot import FakeTelegram
from tests.test_bot import ADMIN, ALERTS, USER, answer_in, fake, running, settings_for
from tests.test_chat import MEMBER, STRANGER, _answer, _button, _say
from tests.test_ops import app_of

__all__ = ["fake"]  # the fixture, shared with tests/test_bot.py

GROUP = -555


async def test_unsubscribing_a_metric_while_subscribed_to_all_says_it_still_comes(
    fake: FakeTelegram, embedded_spec: SourceSpec, tmp_path: Path
) -> None:
    """Subscribed to all, /unsubscribe views says views still comes through "all" and how to
    stop it (never "no such subscription", never "no longer gets"), with or without its own
    subscription; without "all", /unsubscribe views stops it; in Russian too."""
    settings = settings_for(fake.url, embedded_spec, tmp_path / "s.db")
    async with running(settings, fake, schedule=False, warm=False) as monitor:
        await _say(fake, "/subscribe all", user=USER)
        through_all = (await _say(fake, "/unsubscribe views", user=USER))[0].text
        again = (await _say(fake, "/subscribe views", user=USER))[0].text
        monitor.state.subscriptions.add(USER, "views", END)
        own_and_all = (await _say(fake, "/unsubscribe views", user=USER))[0].text
        kept = monitor.state.subscriptions.of_chat(USER)
        await _say(fake, "/lang ru", user=USER)  # subscribing kept the chat's English
        russian = (await _say(fake, "/unsubscribe views", user=USER))[0].text
        await _say(fake, "/lang en", user=USER)
        gone = (await _say(fake, "/unsubscribe all", user=USER))[0].text
        none = (await _say(fake, "/unsubscribe views", user=USER))[0].text
        await _say(fake, "/subscribe views", user=USER)
        stopped = (await _say(fake, "/unsubscribe views", user=USER))[0].text
    for said in (through_all, own_and_all):
        assert "still gets alerts for <b>Views</b> (<code>views</code>)" in said, said
        assert "/unsubscribe all" in said and "/mute views" in said
        assert "no such subscription" not in said and "no longer" not in said
    assert "already gets alerts for every metric" in again, again
    assert kept == ["*"]
    assert ("по-прежнему получает оповещения по метрике <b>Просмотры</b> "
            "(<code>views</code>)") in russian, russian  # fmt: skip
    assert "no longer gets alerts for any metric" in gone
    assert "no subscription" in none and "still" not in none
    assert "🔕 This chat no longer gets alerts for <b>Views</b> (<code>views</code>)." in stopped


async def test_an_alert_chat_is_told_it_gets_every_alert_by_configuration(
    fake: FakeTelegram, embedded_spec: SourceSpec, tmp_path: Path
) -> None:
    """In a chat of ALERT_CHAT_IDS, /unsubscribe (any form) never claims alerts stop: it says
    the chat gets every alert by configuration, that only the operator changes that, and that
    /mute silences a metric for a while."""
    settings = settings_for(fake.url, embedded_spec, tmp_path / "s.db")
    async with running(settings, fake, schedule=False, warm=False):
        said = [(await _say(fake, text, user=MEMBER, chat=ALERTS))[0].text
                for text in ("/unsubscribe", "/unsubscribe views", "/subscribe views")]
    for text in said[:2]:
        assert "no longer" not in text and "no such subscription" not in text, text
        assert "gets every alert" in text and "ALERT_CHAT_IDS" in text
        assert "operator" in text and "/mute" in text
    assert "gets every alert" in said[2] and "now gets alerts" not in said[2]


async def test_unmute_says_what_stays_muted_and_unmute_all_lifts_every_mute(
    fake: FakeTelegram, embedded_spec: SourceSpec, tmp_path: Path
) -> None:
    """With everything muted, /unmute views says views stays muted until then by "all";
    /unmute all lifts every mute (all and per-metric) and names the ones it lifted; with
    nothing muted it says so in plain words."""
    settings = settings_for(fake.url, embedded_spec, tmp_path / "s.db")
    async with running(settings, fake, schedule=False, warm=False) as monitor:
        nothing = (await _say(fake, "/unmute all", user=ADMIN))[0].text
        await _say(fake, "/mute all 2h", user=ADMIN)
        status = (await _say(fake, "/status", user=ADMIN))[0].text
        assert re.search(r"muted: everything until \d\d-\d\d \d\d:\d\d \(UTC\)", status), status
        under_all = (await _say(fake, "/unmute views", user=ADMIN))[0].text
        await _say(fake, "/mute views 1 час", user=ADMIN)
        own_under_all = (await _say(fake, "/unmute views", user=ADMIN))[0].text
        russian = (await _say(fake, "/unmute views", user=ADMIN, language="ru"))[0].text
        await _say(fake, "/mute views 1 час", user=ADMIN)
        lifted = (await _say(fake, "/unmute all", user=ADMIN))[0].text
        left = monitor.state.mutes.active(END)
        after = (await _say(fake, "/unmute views", user=ADMIN))[0].text
    assert "were not muted" not in nothing and "Nothing was muted" in nothing, nothing
    for said in (under_all, own_under_all):
        assert "were not muted" not in said and "on again" not in said, said
        assert "stay muted until" in said and "UTC" in said and "/unmute all" in said
    assert ("Оповещения по метрике <b>Просмотры</b> (<code>views</code>) остаются заглушены "
            "до") in russian, russian  # fmt: skip
    assert "on again" in lifted and "<b>Views</b> (<code>views</code>)" in lifted, lifted
    assert left == []
    assert "were not muted" in after


async def test_in_a_group_only_its_administrators_change_subscriptions(
    fake: FakeTelegram, embedded_spec: SourceSpec, tmp_path: Path
) -> None:
    """In a group, a member's or a stranger's /subscribe and /unsubscribe are refused and
    change nothing; the group's administrator and an ADMIN_IDS user may; a private chat needs
    no one's leave."""
    settings = settings_for(fake.url, embedded_spec, tmp_path / "s.db")
    fake.set_member(GROUP, MEMBER, "member")
    fake.set_member(GROUP, USER, "administrator")
    async with running(settings, fake, schedule=False, warm=False) as monitor:
        subs = monitor.state.subscriptions
        subs.add(GROUP, "views", END)
        refused = [(await _say(fake, text, user=who, chat=GROUP))[0].text
                   for text, who in (("/unsubscribe", MEMBER), ("/subscribe all", STRANGER),
                                     ("/unsubscribe views", STRANGER))]  # fmt: skip
        untouched = subs.of_chat(GROUP)
        by_admin = (await _say(fake, "/subscribe all", user=USER, chat=GROUP))[0].text
        by_bot_admin = (await _say(fake, "/unsubscribe all", user=ADMIN, chat=GROUP))[0].text
        emptied = subs.of_chat(GROUP)
        private = (await _say(fake, "/subscribe views", user=STRANGER))[0].text
    for said in refused:
        assert "Only the group's administrators (or the bot's admins)" in said, said
    assert untouched == ["views"]
    assert "🔔" in by_admin and "🔕" in by_bot_admin and emptied == []
    assert "🔔" in private


async def test_the_mute_button_names_the_zone_as_mute_does(
    fake: FakeTelegram, embedded_spec: SourceSpec, tmp_path: Path
) -> None:
    """The alert's 🔕 button answers "muted until … Europe/Moscow", as /mute does, and so does
    the line it sends to the chat."""
    settings = settings_for(fake.url, embedded_spec, tmp_path / "s.db", timezone="Europe/Moscow")
    async with running(settings, fake) as monitor:
        await fake.wait_for(lambda c: c.method == "sendPhoto" and c.chat_id == ALERTS)
        command = (await _say(fake, "/mute views 2h", user=ADMIN))[0].text
        likes = monitor.state.incidents.open_for("likes")
        assert likes is not None and likes.id is not None
        await fake.press(pack(Action.MUTE, likes.id, 1), user=ADMIN, chat=ALERTS)
        toast = await fake.wait_for(lambda c: c.method == "answerCallbackQuery"
                                    and "Muted" in c.data.get("text", ""))  # fmt: skip
        line = await fake.wait_for(lambda c: c.chat_id == ALERTS
                                   and "likes</code>) muted" in c.text)  # fmt: skip
    assert "Europe/Moscow" in command
    assert toast[0].data["text"].endswith(" Europe/Moscow"), toast[0].data["text"]
    assert "Europe/Moscow by" in line[0].text


SUPERGROUP = -100555  # what GROUP became: Telegram gives a migrated group a new id


async def test_a_group_that_becomes_a_supergroup_keeps_its_subscriptions_and_language(
    fake: FakeTelegram, embedded_spec: SourceSpec, tmp_path: Path
) -> None:
    """A subscribed group upgraded to a supergroup (Telegram's service messages: the old id
    says migrate_to_chat_id, the new one migrate_from_chat_id) goes on getting what it chose,
    in its language, under its new id; the old id keeps nothing; the service messages get no
    answer."""
    settings = settings_for(fake.url, embedded_spec, tmp_path / "s.db")
    async with running(settings, fake, schedule=False, warm=False) as monitor:
        await _say(fake, "/subscribe views", user=ADMIN, chat=GROUP)
        await _say(fake, "/lang ru", user=ADMIN, chat=GROUP)
        for chat, kind, field, other in ((GROUP, "group", "migrate_to_chat_id", SUPERGROUP),
                                         (SUPERGROUP, "supergroup", "migrate_from_chat_id",
                                          GROUP)):  # fmt: skip
            await fake._push({"message": {
                "message_id": 500, "date": int(time.time()),
                "chat": {"id": chat, "type": kind, "title": "Team"},
                "from": {"id": USER, "is_bot": False, "first_name": "Ann"}, field: other,
            }})  # fmt: skip
        subs, langs = monitor.state.subscriptions, monitor.state.languages
        for _ in range(200):  # updates are handled side by side: until both are
            if langs.of_chat(GROUP) is None and subs.of_chat(SUPERGROUP):
                break
            await asyncio.sleep(0.05)
        status = (await _say(fake, "/status", user=USER, chat=SUPERGROUP))[0].text
        moved = (subs.of_chat(SUPERGROUP), langs.of_chat(SUPERGROUP))
        left = (subs.of_chat(GROUP), langs.of_chat(GROUP))
        answered = [c.text for c in fake.sent_to(GROUP)[2:]]
    assert moved == (["views"], "ru"), moved
    assert left == ([], None), left
    assert ("получает оповещения по метрикам: <b>Просмотры</b> (<code>views</code>);"
            in status), status  # fmt: skip
    assert answered == [], answered


@pytest.mark.slow
async def test_alerts_to_a_group_that_became_a_supergroup_go_to_its_new_id(
    fake: FakeTelegram, embedded_spec: SourceSpec, tmp_path: Path
) -> None:
    """Telegram refuses a send to a group upgraded to a supergroup (400, migrate_to_chat_id)
    before the bot saw the service message, or to an alert chat whose id is configured: the
    alert goes to the new id instead of being dropped, a subscribed group's subscriptions
    follow it, and the admins hear once, in their language, which id to put in
    ALERT_CHAT_IDS."""
    alerts_now = -1000000100
    settings = settings_for(fake.url, embedded_spec, tmp_path / "s.db")
    state = State(settings.state_path)
    state.subscriptions.add(GROUP, "*", END)
    state.subscriptions.add(ALERTS, "*", END)  # subscribed before it was configured, too
    state.languages.set(ADMIN, "ru", ADMIN, END)
    state.languages.set(ALERTS, "ru", ADMIN, END)
    state.close()
    fake.migrate(GROUP, SUPERGROUP)
    fake.migrate(ALERTS, alerts_now)
    async with running(settings, fake) as monitor:
        to_group = await fake.wait_for(lambda c: c.method == "sendPhoto" and c.chat_id
                                       == SUPERGROUP)  # fmt: skip
        to_alerts = await fake.wait_for(lambda c: c.method == "sendPhoto" and c.chat_id
                                        == alerts_now)  # fmt: skip
        told = await fake.wait_for(answer_in(ADMIN, text=str(alerts_now)))
        await fake.send("/status", user=USER)  # one more round through the dispatcher
        await fake.wait_for(lambda c: c.chat_id == USER)
        subs = (monitor.state.subscriptions.of_chat(SUPERGROUP),
                monitor.state.subscriptions.of_chat(GROUP))
        dropped = monitor.state.outbox.dropped(END - timedelta(days=3650))
        # From then on the configured id reaches the new one at once, once, in its language:
        # not the old id first (a refused request, the default language), nor the new twice.
        notifier = app_of(monitor).notifier
        later = notifier.recipients("views")
        speaks = notifier.by_language(later)
        refused = [c.text for c in fake.calls if c.method == "sendPhoto!400"
                   and c.chat_id == GROUP]  # fmt: skip
    assert refused[0] == to_group[0].text
    assert to_alerts[0].text != to_group[0].text and "ожидалось" in to_alerts[0].text  # its /lang
    assert subs == (["*"], []), subs
    assert sorted(later) == sorted([alerts_now, SUPERGROUP]), later
    assert alerts_now in speaks["ru"], speaks
    assert dropped == [], dropped
    notice = told[0].text
    assert str(ALERTS) in notice and "ALERT_CHAT_IDS" in notice, notice
    assert "супергрупп" in notice, notice  # the admin's language
    assert len([c for c in fake.sent_to(ADMIN) if str(alerts_now) in c.text]) == 1


async def test_an_alert_chat_that_became_a_supergroup_is_an_alert_chat_at_its_new_id(
    fake: FakeTelegram, embedded_spec: SourceSpec, tmp_path: Path
) -> None:
    """Until the configuration names the new id, the supergroup an alert chat became is the
    alert chat in everything, not only in where alerts go: /help and /status say it gets every
    alert, /subscribe says so instead of adding a subscription, and its members may
    acknowledge the alerts it shows."""
    alerts_now = -1000000100
    fake.migrate(ALERTS, alerts_now)
    fake.set_member(alerts_now, MEMBER)
    settings = settings_for(fake.url, embedded_spec, tmp_path / "s.db")
    async with running(settings, fake) as monitor:
        alert = (await fake.wait_for(lambda c: c.method == "sendPhoto" and bool(c.buttons)
                                     and c.chat_id == alerts_now, seconds=120))[0]  # fmt: skip
        ack = _button(alert, Action.ACK)
        query = await fake.press(ack, user=MEMBER, message=alert)
        acked = await _answer(fake, query)
        status = (await _say(fake, "/status", user=USER, chat=alerts_now))[0].text
        helped = (await _say(fake, "/help", user=USER, chat=alerts_now))[0].text
        subscribed = (await _say(fake, "/subscribe views", user=ADMIN, chat=alerts_now))[0].text
        subs = monitor.state.subscriptions.of_chat(alerts_now)
    assert "Acknowledged" in acked, acked
    assert "this chat gets every alert (it is an alert chat" in status, status
    assert "every alert by configuration" in helped, helped
    assert "gets every alert by configuration" in subscribed, subscribed
    assert subs == [], subs


async def test_an_alert_shown_before_its_chat_became_a_supergroup_may_be_marked_there(
    fake: FakeTelegram, embedded_spec: SourceSpec, tmp_path: Path
) -> None:
    """An alert the chat got before Telegram upgraded it: a member of the supergroup may
    acknowledge it or call it a false alarm, pressed at the new id or at the old one (the
    message's record keeps the id it was sent to, which no longer named an alert chat)."""
    alerts_now = -1000000100
    settings = settings_for(fake.url, embedded_spec, tmp_path / "s.db")
    async with running(settings, fake) as monitor:
        alert = (await fake.wait_for(lambda c: c.method == "sendPhoto" and bool(c.buttons)
                                     and c.chat_id == ALERTS, seconds=120))[0]  # fmt: skip
        fake.migrate(ALERTS, alerts_now)
        fake.set_member(alerts_now, MEMBER)
        await fake._push({"message": {
            "message_id": 5000, "date": int(time.time()),
            "chat": {"id": alerts_now, "type": "supergroup", "title": "Alerts"},
            "from": {"id": USER, "is_bot": False, "first_name": "Ann"},
            "migrate_from_chat_id": ALERTS,
        }})  # fmt: skip
        for _ in range(200):
            if monitor.state.alert_chats(settings.alert_chat_ids) == [alerts_now]:
                break
            await asyncio.sleep(0.05)
        assert monitor.state.alert_chats(settings.alert_chat_ids) == [alerts_now]
        query = await fake.press(_button(alert, Action.ACK), user=MEMBER, message=alert,
                                 chat=alerts_now)  # fmt: skip
        at_new = await _answer(fake, query)
        query = await fake.press(_button(alert, Action.FALSE), user=MEMBER, message=alert)
        at_old = await _answer(fake, query)
    assert "Acknowledged" in at_new, at_new
    assert "false alarm" in at_old.lower(), at_old


async def test_subscribing_names_the_incidents_already_going_on(
    fake: FakeTelegram, embedded_spec: SourceSpec, tmp_path: Path
) -> None:
    """An incident begun before a chat subscribed is not alerted again: /subscribe names the
    ones going on for what it subscribed to (since when, in TIMEZONE), so the chat does not
    wait on them; a metric with none open, or a resolved one, adds nothing, nor does one the
    chat got before (it heard of the incident then); in Russian too. A subscription said
    again changes nothing and says so."""
    path = tmp_path / "s.db"
    state = State(path)
    try:
        since = END - timedelta(minutes=45)
        state.incidents.save(Incident("views", since, since, since=since))
        state.incidents.save(Incident("likes", since, since, resolved_at=END))
    finally:
        state.close()
    settings = settings_for(fake.url, embedded_spec, path, timezone="Europe/Moscow")
    async with running(settings, fake, schedule=False):
        likes = (await _say(fake, "/subscribe likes", user=USER))[0].text
        views = (await _say(fake, "/subscribe views", user=USER))[0].text
        every = (await _say(fake, "/subscribe all", user=MEMBER, language="ru"))[0].text
        widened = (await _say(fake, "/subscribe all", user=USER))[0].text  # views it had
        await _say(fake, "/subscribe likes", user=ADMIN)
        again = (await _say(fake, "/subscribe likes", user=ADMIN))[0].text
        again_all = (await _say(fake, "/subscribe all", user=USER))[0].text
        again_ru = (await _say(fake, "/subscribe all", user=MEMBER, language="ru"))[0].text
    at = f"{since.astimezone(ZoneInfo('Europe/Moscow')):%Y-%m-%d %H:%M} Europe/Moscow"
    assert likes == ("🔔 This chat now gets alerts for <b>Likes</b> (<code>likes</code>). "
                     "/unsubscribe to stop.")
    # One incident is "it" ("Уже идут ... Их показывает" spoke of many).
    assert views.splitlines()[1] == ("An incident began before this chat subscribed and is "
                                     "still going on: <b>Views</b> (<code>views</code>) since "
                                     f"{at}. /check shows it.")  # fmt: skip
    assert every.splitlines()[1] == ("Инцидент начался до подписки этого чата и ещё идёт: "
                                     f"<b>Просмотры</b> (<code>views</code>) с {at}. Его "
                                     "показывает /check.")  # fmt: skip
    assert widened == "🔔 This chat now gets alerts for every metric. /unsubscribe to stop."
    # Said again, it changes nothing and says so (it said "now gets alerts" again).
    assert again == ("This chat already gets alerts for <b>Likes</b> (<code>likes</code>). "
                     "/unsubscribe likes to stop.")  # fmt: skip
    assert again_all == ("This chat already gets alerts for every metric. /unsubscribe all to "
                         "stop.")  # fmt: skip
    assert again_ru == ("Этот чат уже получает оповещения по всем метрикам. Отписаться — "
                        "/unsubscribe all.")  # fmt: skip
