"""The New normal button of an alert (admins only): the level the metric moved to is expected
(a release, a new market), so its bands follow that level from the bucket it began, instead of
alerting until the detector re-bases by itself (half of `rebase_hours`). The mark lasts
`rebase_hours` (24 h by default), by when the detector has re-based on its own (meanwhile its
own re-base is off: the accepted level stands for it); its undo button takes it back at any
time. Only a detector that re-bases by itself (seasonal, rebase_hours > 0) can follow one."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from aiogram.types import CallbackQuery

import detectors
from bot.chat.incidents import refresh
from bot.chat.reply import Reply, out_of_date
from bot.core.buttons import Action
from bot.core.formatting import named, titled
from bot.core.i18n import Translator
from bot.core.incidents import Incident
from bot.core.text import TOAST_NAME, clipped
from bot.core.wording import e
from bot.service.engines import accepts
from bot.service.monitor import Monitor
from bot.settings import Settings
from bot.state import Baseline, State
from queries.catalogue import Catalogue

__all__ = ["ACCEPTS", "accept"]

ACCEPTS = (Action.ACCEPT, Action.UNACCEPT)


def _since(store: State, incident: Incident, step: timedelta) -> datetime:
    """The bucket the new level began: the one whose alert opened the incident (else the
    bucket before the incident opened)."""
    record = store.journal.alert(incident.alert_id) if incident.alert_id is not None else None
    if record is not None:
        return record.bucket
    opened = incident.opened_at.astimezone(UTC)
    seconds = step.total_seconds()
    start = (opened.timestamp() // seconds) * seconds - seconds
    return datetime.fromtimestamp(start, UTC)


async def accept(
    query: CallbackQuery, action: Action, incident_id: int, *, store: State, settings: Settings,
    catalogue: Catalogue, checks: Monitor, clock: Callable[[], datetime], t: Translator,
) -> Reply:  # fmt: skip
    if query.from_user.id not in settings.admin_ids:
        return Reply(t._("Only admins can take back a new normal.") if action is Action.UNACCEPT
                     else t._("Only admins can accept a new normal."), alert=True)  # fmt: skip
    incident = store.incidents.get(incident_id)
    if incident is None or incident.id is None or incident.metric not in catalogue.metrics:
        return Reply(out_of_date(t), alert=True)
    metric = catalogue.metrics[incident.metric]
    now = clock()
    held = store.baselines.of_metric(metric.name, now)
    ours = held is not None and held.incident_id == incident.id
    who = query.from_user.full_name
    name, plain = titled(metric, t), clipped(named(metric, t), TOAST_NAME)  # HTML; a toast
    zone = settings.zone
    if action is Action.UNACCEPT:
        if not ours:
            return Reply(t._("Already so."))
        store.baselines.withdraw(metric.name)
        if held is not None and held.acknowledged and incident.acknowledged_by is not None:
            # Accepting it acknowledged the incident: taking it back turns reminders on again.
            incident = replace(incident, acknowledged_by=None, acknowledged_by_id=None)
            store.incidents.save(incident)
        checks.accepted_changed()
        said = t._("↩️ {metric}: the new normal is taken back by {who}; it is judged against its "
                   "usual range again from the next check.", metric=name, who=e(who))  # fmt: skip
        done = t._("Taken back: {metric} is judged against its usual range again.",
                   metric=plain)  # fmt: skip
    else:
        if not incident.is_open:
            return Reply(t._("That incident is over."))
        if ours:
            return Reply(t._("Already so."))
        try:
            detector = detectors.build(checks.spec(metric))
        except ValueError as exc:  # settings in the state file the catalogue no longer takes
            return Reply(t._("{metric}'s settings are refused: {reason}. /reset {metric} "
                             "goes back to the catalogue's.", metric=metric.name,
                             reason=str(exc)[:120]), alert=True)  # fmt: skip
        if not accepts(detector):
            return Reply(t._("{metric} cannot follow a new level: its detector does not re-base "
                             "by itself (method seasonal with rebase_hours above 0 does; see "
                             "/thresholds {metric} all).", metric=metric.name),
                         alert=True)  # fmt: skip
        since = _since(store, incident, catalogue.step)
        until = max(since, now) + timedelta(hours=detector.rebase_hours)
        acknowledging = incident.acknowledged_by is None  # accepted is acknowledged
        store.baselines.accept(Baseline(metric.name, since, until, incident.id,
                                        query.from_user.id, who, now, acknowledging))  # fmt: skip
        if acknowledging:
            incident = replace(incident, acknowledged_by=who,
                               acknowledged_by_id=query.from_user.id)  # fmt: skip
            store.incidents.save(incident)
        checks.accepted_changed()
        said = t._(
            "📏 {metric}: its level since {since} is the new normal, says {who}. Its expected "
            "range follows that level from the second interval after it until {until}, by when "
            "the detector has re-based by itself; a further move still alerts.",
            metric=name, who=e(who), since=f"{since.astimezone(zone):%Y-%m-%d %H:%M}",
            until=f"{until.astimezone(zone):%Y-%m-%d %H:%M}",
        )  # fmt: skip
        done = t._("{metric}: the new level is accepted as normal.", metric=plain)
    bot, chat = query.bot, query.message.chat.id if query.message is not None else None
    shown = [incident]
    if action is Action.ACCEPT and held is not None and held.incident_id is not None:
        # The level of an earlier incident of the metric is replaced: its alert loses its mark.
        earlier = store.incidents.get(held.incident_id)
        shown += [earlier] if earlier is not None and earlier.id != incident.id else []

    async def show() -> None:
        if bot is None:
            return
        for one in shown:
            await refresh(bot, store, settings, one, clock())
        if chat is not None:
            await bot.send_message(chat, said)

    return Reply(done, then=show)
