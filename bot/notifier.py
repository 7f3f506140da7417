"""From a check to messages: incidents opened, reminded and resolved (the original alert edited
so the chat reads as a timeline), plus one notice when a source goes down or its data is late,
and one when it is back. Telegram errors are waited out or retried; a blocked chat is dropped.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime

from aiogram import Bot
from aiogram.exceptions import TelegramAPIError, TelegramForbiddenError, TelegramRetryAfter
from aiogram.types import BufferedInputFile, InlineKeyboardMarkup
from aiogram.utils.keyboard import InlineKeyboardBuilder

from bot.checker import CheckReport, SeriesResult
from bot.formatting import fmt_value
from bot.handlers.callbacks import Ack, FalseAlarm, Mute, Show
from bot.incidents import Incident, Policy, Reason, decide
from bot.messages import alert_caption, digest_text, duration_text, e, group
from bot.monitor import Monitor
from bot.store import IncidentState
from detectors import Status
from queries.catalogue import Metric

__all__ = ["DIGEST_FROM", "Notifier", "keyboard", "show_state"]

log = logging.getLogger(__name__)
DIGEST_FROM = 4  # this many metrics off in one check: one digest instead of one message each


def keyboard(result: SeriesResult, incident_id: int) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    name = result.metric.name
    builder.button(text="👀 Ack", callback_data=Ack(incident=incident_id))
    builder.button(text="🙅 False alarm", callback_data=FalseAlarm(incident=incident_id))
    builder.button(text="🔕 1 h", callback_data=Mute(metric=name, hours=1))
    builder.button(text="🔕 24 h", callback_data=Mute(metric=name, hours=24))
    where = "" if result.slice.is_total else result.slice.label()
    builder.button(text=f"📈 {name}", callback_data=Show(metric=name, slice=where))
    builder.adjust(2, 3)
    return builder.as_markup()


async def show_state(
    bot: Bot, state: IncidentState, incident_id: int, line: str, *, keep_buttons: bool = True
) -> None:
    """Put the incident's state at the top of every message that shows it."""
    for chat, message_id, is_photo, text in state.messages(incident_id):
        if not text:
            continue  # a digest shows several incidents: it is not edited
        body = f"{line}\n{text}"
        try:
            if is_photo:
                await bot.edit_message_caption(
                    chat_id=chat, message_id=message_id, caption=body[:1024]
                )
            else:
                await bot.edit_message_text(text=body[:4096], chat_id=chat, message_id=message_id)
            if not keep_buttons:
                await bot.edit_message_reply_markup(chat_id=chat, message_id=message_id)
        except TelegramAPIError as exc:
            log.warning("could not update message %s in %s: %s", message_id, chat, exc)


@dataclass
class _Event:
    incident: Incident
    head: SeriesResult | None
    related: list[SeriesResult]


class Notifier:
    def __init__(self, bot: Bot, monitor: Monitor, state: IncidentState, policy: Policy) -> None:
        self.bot = bot
        self.monitor = monitor
        self.state = state
        self.policy = policy

    # -- who hears ---------------------------------------------------------------------------
    def recipients(self, metric: str) -> list[int]:
        settings = self.monitor.settings
        return list(dict.fromkeys([*settings.alert_chat_ids, *self.state.subscribers(metric)]))

    def operators(self) -> list[int]:
        """Who hears about the source itself: the alert chats and the admins."""
        settings = self.monitor.settings
        return list(dict.fromkeys([*settings.alert_chat_ids, *settings.admin_ids]))

    # -- one check -----------------------------------------------------------------------------
    async def after_check(self, report: CheckReport) -> None:
        now = self.monitor.clock()
        late = self._late_tables(report)
        await self._source_notices(report, late, now)
        heads = {h.metric.name: (h, r) for h, r in group(report.anomalies)}
        first: list[_Event] = []
        for metric in self.monitor.catalogue.metrics.values():
            firing = self._firing(report, metric, late)
            head, related = heads.get(metric.name, (None, []))
            score = abs(head.verdict.score or 0.0) if head is not None else 0.0
            decision = decide(
                self.state.open_incident(metric.name),
                firing,
                now,
                self.policy,
                metric=metric.name,
                score=score,
            )
            if decision.incident is None:
                continue
            incident = self.state.save_incident(decision.incident)
            muted = self.state.muted_until(metric.name, now) is not None
            if decision.reason is Reason.FIRST and head is not None and not muted:
                first.append(_Event(incident, head, list(related)))
            elif decision.reason is Reason.REPEAT and head is not None and not muted:
                await self._remind(incident, head, now)
            elif decision.reason is Reason.RESOLVED:
                await self._resolve(incident, report, metric, now)
        if first:
            await self._announce(first, now)

    def _late_tables(self, report: CheckReport) -> dict[str, SeriesResult]:
        """Tables with no rows at all in the newest bucket although data was expected."""
        late = {}
        for table in self.monitor.catalogue.tables:
            totals = [r for r in report.results if r.metric.table == table and r.slice.is_total]
            if (
                totals
                and all(r.verdict.value is None for r in totals)
                and any((r.verdict.expected or 0) > 0 for r in totals)
            ):
                late[table] = totals[0]
        return late

    def _firing(
        self, report: CheckReport, metric: Metric, late: dict[str, SeriesResult]
    ) -> bool | None:
        """True, False, or None when this check could not see the metric."""
        if metric.table in report.errors or metric.table in late:
            return None
        results = [r for r in report.results if r.metric.name == metric.name]
        if not results:
            return None
        if any(r.verdict.status is Status.ANOMALY for r in results):
            return True
        total = next((r for r in results if r.slice.is_total), None)
        if total is None or total.verdict.status is Status.UNKNOWN:
            return None
        return False

    # -- messages --------------------------------------------------------------------------------
    async def _announce(self, events: list[_Event], now: datetime) -> None:
        settings = self.monitor.settings
        for ev in events:
            assert ev.head is not None
            v = ev.head.verdict
            self.state.record_alert(
                ev.head.metric.name,
                ev.head.slice.label(),
                v.bucket.to_pydatetime(),
                numbers=(v.value, v.expected, v.lower, v.upper, v.score),
                reason=v.reason,
                now=now,
            )
        if len(events) >= DIGEST_FROM:
            groups = [(ev.head, ev.related) for ev in events if ev.head is not None]
            text = digest_text(groups, zone=settings.zone)
            worst = events[0]
            assert worst.head is not None
            png = await self._chart(worst.head)
            chats = dict.fromkeys(c for ev in events for c in self.recipients(ev.incident.metric))
            for chat in chats:
                message_id = await self.send(chat, text, png, keyboard(worst.head, _id(worst)))
                if message_id is not None:
                    for ev in events:
                        self.state.add_message(
                            _id(ev), chat, message_id, is_photo=png is not None, text=""
                        )
            return
        for ev in events:
            assert ev.head is not None
            caption = alert_caption(
                ev.head,
                ev.related,
                zone=settings.zone,
                step=self.monitor.catalogue.step,
                dashboard=settings.dashboard_url,
            )
            png = await self._chart(ev.head)
            for chat in self.recipients(ev.incident.metric):
                message_id = await self.send(chat, caption, png, keyboard(ev.head, _id(ev)))
                if message_id is not None:
                    self.state.add_message(
                        _id(ev), chat, message_id, is_photo=png is not None, text=caption
                    )

    async def _chart(self, result: SeriesResult) -> bytes | None:
        """The chart, or None: an alert that cannot draw its chart still goes out as text."""
        try:
            return await self.monitor.chart(result)
        except Exception:
            log.exception("chart for %s failed; sending the alert as text", result.metric.name)
            return None

    async def _remind(self, incident: Incident, head: SeriesResult, now: datetime) -> None:
        v = head.verdict
        text = (
            f"⏰ <b>{e(head.metric.title)}</b> still off since "
            f"{incident.opened_at.astimezone(self.monitor.settings.zone):%H:%M} "
            f"({duration_text(now - incident.opened_at)}): "
            f"{e(fmt_value(head.metric, v.value))} vs expected "
            f"{e(fmt_value(head.metric, v.expected))}"
        )
        for chat in self.recipients(incident.metric):
            await self.send(chat, text, None, None)

    async def _resolve(
        self, incident: Incident, report: CheckReport, metric: Metric, now: datetime
    ) -> None:
        lasted = duration_text(now - incident.opened_at)
        total = next(
            (r for r in report.results if r.metric.name == metric.name and r.slice.is_total), None
        )
        await show_state(
            self.bot,
            self.state,
            _id_of(incident),
            f"✅ resolved after {lasted}",
            keep_buttons=False,
        )
        if self.state.muted_until(metric.name, now) is not None:
            return
        text = f"✅ <b>{e(metric.title)}</b> back to normal after {lasted}"
        if total is not None and total.verdict.value is not None:
            v = total.verdict
            text += (
                f": {e(fmt_value(metric, v.value))} (expected "
                f"{e(fmt_value(metric, v.lower))} – {e(fmt_value(metric, v.upper))})"
            )
        chats = dict.fromkeys([c for c, _, _, _ in self.state.messages(_id_of(incident))])
        for chat in chats or self.recipients(metric.name):
            await self.send(chat, text, None, None)

    async def _source_notices(
        self, report: CheckReport, late: dict[str, SeriesResult], now: datetime
    ) -> None:
        """One notice when the source (any of its tables) cannot be read, one when it can
        again; the same for data that is late. Never one per check."""
        zone = self.monitor.settings.zone
        down = self.state.flag("down")
        if report.errors and down is None:
            self.state.set_flag("down", ",".join(sorted(report.errors)))
            details = "; ".join(f"{t}: {m}" for t, m in sorted(report.errors.items()))
            await self._tell_operators(
                f"⚠️ Cannot read {e(self.monitor.source.describe())}: {e(details[:600])}\n"
                "Those metrics are unknown until it is back; no alert is raised or resolved "
                "meanwhile."
            )
        elif not report.errors and down is not None:
            self.state.set_flag("down", None)
            await self._tell_operators(
                f"✅ {e(self.monitor.source.describe())} can be read again; checks are normal."
            )
        for table in self.monitor.catalogue.tables:
            key = f"late:{table}"
            if table in late and self.state.flag(key) is None:
                bucket = late[table].verdict.bucket.tz_convert(zone)
                self.state.set_flag(key, bucket.isoformat())
                await self._tell_operators(
                    f"⏳ No rows in <code>{e(table)}</code> for {bucket:%H:%M} yet: the data is "
                    "late, or nothing was recorded. I will say when data arrives; its metrics "
                    "are not judged until then."
                )
            elif table not in late and table not in report.errors and self.state.flag(key):
                self.state.set_flag(key, None)
                await self._tell_operators(f"✅ Data in <code>{e(table)}</code> is arriving again.")
        del now

    async def _tell_operators(self, text: str) -> None:
        for chat in self.operators():
            await self.send(chat, text, None, None)

    async def send(
        self, chat: int, text: str, png: bytes | None, markup: InlineKeyboardMarkup | None
    ) -> int | None:
        """Send, waiting out rate limits and retrying failures; the message id, or None."""
        for attempt in range(3):
            try:
                if png is not None and len(text) <= 1024:
                    message = await self.bot.send_photo(
                        chat, BufferedInputFile(png, "alert.png"), caption=text, reply_markup=markup
                    )
                else:
                    message = await self.bot.send_message(chat, text[:4096], reply_markup=markup)
            except TelegramRetryAfter as exc:
                log.warning(
                    "Telegram asks to wait %s s before sending to %s", exc.retry_after, chat
                )
                await asyncio.sleep(exc.retry_after)
                continue
            except TelegramForbiddenError:
                log.warning("chat %s blocked or removed the bot: its subscriptions are off", chat)
                self.state.unsubscribe(chat, "*")
                return None
            except TelegramAPIError as exc:
                log.warning("sending to %s failed (attempt %d): %s", chat, attempt + 1, exc)
                await asyncio.sleep(1.0 * (attempt + 1))
                continue
            return message.message_id
        return None


def _id(event: _Event) -> int:
    return _id_of(event.incident)


def _id_of(incident: Incident) -> int:
    assert incident.id is not None
    return incident.id
