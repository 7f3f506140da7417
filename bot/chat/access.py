"""Who may do what: act on an incident (admins, and members of an alert chat that was shown
it), and change a chat's own settings (its language, what it gets).

A subscriber's private copy gives no right: membership is asked of Telegram (getChatMember) for
the alert chats (ALERT_CHAT_IDS, at the new id of one that became a supergroup) that received
the incident, answers cached for a few minutes.
A group's settings are its administrators' (or ADMIN_IDS'), asked of Telegram on each change.
"""

from __future__ import annotations

import asyncio
import logging
import time

from aiogram import Bot
from aiogram.exceptions import AiogramError, TelegramAPIError
from aiogram.types import Chat, Message, User

from bot.core.i18n import Translator, translator
from bot.settings import Settings
from bot.state import State, StoreError

__all__ = ["Members", "alert_chats", "as_the_group", "may_change_chat", "may_mark"]

log = logging.getLogger(__name__)

IN_CHAT = frozenset({"member", "administrator", "creator", "restricted"})
GROUP_ADMINS = frozenset({"administrator", "creator"})


def alert_chats(store: State, settings: Settings) -> list[int]:
    """The alert chats (ALERT_CHAT_IDS) as they are now: a group that became a supergroup is
    its new id until the configuration names it (as written, while the state file fails)."""
    try:
        return store.alert_chats(settings.alert_chat_ids)
    except StoreError:
        return list(settings.alert_chat_ids)


def as_the_group(message: Message) -> bool:
    """Whether the message is the group's own: an anonymous administrator writes so (Telegram
    names GroupAnonymousBot as its sender, which is no member to ask about)."""
    return message.sender_chat is not None and message.sender_chat.id == message.chat.id


async def may_change_chat(bot: Bot, chat: Chat, user: User, settings: Settings) -> bool | None:
    """Who may change a chat's settings (its language, its subscriptions): anyone in a private
    chat; in a group, ADMIN_IDS and the group's administrators (asked of Telegram; None when it
    could not be asked)."""
    if chat.type == "private" or user.id in settings.admin_ids:
        return True
    try:
        member = await asyncio.wait_for(bot.get_chat_member(chat.id, user.id), 5.0)
    except (AiogramError, TimeoutError) as exc:
        why = exc if isinstance(exc, TelegramAPIError) else type(exc).__name__
        log.warning("getChatMember(%s, %s) failed: %s", chat.id, user.id, why)
        return None
    return member.status in GROUP_ADMINS


class Members:
    """getChatMember answers, remembered for `ttl` seconds; a failed question is not cached."""

    def __init__(self, *, ttl: float = 300.0, timeout: float = 5.0) -> None:
        self.ttl = ttl
        self.timeout = timeout
        self._known: dict[tuple[int, int], tuple[bool, float]] = {}

    async def is_member(self, bot: Bot, chat: int, user: int) -> bool | None:
        """True or False as Telegram says, None when it could not be asked."""
        key, now = (chat, user), time.monotonic()
        known = self._known.get(key)
        if known is not None and known[1] > now:
            return known[0]
        try:
            member = await asyncio.wait_for(bot.get_chat_member(chat, user), self.timeout)
        except (AiogramError, TimeoutError) as exc:
            why = exc if isinstance(exc, TelegramAPIError) else type(exc).__name__
            log.warning("getChatMember(%s, %s) failed: %s", chat, user, why)
            return None
        inside = member.status in IN_CHAT and getattr(member, "is_member", True) is not False
        if len(self._known) > 10_000:
            self._known.clear()
        self._known[key] = (inside, now + self.ttl)
        return inside


async def may_mark(
    bot: Bot, incident_id: int, user: int, *, members: Members, settings: Settings, store: State,
    pressed_in: int | None, t: Translator | None = None,
) -> str | None:  # fmt: skip
    """None when `user` may acknowledge or label the incident, else the sentence refusing it."""
    if user in settings.admin_ids:
        return None
    chats = alert_chats(store, settings)
    # Where it was shown, as those chats are now (an alert chat that became a supergroup).
    shown = {store.chat_now(m.chat_id) for m in store.incidents.messages(incident_id)}
    # a digest is not linked to its incidents: then any alert chat (each gets every alert)
    chats = [c for c in chats if c in shown] if shown else chats
    if pressed_in in chats:  # the likeliest answer first
        chats.remove(pressed_in)
        chats.insert(0, pressed_in)
    unsure = False
    for chat in chats:
        inside = await members.is_member(bot, chat, user)
        if inside:
            return None
        unsure |= inside is None
    t = t or translator()
    if unsure:
        return t._("I could not check that you are in the alert chat; please try again in a "
                   "minute.")  # fmt: skip
    return t._("Only members of the alert chat (or admins) can mark this incident.")
