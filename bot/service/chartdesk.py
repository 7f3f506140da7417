"""Charts that never queue the bot: one render in flight per chart, shared by everyone who asked
for it, at most `limit` renders at once (in threads, off the event loop), and the last `keep`
PNGs kept.

    desk = ChartDesk(limit=2, keep=64)
    png = await desk.png(key, render_chart, metric, where, series, band, verdict, zone=zone)
    desk.warm(key, render_chart, ...)   # right after the check that found an anomaly

Charts someone is waiting for go first: a warm-up waits while any request does, and a request
for a chart still queued as a warm-up moves it to the front.

A key names the picture (metric, slice, bucket, settings version, language...): two requests
with equal keys get the same bytes. Twenty people pressing "chart" at once cost one render;
a burst of distinct charts costs `limit` threads, so text replies and /status keep their share
of the two cores. A failed render reaches everyone waiting for it and is not kept: the next
request tries again.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import logging
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any

__all__ = ["ChartDesk"]

log = logging.getLogger(__name__)

ASKED, WARM = 0, 1  # priorities: someone is waiting / nobody yet


class _Gate:
    """`limit` slots handed out by priority, then in the order asked; a queued request can be
    moved to the front."""

    def __init__(self, limit: int) -> None:
        self.free = limit
        self._queue: list[list[Any]] = []  # heap of [priority, seq, ticket, live]
        self._seq = itertools.count()
        self._entries: dict[asyncio.Future[None], list[Any]] = {}

    def request(self, priority: int) -> asyncio.Future[None]:
        """A ticket that resolves when a slot is ours (at once when one is free)."""
        ticket: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if self.free and not self._entries:
            self.free -= 1
            ticket.set_result(None)
        else:
            self._push(priority, ticket)
        return ticket

    def _push(self, priority: int, ticket: asyncio.Future[None]) -> None:
        entry = [priority, next(self._seq), ticket, True]
        self._entries[ticket] = entry
        heapq.heappush(self._queue, entry)

    def promote(self, ticket: asyncio.Future[None]) -> None:
        """Move a queued ticket to the ASKED priority."""
        entry = self._entries.get(ticket)
        if entry is not None and entry[0] > ASKED:
            entry[3] = False
            self._push(ASKED, ticket)

    def withdraw(self, ticket: asyncio.Future[None]) -> None:
        """The ticket's holder gave up: drop it from the queue, or pass on its slot."""
        entry = self._entries.pop(ticket, None)
        if entry is not None:
            entry[3] = False
        elif ticket.done() and not ticket.cancelled():
            self.release()

    def release(self) -> None:
        while self._queue:
            _, _, ticket, live = heapq.heappop(self._queue)
            if live and not ticket.done():
                del self._entries[ticket]
                ticket.set_result(None)
                return
        self.free += 1


class ChartDesk:
    """Single-flight, bounded, cached chart rendering (see the module's docstring)."""

    def __init__(self, limit: int = 2, keep: int = 64) -> None:
        if limit < 1 or keep < 0:
            raise ValueError("a chart desk needs limit >= 1 and keep >= 0")
        self.limit = limit
        self.keep = keep
        self._gate = _Gate(limit)
        self._done: OrderedDict[Hashable, bytes] = OrderedDict()
        self._flying: dict[Hashable, asyncio.Task[bytes]] = {}
        self._tickets: dict[Hashable, asyncio.Future[None]] = {}  # renders waiting for a slot
        self.renders = 0  # draw calls started, for /metrics and tests
        self.running = 0  # draw calls running now
        self.peak = 0  # the most draw calls ever running at once

    def cached(self, key: Hashable) -> bytes | None:
        """The finished PNG for `key`, or None; never renders."""
        png = self._done.get(key)
        if png is not None:
            self._done.move_to_end(key)
        return png

    def pending(self, key: Hashable) -> bool:
        """Whether a render of `key` is queued or running."""
        return key in self._flying

    async def png(self, key: Hashable, draw: Callable[..., bytes], *args: Any,
                  **kwargs: Any) -> bytes:  # fmt: skip
        """The PNG for `key`: from the cache, from the render already in flight, or from a new
        render of `draw(*args, **kwargs)` in a thread. A caller that gives up (cancelled) does
        not cancel the render others wait for."""
        png = self.cached(key)
        if png is not None:
            return png
        return await asyncio.shield(self._start(key, draw, args, kwargs, ASKED))

    def warm(self, key: Hashable, draw: Callable[..., bytes], *args: Any,
             **kwargs: Any) -> asyncio.Task[bytes] | None:  # fmt: skip
        """Start rendering `key` in the background unless it is cached or in flight; a failure is
        logged, not raised. Returns the render's task (None when there was nothing to do)."""
        if key in self._done or key in self._flying:
            return None
        return self._start(key, draw, args, kwargs, WARM)

    def _start(self, key: Hashable, draw: Callable[..., bytes], args: tuple[Any, ...],
               kwargs: dict[str, Any], priority: int) -> asyncio.Task[bytes]:  # fmt: skip
        task = self._flying.get(key)
        if task is None:
            ticket = self._gate.request(priority)
            self._tickets[key] = ticket
            task = asyncio.create_task(self._render(key, draw, args, kwargs, ticket),
                                       name=f"chart {key!r}"[:120])  # fmt: skip
            self._flying[key] = task
            task.add_done_callback(self._landed(key))
        elif priority == ASKED and key in self._tickets:
            self._gate.promote(self._tickets[key])
        return task

    def _landed(self, key: Hashable) -> Callable[[asyncio.Task[bytes]], None]:
        def done(task: asyncio.Task[bytes]) -> None:
            if self._flying.get(key) is task:
                del self._flying[key]
            if task.cancelled():
                return
            error = task.exception()  # retrieved here, so a warm-up's failure is not "lost"
            if error is not None:
                log.warning("chart %r failed: %s", key, error, exc_info=error)

        return done

    async def _render(self, key: Hashable, draw: Callable[..., bytes], args: tuple[Any, ...],
                      kwargs: dict[str, Any], ticket: asyncio.Future[None]) -> bytes:  # fmt: skip
        try:
            await ticket
        except asyncio.CancelledError:
            self._gate.withdraw(ticket)
            raise
        finally:
            self._tickets.pop(key, None)
        self.renders += 1
        self.running += 1
        self.peak = max(self.peak, self.running)
        try:
            png = await asyncio.to_thread(draw, *args, **kwargs)
        finally:
            self.running -= 1
            self._gate.release()
        if self.keep:
            self._done[key] = png
            self._done.move_to_end(key)
            while len(self._done) > self.keep:
                self._done.popitem(last=False)
        return png

    def clear(self) -> None:
        """Forget the finished PNGs (renders in flight finish and are kept)."""
        self._done.clear()

    async def close(self) -> None:
        """Cancel the renders still queued (at shutdown); a thread already drawing finishes on
        its own."""
        tasks = list(self._flying.values())
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
