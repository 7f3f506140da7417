"""An incident's state shown on every message that shows it: a state line on top of the text as
first sent, the keyboard kept (or removed once there is nothing left to press)."""

from __future__ import annotations

import html
import logging
from collections.abc import Callable, Iterable
from datetime import datetime
from zoneinfo import ZoneInfo

from aiogram import Bot
from aiogram.exceptions import AiogramError, TelegramAPIError, TelegramBadRequest
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup

from bot.channels.base import Channel, Message, Rejected, Sent
from bot.channels.telegram import NOT_MODIFIED
from bot.core.buttons import Button, alert_buttons, digest_buttons, relabel
from bot.core.i18n import Translator, translator
from bot.core.incidents import Incident
from bot.core.text import CAPTION_LIMIT, MESSAGE_LIMIT, as_plain, cut_html, rendered_length
from bot.core.wording import duration_text, zoned
from bot.state import ShownIn, State

__all__ = ["MUTE_SHOWN", "Keyboard", "StateLine", "compose", "incident_keyboard", "markup",
           "refresh_digest", "refresh_incident", "refresh_shown", "show_on", "show_state",
           "state_line"]  # fmt: skip

log = logging.getLogger(__name__)
MUTE_SHOWN = "muteshown:"  # flag: an incident whose messages show its metric muted
# What Telegram says of a message no edit will ever reach (deleted, or too old to edit).
BEYOND_EDITING = ("message to edit not found", "message can't be edited")
# Seconds an edit is waited for (aiogram's own minute each, one after the other, held a check
# back for minutes): one that takes longer counts as not made, and is tried again.
EDIT_TIMEOUT = 8

Keyboard = tuple[tuple[Button, ...], ...]


def markup(buttons: Keyboard) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(inline_keyboard=[
        [InlineKeyboardButton(text=b.text, callback_data=b.data) for b in row] for row in buttons
    ])  # fmt: skip


class StateLine(str):
    """A state line: the text in one language (what str() shows), and how to say it in any
    other, so each chat's message is edited in that chat's language."""

    say: Callable[[Translator], str]
    lang: str  # the language str() shows: the default for chats that chose none

    def __new__(cls, say: Callable[[Translator], str], lang: str | None = None) -> StateLine:
        t = translator(lang)
        line = super().__new__(cls, say(t))
        line.say, line.lang = say, t.lang
        return line

    def to(self, t: Translator) -> str:
        return self.say(t)


def state_line(incident: Incident, *, muted_until: datetime | None = None,
               zone: ZoneInfo | None = None, t: Translator | None = None,
               accepted_by: str | None = None) -> StateLine:  # fmt: skip
    """The incident's state in one line of HTML (in `t`'s language; show_state says it in each
    chat's own); the names people gave are escaped."""

    def say(t: Translator) -> str:
        parts = []
        if incident.resolved_at is not None:
            lasted = duration_text(incident.lasted(incident.resolved_at), t)
            parts.append(t._("✅ resolved after {duration}", duration=lasted))
        if incident.false_alarm_by is not None:
            parts.append(t._("🙅 false alarm, says {name}",
                             name=html.escape(incident.false_alarm_by)))  # fmt: skip
        elif incident.acknowledged_by is not None:
            parts.append(t._("👀 acknowledged by {name}",
                             name=html.escape(incident.acknowledged_by)))  # fmt: skip
        if accepted_by is not None:
            parts.append(t._("📏 the new normal, says {name}", name=html.escape(accepted_by)))
        if muted_until is not None:
            parts.append(t._("🔕 muted until {time}", time=zoned(muted_until, zone)))
        return "; ".join(parts)

    return StateLine(say, t.lang if t is not None else None)


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
    buttons: Keyboard | None = None, *, default: str | None = None,
) -> int:  # fmt: skip
    """Put `line` on top of every message that shows the incident, with `buttons` (None: the
    keyboard goes). Returns how many messages it could not edit (see `show_on`)."""
    return await show_on(target, state, state.incidents.messages(incident_id), line, buttons,
                         default=default)  # fmt: skip


async def show_on(
    target: Bot | Channel, state: State, messages: list[ShownIn], line: str,
    buttons: Keyboard | None = None, *, default: str | None = None,
) -> int:  # fmt: skip
    """Put `line` on top of each message, with `buttons` (None: the keyboard goes), both in the
    language the message was sent in, so the whole message reads in one; a message sent before
    that was recorded: its chat's /lang choice, else `default` (LANGUAGE), else the language
    the state line was made in. Returns how many messages it could not edit where trying
    again may (a timeout, a 5xx, flood control): one that shows this already, or never will
    (deleted, too old to edit, or its edit refused as plain text too), counts as done; each
    failure is logged."""
    missed = 0
    for shown in messages:
        if not shown.text:
            continue  # a digest of an older version, linked to an incident: it is not edited
        fallback = default or (line.lang if isinstance(line, StateLine) else None)
        t = translator(shown.lang or state.languages.of_chat(shown.chat_id) or fallback)
        said = line.to(t) if isinstance(line, StateLine) else line
        keyboard = relabel(buttons, t) if buttons else None
        limit = CAPTION_LIMIT if shown.is_photo else MESSAGE_LIMIT
        body = compose(said, shown.text, limit)
        done = await _edit(target, shown, body, keyboard)
        if done is None and (plain_body := as_plain(body, limit), None) != (body, keyboard):
            # Refused as it is (its HTML, a button): no retry of the same edit can change
            # that, as plain text without buttons it may still go, as a refused send does.
            done = await _edit(target, shown, plain_body, None)
        if done is None:
            log.error("message %s in %s: Telegram refuses its edit, as plain text too; left as "
                      "it is", shown.message_id, shown.chat_id)  # fmt: skip
        missed += done is False
    return missed


async def _edit(
    target: Bot | Channel, shown: ShownIn, body: str, keyboard: Keyboard | None
) -> bool | None:
    """True: the message shows `body` (or never will: deleted); False: not now, trying again
    may do (a timeout, a 5xx, flood control); None: Telegram refuses this edit as it is."""
    if isinstance(target, Bot):
        return await _edit_telegram(target, shown, body, keyboard)
    outcome = await target.edit(Message(shown.chat_id, body, buttons=keyboard or ()),
                                shown.message_id, is_photo=shown.is_photo)  # fmt: skip
    if isinstance(outcome, Sent) or (isinstance(outcome, Rejected) and _beyond(outcome.reason)):
        return True  # shown, or never to be edited again (deleted, too old)
    log.warning("could not update message %s in %s: %s", shown.message_id, shown.chat_id,
                outcome)  # fmt: skip
    return None if isinstance(outcome, Rejected) else False


def incident_keyboard(incident: Incident, *, accepted: bool = False) -> Keyboard:
    """The keyboard an alert keeps through every edit, its toggles following the state."""
    assert incident.id is not None
    return alert_buttons(incident.id, incident.alert_id,
                         acknowledged=incident.acknowledged_by is not None,
                         false_alarm=incident.false_alarm_by is not None,
                         resolved=not incident.is_open, accepted=accepted)  # fmt: skip


async def refresh_incident(
    target: Bot | Channel, state: State, incident: Incident, *, now: datetime, zone: ZoneInfo,
    default: str | None = None,
) -> int:  # fmt: skip
    """Every message showing `incident` edited to its state now (acknowledged, false alarm,
    muted, resolved), with its keyboard, each in its chat's language (else `default`).
    Returns how many it could not edit (`show_on`)."""
    assert incident.id is not None
    muted = state.mutes.until(incident.metric, now)
    level = state.baselines.of_metric(incident.metric, now)
    accepted = level is not None and level.incident_id == incident.id
    line = state_line(incident, muted_until=muted, zone=zone,
                      accepted_by=(level.user_name or "?") if level and accepted else None)
    return await show_state(target, state, incident.id, line,
                            incident_keyboard(incident, accepted=accepted),
                            default=default)  # fmt: skip


async def refresh_digest(
    target: Bot | Channel, state: State, digest_id: int, *, now: datetime, zone: ZoneInfo,
    default: str | None = None,
) -> int:  # fmt: skip
    """Every message showing the digest edited to the state of its incidents together: who
    acknowledged them (or called them a false alarm) once every open one is, muted until when
    once every metric is, resolved once every incident is (how many are back to normal, or
    muted, while only some are); its keyboard's toggles follow. Returns how many messages it
    could not edit (`show_on`)."""
    ids = state.digests.incidents(digest_id) or []
    incidents = [i for i in map(state.incidents.get, ids) if i is not None]
    if not incidents:
        return 0
    open_ = [i for i in incidents if i.is_open] or incidents

    def everyone(names: list[str | None]) -> str | None:
        return ", ".join(dict.fromkeys(n for n in names if n)) if all(names) else None

    acked = everyone([i.acknowledged_by for i in open_])
    false = everyone([i.false_alarm_by for i in incidents])
    untils = [state.mutes.until(i.metric, now) for i in incidents]
    muted = min(u for u in untils if u is not None) if all(untils) else None
    ends = [i.resolved_at for i in incidents]
    offs, backs = [i.since for i in incidents], [i.ok_since for i in incidents]
    summary = Incident("", min(i.opened_at for i in incidents), incidents[0].last_notified_at,
                       acknowledged_by=acked, false_alarm_by=false,
                       resolved_at=max(e for e in ends if e) if all(ends) else None,
                       since=min(o for o in offs if o) if all(offs) else None,
                       ok_since=max(b for b in backs if b) if all(backs) else None)  # fmt: skip
    whole = state_line(summary, muted_until=muted, zone=zone)
    back, silenced = sum(e is not None for e in ends), sum(u is not None for u in untils)

    def say(t: Translator) -> str:
        some = [t._("✅ {n} of {total} back to normal", n=back, total=len(incidents))
                if 0 < back < len(incidents) else "", whole.to(t),
                t._("🔕 {n} of {total} muted until {time}", n=silenced, total=len(incidents),
                    time=zoned(min(u for u in untils if u), zone))
                if 0 < silenced < len(incidents) else ""]  # fmt: skip
        return "; ".join(p for p in some if p)

    keyboard = digest_buttons(digest_id, acknowledged=acked is not None,
                              false_alarm=false is not None,
                              resolved=summary.resolved_at is not None)  # fmt: skip
    return await show_on(target, state, state.digests.messages(digest_id),
                         StateLine(say, whole.lang), keyboard, default=default)  # fmt: skip


async def refresh_shown(
    target: Bot | Channel, state: State, incidents: Iterable[Incident], *, now: datetime,
    zone: ZoneInfo, default: str | None = None,
) -> set[int]:  # fmt: skip
    """Every message showing one of `incidents` edited to its state now (refresh_incident), and
    every digest listing one of them, once each (refresh_digest): after a resolution, a mute
    or an unmute. Each incident is read again first (a check may have resolved it since the
    caller read it). Each one whose metric is shown muted is flagged (MUTE_SHOWN), so that
    /unmute finds what shows a mute however old. Returns the ids of those whose messages, or
    a digest listing them, could not all be edited (`show_on`)."""
    missed: set[int] = set()
    digests: dict[int, list[int]] = {}
    for given in incidents:
        assert given.id is not None
        incident = state.incidents.get(given.id) or given
        if await refresh_incident(target, state, incident, now=now, zone=zone, default=default):
            missed.add(given.id)
        muted = state.mutes.until(incident.metric, now) is not None
        state.journal.set_flag(f"{MUTE_SHOWN}{given.id}", incident.metric if muted else None)
        for digest in state.digests.listing(given.id, incident.opened_at):
            digests.setdefault(digest, []).append(given.id)
    for digest, ids in digests.items():
        if await refresh_digest(target, state, digest, now=now, zone=zone, default=default):
            missed.update(ids)
    return missed


async def _edit_telegram(
    bot: Bot, shown: ShownIn, body: str, buttons: Keyboard | None
) -> bool | None:
    chat, message_id = shown.chat_id, shown.message_id
    keyboard = markup(buttons) if buttons else None  # no markup: Telegram removes the keyboard
    try:
        if shown.is_photo:
            await bot.edit_message_caption(chat_id=chat, message_id=message_id, caption=body,
                                           reply_markup=keyboard,
                                           request_timeout=EDIT_TIMEOUT)  # fmt: skip
        else:
            await bot.edit_message_text(text=body, chat_id=chat, message_id=message_id,
                                        reply_markup=keyboard,
                                        request_timeout=EDIT_TIMEOUT)  # fmt: skip
    except AiogramError as exc:
        if isinstance(exc, TelegramBadRequest) and NOT_MODIFIED in exc.message.lower():
            return True  # it shows this already
        if isinstance(exc, TelegramBadRequest) and _beyond(exc.message):
            log.warning("message %s in %s can no longer be edited: %s", message_id, chat, exc)
            return True  # no retry can change that
        if isinstance(exc, TelegramBadRequest):
            log.warning("Telegram refused the edit of message %s in %s: %s", message_id, chat,
                        exc)  # fmt: skip
            return None
        # an undecodable answer (a proxy's page) may echo the request URL, token included
        why = exc if isinstance(exc, TelegramAPIError) else type(exc).__name__
        log.warning("could not update message %s in %s: %s", message_id, chat, why)
        return False
    return True


def _beyond(description: str) -> bool:
    """Telegram's words for a message no edit will ever reach (BEYOND_EDITING)."""
    return any(gone in description.lower() for gone in BEYOND_EDITING)
