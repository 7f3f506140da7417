"""An incident's state shown on every message that shows it: a state line on top of the text as
first sent, the keyboard kept (or removed once there is nothing left to press)."""

from __future__ import annotations

import html
import logging
from datetime import datetime
from zoneinfo import ZoneInfo

from aiogram import Bot
from aiogram.exceptions import AiogramError, TelegramAPIError
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup

from bot.channels.base import Channel, Message, Sent
from bot.core.buttons import Button
from bot.core.incidents import Incident
from bot.core.text import CAPTION_LIMIT, MESSAGE_LIMIT, cut_html, rendered_length
from bot.core.wording import duration_text
from bot.state import ShownIn, State

__all__ = ["Keyboard", "compose", "markup", "show_state", "state_line"]

log = logging.getLogger(__name__)

Keyboard = tuple[tuple[Button, ...], ...]


def markup(buttons: Keyboard) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(inline_keyboard=[
        [InlineKeyboardButton(text=b.text, callback_data=b.data) for b in row] for row in buttons
    ])  # fmt: skip


def state_line(incident: Incident, *, muted_until: datetime | None = None,
               zone: ZoneInfo | None = None) -> str:  # fmt: skip
    """The incident's state in one line of HTML; the names people gave are escaped."""
    parts = []
    if incident.resolved_at is not None:
        lasted = duration_text(incident.resolved_at - incident.opened_at)
        parts.append(f"✅ resolved after {lasted}")
    if incident.false_alarm_by is not None:
        parts.append(f"🙅 false alarm, says {html.escape(incident.false_alarm_by)}")
    elif incident.acknowledged_by is not None:
        parts.append(f"👀 acknowledged by {html.escape(incident.acknowledged_by)}")
    if muted_until is not None:
        local = muted_until.astimezone(zone) if zone is not None else muted_until
        parts.append(f"🔕 muted until {local:%Y-%m-%d %H:%M}")
    return "; ".join(parts)


def compose(line: str, original: str, limit: int) -> str:
    """`line` on top of the original text, within `limit` rendered characters: the original
    is cut (at a safe point, tags closed), never the state line."""
    if not line:
        return cut_html(original, limit)
    head = cut_html(line, limit // 2)
    room = limit - rendered_length(head) - 1
    return f"{head}\n{cut_html(original, room)}" if room > 0 else head


async def show_state(
    target: Bot | Channel, state: State, incident_id: int, line: str,
    buttons: Keyboard | None = None,
) -> int:  # fmt: skip
    """Put `line` on top of every message that shows the incident, with `buttons` (None: the
    keyboard goes). Returns how many messages were edited; a message that cannot be edited
    (deleted, too old, unchanged) is logged and skipped."""
    edited = 0
    for shown in state.incidents.messages(incident_id):
        if not shown.text:
            continue  # a digest shows several incidents: it is not edited
        body = compose(line, shown.text, CAPTION_LIMIT if shown.is_photo else MESSAGE_LIMIT)
        if isinstance(target, Bot):
            ok = await _edit_telegram(target, shown, body, buttons)
        else:
            outcome = await target.edit(
                Message(shown.chat_id, body, buttons=buttons or ()), shown.message_id,
                is_photo=shown.is_photo,
            )  # fmt: skip
            ok = isinstance(outcome, Sent)
            if not ok:
                log.warning("could not update message %s in %s: %s", shown.message_id,
                            shown.chat_id, outcome)  # fmt: skip
        edited += ok
    return edited


async def _edit_telegram(bot: Bot, shown: ShownIn, body: str, buttons: Keyboard | None) -> bool:
    chat, message_id = shown.chat_id, shown.message_id
    keyboard = markup(buttons) if buttons else None  # no markup: Telegram removes the keyboard
    try:
        if shown.is_photo:
            await bot.edit_message_caption(chat_id=chat, message_id=message_id, caption=body,
                                           reply_markup=keyboard)  # fmt: skip
        else:
            await bot.edit_message_text(text=body, chat_id=chat, message_id=message_id,
                                        reply_markup=keyboard)  # fmt: skip
    except AiogramError as exc:
        # an undecodable answer (a proxy's page) may echo the request URL, token included
        why = exc if isinstance(exc, TelegramAPIError) else type(exc).__name__
        log.warning("could not update message %s in %s: %s", message_id, chat, why)
        return False
    return True
