"""Why a message was given up on, in a few words: for the operator's line of `check --notify`,
/status and the admins' notice. Pure: the outbox keeps the channel's reason (see
bot/channels/telegram.py), these read it."""

from __future__ import annotations

import re

from bot.core.i18n import Translator
from bot.core.render import Draft
from bot.core.wording import e

__all__ = ["moved_to", "render_gone", "telegram_said", "why_dropped"]

_CLASS = re.compile(r"^\w+(?:Error|Chat)?: ")
_MOVED = re.compile(r"\(now chat (-?\d+)\)")


def telegram_said(reason: str) -> str:
    """Telegram's own words in a Gone reason ('Forbidden: bot was kicked from the group
    chat'), without the exception's class or what getChat said after."""
    first = reason.split("; getChat:", 1)[0].split(", but the chat", 1)[0]
    return _CLASS.sub("", first, count=1).strip() or reason


def why_dropped(reason: str) -> str:
    """'removed the bot (403)', 'blocked the bot (403)', 'not found (400)', ... or the reason
    as written when it is none of those."""
    low = reason.lower()
    code = "403" if "forbidden" in low else "400"
    if (moved := _MOVED.search(reason)) is not None:
        return f"became a supergroup, now chat {moved[1]}"
    if "kicked" in low or "not a member" in low:
        return f"removed the bot ({code})"
    if "blocked" in low:
        return f"blocked the bot ({code})"
    if "deactivated" in low:
        return f"was deleted ({code})"
    if "chat not found" in low:
        return f"not found ({code})"
    return f"refused: {reason}"


def moved_to(reason: str) -> int | None:
    """The new id of a group that became a supergroup, as a Gone reason says it; else None."""
    moved = _MOVED.search(reason)
    return None if moved is None else int(moved[1])


def render_gone(chat: int, reason: str, t: Translator) -> Draft:
    """The admins hear once that an alert chat no longer takes the bot's messages, or that it
    became a supergroup (its alerts go to the new id: the setting should name that one)."""
    new = moved_to(reason)
    if new is not None:
        text = t._("⚠️ Alert chat {chat} became a supergroup, so Telegram gave it a new id: "
                   "{new}. Its alerts go there now; put {new} in ALERT_CHAT_IDS in place of "
                   "{chat}.", chat=f"<code>{chat}</code>", new=f"<code>{new}</code>")  # fmt: skip
        return Draft(text, meta={"event": "notice", "kind": "chat_moved", "chat": chat})
    text = t._("⚠️ Alert chat {chat} cannot be reached (Telegram: {said}), so its alerts are "
               "being dropped. Add the bot back to that chat, or take {chat} out of "
               "ALERT_CHAT_IDS.", chat=f"<code>{chat}</code>",
               said=e(telegram_said(reason)[:200]))  # fmt: skip
    return Draft(text, meta={"event": "notice", "kind": "chat_gone", "chat": chat})
