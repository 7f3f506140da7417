"""Acknowledge / false alarm (and their undo) on an incident: admins, and members of the alert
chat that was shown it. Every message that shows the incident is edited, keyboard kept."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import replace
from datetime import datetime

from aiogram import Bot
from aiogram.types import CallbackQuery

from bot.chat.access import Members, may_mark
from bot.chat.reply import Reply, out_of_date
from bot.core.buttons import Action
from bot.core.commands import N_ as _
from bot.core.i18n import Translator
from bot.core.incidents import Incident
from bot.service.edits import refresh_shown
from bot.settings import Settings
from bot.state import State

__all__ = ["DONE", "MARKS", "changed", "mark", "refresh", "refresh_all"]

MARKS = (Action.ACK, Action.UNACK, Action.FALSE, Action.UNFALSE)
DONE = {
    Action.ACK: _("Acknowledged: no more reminders for this incident."),
    Action.UNACK: _("No longer acknowledged: reminders are on again."),
    Action.FALSE: _("Recorded as a false alarm; /backtest and tune can learn from it."),
    Action.UNFALSE: _("The false alarm mark is taken back."),
}


def changed(action: Action, incident: Incident, who: str, user: int) -> Incident:
    """`incident` as `action` by `who` (Telegram user `user`) leaves it: the first to
    acknowledge it, or to call it a false alarm, stays named (a second press, on a message not
    yet edited, changes nothing). A false alarm is acknowledged by the mark: Ack and Un-ack
    change nothing until ↩️ Not false takes it back (an Un-ack there turned reminders on for an
    incident still called false)."""
    if _held(action, incident):
        return incident
    if action is Action.UNACK:
        return replace(incident, acknowledged_by=None, acknowledged_by_id=None)
    if action is Action.FALSE and incident.false_alarm_by is None:
        incident = replace(incident, false_alarm_by=who, false_alarm_by_id=user)
    if action in (Action.ACK, Action.FALSE):  # a false alarm is acknowledged by the mark
        if incident.acknowledged_by is None:
            incident = replace(incident, acknowledged_by=who, acknowledged_by_id=user)
        return incident
    return replace(incident, false_alarm_by=None, false_alarm_by_id=None)


async def refresh(bot: Bot, store: State, settings: Settings, incident: Incident,
                  now: datetime) -> None:  # fmt: skip
    """Show the incident's state on its messages, each in its chat's language, with the
    keyboard kept through every edit (a resolved alert keeps False alarm, mutes and Chart),
    and on the digests that list it."""
    await refresh_all(bot, store, settings, [incident], now)


async def refresh_all(bot: Bot, store: State, settings: Settings, incidents: Iterable[Incident],
                      now: datetime) -> None:  # fmt: skip
    """`refresh` for several incidents, each digest listing them edited once."""
    await refresh_shown(bot, store, incidents, now=now, zone=settings.zone,
                        default=settings.language)  # fmt: skip


async def mark(
    query: CallbackQuery, action: Action, incident_id: int, *, store: State, settings: Settings,
    members: Members, clock: Callable[[], datetime], t: Translator,
) -> Reply:  # fmt: skip
    incident = store.incidents.get(incident_id)
    if incident is None or query.bot is None:
        return Reply(out_of_date(t), alert=True)
    pressed_in = query.message.chat.id if query.message is not None else None
    refusal = await may_mark(query.bot, incident_id, query.from_user.id, members=members,
                             settings=settings, store=store, pressed_in=pressed_in,
                             t=t)  # fmt: skip
    if refusal is not None:
        return Reply(refusal, alert=True)
    # Read again after the await: a check may have changed the incident meanwhile (resolved
    # it), and saving the copy read before would undo that.
    incident = store.incidents.get(incident_id)
    if incident is None:
        return Reply(out_of_date(t), alert=True)
    if action in (Action.ACK, Action.UNACK) and not incident.is_open:
        return Reply(t._("That incident is over."))
    standing = store.baselines.of_metric(incident.metric, clock())
    if (action is Action.UNACK and standing is not None and standing.incident_id == incident.id
            and standing.acknowledged):  # fmt: skip
        # Accepting a new normal acknowledged it: only an admin takes both back, together.
        return Reply(t._("A new normal accepted for this incident stands, and it acknowledges "
                         "the incident: an admin takes both back with ↩️ Not the new normal."),
                     alert=True)  # fmt: skip
    who = query.from_user.full_name
    updated = changed(action, incident, who, query.from_user.id)
    bot = query.bot
    if updated == incident:  # shown again: its edit may never have landed (refused, a kill)
        return Reply(_already(action, incident, who, query.from_user.id, t),
                     then=lambda: refresh(bot, store, settings, incident, clock()))  # fmt: skip
    store.incidents.save(updated)
    return Reply(t._(DONE[action]), then=lambda: refresh(bot, store, settings, updated, clock()))


def _held(action: Action, incident: Incident) -> bool:
    """Ack and Un-ack wait while the incident is called a false alarm (the mark acknowledges it)."""
    return incident.false_alarm_by is not None and action in (Action.ACK, Action.UNACK)


def _already(action: Action, incident: Incident, who: str, user: int, t: Translator) -> str:
    """The answer to a mark the incident already bears, or that its false alarm mark holds
    back: who set it, when someone else did (told apart by user id: two people may share a
    name; by name for a mark set before ids were kept)."""
    if _held(action, incident):
        return t._("{name} marked it a false alarm: ↩️ Not false takes that back first.",
                   name=incident.false_alarm_by)  # fmt: skip
    by, by_id = {Action.ACK: (incident.acknowledged_by, incident.acknowledged_by_id),
                 Action.FALSE: (incident.false_alarm_by, incident.false_alarm_by_id)
                 }.get(action, (None, None))  # fmt: skip
    if by is None or (by_id == user if by_id is not None else by == who):
        return t._("Already so.")
    if action is Action.ACK:
        return t._("Already acknowledged by {name}.", name=by)
    return t._("Already marked a false alarm by {name}.", name=by)
