"""/mute, /unmute and the alert's mute buttons (the admin router lets only ADMIN_IDS in).
Whichever way, the open incidents' alerts and the digests that list them show the mute.

Each reply says what the metric gets after it: a metric's own mute lifted while every metric is
muted stays muted, and `/unmute all` lifts every mute (all and each metric's): "all" on again
means everything is. Every time is said with its zone, as /status and the alerts do.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from aiogram.filters import CommandObject
from aiogram.types import CallbackQuery, Message

from bot.chat.durations import parse_span
from bot.chat.errors import UsageError
from bot.chat.incidents import refresh_all
from bot.chat.naming import metric_named
from bot.chat.reply import Reply, answer_all, out_of_date
from bot.core.commands import ALL_WORDS
from bot.core.formatting import named, titled_name
from bot.core.i18n import Translator
from bot.core.incidents import Incident
from bot.core.text import TOAST_NAME, clipped, quoted
from bot.core.wording import e, zoned
from bot.service.edits import MUTE_SHOWN
from bot.settings import Settings
from bot.state import ALL, State
from queries.catalogue import Catalogue

__all__ = ["MAX_MUTE", "mute", "mute_incident", "mute_incidents", "unmute"]

MAX_MUTE = timedelta(days=30)
RECENT = timedelta(days=1)  # resolved incidents /mute and /unmute edit whatever they show


def _metric_or_all(catalogue: Catalogue, name: str, command: str, t: Translator) -> str:
    if name.lower() in ALL_WORDS:
        return ALL
    return metric_named(catalogue, name, command, t).name


async def mute(
    message: Message, *, command: CommandObject, store: State, settings: Settings,
    catalogue: Catalogue, clock: Callable[[], datetime], t: Translator,
) -> None:  # fmt: skip
    args = (command.args or "").split()
    if len(args) < 2:
        raise UsageError(t._("Name the metric (or all) and for how long."), "mute")
    metric = _metric_or_all(catalogue, args[0], "mute", t)
    written = " ".join(args[1:])
    duration = parse_span(written)
    if duration is None:
        raise UsageError(t._("{text} is not a duration: write 30m, 2h, 3d or 3 days.",
                             text=quoted(written, t.lang, 30)), "mute")  # fmt: skip
    if not timedelta(minutes=1) <= duration <= MAX_MUTE:
        raise UsageError(t._("A mute lasts from 1 minute to 30 days."), "mute")
    now = clock()
    user = message.from_user.id if message.from_user else None
    until = now + duration
    before = next((m.until for m in store.mutes.active(now) if m.metric == metric), None)
    store.mutes.add(metric, until, user, now)
    said = {"until": zoned(until, settings.zone), "unmute": f"/unmute {e(args[0])}"}
    text = (t._("🔕 Alerts for all metrics muted until {until}. {unmute} to lift it.", **said)
            if metric == ALL else
            t._("🔕 Alerts for {metric} muted until {until}. {unmute} to lift it.",
                metric=titled_name(metric, catalogue, t), **said))  # fmt: skip
    if before is not None and before > until:  # said, so that a typo is seen
        text += " " + t._("It replaces the longer mute until {until}.",
                          until=zoned(before, settings.zone))  # fmt: skip
    longer = [m for m in store.mutes.active(now) if m.until > until
              and ALL in (metric, m.metric)]  # fmt: skip
    if metric != ALL and longer:
        text += "\n" + t._("Every metric stays muted until {until} all the same ({unmute} "
                           "lifts that).", until=zoned(longer[0].until, settings.zone),
                           unmute="/unmute all")  # fmt: skip
    elif longer:
        text += "\n" + t._("Muted for longer: {mutes}.", mutes=", ".join(
            t._("{metric} until {until}", metric=titled_name(m.metric, catalogue, t),
                until=zoned(m.until, settings.zone)) for m in longer))  # fmt: skip
    await message.answer(text)
    await _show(message, metric, now, store=store, settings=settings, catalogue=catalogue)


async def unmute(
    message: Message, *, command: CommandObject, store: State, settings: Settings,
    catalogue: Catalogue, clock: Callable[[], datetime], t: Translator,
) -> None:  # fmt: skip
    args = (command.args or "").split()
    if len(args) != 1:
        raise UsageError(t._("Name the metric, or all."), "unmute")
    metric = _metric_or_all(catalogue, args[0], "unmute", t)
    now = clock()
    active = {m.metric: m.until for m in store.mutes.active(now)}
    store.mutes.remove(metric)  # ALL: every mute, each metric's too
    await _unmuted(message, active, metric, settings=settings, catalogue=catalogue, t=t)
    if metric in active or (metric == ALL and active):  # else no message shows a change
        await _show(message, metric, now, store=store, settings=settings, catalogue=catalogue)


async def _unmuted(message: Message, active: dict[str, datetime], metric: str, *,
                   settings: Settings, catalogue: Catalogue, t: Translator) -> None:  # fmt: skip
    if metric == ALL:
        if not active:
            await message.answer(t._("Nothing was muted."))
            return
        text = t._("🔔 Alerts for all metrics are on again.")
        own = [titled_name(name, catalogue, t) for name in active if name != ALL]
        if own:
            text += " " + t._("The mutes of {metrics} are lifted too.", metrics=", ".join(own))
        await answer_all(message, text)
        return
    name = titled_name(metric, catalogue, t)
    if ALL in active:
        text = t._("Alerts for {metric} stay muted until {until}: every metric is muted "
                   "({unmute} lifts that).", metric=name,
                   until=zoned(active[ALL], settings.zone), unmute="/unmute all")  # fmt: skip
        if metric in active:
            text = t._("The mute of {metric} is lifted.", metric=name) + " " + text
        await message.answer(text)
    elif metric in active:
        await message.answer(t._("🔔 Alerts for {metric} are on again.", metric=name))
    else:
        await message.answer(t._("Alerts for {metric} were not muted.", metric=name))


async def _show(message: Message, metric: str, now: datetime, *, store: State,
                settings: Settings, catalogue: Catalogue) -> None:  # fmt: skip
    """Every incident of `metric` (every metric's, for all) whose messages may show its mute
    shows it as it now is: the open ones, those resolved in the last day (their alerts and
    the digests listing them may be read still), and those shown muted however long ago
    (MUTE_SHOWN)."""
    if message.bot is None:
        return
    names = list(catalogue.metrics) if metric == ALL else [metric]
    found = {i.id: i for i in map(store.incidents.open_for, names) if i is not None}
    for name in names:
        found.update((i.id, i) for i in store.incidents.ended_since(name, now - RECENT))
    for key, shown in store.journal.flagged(MUTE_SHOWN).items():
        if metric in (ALL, shown) and key.removeprefix(MUTE_SHOWN).isdigit():
            incident = store.incidents.get(int(key.removeprefix(MUTE_SHOWN)))
            if incident is not None:
                found[incident.id] = incident
    await refresh_all(message.bot, store, settings, found.values(), now)


async def mute_incident(
    query: CallbackQuery, incident_id: int, hours: int, *, store: State, settings: Settings,
    catalogue: Catalogue, clock: Callable[[], datetime], t: Translator,
) -> Reply:  # fmt: skip
    """The mute buttons of an alert: the incident's metric (`mute_incidents`)."""
    incident = store.incidents.get(incident_id)
    found = [incident] if incident is not None and incident.metric in catalogue.metrics else []
    return await mute_incidents(query, found, hours, store=store, settings=settings,
                                catalogue=catalogue, clock=clock, t=t)  # fmt: skip


async def mute_incidents(
    query: CallbackQuery, incidents: list[Incident], hours: int, *, store: State,
    settings: Settings, catalogue: Catalogue, clock: Callable[[], datetime], t: Translator,
) -> Reply:  # fmt: skip
    """The mute buttons of an alert or a digest: the metrics of `incidents`, for `hours`, for
    admins only. A button never shortens a metric's own longer mute (set by /mute, which sets
    any end): that one stays. A metric muted longer either way (its own, or all metrics')
    is said to stay muted until then, not to be muted for the button's hours."""
    if query.from_user.id not in settings.admin_ids:
        return Reply(t._("Only admins can mute alerts."), alert=True)
    if not incidents or not 1 <= hours <= 720:
        return Reply(out_of_date(t), alert=True)
    metrics = list(dict.fromkeys(i.metric for i in incidents))
    now = clock()
    until = now + timedelta(hours=hours)
    own = {m.metric: m.until for m in store.mutes.active(now)}  # each metric's, and all's
    with store.transaction():
        for metric in metrics:
            if own.get(metric, now) <= until:
                store.mutes.add(metric, until, query.from_user.id, now)
    longer = {m: end for m in metrics if (end := store.mutes.until(m, now)) and end > until}
    muted = [m for m in metrics if m not in longer]
    local = zoned(until, settings.zone)
    bot, chat = query.bot, query.message.chat.id if query.message is not None else None

    def plain(name: str) -> str:  # a toast is plain text, of 200 characters at most
        return clipped(named(catalogue.metrics[name], t) if name in catalogue.metrics else name,
                       TOAST_NAME)  # fmt: skip

    def stays(html: bool) -> str:
        return " ".join(t._("{metric} stays muted until {until}.",
                            metric=titled_name(m, catalogue, t) if html else plain(m),
                            until=zoned(end, settings.zone)) for m, end in longer.items())

    async def show() -> None:
        if bot is None:
            return
        if muted:  # else no message shows a different mute
            # The metric's open incident too, when the button was on an older one: its alert
            # shows the mute as /mute's does.
            ids = {i.id for i in incidents}
            current = [o for m in muted if (o := store.incidents.open_for(m)) and o.id not in ids]
            await refresh_all(bot, store, settings, [*incidents, *current], now)
        if chat is not None:
            names = ", ".join(titled_name(m, catalogue, t) for m in muted)
            said = t._("🔕 {metric} muted until {until} by {who}.", metric=names, until=local,
                       who=e(query.from_user.full_name)) if muted else "🔕"
            await bot.send_message(chat, f"{said} {stays(True)}".strip())

    toast = (t._("Muted {metric} until {until}", metric=", ".join(map(plain, muted)), until=local)
             if len(muted) <= 2 else  # a digest's metrics by name would not fit a toast
             t.ngettext("Muted {n} metric until {until}", "Muted {n} metrics until {until}",
                        len(muted), until=local))  # fmt: skip
    return Reply(". ".join(p for p in (toast if muted else "", stays(False)) if p), then=show)
