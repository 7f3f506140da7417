"""/subscribe and /unsubscribe: which chats get which alerts (persisted per chat).

Each reply says what the chat gets after the command: a metric still comes through a
subscription to all, and a chat of ALERT_CHAT_IDS gets every alert whatever it subscribes to.
In a group, only its administrators (or ADMIN_IDS) change what it gets, as with /lang. A
group upgraded to a supergroup keeps what it gets (and its language) under its new id.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from aiogram import F, Router
from aiogram.filters import CommandObject
from aiogram.types import Message

from bot.chat.access import alert_chats, as_the_group, may_change_chat
from bot.chat.errors import UsageError
from bot.chat.guard import command_filter
from bot.chat.naming import metric_named
from bot.core.commands import ALL_WORDS
from bot.core.formatting import titled_name
from bot.core.i18n import Translator
from bot.core.wording import e, zoned
from bot.settings import Settings
from bot.state import ALL, State, StoreError
from queries.catalogue import Catalogue

__all__ = ["build"]

log = logging.getLogger(__name__)


def _alert_chat(t: Translator) -> str:
    """What a chat of ALERT_CHAT_IDS is told: its subscriptions change nothing."""
    return t._("This chat gets every alert by configuration: it is one of ALERT_CHAT_IDS, which "
               "only the bot's operator can change. To silence a metric here for a while, the "
               "bot's admins can /mute it.")  # fmt: skip


async def _refusal(message: Message, settings: Settings, t: Translator) -> str | None:
    """None when the sender may change what this chat gets (as for /lang), else why not."""
    if as_the_group(message):
        return None  # an anonymous administrator
    allowed = None
    if message.bot is not None and message.from_user is not None:
        allowed = await may_change_chat(message.bot, message.chat, message.from_user, settings)
    if allowed is None:
        return t._("I could not check that you are an administrator of this group; please try "
                   "again in a minute.")  # fmt: skip
    if not allowed:
        return t._("Only the group's administrators (or the bot's admins) can change what it "
                   "gets.")  # fmt: skip
    return None


def _target(command: CommandObject, catalogue: Catalogue, name: str, t: Translator) -> str:
    args = (command.args or "").split()
    if len(args) > 1:
        raise UsageError(t._("One metric, or all."), name)
    if not args or args[0].lower() in ALL_WORDS:
        return ALL
    return metric_named(catalogue, args[0], name, t).name


async def _may_change(message: Message, store: State, settings: Settings, t: Translator) -> bool:
    """Whether this chat's subscriptions may change at this user's word; if not, it is told
    why (an alert chat gets every alert by configuration; a group asks its administrators)."""
    if message.chat.id in alert_chats(store, settings):
        await message.answer(_alert_chat(t))
        return False
    refused = await _refusal(message, settings, t)
    if refused is not None:
        await message.answer(refused)
        return False
    return True


async def subscribe(
    message: Message, *, command: CommandObject, store: State, catalogue: Catalogue,
    settings: Settings, clock: Callable[[], datetime], t: Translator,
) -> None:  # fmt: skip
    metric = _target(command, catalogue, "subscribe", t)
    if not await _may_change(message, store, settings, t):
        return
    before = store.subscriptions.of_chat(message.chat.id)
    if metric != ALL and ALL in before:
        await message.answer(t._("This chat already gets alerts for every metric, {metric} "
                                 "included (/subscribe all). /unsubscribe all to stop.",
                                 metric=titled_name(metric, catalogue, t)))  # fmt: skip
        return
    if metric in before:  # said again: nothing changes, and nothing new to say of incidents
        await message.answer(
            t._("This chat already gets alerts for every metric. /unsubscribe all to stop.")
            if metric == ALL else
            t._("This chat already gets alerts for {metric}. {unsubscribe} to stop.",
                metric=titled_name(metric, catalogue, t),
                unsubscribe=f"/unsubscribe {e(metric)}"))  # fmt: skip
        return
    now = clock()
    store.subscriptions.add(message.chat.id, metric, now)
    if message.chat.type == "private" and store.languages.of_chat(message.chat.id) is None:
        # alerts reach this chat without a message to take the language from: keep it
        store.languages.set(message.chat.id, t.lang, None, now)
    said = (t._("🔔 This chat now gets alerts for every metric. /unsubscribe to stop.")
            if metric == ALL else
            t._("🔔 This chat now gets alerts for {metric}. /unsubscribe to stop.",
                metric=titled_name(metric, catalogue, t)))  # fmt: skip
    # An incident begun before is not alerted again: say so, or the chat waits on it (those
    # of metrics it got before, it heard of then).
    going = [(name, i.since or i.opened_at) for name in catalogue.metrics
             if metric in (ALL, name) and ALL not in before and name not in before
             and (i := store.incidents.open_for(name)) is not None]  # fmt: skip
    if going:
        listed = ", ".join(t._("{metric} since {time}", metric=titled_name(name, catalogue, t),
                               time=zoned(since, settings.zone)) for name, since in going[:10])
        more = t.ngettext(" and {n} more", " and {n} more", len(going) - 10) \
            if len(going) > 10 else ""  # fmt: skip
        # One or more, not a count's plural form: no number is written (21 reads as "many").
        said += "\n" + (t._("An incident began before this chat subscribed and is still going "
                            "on: {incidents}. /check shows it.", incidents=listed)
                        if len(going) == 1 else
                        t._("Incidents began before this chat subscribed and are still going "
                            "on: {incidents}. /check shows them.",
                            incidents=listed + more))  # fmt: skip
    await message.answer(said)


async def unsubscribe(
    message: Message, *, command: CommandObject, store: State, catalogue: Catalogue,
    settings: Settings, t: Translator,
) -> None:  # fmt: skip
    metric = _target(command, catalogue, "unsubscribe", t)
    if not await _may_change(message, store, settings, t):
        return
    removed = store.subscriptions.remove(message.chat.id, metric)
    before = store.subscriptions.of_chat(message.chat.id)
    if metric != ALL and ALL in before:
        await message.answer(t._(
            "This chat still gets alerts for {metric}: it is subscribed to every metric "
            "(/subscribe all). {unsubscribe_all} stops them all; the bot's admins can silence "
            "it for a while with {mute}.", metric=titled_name(metric, catalogue, t),
            unsubscribe_all="/unsubscribe all", mute=f"/mute {e(metric)} 2h"))  # fmt: skip
    elif removed and metric == ALL:
        await message.answer(t._("🔕 This chat no longer gets alerts for any metric."))
    elif removed:
        await message.answer(t._("🔕 This chat no longer gets alerts for {metric}.",
                                 metric=titled_name(metric, catalogue, t)))  # fmt: skip
    elif metric == ALL:
        await message.answer(t._("This chat had no subscriptions. /status shows what it gets."))
    else:
        await message.answer(t._("This chat had no subscription to {metric}. /status shows what "
                                 "it gets.", metric=titled_name(metric, catalogue, t)))  # fmt: skip


async def migrated(message: Message, *, store: State) -> None:
    """A group upgraded to a supergroup gets a new id: Telegram says so in both (migrate_to_chat_id
    in the old, migrate_from_chat_id in the new). What it gets and its language move to the new
    id, so its alerts go on; the service message gets no answer."""
    if message.migrate_to_chat_id is not None:
        old, new = message.chat.id, message.migrate_to_chat_id
    elif message.migrate_from_chat_id is not None:
        old, new = message.migrate_from_chat_id, message.chat.id
    else:
        return
    try:
        with store.transaction():
            moved = store.move_chat(old, new)
    except StoreError as exc:  # a lost state file: nothing to move, and nothing to say there
        log.warning("group %s became supergroup %s; its settings could not be moved: %s",
                    old, new, exc)  # fmt: skip
        return
    if moved:
        log.info("group %s became supergroup %s: its %d subscription(s) moved there", old, new,
                 moved)  # fmt: skip


def build() -> Router:
    """A fresh router (a router can join only one dispatcher)."""
    router = Router(name="router")
    router.message.register(subscribe, command_filter("subscribe"))
    router.message.register(unsubscribe, command_filter("unsubscribe"))
    router.message.register(migrated, F.migrate_to_chat_id | F.migrate_from_chat_id)
    return router
