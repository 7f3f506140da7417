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
from bot.core.drops import moved_to, render_gone, why_dropped
from bot.core.i18n import translator
from bot.core.incidents import Incident, Policy
from bot.core.plan import (
    Digest,
    Intent,
    Notice,
    Open,
    Plan,
    Remind,
    Resolve,
    back_flag,
    down_flag,
    late_flag,
    plan,
    unjudged_flag,
)
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
from bot.service.delivery import Delivery, gone_flag
from bot.service.edits import refresh_shown
from bot.service.monitor import Monitor
from bot.state import State

__all__ = ["Notifier"]

log = logging.getLogger(__name__)
WEBHOOK = "webhook"
UNEDITED = "unedited:"  # flag of a resolved incident whose messages still wait for the edit
EDIT_TRIES = 8  # checks that try it (two hours at 15 minutes)


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
        delivery.on_gone = self.chat_gone
        self.charts: Callable[[SeriesResult, str], Awaitable[bytes]] = monitor.chart
        self.stop: asyncio.Event | None = None  # set: the drain after a check stops early

    # -- who hears ------------------------------------------------------------------------------
    def alert_chats(self) -> list[int]:
        """ALERT_CHAT_IDS, each as the chat is now: a group upgraded to a supergroup is
        reached at its new id (in its language, once) until the configuration names it."""
        return self.state.alert_chats(self.monitor.settings.alert_chat_ids)

    def recipients(self, metric: str) -> list[int]:
        chats = [*self.alert_chats(), *self.state.subscriptions.chats_for(metric)]
        return list(dict.fromkeys(chats))

    def operators(self) -> list[int]:
        """Who hears about the source itself: the alert chats and the admins."""
        return list(dict.fromkeys([*self.alert_chats(), *self.monitor.settings.admin_ids]))

    def style(self, lang: str | None = None) -> Style:
        """The wording's settings, in `lang` (None: the default, LANGUAGE)."""
        settings = self.monitor.settings
        return Style(settings.zone, self.monitor.catalogue.step, settings.dashboard_url,
                     self.monitor.source.describe(),
                     translator(lang or settings.language))  # fmt: skip

    def by_language(self, chats: Iterable[int]) -> dict[str, list[int]]:
        """The chats grouped by the language each speaks (its /lang choice, else LANGUAGE)."""
        default = self.monitor.settings.language
        out: dict[str, list[int]] = {}
        for chat in dict.fromkeys(chats):
            out.setdefault(self.state.languages.of_chat(chat) or default, []).append(chat)
        return out

    # -- one check ------------------------------------------------------------------------------
    def _plan(self, report: CheckReport, now: datetime) -> Plan:
        """The plan on the state as it is now (inside the transaction: nobody else writes)."""
        catalogue, state = self.monitor.catalogue, self.state
        names = list(catalogue.metrics)
        keys = [down_flag(), back_flag(), *map(late_flag, catalogue.tables),
                *map(unjudged_flag, names)]
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
            for intent in decided.intents:  # their alerts are edited to say so, below
                if isinstance(intent, Resolve):
                    incident = saved[intent.incident.metric]
                    self.state.journal.set_flag(f"{UNEDITED}{incident.id}", "0")
        await self.delivery.drain(stop=self.stop)  # new alerts first, then the edits
        try:
            await self._edit_resolved(now)
        except Exception:  # a broken state row or a bug: the next check tries them again
            log.exception("editing resolved alerts failed")

    async def _edit_resolved(self, now: datetime) -> None:
        """The alerts of the incidents that resolved, and the digests that list them, edited to
        say so. An edit that fails (Telegram's 5xx or 429, a kill before it) is tried again
        after the next checks: EDIT_TRIES tries in all (a deleted message takes none)."""
        settings, state = self.monitor.settings, self.state
        pending = state.journal.flagged(UNEDITED)
        found = {key: state.incidents.get(int(key.removeprefix(UNEDITED))) for key in pending
                 if key.removeprefix(UNEDITED).isdigit()}  # fmt: skip
        missed = await refresh_shown(self.bot, state, [i for i in found.values() if i],
                                     now=now, zone=settings.zone,
                                     default=settings.language)  # fmt: skip
        for key, value in pending.items():
            incident = found.get(key)
            tries = int(value) + 1 if value.isdigit() else EDIT_TRIES
            again = incident is not None and incident.id in missed and tries < EDIT_TRIES
            state.journal.set_flag(key, str(tries) if again else None)

    async def _charts(self, intents: Iterable[Intent]) -> dict[tuple[str, str], bytes]:
        """Charts of the alerts this check opens, in each language among their recipients;
        one that fails to draw leaves its alert text."""
        heads = [o.head for i in intents for o in (i.opens if isinstance(i, Digest) else [i])
                 if isinstance(o, Open)]  # fmt: skip
        out = {}
        for head in heads:
            name = head.metric.name
            langs = list(self.by_language(self.recipients(name)))
            for lang in langs or [self.monitor.settings.language]:
                try:
                    out[(name, lang)] = await self.charts(head, lang)
                except Exception:
                    log.exception("chart for %s failed; its alert goes out as text", name)
        return out

    # -- intents into the outbox -------------------------------------------------------------
    def _write(self, intent: Intent, saved: dict[str, Incident],
               charts: dict[tuple[str, str], bytes], now: datetime) -> None:  # fmt: skip
        if isinstance(intent, Open):
            incident = self._record(intent, saved, now)
            metric = incident.metric
            self._queue(self.recipients(metric),
                        lambda style: render_open(intent, incident, style),
                        png=lambda lang: charts.get((metric, lang)),
                        incident=incident.id)  # fmt: skip
        elif isinstance(intent, Digest):
            ids = [self._record(item, saved, now).id for item in intent.opens]
            digest = self.state.digests.create([i for i in ids if i is not None], now)
            first = intent.opens[0].incident.metric
            chats = [c for o in intent.opens for c in self.recipients(o.incident.metric)]
            self._queue(chats, lambda style: render_digest(intent, saved, style, digest_id=digest),
                        png=lambda lang: charts.get((first, lang)))  # fmt: skip
        elif isinstance(intent, Remind):
            incident = saved[intent.incident.metric]
            self._queue(self.recipients(incident.metric),
                        lambda style: render_remind(intent, incident, now, style))  # fmt: skip
        elif isinstance(intent, Resolve):
            incident = saved[intent.incident.metric]
            if intent.quiet:
                return
            assert incident.id is not None
            title = self.monitor.catalogue.metrics[incident.metric]
            shown = [m.chat_id for m in self.state.incidents.messages(incident.id)]
            chats = list(dict.fromkeys(shown)) or self.recipients(incident.metric)
            self._queue(chats, lambda style: render_resolve(intent, incident, now, title, style))
        elif isinstance(intent, Notice):
            self._queue(self.operators(), lambda style: render_notice(intent, style))

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

    def _queue(self, chats: list[int], render: Callable[[Style], Draft], *,
               png: Callable[[str], bytes | None] | None = None,
               incident: int | None = None) -> None:  # fmt: skip
        """One message per chat (a long text in parts), rendered once per language among the
        chats and each chat given its own; one to the webhook if set, in LANGUAGE."""
        wall = self.wall()
        for lang, group in self.by_language(chats).items():
            draft = render(self.style(lang))
            picture = png(lang) if png is not None else None
            with_chart = picture is not None and draft.with_chart
            parts = [cut_html(draft.text, CAPTION_LIMIT)] if with_chart else split_html(draft.text)
            markup = buttons_json(draft.buttons)
            for chat in group:
                for n, part in enumerate(parts):
                    first = n == 0
                    self.state.outbox.enqueue(
                        chat, part, png=picture if with_chart else None,
                        markup=markup if first else None,
                        incident_id=incident if first else None,
                        meta={**draft.meta, "lang": lang}, now=wall,  # edits keep its language
                    )  # fmt: skip
        if self.monitor.settings.alert_webhook_url:
            draft = render(self.style())
            self.state.outbox.enqueue(0, draft.text, channel=WEBHOOK, incident_id=None,
                                      meta=draft.meta, now=wall)  # fmt: skip

    def chat_gone(self, chat: int, reason: str) -> None:
        """An alert chat confirmed gone, or become a supergroup (Delivery, inside its
        transaction): the admins hear it once, in their language, until the chat takes a
        message again."""
        settings = self.monitor.settings
        configured = {*settings.alert_chat_ids, *self.alert_chats()}  # a moved one, too
        if chat not in configured or self.state.journal.flag(gone_flag(chat)):
            return
        if moved_to(reason) is not None:  # its alerts are sent to the new id meanwhile
            log.error("alert chat %s %s: put that id in ALERT_CHAT_IDS", chat,
                      why_dropped(reason))  # fmt: skip
        else:
            log.error("alert chat %s %s: its alerts are dropped until the bot is added back or "
                      "ALERT_CHAT_IDS changes", chat, why_dropped(reason))  # fmt: skip
        self.state.journal.set_flag(gone_flag(chat), reason[:300] or "gone")
        admins = [a for a in settings.admin_ids if a != chat]
        if admins:
            self._queue(admins, lambda style: render_gone(chat, reason, style.t))

    def _failed(self, intent: Intent, error: Exception) -> None:
        """One intent could not be rendered: log it, tell the operators once per metric."""
        metric = _metric_of(intent)
        log.error("could not write the %s for %s; the other alerts go out",
                  type(intent).__name__.lower(), metric, exc_info=error)  # fmt: skip
        key = f"render-failed:{metric}"
        if self.state.journal.flag(key) is None:
            self.state.journal.set_flag(key, type(error).__name__)
            self._queue(self.operators(), lambda style: render_failure(metric, error, style.t))


def _metric_of(intent: Intent) -> str:
    if isinstance(intent, Open | Remind | Resolve):
        return intent.incident.metric
    if isinstance(intent, Digest):
        return ",".join(o.incident.metric for o in intent.opens)
    return intent.table or "source"
