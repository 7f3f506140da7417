"""The check's matrix path: one band engine per (table, metric, spec), kept from check to check,
so a steady check computes only the buckets that are new (or changed) for all of a metric's
slices at once, and the rule judges them as one matrix too."""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import TypeGuard

import numpy as np
import pandas as pd

from bot.core.report import Block, Rows, SeriesResult
from detectors import Detector, Rule, capped, floored, never_negative, never_over_one
from detectors.accept import LEAST, accept_level
from detectors.base import first_week
from detectors.engine import REDO, BandEngine, EngineBands
from detectors.rule import USUAL_WINDOW, fineness
from detectors.seasonal import (
    SeasonalDetector,
    late_match,
    late_points,
    onto_grid,
    wall_extra,
    wall_grid,
)
from detectors.verdicts import verdicts
from queries.catalogue import Metric, Table
from queries.series import Slice

__all__ = ["BAND_ROWS", "Engines", "Follow", "accept_window", "accepts", "band_rows",
           "engines_of", "position"]  # fmt: skip

# A check needs the band of the last day (chart, verdict and the rule's windows), not 28 days:
# at 15 minutes the default rule's verdict reads 114 buckets (a small count's windows of up to
# 16, their 96 pairs of correlation before them, and the bucket that confirms a rise).
BAND_ROWS = 96 + 24


def band_rows(rule: Rule, index: pd.DatetimeIndex) -> int:
    """Rows of band a check computes for a metric on `index`: BAND_ROWS, or what the rule's
    verdict reads where that is more (at a fine step, the sudden moves of the quarter-hour
    before the bucket with their own window of moves: 157 rows at 1 minute)."""
    return max(BAND_ROWS, rule.verdict_rows(fineness(index[-USUAL_WINDOW:])))


def position(index: pd.DatetimeIndex, at: datetime) -> int:
    """Where `at` falls in `index` (the first bucket starting at or after it)."""
    stamp = pd.Timestamp(at)
    if index.tz is None and stamp.tzinfo is not None:
        stamp = stamp.tz_convert("UTC").tz_localize(None)
    elif index.tz is not None and stamp.tzinfo is None:
        stamp = stamp.tz_localize("UTC")
    return int(index.searchsorted(stamp))


def accepts(detector: Detector) -> TypeGuard[SeasonalDetector]:
    """Whether a level accepted in the chat can stand for this detector's own re-base: the
    seasonal one, re-basing (rebase_hours > 0), so that its band has caught up by the time
    the accepted level lapses."""
    return isinstance(detector, SeasonalDetector) and detector.rebase_hours > 0


def accept_window(detector: SeasonalDetector, step: timedelta) -> int:
    """Buckets an accepted level is measured over: the detector's own re-base span."""
    return max(round(detector.rebase_hours * 3600 / step.total_seconds()), LEAST)


def following(detector: SeasonalDetector, index: pd.DatetimeIndex, since: datetime,
              step: timedelta) -> tuple[Follow, dict[str, float]]:  # fmt: skip
    """How a metric's bands follow the level accepted since `since`, and what its spec must
    change for it: the detector's own re-base off (the accepted level is the level: re-basing
    from a partial shift after half of rebase_hours would move the band a second time), and
    its late matching off (done after the move instead, on the moved bands)."""
    late = late_points(detector.late_minutes, step)
    follow = Follow(position(index, since), accept_window(detector, step), late,
                    counts=detector.counts)  # fmt: skip
    return follow, {"rebase_hours": 0.0, "late_minutes": 0.0}


@dataclass(frozen=True)
class Follow:
    """A metric whose new level was accepted in the chat: its bands follow the level from
    bucket `start` of the check's index on, measured over up to `window` buckets. At a fine
    step a point then fits the moved band of one of the `late` points before it, as the
    detector's own bands do (seasonal.late_match): the bands given are each point's own."""

    start: int
    window: int
    late: int = 0
    counts: str = "auto"  # the detector's: whose lower bound it holds at 0

    def arrays(self, columns_from: int, values: np.ndarray, expected: np.ndarray,  # noqa: PLR0917
               lower: np.ndarray, upper: np.ndarray, basis: np.ndarray | None,
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray | None]:  # fmt: skip
        """The band's columns (the index's from `columns_from` on) moved to the level."""
        expected, lower, upper, named = accept_level(
            values, expected, lower, upper, basis, self.start - columns_from, window=self.window,
            counts=self.counts,
        )
        expected, lower, upper = late_match(values, expected, lower, upper, self.late)
        return expected, lower, upper, named

    def band(self, series: pd.Series, band: pd.DataFrame) -> pd.DataFrame:
        """One series' band (a detector's DataFrame) moved to the level."""
        basis = band["basis"].to_numpy(dtype=object)[None] if "basis" in band else None
        expected, lower, upper = (band[c].to_numpy(dtype="float64")[None]
                                  for c in ("expected", "lower", "upper"))  # fmt: skip
        expected, lower, upper, named = self.arrays(
            0, series.to_numpy(dtype="float64")[None], expected, lower, upper, basis)
        moved = band.copy()
        moved["expected"], moved["lower"], moved["upper"] = expected[0], lower[0], upper[0]
        if named is not None:
            moved["basis"] = pd.Series(named[0], index=band.index, dtype=object)
        return moved


def _spec_key(spec: Mapping[str, object]) -> tuple[tuple[str, str], ...]:
    return tuple(sorted((str(k), repr(v)) for k, v in spec.items()))


class Engines:
    """Band engines by (table, metric); a metric whose spec changed (/set) gets a new one."""

    def __init__(self) -> None:
        self._engines: dict[tuple[str, str], tuple[tuple[tuple[str, str], ...], BandEngine]] = {}
        self._lock = threading.Lock()  # guards the dicts; each engine has its own lock
        self._locks: dict[tuple[str, str], threading.Lock] = {}

    def fits(self, detector: Detector, index: pd.DatetimeIndex) -> bool:
        """Whether the matrix path serves this detector on this window (a regular grid)."""
        if type(detector) is not SeasonalDetector or len(index) < 2:
            return False
        spacing = np.diff(index.asi8)
        return bool(spacing[0] > 0 and np.all(spacing == spacing[0]))

    def discard(self, table: Table, metric: Metric) -> None:
        """Drop a metric's engine (a check failed on it): the next check builds a new one."""
        with self._lock:
            self._engines.pop((table.name, metric.name), None)

    def _engine(self, table: Table, metric: Metric, spec: Mapping[str, object],
                detector: SeasonalDetector, *, far: bool, rows: int) -> BandEngine:  # fmt: skip
        """The metric's engine; a new one when its spec changed, or when buckets further back
        than the engine compares re-sent values (2 x REDO) were fetched again (`far`): their
        values may have changed, and the engine would not see it."""
        key, wanted = (table.name, metric.name), _spec_key(spec)
        held = self._engines.get(key)
        if held is None or held[0] != wanted or far or held[1].rows != rows:
            held = (wanted, BandEngine(detector, rows))
            self._engines[key] = held
        return held[1]

    def judge(
        self,
        table: Table,
        metric: Metric,
        *,
        spec: Mapping[str, object],
        detector: Detector,
        rule: Rule,
        index: pd.DatetimeIndex,
        values: np.ndarray,
        weights: np.ndarray | None,
        wheres: Sequence[Slice],
        series_of: Callable[[Slice], pd.Series],
        fetched_from: int = 0,
        follow: Follow | None = None,
    ) -> list[SeriesResult]:
        """Bands and verdicts for all of a metric's slices (`values`: slice x bucket), whose
        buckets from position `fetched_from` on were fetched (again) for this check; with
        `follow`, the bands moved to the level accepted in the chat (the engine keeps its own,
        unmoved)."""
        assert isinstance(detector, SeasonalDetector)
        # In a time zone's wall clock (the detector's `timezone`), as SeasonalDetector.band
        # puts a series: the engine computes on that grid, each bucket takes its slot's band.
        wall = wall_grid(index, detector.timezone)
        grid, grid_values, grid_weights, grid_from = index, values, weights, fetched_from
        if wall is not None:
            grid, at = wall
            grid_values = onto_grid(values, at, grid.size)
            grid_weights = None if weights is None else onto_grid(weights, at, grid.size)
            grid_from = int(at[fetched_from:].min()) if fetched_from < at.size else grid.size
        far = len(grid) - grid_from > 2 * REDO
        with self._lock:
            lock = self._locks.setdefault((table.name, metric.name), threading.Lock())
        with lock:  # metrics run in parallel threads; one metric's engine, one at a time
            extra = 0 if wall is None else wall_extra(detector.timezone, grid[1] - grid[0])
            computed = band_rows(rule, index) + extra
            with self._lock:
                engine = self._engine(table, metric, spec, detector, far=far, rows=computed)
            bands = engine.bands(grid, grid_values, list(wheres), grid_weights)
            engine.forget(set(wheres))
        if wall is not None:
            bands = _picked(bands, wall[1], grid.size)
        rows = bands.expected.shape[1]
        expected, lower, upper = bands.expected, bands.lower, bands.upper
        basis = bands.basis
        if follow is not None:
            expected, lower, upper, moved = follow.arrays(
                len(index) - rows, values[:, -rows:], expected, lower, upper, basis)
            basis = basis if moved is None else moved
        fresh = np.where(np.isfinite(expected), first_week(values, index, rows), np.nan)
        found = verdicts(rule, index[-rows:], values[:, -rows:], expected, lower, upper,
                         basis, bands.autocorr, bands.relative_cap, fresh)  # fmt: skip
        # A series that never went below zero is shown a range from 0, as the per-series path
        # shows it; the rule judged by the band's own width.
        floor = never_negative(values)
        found = [floored(v) if f else v for v, f in zip(found, floor.tolist(), strict=True)]
        with np.errstate(invalid="ignore"):
            lower = np.where(floor[:, None], np.maximum(lower, 0.0), lower)
        if metric.percent:  # a share's up to 100%, as detectors.shown has it
            cap = floor & never_over_one(values)
            found = [capped(v) if c else v for v, c in zip(found, cap.tolist(), strict=True)]
            with np.errstate(invalid="ignore"):
                upper = np.where(cap[:, None], np.minimum(upper, 1.0), upper)
        # The results keep the band's rows and build a series from the slices when read: not
        # the values matrix, which is dropped with this call.
        block = Block(index, partial(_series_of, series_of, list(wheres)), expected=expected,
                      lower=lower, upper=upper, basis=basis, autocorr=bands.autocorr,
                      relative_cap=bands.relative_cap, first_week=fresh)  # fmt: skip
        described = detector.describe()
        return [
            SeriesResult(metric, where, Rows(block, i), Rows(block, i), verdict, described)
            for i, (where, verdict) in enumerate(zip(wheres, found, strict=True))
        ]


def _picked(bands: EngineBands, at: np.ndarray, size: int) -> EngineBands:
    """The bands of the last grid rows the engine computed, for the last as many buckets:
    each its slot's (at: the buckets' positions on the grid of `size`), none where its slot is
    further back, as SeasonalDetector.band picks them."""
    rows = bands.expected.shape[1]
    slot = at[at.size - min(rows, at.size):] - (size - rows)
    known = slot >= 0
    slot = np.where(known, slot, 0)

    def pick(a: np.ndarray, fill: object) -> np.ndarray:
        out = a[:, slot]
        out[:, ~known] = fill
        return out

    return EngineBands(expected=pick(bands.expected, np.nan), lower=pick(bands.lower, np.nan),
                       upper=pick(bands.upper, np.nan), basis=pick(bands.basis, None),
                       autocorr=pick(bands.autocorr, np.nan),
                       relative_cap=pick(bands.relative_cap, np.nan))  # fmt: skip


def _series_of(build: Callable[[Slice], pd.Series], wheres: list[Slice], row: int) -> pd.Series:
    return build(wheres[row])


_HELD: weakref.WeakKeyDictionary[object, Engines] = weakref.WeakKeyDictionary()


def engines_of(owner: object) -> Engines:
    """The engines kept for `owner` (a check's History): they live as long as it does."""
    engines = _HELD.get(owner)
    if engines is None:
        engines = _HELD[owner] = Engines()
    return engines
