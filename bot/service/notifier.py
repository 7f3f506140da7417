"""From a check to messages: incidents opened, reminded and resolved (the original alert edited
so the chat reads as a timeline), plus one notice when a source goes down or its data is late,
and one when it is back. Telegram errors are waited out or retried; a blocked chat is dropped.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

import pandas as pd
from aiogram import Bot
from aiogram.exceptions import (
    TelegramAPIError,
)
from aiogram.types import InlineKeyboardMarkup
from aiogram.utils.keyboard import InlineKeyboardBuilder

from bot.channels.buttons import Ack, FalseAlarm, Mute, Show
from bot.core.formatting import fmt_value
from bot.core.incidents import Incident, Policy, Reason, decide
from bot.core.report import CheckReport, Late, SeriesResult
from bot.core.wording import alert_caption, digest_text, duration_text, e, group, split_message
from bot.service.delivery import Delivery
from bot.service.monitor import Monitor
from bot.state import State
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
    bot: Bot, state: State, incident_id: int, line: str, *, keep_buttons: bool = True
) -> None:
    """Put the incident's state at the top of every message that shows it."""
    for shown in state.incidents.messages(incident_id):
        chat, message_id, is_photo, text = shown.chat_id, shown.message_id, shown.is_photo, shown.text
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
    png: bytes | None = None


def _markup(markup: InlineKeyboardMarkup | None) -> str | None:
    return None if markup is None else markup.model_dump_json(exclude_none=True)


class Notifier:
    def __init__(self, bot: Bot, monitor: Monitor, state: State, policy: Policy,
                 delivery: Delivery, *,
                 wall: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:  # fmt: skip
        self.bot = bot
        self.monitor = monitor
        self.state = state
        self.policy = policy
        self.wall = wall  # the outbox's retry times are real time, whatever the check's clock
        self.delivery = delivery

    # -- who hears ---------------------------------------------------------------------------
    def recipients(self, metric: str) -> list[int]:
        settings = self.monitor.settings
        return list(dict.fromkeys([*settings.alert_chat_ids, *self.state.subscriptions.chats_for(metric)]))

    def operators(self) -> list[int]:
        """Who hears about the source itself: the alert chats and the admins."""
        settings = self.monitor.settings
        return list(dict.fromkeys([*settings.alert_chat_ids, *settings.admin_ids]))

    # -- one check -----------------------------------------------------------------------------
    async def after_check(self, report: CheckReport) -> None:
        """Decide, then write every incident change with its messages in one transaction (a
        crash leaves either both or neither), then send."""
        now = self.monitor.clock()
        late = report.late
        heads = {h.metric.name: (h, r) for h, r in group(report.anomalies)}
        planned: list[tuple[Metric, Reason, Incident, SeriesResult | None, list[SeriesResult]]] = []
        for metric in self.monitor.catalogue.metrics.values():
            firing = self._firing(report, metric, late)
            head, related = heads.get(metric.name, (None, []))
            score = abs(head.verdict.score or 0.0) if head is not None else 0.0
            decision = decide(
                self.state.incidents.open_for(metric.name),
                firing,
                now,
                self.policy,
                metric=metric.name,
                score=score,
            )
            if decision.incident is not None:
                planned.append((metric, decision.reason, decision.incident, head, list(related)))
        charts = {}
        for metric, reason, _, head, _ in planned:
            if reason is Reason.FIRST and head is not None:
                charts[metric.name] = await self._chart(head)
        resolved: list[tuple[Incident, str]] = []
        with self.state.transaction():
            self._source_notices(report, late)
            first: list[_Event] = []
            for metric, reason, incident, head, related in planned:
                saved = self.state.incidents.save(incident)
                muted = self.state.mutes.until(metric.name, now) is not None
                if reason is Reason.FIRST and head is not None and not muted:
                    first.append(_Event(saved, head, related, charts.get(metric.name)))
                elif reason is Reason.REPEAT and head is not None and not muted:
                    self._remind(saved, head, now)
                elif reason is Reason.RESOLVED:
                    resolved.append((saved, self._resolve(saved, report, metric, now)))
            if first:
                self._announce(first, now)
        for incident, lasted in resolved:
            await show_state(
                self.bot,
                self.state,
                _id_of(incident),
                f"✅ resolved after {lasted}",
                keep_buttons=False,
            )
        await self.delivery.drain()

    def _firing(self, report: CheckReport, metric: Metric, late: Mapping[str, Late]) -> bool | None:
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

    # -- messages (written to the outbox) -------------------------------------------------------
    def _queue(
        self,
        chat: int,
        text: str,
        *,
        png: bytes | None = None,
        markup: InlineKeyboardMarkup | None = None,
        incident: int | None = None,
    ) -> None:
        for n, part in enumerate(split_message(text) if png is None else [text[:1024]]):
            self.state.outbox.enqueue(
                chat,
                part,
                png=png,
                markup=_markup(markup) if n == 0 else None,
                incident_id=incident if n == 0 else None,
                now=self.wall(),
            )

    def _announce(self, events: list[_Event], now: datetime) -> None:
        settings = self.monitor.settings
        for ev in events:
            assert ev.head is not None
            v = ev.head.verdict
            self.state.journal.record_alert(
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
            chats = dict.fromkeys(c for ev in events for c in self.recipients(ev.incident.metric))
            for chat in chats:  # a digest shows several incidents: it is not edited later
                self._queue(
                    chat,
                    text,
                    png=worst.png if len(text) <= 1024 else None,
                    markup=keyboard(worst.head, _id(worst)),
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
            for chat in self.recipients(ev.incident.metric):
                self._queue(
                    chat, caption, png=ev.png, markup=keyboard(ev.head, _id(ev)), incident=_id(ev)
                )

    async def _chart(self, result: SeriesResult) -> bytes | None:
        """The chart, or None: an alert that cannot draw its chart still goes out as text."""
        try:
            return await self.monitor.chart(result)
        except Exception:
            log.exception("chart for %s failed; sending the alert as text", result.metric.name)
            return None

    def _remind(self, incident: Incident, head: SeriesResult, now: datetime) -> None:
        v = head.verdict
        text = (
            f"⏰ <b>{e(head.metric.title)}</b> still off since "
            f"{incident.opened_at.astimezone(self.monitor.settings.zone):%H:%M} "
            f"({duration_text(now - incident.opened_at)}): "
            f"{e(fmt_value(head.metric, v.value))} vs expected "
            f"{e(fmt_value(head.metric, v.expected))}"
        )
        for chat in self.recipients(incident.metric):
            self._queue(chat, text)

    def _resolve(
        self, incident: Incident, report: CheckReport, metric: Metric, now: datetime
    ) -> str:
        lasted = duration_text(now - incident.opened_at)
        if self.state.mutes.until(metric.name, now) is not None:
            return lasted
        total = next(
            (r for r in report.results if r.metric.name == metric.name and r.slice.is_total), None
        )
        text = f"✅ <b>{e(metric.title)}</b> back to normal after {lasted}"
        if total is not None and total.verdict.value is not None:
            v = total.verdict
            low, high = fmt_value(metric, v.lower), fmt_value(metric, v.upper)
            text += f": {e(fmt_value(metric, v.value))} (expected {e(low)} – {e(high)})"
        chats = dict.fromkeys([m.chat_id for m in self.state.incidents.messages(_id_of(incident))])
        for chat in chats or self.recipients(metric.name):
            self._queue(chat, text)
        return lasted

    def _source_notices(self, report: CheckReport, late: Mapping[str, Late]) -> None:
        """One notice when the source (any of its tables) cannot be read, one when it can
        again; the same for data that is late. Never one per check."""
        zone = self.monitor.settings.zone
        down = self.state.journal.flag("down")
        if report.errors and down is None:
            self.state.journal.set_flag("down", ",".join(sorted(report.errors)))
            details = "; ".join(f"{t}: {m}" for t, m in sorted(report.errors.items()))
            self._tell_operators(
                f"⚠️ Cannot read {e(self.monitor.source.describe())}: {e(details[:600])}\n"
                "Those metrics are unknown until it is back; no alert is raised or resolved "
                "meanwhile."
            )
        elif not report.errors and down is not None:
            self.state.journal.set_flag("down", None)
            self._tell_operators(
                f"✅ {e(self.monitor.source.describe())} can be read again; checks are normal."
            )
        for table in self.monitor.catalogue.tables:
            key = f"late:{table}"
            if table in late and self.state.journal.flag(key) is None:
                info = late[table]
                bucket = info.bucket.tz_convert(zone)
                self.state.journal.set_flag(key, bucket.isoformat())
                newest = pd.Timestamp(info.latest).tz_convert(zone) if info.latest else None
                seen = f"the newest event is from {newest:%H:%M:%S}" if newest else "no rows"
                self._tell_operators(
                    f"⏳ Data in <code>{e(table)}</code> is late: the {bucket:%H:%M} bucket is "
                    f"incomplete ({seen}). Its metrics are not judged until the rows arrive, so "
                    "a half-filled bucket raises no false drop; I will say when data is "
                    "arriving again."
                )
            elif table not in late and table not in report.errors and self.state.journal.flag(key):
                self.state.journal.set_flag(key, None)
                self._tell_operators(f"✅ Data in <code>{e(table)}</code> is arriving again.")

    def _tell_operators(self, text: str) -> None:
        for chat in self.operators():
            self._queue(chat, text)

def _id(event: _Event) -> int:
    return _id_of(event.incident)


def _id_of(incident: Incident) -> int:
    assert incident.id is not None
    return incident.id
