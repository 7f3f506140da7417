"""Charts that never queue the bot: one render in flight per chart, shared by everyone who asked
for it, at most `limit` renders at once (in threads, off the event loop), and the last `keep`
PNGs kept.

    desk = ChartDesk(limit=2, keep=64)
    png = await desk.png(key, render_chart, metric, where, series, band, verdict, zone=zone)
    desk.warm(key, render_chart, ...)   # right after the check that found an anomaly

A key names the picture (metric, slice, bucket, settings version, language...): two requests
with equal keys get the same bytes. Twenty people pressing "chart" at once cost one render;
a burst of distinct charts costs `limit` threads, so text replies and /status keep their share
of the two cores. A failed render reaches everyone waiting for it and is not kept: the next
request tries again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any

__all__ = ["ChartDesk"]

log = logging.getLogger(__name__)


class ChartDesk:
    """Single-flight, bounded, cached chart rendering (see the module's docstring)."""

    def __init__(self, limit: int = 2, keep: int = 64) -> None:
        if limit < 1 or keep < 0:
            raise ValueError("a chart desk needs limit >= 1 and keep >= 0")
        self.limit = limit
        self.keep = keep
        self._gate = asyncio.Semaphore(limit)
        self._done: OrderedDict[Hashable, bytes] = OrderedDict()
        self._flying: dict[Hashable, asyncio.Task[bytes]] = {}
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
        return await asyncio.shield(self._start(key, draw, args, kwargs))

    def warm(self, key: Hashable, draw: Callable[..., bytes], *args: Any,
             **kwargs: Any) -> asyncio.Task[bytes] | None:  # fmt: skip
        """Start rendering `key` in the background unless it is cached or in flight; a failure is
        logged, not raised. Returns the render's task (None when there was nothing to do)."""
        if key in self._done or key in self._flying:
            return None
        return self._start(key, draw, args, kwargs)

    def _start(self, key: Hashable, draw: Callable[..., bytes], args: tuple[Any, ...],
               kwargs: dict[str, Any]) -> asyncio.Task[bytes]:  # fmt: skip
        task = self._flying.get(key)
        if task is None:
            task = asyncio.create_task(self._render(key, draw, args, kwargs),
                                       name=f"chart {key!r}"[:120])  # fmt: skip
            self._flying[key] = task
            task.add_done_callback(self._landed(key))
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
                      kwargs: dict[str, Any]) -> bytes:  # fmt: skip
        async with self._gate:
            self.renders += 1
            self.running += 1
            self.peak = max(self.peak, self.running)
            try:
                png = await asyncio.to_thread(draw, *args, **kwargs)
            finally:
                self.running -= 1
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
