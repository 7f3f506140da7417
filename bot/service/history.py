"""A check's history: aggregated rows per table, held in memory and in the state file,
fetched incrementally; and each table's slices, built once per refresh."""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import functools
import sys
import time
from datetime import datetime, timedelta

import pandas as pd

from bot.state import HistoryCache, query_key
from bot.state.db import ts
from queries.catalogue import Catalogue, Table
from queries.history import Window, merge, plan
from queries.series import TableSlices, bucket_index, on_grid
from queries.sources import Source

__all__ = ["FETCH_PIECE", "History"]

# A long range is fetched two days at a time: the source's working memory grows with the
# groups of one query (a cohort dimension makes millions: 1.25 GB for 28 days at 10,000 series,
# 0.7 GB by two days), while shorter pieces cost more in per-query overhead than they save.
# Whole buckets per piece, in time order: the rows are the same as one query's.
FETCH_PIECE = timedelta(days=2)


# Arrays from this size up get their own mapping from glibc's malloc, given back to the system
# when freed. By default glibc raises that threshold to the size of the last such array freed
# (up to 32 MB), after which a window's columns and temporaries (17 MB each at 10,000 series)
# come from the heap, which seldom shrinks: each check left the process hundreds of MB larger.
MMAP_THRESHOLD = 4 << 20
_M_MMAP_THRESHOLD = -3  # mallopt's parameter number (malloc.h)


@functools.cache
def give_back_freed_arrays() -> bool:
    """Fix glibc's mmap threshold at MMAP_THRESHOLD (once per process). False where the C
    library is not glibc (musl has no mallopt): nothing changes there."""
    name = ctypes.util.find_library("c")
    try:
        mallopt = ctypes.CDLL(name).mallopt if name else None
    except (OSError, AttributeError):
        return False
    return bool(mallopt and mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD) == 1)


def release_freed_memory() -> None:
    """Hand memory freed by a refresh back to the system: glibc keeps freed small blocks (a
    window's Python objects, SQLite's rows) in its heap and Arrow's pool keeps freed string
    buffers, both counted as the process's until trimmed; the next refresh then starts from
    what is held, not from the last one's peak. Milliseconds."""
    if give_back_freed_arrays():  # glibc: malloc_trim exists
        name = ctypes.util.find_library("c")
        if name:
            ctypes.CDLL(name).malloc_trim(0)
    arrow = sys.modules.get("pyarrow")
    if arrow is not None:
        arrow.default_memory_pool().release_unused()


class History:
    """Aggregated rows per table, held in memory and in the state file, fetched incrementally."""

    def __init__(self, source: Source, catalogue: Catalogue, store: HistoryCache | None) -> None:
        give_back_freed_arrays()
        self.source = source
        self.catalogue = catalogue
        self.store = store
        self._held: dict[str, tuple[pd.DataFrame, datetime, datetime]] = {}
        self._sliced: dict[str, tuple[pd.DataFrame, TableSlices]] = {}
        # A refreshed frame whose slices can be the previous ones moved on: (frame, previous
        # slices, the rows fetched, the window).
        self._moved: dict[str, tuple[pd.DataFrame, TableSlices, pd.DataFrame, Window]] = {}
        self.moved_on = 0  # refreshes whose slices were moved on rather than rebuilt
        self._on_grid: set[str] = set()  # tables whose whole window was seen on the step's grid
        self.cache_s = 0.0  # seconds spent reading and writing the state file's cache, in all

    def _key(self, table: Table) -> str:
        return query_key(table.name, table.sql, table.columns)

    def _drop(self, name: str | None = None) -> None:
        """Forget the rows held in memory for one table (None: every table)."""
        for held in (self._held, self._sliced, self._moved):
            if name is None:
                held.clear()
            else:
                held.pop(name, None)

    def forget(self) -> None:
        """Drop the rows held, in memory and in the state file: the source's data is new."""
        self._drop()
        if self.store is not None:
            self.store.forget(self.source.key)

    def _load(self, table: Table) -> None:
        if table.name not in self._held and self.store is not None:
            started = time.perf_counter()
            loaded = self.store.load(self.source.key, self._key(table), table.columns)
            self.cache_s += time.perf_counter() - started
            if loaded is not None:
                self._held[table.name] = loaded
            release_freed_memory()  # the stored chunks just decoded

    def held(self, table: Table) -> tuple[pd.DataFrame, datetime, datetime] | None:
        """The rows held for a table after the last check, with the window they cover."""
        self._load(table)
        return self._held.get(table.name)

    async def held_async(self, table: Table) -> tuple[pd.DataFrame, datetime, datetime] | None:
        """held(), reading the state file in a worker thread."""
        if table.name not in self._held and self.store is not None:
            await asyncio.to_thread(self._load, table)
        return self._held.get(table.name)

    async def _drop_if_not_stored(self, table: Table) -> None:
        """Before a refresh saves onto them: rows held in memory stand only while the state
        file still holds the same window. Another process may have dropped them (`alertbot
        seed` made new data) or saved a newer one (`alertbot check`), and an incremental save
        over rows that are no longer there leaves a window with a hole."""
        if table.name not in self._held or self.store is None:
            return
        _, lo, hi = self._held[table.name]
        stored = await asyncio.to_thread(self.store.held_range, self.source.key, self._key(table))
        if stored != (ts(lo), ts(hi)):
            self._drop(table.name)

    def sliced(self, table: Table, frame: pd.DataFrame, window: Window) -> TableSlices:
        """The table's slices and ranking for `frame`: computed once per refresh, shared by
        every metric of the table, the check and the commands that replay it. CPU only."""
        cached = self._sliced.get(table.name)
        if cached is not None and cached[0] is frame:
            return cached[1]
        index = bucket_index(window.start, window.end, self.catalogue.step)
        moved = self._moved.get(table.name)
        sliced = None
        if moved is not None and moved[0] is frame:
            sliced = moved[1].advance(moved[2], index, moved[3].fetch_start)
            self.moved_on += sliced is not None
        if sliced is None:
            sliced = TableSlices(frame, table, index)
            release_freed_memory()  # the build's row temporaries
        held = self._held.get(table.name)
        if held is not None and held[0] is frame:
            self._sliced[table.name] = (frame, sliced)
            self._moved.pop(table.name, None)
        return sliced

    async def held_slices(self, table: Table) -> tuple[TableSlices, Window] | None:
        """The slices of what the last check holds for a table, built off the event loop."""
        held = await self.held_async(table)
        if held is None:
            return None
        frame, start, end = held
        window = Window(start=start, end=end, fetch_start=start)
        return await asyncio.to_thread(self.sliced, table, frame, window), window

    async def _fetch(self, table: Table, start: datetime, end: datetime) -> pd.DataFrame:
        """The source's rows for [start, end), queried FETCH_PIECE at a time."""
        step = self.catalogue.step
        piece = max(step, FETCH_PIECE // step * step)
        parts = []
        while True:
            stop = min(end, start + piece)
            parts.append(await self.source.fetch(table, start, stop))
            start = stop
            if start >= end:
                break
        filled = [p for p in parts if len(p)]
        if len(filled) <= 1:
            return (filled or parts)[0]
        del parts
        return pd.concat(filled, ignore_index=True)

    async def frame(
        self, table: Table, now: datetime, delay: timedelta
    ) -> tuple[pd.DataFrame, Window, int]:
        """Rows for the window ending at the last complete bucket; also the rows fetched now."""
        await self._drop_if_not_stored(table)
        held = await self.held_async(table)
        window = plan(
            now,
            step=self.catalogue.step,
            delay=delay,
            history=self.catalogue.history,
            held_from=held[1] if held else None,
            held_until=held[2] if held else None,
        )
        fresh = await self._fetch(table, window.fetch_start, window.end)
        frame = merge(held[0] if held else None, fresh, window)
        if table.name not in self._on_grid:  # once per table: the whole window, held rows too
            on_grid(frame, self.catalogue.step, table.name)
            self._on_grid.add(table.name)
        # A check "as of" an earlier time must not overwrite newer held history.
        if held is None or window.end >= held[2]:
            self._held[table.name] = (frame, window.start, window.end)
            before = self._sliced.pop(table.name, None)
            moves = before is not None and held is not None and before[0] is held[0]
            if before is not None and moves and not window.is_full:
                self._moved[table.name] = (frame, before[1], fresh, window)
            if self.store is not None:
                started = time.perf_counter()
                await asyncio.to_thread(
                    self.store.save,
                    self.source.key,
                    self._key(table),
                    fresh,
                    table.columns,
                    held_from=window.start,
                    replace_from=window.fetch_start,
                    held_until=window.end,
                )
                self.cache_s += time.perf_counter() - started
        del held  # the rows this refresh replaced, before trimming
        await asyncio.to_thread(release_freed_memory)
        return frame, window, len(fresh)
