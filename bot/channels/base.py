"""A channel delivers one message and says, for every way that can go, what to do next.

    Outcome = Sent       delivered (with the channel's message id, when it has one)
            | RetryAfter not now: try again after `seconds` (rate limit, network, 5xx)
            | Gone       this chat/endpoint will not take messages any more (confirmed), or
                         a group has a new id now (moved_to: upgraded to a supergroup)
            | Rejected   this message will never be accepted as it is (bad markup, too long)

A channel never raises for a delivery problem: every exception its transport can raise maps
to one of these. The outbox decides what to do with each.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from bot.core.buttons import Button

__all__ = [
    "Channel", "Gone", "Message", "Outcome", "RateLimited", "Rejected", "RetryAfter", "Sent",
    "Unreachable", "buttons_from_json", "buttons_json",
]  # fmt: skip


@dataclass(frozen=True)
class Message:
    chat_id: int  # the chat (Telegram), or 0 for a channel with one endpoint (webhook)
    text: str  # Telegram's HTML subset; channels without markup strip it
    png: bytes | None = None
    buttons: tuple[tuple[Button, ...], ...] = ()
    key: str = ""  # unique per message: an idempotency key where the transport takes one
    meta: Mapping[str, Any] = field(default_factory=dict)  # event, metric, slice, incident


@dataclass(frozen=True)
class Sent:
    message_id: int | None = None


@dataclass(frozen=True)
class RetryAfter:
    seconds: float
    reason: str


@dataclass(frozen=True)
class Gone:
    reason: str
    moved_to: int | None = None  # a group upgraded to a supergroup: its new id


@dataclass(frozen=True)
class Rejected:
    reason: str


Outcome = Sent | RetryAfter | Gone | Rejected


class Channel(Protocol):
    name: str

    async def send(self, message: Message) -> Outcome: ...

    async def edit(self, message: Message, message_id: int, *, is_photo: bool) -> Outcome:
        """Replace a sent message's text (caption) and buttons."""
        ...


def buttons_json(buttons: tuple[tuple[Button, ...], ...]) -> str | None:
    """The outbox's form of a keyboard (None for none)."""
    if not buttons:
        return None
    return json.dumps([[[b.text, b.data] for b in row] for row in buttons], ensure_ascii=False)


def buttons_from_json(text: str | None) -> tuple[tuple[Button, ...], ...]:
    if not text:
        return ()
    return tuple(tuple(Button(str(t), str(d)) for t, d in row) for row in json.loads(text))


@dataclass(frozen=True)
class RateLimited(RetryAfter):
    """The transport itself asks to wait (HTTP 429): nothing more goes through this channel
    until then, not only this message."""


@dataclass(frozen=True)
class Unreachable(RetryAfter):
    """The transport did not answer (a timeout, a network error): the next message would wait
    as long, so nothing more goes through this channel until this one's retry."""
