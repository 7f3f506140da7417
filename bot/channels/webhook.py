"""A generic webhook: each message as one JSON POST to a URL, with the outbox's guarantees.

    {"version": 1, "event": "alert" | "reminder" | "resolved" | "notice", "incident_id": int|null,
     "metric": str|null, "slice": str|null, "text": plain text, "html": Telegram HTML, "key": str}

Headers: `Idempotency-Key` (the same for every retry of one message: a receiver drops repeats
with it) and `Authorization: Bearer <secret>` when a secret is set. Charts are not sent.

    2xx                          -> Sent
    429                          -> RateLimited (Retry-After, else the outbox's backoff)
    5xx, 408, network, timeout   -> RetryAfter
    401, 403                     -> RetryAfter: the receiver's credentials are wrong, not the
                                    message; once fixed, what waited is delivered
    404, 410                     -> Gone: nothing is listening there any more
    other 4xx                    -> Rejected

Reasons name the status only: neither the URL (it may hold a key) nor the body is repeated.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import aiohttp

from bot.channels.base import Gone, Message, Outcome, RateLimited, Rejected, RetryAfter, Sent
from bot.core.text import plain

__all__ = ["EVENTS", "TIMEOUT", "WebhookChannel", "payload"]

TIMEOUT = 10.0  # seconds for one POST, connect to last byte
EVENTS = ("alert", "reminder", "resolved", "notice")
AUTH_RETRY = 300.0


def _session() -> aiohttp.ClientSession:
    return aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=TIMEOUT))


def payload(message: Message) -> dict[str, Any]:
    meta = message.meta
    event = str(meta.get("event") or "notice")
    return {
        "version": 1,
        "event": event if event in EVENTS else "notice",
        "incident_id": meta.get("incident_id"),
        "metric": meta.get("metric"),
        "slice": meta.get("slice"),
        "text": plain(message.text),
        "html": message.text,
        "key": message.key,
    }


class WebhookChannel:
    name = "webhook"

    def __init__(
        self,
        url: str,
        secret: str | None = None,
        session: Callable[[], aiohttp.ClientSession] = _session,
        *,
        wall: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.url = url
        self.secret = secret
        self.session = session  # one per POST: nothing to close, nothing left open
        self.wall = wall

    async def send(self, message: Message) -> Outcome:
        headers = {"Idempotency-Key": message.key}
        if self.secret:
            headers["Authorization"] = f"Bearer {self.secret}"
        try:
            async with (
                self.session() as session,
                session.post(self.url, json=payload(message), headers=headers) as answer,
            ):
                status, retry_after = answer.status, answer.headers.get("Retry-After")
        except Exception as exc:  # network, timeout, anything: try again later
            return RetryAfter(0.0, type(exc).__name__)
        return self._outcome(status, retry_after)

    async def edit(self, message: Message, message_id: int, *, is_photo: bool) -> Outcome:
        """Nothing to edit: the receiver gets the change as an event of its own."""
        return Sent(None)

    def _outcome(self, status: int, retry_after: str | None) -> Outcome:
        reason = f"HTTP {status}"
        if 200 <= status < 300:
            return Sent(None)
        if status == 429:
            return RateLimited(self._seconds(retry_after), reason)
        if status >= 500 or status == 408:
            return RetryAfter(self._seconds(retry_after), reason)
        if status in (401, 403):
            return RetryAfter(AUTH_RETRY, f"{reason}: the receiver refuses our credentials")
        if status in (404, 410):
            return Gone(reason)
        return Rejected(reason)

    def _seconds(self, header: str | None) -> float:
        """Retry-After as seconds or an HTTP date; 0 (the outbox's backoff) when absent."""
        if not header:
            return 0.0
        try:
            return max(0.0, float(header))
        except ValueError:
            pass
        try:
            when = parsedate_to_datetime(header)
        except (TypeError, ValueError):
            return 0.0
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        return max(0.0, (when - self.wall()).total_seconds())
