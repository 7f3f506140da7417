"""From a check to the outbox: the plan (pure) decides, each intent is rendered on its own,
and the incident changes and their messages are written in one transaction; then the outbox
drains. A message that cannot be rendered is logged and reported to the operators once; it
never stops the other alerts of the check.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import replace
from datetime import UTC, datetime

from aiogram import Bot

from bot.channels.base import buttons_json
from bot.core.incidents import Incident, Policy
from bot.core.plan import Digest, Intent, Notice, Open, Plan, Remind, Resolve, plan
from bot.core.render import (
    Draft,
    Style,
    render_digest,
    render_failure,
    render_notice,
    render_open,
    render_remind,
    render_resolve,
)
from bot.core.report import CheckReport, SeriesResult
from bot.core.text import CAPTION_LIMIT, cut_html, split_html
from bot.service.delivery import Delivery
from bot.service.edits import show_state, state_line
from bot.service.monitor import Monitor
from bot.state import State

__all__ = ["Notifier"]

log = logging.getLogger(__name__)
WEBHOOK = "webhook"


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
        self.charts: Callable[[SeriesResult], Awaitable[bytes]] = monitor.chart
        self.stop: asyncio.Event | None = None  # set: the drain after a check stops early

    # -- who hears ------------------------------------------------------------------------------
    def recipients(self, metric: str) -> list[int]:
        alert_chats = self.monitor.settings.alert_chat_ids
        return list(dict.fromkeys([*alert_chats, *self.state.subscriptions.chats_for(metric)]))

    def operators(self) -> list[int]:
        """Who hears about the source itself: the alert chats and the admins."""
        settings = self.monitor.settings
        return list(dict.fromkeys([*settings.alert_chat_ids, *settings.admin_ids]))

    def style(self) -> Style:
        settings = self.monitor.settings
        return Style(settings.zone, self.monitor.catalogue.step, settings.dashboard_url,
                     self.monitor.source.describe())  # fmt: skip

    # -- one check ------------------------------------------------------------------------------
    def _plan(self, report: CheckReport, now: datetime) -> Plan:
        """The plan on the state as it is now (inside the transaction: nobody else writes)."""
        catalogue, state = self.monitor.catalogue, self.state
        names = list(catalogue.metrics)
        keys = ["down", *(f"late:{t}" for t in catalogue.tables)]
        flags = {k: v for k in keys if (v := state.journal.flag(k)) is not None}
        return plan(
            report,
            list(catalogue.metrics.values()),
            incidents={m: state.incidents.open_for(m) for m in names},
            mutes={m.metric: m.until for m in state.mutes.active(now)},
            flags=flags,
            now=now,
            policy=self.policy,
            tables=list(catalogue.tables),
        )

    async def after_check(self, report: CheckReport) -> None:
        """Plan, draw the charts of new alerts, then write every incident change with its
        messages in one transaction (a crash leaves either both or neither), then send."""
        now = self.monitor.clock()
        charts = await self._charts(self._plan(report, now).intents)
        resolved: list[Incident] = []
        with self.state.transaction():
            decided = self._plan(report, now)
            for key, value in decided.flags.items():
                self.state.journal.set_flag(key, value)
            saved = {i.metric: self.state.incidents.save(i) for i in decided.incidents}
            for intent in decided.intents:
                # A savepoint per intent: one that fails leaves nothing of itself behind.
                self.state.db.write("SAVEPOINT intent")
                try:
                    self._write(intent, saved, charts, now)
                except Exception as exc:
                    self.state.db.write("ROLLBACK TO intent")
                    self._failed(intent, exc)
                self.state.db.write("RELEASE intent")
            resolved = [saved[i.incident.metric] for i in decided.intents
                        if isinstance(i, Resolve)]  # fmt: skip
        for incident in resolved:
            assert incident.id is not None
            await show_state(self.bot, self.state, incident.id, state_line(incident), None)
        await self.delivery.drain(stop=self.stop)

    async def _charts(self, intents: Iterable[Intent]) -> dict[str, bytes]:
        """Charts of the alerts this check opens; one that fails to draw leaves its alert text."""
        heads = [o.head for i in intents for o in (i.opens if isinstance(i, Digest) else [i])
                 if isinstance(o, Open)]  # fmt: skip
        out = {}
        for head in heads:
            try:
                out[head.metric.name] = await self.charts(head)
            except Exception:
                log.exception("chart for %s failed; its alert goes out as text", head.metric.name)
        return out

    # -- intents into the outbox -------------------------------------------------------------
    def _write(self, intent: Intent, saved: dict[str, Incident], charts: dict[str, bytes],
               now: datetime) -> None:  # fmt: skip
        style = self.style()
        if isinstance(intent, Open):
            incident = self._record(intent, saved, now)
            draft = render_open(intent, incident, style)
            png = charts.get(incident.metric)
            self._queue(self.recipients(incident.metric), draft, png=png, incident=incident.id)
        elif isinstance(intent, Digest):
            for item in intent.opens:
                self._record(item, saved, now)
            draft = render_digest(intent, saved, style)
            png = charts.get(intent.opens[0].incident.metric) if draft.with_chart else None
            chats = [c for o in intent.opens for c in self.recipients(o.incident.metric)]
            self._queue(list(dict.fromkeys(chats)), draft, png=png)  # a digest is not edited
        elif isinstance(intent, Remind):
            incident = saved[intent.incident.metric]
            self._queue(self.recipients(incident.metric),
                        render_remind(intent, incident, now, style))  # fmt: skip
        elif isinstance(intent, Resolve):
            incident = saved[intent.incident.metric]
            if intent.quiet:
                return
            assert incident.id is not None
            title = self.monitor.catalogue.metrics[incident.metric].title
            shown = [m.chat_id for m in self.state.incidents.messages(incident.id)]
            chats = list(dict.fromkeys(shown)) or self.recipients(incident.metric)
            self._queue(chats, render_resolve(intent, incident, now, title))
        elif isinstance(intent, Notice):
            self._queue(self.operators(), render_notice(intent, style))

    def _record(self, intent: Open, saved: dict[str, Incident], now: datetime) -> Incident:
        """The alert in the journal, and its id on the incident (the chart button uses it)."""
        v = intent.head.verdict
        alert_id = self.state.journal.record_alert(
            intent.head.metric.name, intent.head.slice.label(), v.bucket.to_pydatetime(),
            numbers=(v.value, v.expected, v.lower, v.upper, v.score), reason=v.reason, now=now,
        )  # fmt: skip
        incident = self.state.incidents.save(replace(saved[intent.incident.metric],
                                                     alert_id=alert_id))  # fmt: skip
        saved[incident.metric] = incident
        return incident

    def _queue(self, chats: list[int], draft: Draft, *, png: bytes | None = None,
               incident: int | None = None) -> None:  # fmt: skip
        """One message per chat (a long text in parts), and one to the webhook if set."""
        with_chart = png is not None and draft.with_chart
        parts = [cut_html(draft.text, CAPTION_LIMIT)] if with_chart else split_html(draft.text)
        markup = buttons_json(draft.buttons)
        wall = self.wall()
        for chat in chats:
            for n, part in enumerate(parts):
                first = n == 0
                self.state.outbox.enqueue(
                    chat, part, png=png if with_chart else None,
                    markup=markup if first else None, incident_id=incident if first else None,
                    meta=draft.meta, now=wall,
                )  # fmt: skip
        if self.monitor.settings.alert_webhook_url:
            self.state.outbox.enqueue(0, draft.text, channel=WEBHOOK, incident_id=None,
                                      meta=draft.meta, now=wall)  # fmt: skip

    def _failed(self, intent: Intent, error: Exception) -> None:
        """One intent could not be rendered: log it, tell the operators once per metric."""
        metric = _metric_of(intent)
        log.error("could not write the %s for %s; the other alerts go out",
                  type(intent).__name__.lower(), metric, exc_info=error)  # fmt: skip
        key = f"render-failed:{metric}"
        if self.state.journal.flag(key) is None:
            self.state.journal.set_flag(key, type(error).__name__)
            self._queue(self.operators(), render_failure(metric, error))


def _metric_of(intent: Intent) -> str:
    if isinstance(intent, Open | Remind | Resolve):
        return intent.incident.metric
    if isinstance(intent, Digest):
        return ",".join(o.incident.metric for o in intent.opens)
    return intent.table or "source"
