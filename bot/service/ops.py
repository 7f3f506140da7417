"""What an operator watches: the bot's Prometheus metrics (one registry per bot, so several can
live in one process), the log line per check and per message, source errors and recoveries,
and the reload of the catalogue and of the settings that are safe to change while running.

    alertbot_checks_total{outcome}                  ok | partial (a table failed) | failed
    alertbot_check_duration_seconds                 histogram of checks that returned (read or not)
    alertbot_series_checked, alertbot_anomalies     of the last check
    alertbot_open_incidents                         incidents not resolved (read when scraped)
    alertbot_messages_total{channel,outcome}        sent | retry | rate_limited | gone | rejected
    alertbot_outbox_pending                         messages waiting or in flight
    alertbot_outbox_oldest_pending_seconds          age of the oldest of them (0 when none)
    alertbot_source_errors_total{table}             tables a check could not read
    alertbot_telegram_api_errors_total{method,error} Bot API calls that failed
    alertbot_last_success_timestamp_seconds         when the last check without errors ended
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable
from typing import Any

from aiogram import Bot
from aiogram.client.session.middlewares.base import BaseRequestMiddleware, NextRequestMiddlewareType
from aiogram.exceptions import AiogramError, TelegramUnauthorizedError
from aiogram.methods import TelegramMethod
from aiogram.methods.base import Response, TelegramType
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from bot.channels.base import Channel, Gone, Message, Outcome, RateLimited, Rejected, Sent
from bot.core.report import CheckReport
from bot.state import OutboxStatus, State, StoreError

__all__ = ["TOKEN_REFUSED", "ApiErrors", "CountedChannel", "Ops", "QuietRefusals",
           "oldest_pending_age", "open_incidents"]

log = logging.getLogger("alertbot.ops")
delivery_log = logging.getLogger("alertbot.delivery")


def open_incidents(state: State) -> int:
    return int(state.db.rows("SELECT count() FROM incidents WHERE resolved_at IS NULL")[0][0])


def oldest_pending_age(state: State, now: float) -> float:
    """Seconds since the oldest message still waiting (or in flight) was queued; 0 if none."""
    rows = state.db.rows("SELECT min(created_at) FROM outbox WHERE status IN (?, ?)",
                         (OutboxStatus.PENDING, OutboxStatus.SENDING))  # fmt: skip
    oldest = rows[0][0] if rows else None
    return 0.0 if oldest is None else max(0.0, now - float(oldest))


def _pending(state: State) -> int:
    return state.outbox.pending()


class Ops:
    """The metrics of one bot and what a check or a message tells them (and the log)."""

    def __init__(self, state: State, *, wall: Callable[[], float] = time.time) -> None:
        self.state = state
        self.wall = wall
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.checks = Counter("alertbot_checks", "Checks by outcome", ["outcome"], registry=r)
        self.duration = Histogram("alertbot_check_duration_seconds", "Check duration",
                                  buckets=(0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600),
                                  registry=r)  # fmt: skip
        self.series = Gauge("alertbot_series_checked", "Series in the last check", registry=r)
        self.anomalies = Gauge("alertbot_anomalies", "Anomalies in the last check", registry=r)
        self.messages = Counter("alertbot_messages", "Messages by channel and outcome",
                                ["channel", "outcome"], registry=r)  # fmt: skip
        self.source_errors = Counter("alertbot_source_errors", "Tables a check could not read",
                                     ["table"], registry=r)  # fmt: skip
        self.api_errors = Counter("alertbot_telegram_api_errors", "Bot API calls that failed",
                                  ["method", "error"], registry=r)  # fmt: skip
        self.last_success = Gauge("alertbot_last_success_timestamp_seconds",
                                  "When the last check without errors ended",
                                  registry=r)  # fmt: skip
        with contextlib.suppress(StoreError):  # as the state file holds it: a restart is no 0
            ended = state.journal.last_success()
            if ended is not None:
                self.last_success.set(ended.timestamp())
        Gauge("alertbot_open_incidents", "Incidents not resolved",
              registry=r).set_function(lambda: self._read(open_incidents))  # fmt: skip
        Gauge("alertbot_outbox_pending", "Messages waiting or in flight",
              registry=r).set_function(lambda: self._read(_pending))  # fmt: skip
        Gauge("alertbot_outbox_oldest_pending_seconds", "Age of the oldest waiting message",
              registry=r).set_function(self.outbox_age)  # fmt: skip
        for outcome in ("ok", "partial", "failed"):
            self.checks.labels(outcome)
        # What the health endpoint judges by (wall-clock seconds).
        self.started = wall()
        self.last_ok: float | None = None  # the last check without errors ended
        self.last_check: float | None = None  # the last check ended, whatever its outcome
        self.last_problem: str | None = None  # what went wrong in the last check, if anything
        self._failing: dict[str, str] = {}  # table -> error, as of the last check
        # Telegram refuses BOT_TOKEN (401: revoked or replaced while running): set by ApiErrors.
        self.token_refused: str | None = None

    def _read(self, query: Callable[[State], int]) -> float:
        try:
            return float(query(self.state))
        except StoreError:  # the file is gone: /healthz says so; the number is unknown
            return float("nan")

    def outbox_age(self) -> float:
        try:
            return oldest_pending_age(self.state, self.wall())
        except StoreError:
            return float("nan")

    # -- checks ------------------------------------------------------------------------------
    def checked(self, report: CheckReport, seconds: float | None) -> None:
        """A check finished: its log line, its numbers, and errors or recoveries per table."""
        now = self.wall()
        self.last_check = now
        errors = dict(report.errors)
        outcome = "partial" if errors else "ok"
        if errors and not report.results:
            outcome = "failed"
        self.checks.labels(outcome).inc()
        if seconds is not None:
            self.duration.observe(seconds)
        self.series.set(len(report.results))
        self.anomalies.set(len(report.anomalies))
        took = f"{seconds:.1f} s" if seconds is not None else "?"
        log.info("check %s: %d series, %d anomalies, %d rows read, %s (%s)", outcome,
                 len(report.results), len(report.anomalies), report.rows_read, took,
                 report.source)  # fmt: skip
        was = self._failing
        for table, error in errors.items():
            self.source_errors.labels(table).inc()
            if table not in was:
                log.error("source error: %s cannot be read: %s", table, error)
        for table in sorted(set(was) - set(errors)):
            log.info("source recovered: %s can be read again", table)
        self._failing = errors
        if errors:
            each = "; ".join(f"{table}: {error}" for table, error in errors.items())
            self.last_problem = f"source errors: {each}"
        else:
            self.last_ok, self.last_problem = now, None
            self.last_success.set(now)

    def check_failed(self, error: BaseException) -> None:
        self.last_check = self.wall()
        self.checks.labels("failed").inc()
        self.last_problem = f"last check failed: {type(error).__name__}: {error}"
        log.error("check failed: %s: %s", type(error).__name__, error)

    # -- messages -----------------------------------------------------------------------------
    def sent(self, channel: str, message: Message, outcome: Outcome) -> None:
        """Counted by outcome; a message sent is logged here, one not sent by the outbox
        drainer (bot/service/delivery.py: why, and when it is tried again)."""
        kind = _outcome_name(outcome)
        self.messages.labels(channel, kind).inc()
        if kind == "sent":
            delivery_log.info("sent %s message %s to %s", channel, message.key or "-",
                              message.chat_id)  # fmt: skip


def _outcome_name(outcome: Outcome) -> str:
    if isinstance(outcome, Sent):
        return "sent"
    if isinstance(outcome, RateLimited):
        return "rate_limited"
    if isinstance(outcome, Gone):
        return "gone"
    if isinstance(outcome, Rejected):
        return "rejected"
    return "retry"


class CountedChannel:
    """A channel whose every send is counted and logged; edits pass through."""

    def __init__(self, inner: Channel, ops: Ops) -> None:
        self.inner = inner
        self.name = inner.name
        self.ops = ops

    async def send(self, message: Message) -> Outcome:
        outcome = await self.inner.send(message)
        self.ops.sent(self.name, message, outcome)
        return outcome

    async def edit(self, message: Message, message_id: int, *, is_photo: bool) -> Outcome:
        return await self.inner.edit(message, message_id, is_photo=is_photo)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


TOKEN_REFUSED = ("Telegram refuses BOT_TOKEN (401 Unauthorized): it was revoked or replaced "
                 "in @BotFather; set the bot's current token and restart")  # fmt: skip


class ApiErrors(BaseRequestMiddleware):
    """Counts every Bot API call that fails, by method and error type. A token Telegram stops
    taking while the bot runs is said once (the log, /healthz failing), not as aiogram's line
    every 5 s that never names BOT_TOKEN; and once more when it is taken again."""

    def __init__(self, ops: Ops) -> None:
        self.ops = ops

    async def __call__(
        self,
        make_request: NextRequestMiddlewareType[TelegramType],
        bot: Bot,
        method: TelegramMethod[TelegramType],
    ) -> Response[TelegramType]:
        try:
            answer = await make_request(bot, method)
        except AiogramError as exc:
            name = getattr(method, "__api_method__", type(method).__name__)
            self.ops.api_errors.labels(name, type(exc).__name__).inc()
            if isinstance(exc, TelegramUnauthorizedError) and self.ops.token_refused is None:
                self.ops.token_refused = TOKEN_REFUSED
                log.error(TOKEN_REFUSED)
            raise
        if self.ops.token_refused is not None:
            self.ops.token_refused = None
            log.info("Telegram takes BOT_TOKEN again")
        return answer


class QuietRefusals(logging.Filter):
    """Drops aiogram's "Failed to fetch updates - TelegramUnauthorizedError" lines while the
    refusal has been said (ApiErrors), so the log keeps what else happens."""

    def __init__(self, ops: Ops) -> None:
        super().__init__()
        self.ops = ops

    def filter(self, record: logging.LogRecord) -> bool:
        return self.ops.token_refused is None or "TelegramUnauthorizedError" not in str(
            record.getMessage())
