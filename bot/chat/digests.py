"""A digest's buttons: each acts on every incident the digest lists (its id stored in the state,
since callback data cannot list many). Ack / False alarm and their undo on all of them, the
mutes on all of their metrics, the charts of the worst few; the digest is then edited to say
so, as a single alert is."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from aiogram.types import CallbackQuery

from bot.chat.access import Members, may_mark
from bot.chat.incidents import changed, refresh_all
from bot.chat.monitoring import show_alert
from bot.chat.muting import mute_incidents
from bot.chat.reply import Reply, out_of_date
from bot.core.buttons import SINGLE, Action
from bot.core.check_text import CHARTS_PER_CHECK
from bot.core.formatting import metric_title
from bot.core.i18n import Translator
from bot.core.incidents import Incident
from bot.service.edits import refresh_digest
from bot.service.monitor import Monitor
from bot.settings import Settings
from bot.state import State
from queries.catalogue import Catalogue

__all__ = ["DIGEST_MARKS", "mark_digest", "mute_digest", "show_digest"]

DIGEST_MARKS = (Action.DIGEST_ACK, Action.DIGEST_UNACK, Action.DIGEST_FALSE,
                Action.DIGEST_UNFALSE)  # fmt: skip


def _incidents(store: State, digest_id: int) -> list[Incident]:
    ids = store.digests.incidents(digest_id) or []
    return [i for i in map(store.incidents.get, ids) if i is not None]


def _done(action: Action, n: int, t: Translator) -> str:
    if action is Action.ACK:
        return t.ngettext("Acknowledged {n} incident of the digest: no more reminders for it.",
                          "Acknowledged {n} incidents of the digest: no more reminders for "
                          "them.", n)  # fmt: skip
    if action is Action.UNACK:
        return t.ngettext("{n} incident of the digest is no longer acknowledged: reminders are "
                          "on again.", "{n} incidents of the digest are no longer acknowledged: "
                          "reminders are on again.", n)  # fmt: skip
    if action is Action.FALSE:
        return t.ngettext("Recorded {n} incident of the digest as a false alarm; /backtest and "
                          "tune can learn from it.", "Recorded {n} incidents of the digest as "
                          "false alarms; /backtest and tune can learn from them.", n)  # fmt: skip
    return t.ngettext("The false alarm mark is taken back from {n} incident of the digest.",
                      "The false alarm mark is taken back from {n} incidents of the digest.",
                      n)  # fmt: skip


async def _show(query: CallbackQuery, digest_id: int, incidents: list[Incident], *,
                store: State, settings: Settings, now: datetime) -> None:  # fmt: skip
    """The digest, and any message of its own each incident has, edited to the state now."""
    bot = query.bot
    if bot is None:
        return
    await refresh_all(bot, store, settings, incidents, now)
    if not incidents:
        await refresh_digest(bot, store, digest_id, now=now, zone=settings.zone,
                             default=settings.language)  # fmt: skip


async def mark_digest(
    query: CallbackQuery, action: Action, digest_id: int, *, store: State, settings: Settings,
    members: Members, clock: Callable[[], datetime], t: Translator,
) -> Reply:  # fmt: skip
    """Ack, False alarm or their undo on every incident of the digest (Ack: every open one)."""
    listed = _incidents(store, digest_id)
    if not listed or query.bot is None:
        return Reply(out_of_date(t), alert=True)
    pressed_in = query.message.chat.id if query.message is not None else None
    refusal = await may_mark(query.bot, listed[0].id or 0, query.from_user.id, members=members,
                             settings=settings, store=store, pressed_in=pressed_in,
                             t=t)  # fmt: skip
    if refusal is not None:
        return Reply(refusal, alert=True)
    single = SINGLE[action]
    # Read again after the await: a check may have resolved some meanwhile.
    incidents = _incidents(store, digest_id)
    if single in (Action.ACK, Action.UNACK):
        incidents = [i for i in incidents if i.is_open]
        if not incidents:
            return Reply(t._("Those incidents are over."))
    updated = [changed(single, i, query.from_user.full_name, query.from_user.id)
               for i in incidents]  # fmt: skip
    news = [u for u, i in zip(updated, incidents, strict=True) if u != i]
    with store.transaction():
        for incident in news:
            store.incidents.save(incident)
    then = lambda: _show(query, digest_id, news, store=store, settings=settings, now=clock())  # noqa: E731
    if not news:  # shown again: its edit may never have landed (refused, a kill)
        return Reply(t._("Already so."), then=then)
    return Reply(_done(single, len(news), t), then=then)


async def mute_digest(
    query: CallbackQuery, digest_id: int, hours: int, *, store: State, settings: Settings,
    catalogue: Catalogue, clock: Callable[[], datetime], t: Translator,
) -> Reply:  # fmt: skip
    """The mute buttons of a digest: every metric it lists (`mute_incidents`)."""
    incidents = [i for i in _incidents(store, digest_id) if i.metric in catalogue.metrics]
    return await mute_incidents(query, incidents, hours, store=store, settings=settings,
                                catalogue=catalogue, clock=clock, t=t)  # fmt: skip


async def show_digest(
    query: CallbackQuery, digest_id: int, *, checks: Monitor, store: State, settings: Settings,
    catalogue: Catalogue, t: Translator,
) -> Reply:  # fmt: skip
    """The chart button of a digest: the charts of its worst metrics (as many as /check draws),
    in the order the digest lists them, each as its own alert's chart button sends it."""
    worst = [i for i in _incidents(store, digest_id)
             if i.alert_id is not None and i.metric in catalogue.metrics][:CHARTS_PER_CHECK]
    replies = [await show_alert(query, i.alert_id or 0, checks=checks, store=store,
                                settings=settings, catalogue=catalogue, t=t) for i in worst]
    sends = [r.then for r in replies if r.then is not None]
    if not sends:
        return replies[0] if replies else Reply(out_of_date(t), alert=True)

    async def send() -> None:
        for each in sends:
            await each()

    titles = ", ".join(metric_title(catalogue.metrics[i.metric], t) for i in worst)
    return Reply(f"📈 {titles}"[:200], then=send)
