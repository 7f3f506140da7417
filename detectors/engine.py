"""The seasonal band for a whole table at once: series stacked as a matrix, state kept per series.

`BandEngine(detector, rows).bands(index, values, keys, weights)` returns, for every series (row
of `values`), the last `rows` buckets of the band that `detector.band(series)` (the per-series
reference, `last=None`) gives over everything the engine was given for that key since it first
saw it, newer values of a re-sent bucket replacing older ones. `forget(keep)` drops the state
of the keys not in `keep`.

How: every stage of SeasonalDetector._band looks back a bounded number of buckets (the same-slot
median `days` days and its weekday scale `weeks` weeks, the widths `days` days plus neighbours, the
level `level_slow` buckets and the weekday's pull it carried `level_window`, the re-base
`rebase_hours`, the noise `noise_hours`, the weekday choice and the sparse floor's quantile a
week, its share of exact errors SPARSE_WEEKS weeks, the cold start a day). The weekday scale also
reads the same-slot medians of the `weekday_hours` after a bucket (twice that with `weekday_z`),
which rest on values a day and more before it: the engine computes them from the window for each
call. The engine keeps, per series, each stage's intermediate values for as far back as the next
stage reads them, in ring buffers indexed by the bucket's position on the time grid, and the
running sums as cumulative totals (a trailing sum is then the reference's own difference of
cumulative sums, bit for bit; counts in wrapping unsigned integers wide enough for their window:
`_counter`). The values themselves come from the call's window, which the check passes whole
(28 days). A steady call computes only the new buckets and those whose value changed since the last
call (late rows), for all series at once as (series x new buckets) arrays: one sort of the 98 lagged
errors per new bucket and pass, one same-slot median, the re-base's rolling medians only where a
cheap count says a shift is possible, the noise chain bucket by bucket across series, the sparse
quantile only for sparse series. State: about 46 KB per series at 15 minutes.

A key seen for the first time is a batch over the same code, with an empty past and every bucket
of the window new, in chunks that keep a (series x buckets x lags) float32 block under ~100 MB.
A batch does what the reference does for `last = rows`: each stage starts where a later stage
(or the kept state) reads it, so the final width is sorted for the last ~140 buckets only.

Exactness: the engine reproduces the reference's arithmetic (float32 sorts of absolute errors,
cumulative sums, pandas' rolling median and linear quantile, which treat inf as missing), so the
bands match to float64 rounding (tests: rtol 1e-9) and the `basis` strings are identical. Where
the engine cannot know what the reference knows, it says so here:

- A batch equals `detector.band(series, last=rows)`, exactly what the checker's per-series path
  computes, so a first check gives that path's bands. That equals `last=None` except where
  the reference's own `last` truncation shows: the noise pass's `inside` chain starts at the
  batch's first_wide (a noisy stretch running across it can widen later buckets differently,
  within the noise factor, at most noise_max), and re-basing before first_rebase is not applied
  to the errors no later width reads. After the batch, steady calls continue it exactly.
- A key restarts (a batch over the window given; from then on its history starts there) when it
  is new, when the step changes, when the index goes back or starts after the key's last bucket
  (a gap between calls), when the window lacks a value the new buckets' medians read and the
  key has seen it (a window shorter than `days` days, or `weeks` weeks for a key older than
  that, plus the new buckets: the check's 28 days cover both), when a value changed
  between REDO and 2 x REDO buckets back, or when a whole-series property the reference reads
  from every value flips: counts-ness (all values whole and non-negative) or the sign (a negative
  value switches re-basing from a factor to an offset).
- Re-sent values are compared with the last 2 x REDO buckets the engine saw; a change further
  back is not seen: the same-slot medians read the new value from the window, while what the
  old value already fed (errors, levels) stays. The caller knows what it fetched again: the
  check (bot/service/engines.py) starts a metric's engine afresh when that reaches further.
- The whole-series properties are kept as counts of the values that break them (negative; not
  whole), so a late value replacing the only non-whole or negative one flips them back.
- At a step fine enough for `late_minutes`, a point may take the band of a point before it
  that it fits better (seasonal.late_match, on the stored bands): the engine reads the values
  for that from the call's window, so with a window shorter than `rows` plus those points the
  first rows keep their own bands where the reference, which has the values, might not.
- A bucket's `relative_cap` reads the SPAN_DAYS (7) days before its day from the call's window,
  once a day per key (kept until a value before that day changes in the window's last REDO
  buckets or the key restarts). The check's 28 days hold them; a window shorter than 8 days
  gives spans from the part of those days it holds, where the reference reads the values it
  was given before (a key restarts on a short window only where the medians read further).
- Row 0 of a key is NaN in both (no history); the reference's resolution there differs (0 vs 1)
  but reaches no band.

No series is delegated to the reference: cold-start rows (daily-short, recent) are computed here
too, over (series, bucket) pairs.
"""

from __future__ import annotations

from collections.abc import Collection, Hashable, Sequence
from dataclasses import dataclass
from datetime import timedelta

import numpy as np
import pandas as pd

from detectors.base import relative_to
from detectors.seasonal import (
    COLD_MIN_POINTS,
    DAILY,
    DAILY_SHORT,
    DAY_NS,
    DECIMALS_MAX,
    EVENT_BEYOND,
    NOISE_SLACK,
    REBASE_BIG,
    REBASE_DEAD,
    REBASE_MIN,
    REBASED,
    RECENT,
    RESOLUTION_SD,
    SPAN_DAYS,
    SPARSE,
    SPARSE_SHARE,
    SPARSE_WEEKS,
    TAIL_Q,
    TAIL_Z,
    WEEKLY,
    WEEKLY_MIN,
    SeasonalDetector,
    bucket_days,
    carried,
    carry_terms,
    confirm_least,
    count_floor,
    late_match,
    late_points,
    near_columns,
    noise_units,
    offset_caps,
    robust_sd,
    same_time_autocorr,
    same_time_pairs,
    same_weekday,
    seasonal_period,
    settled,
    shape_se,
    share_resolution,
    sparse_lag,
    steady_noise,
    weekday_points,
    weighted_resolution,
    widths_of,
)

__all__ = ["REDO", "BandEngine", "EngineBands"]

REDO = 32  # buckets back a late value may change and still be recomputed incrementally
BLOCK_BYTES = 100_000_000  # the largest temporary block (series x rows x lags) of a chunk
_GROW = 16  # fewest slots added at once (then half again as many as held)

# basis codes: base (0 none, 1 weekly, 2 daily, 3 daily-short, 4 recent) + 8 rebased + 16 sparse
_BASES: tuple[str | None, ...] = (None, WEEKLY, DAILY, DAILY_SHORT, RECENT)
_CODES = np.empty(32, dtype=object)
for _code in range(32):
    _base = _BASES[_code % 8] if _code % 8 < len(_BASES) else None
    _CODES[_code] = (
        None
        if _base is None
        else _base + (REBASED if _code & 8 else "") + (SPARSE if _code & 16 else "")
    )


@dataclass
class EngineBands:
    """The last `rows` buckets of the band of each series, one row per key."""

    expected: np.ndarray  # (S, rows) float64
    lower: np.ndarray
    upper: np.ndarray
    basis: np.ndarray  # (S, rows) object: the reference's strings, None where there is no band
    autocorr: np.ndarray  # (S, rows) float64: the reference's `autocorr` column
    relative_cap: np.ndarray  # (S, rows) float64: the reference's `relative_cap` column


@dataclass(frozen=True)
class _Layout:
    """What the detector's parameters mean at one step: lags, windows, lookbacks."""

    step: int  # nanoseconds
    period: int
    lags: np.ndarray
    near: np.ndarray | None  # the columns of `lags` whose errors alone may widen the band
    per_row: int
    seasons: np.ndarray
    weekly: np.ndarray | None  # the weekly lags, None where the weekday scale is off
    weekday: int  # points each side over which the weekday's shape is taken
    week: int
    cold_points: int
    noise_window: int
    rebase_window: int
    memory: int  # buckets after a big level change that its re-base is followed in steady noise
    confirm: int
    pooled_window: int
    late: int  # points before each whose band it may fit instead of its own (late_match)
    sparse_lag: int  # buckets between a bucket and the week its sparse floor reads
    inlier: float  # robust sd within which a point counts for the level (`inlier_bar`)

    @classmethod
    def of(cls, det: SeasonalDetector, step_ns: int) -> _Layout:
        step = pd.Timedelta(step_ns, unit="ns").to_pytimedelta()
        period = seasonal_period(step)
        sub_daily = period > 1 and step < timedelta(days=1)
        pph = 3600 / step.total_seconds()
        seasons = np.arange(1, det.days + 1) * period
        nb = min(det.neighbours, max((period - 1) // 2, 0))
        lags = (seasons[:, None] + np.arange(-nb, nb + 1)[None, :]).ravel()
        week = 7 * period
        weekday = weekday_points(det.weekday_hours, period, spread=det.weekday_z > 0)
        weekly = (
            np.arange(1, det.weeks + 1) * week
            if sub_daily and det.weeks >= WEEKLY_MIN and weekday > 0
            else None
        )
        cold = max(round(det.cold_hours * pph), COLD_MIN_POINTS) if det.cold_hours > 0 else 0
        return cls(
            step=step_ns,
            period=period,
            lags=lags,
            near=near_columns(nb, det.days, det.near),
            per_row=2 * nb + 1,
            seasons=seasons,
            weekly=weekly,
            weekday=weekday if weekly is not None else 0,
            week=week,
            cold_points=cold,
            noise_window=det.noise_window(pph),
            rebase_window=round(det.rebase_hours * pph),
            memory=int(seasons[-1]),
            confirm=max(round(pph), 2),
            pooled_window=max(period, cold),
            late=late_points(det.late_minutes, step),
            sparse_lag=sparse_lag(period),
            inlier=det.inlier_bar(step),
        )


class _Rings:
    """Per-key ring buffers: ring[name][slot, bucket % width] holds a stage's value at a bucket."""

    def __init__(self) -> None:
        self.arrays: dict[str, np.ndarray] = {}
        self.fill: dict[str, float | bool] = {}
        self.capacity = 0

    def add(self, name: str, width: int, dtype: type, fill: float | bool) -> None:
        self.arrays[name] = np.full((self.capacity, max(width, 1)), fill, dtype=dtype)
        self.fill[name] = fill

    def grow(self, capacity: int) -> None:
        for name, arr in self.arrays.items():
            more = np.full((capacity - arr.shape[0], arr.shape[1]), self.fill[name], arr.dtype)
            self.arrays[name] = np.concatenate([arr, more])
        self.capacity = capacity

    def reset(self, slots: np.ndarray) -> None:
        for name, arr in self.arrays.items():
            arr[slots] = self.fill[name]


class _Past:
    """One stage's values over a key group: the ring (buckets before `c`) and the new ones."""

    def __init__(self, ring: np.ndarray, slots: np.ndarray, c: int, new: np.ndarray) -> None:
        self.ring, self.slots, self.c, self.new = ring, slots, c, new

    def gather(self, pos: np.ndarray) -> np.ndarray:
        """Values at bucket c + pos (pos < 0: from the ring), shape (S,) + pos.shape."""
        old = pos < 0
        index = np.empty(pos.shape, dtype=np.int64)
        if old.any():
            wanted, inverse = np.unique(pos[old], return_inverse=True)
            cols = (self.c + wanted) % self.ring.shape[1]
            part = self.ring[self.slots[:, None], cols[None, :]]
            index[old] = inverse
            index[~old] = wanted.size + pos[~old]
            full = np.concatenate([part, self.new], axis=1)
        else:
            index[...] = pos
            full = self.new
        return np.take(full, index, axis=1)

    def pairs(self, who: np.ndarray, rows: np.ndarray, width: int) -> np.ndarray:
        """(P, width): for each pair, the `width` buckets before new row rows[k] of key who[k]."""
        keys, inv = np.unique(who, return_inverse=True)
        cols = (self.c + np.arange(-width, 0)) % self.ring.shape[1]
        full = np.concatenate(
            [self.ring[self.slots[keys][:, None], cols[None, :]], self.new[keys]], axis=1
        )
        return full[inv[:, None], rows[:, None] + np.arange(width)[None, :]]

    def subset(self, who: np.ndarray) -> _Past:
        """The same stage for some of the keys."""
        return _Past(self.ring, self.slots[who], self.c, self.new[who])

    def lagged(self, rows: np.ndarray, lags: np.ndarray) -> np.ndarray:
        """(S, rows, lags): the value `lag` buckets before each new row."""
        return self.gather(rows[:, None] - lags[None, :])

    def window(self, rows: np.ndarray, width: int) -> np.ndarray:
        """(S, rows, width): the `width` buckets before each new row."""
        return self.gather(rows[:, None] + np.arange(-width, 0)[None, :])


def _totals(prev: np.ndarray, terms: np.ndarray) -> np.ndarray:
    """Cumulative totals continuing `prev` (S,), summed in the reference's order."""
    return np.cumsum(np.concatenate([prev[:, None], np.nan_to_num(terms)], axis=1), axis=1)[:, 1:]


def _median_last(m: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Median over the last axis ignoring NaN (as _nanmedian), and the count of non-NaN.
    Rows with none missing by a partition, which picks the same values as the sort. `m` is
    a temporary of the caller's, sorted (or partitioned) in place: a copy of a cold check's
    blocks cost more than sorting them."""
    count = np.sum(~np.isnan(m), axis=-1)
    size = m.shape[-1]
    full = count == size
    if size > 2 and full.all():
        m.partition(sorted({(size - 1) // 2, size // 2}), axis=-1)
    else:
        m.sort(axis=-1)
    ordered = m
    lo = np.clip((count - 1) // 2, 0, None)
    hi = np.minimum(np.clip(count // 2, 0, None), m.shape[-1] - 1)
    a = np.take_along_axis(ordered, lo[..., None], axis=-1)[..., 0]
    b = np.take_along_axis(ordered, hi[..., None], axis=-1)[..., 0]
    return np.where(count > 0, (a + b) / 2, np.nan), count


def _rolling_median(window: np.ndarray, least: int) -> np.ndarray:
    """pandas' rolling median over rows of windows: inf counts as missing, NaN below `least`."""
    clean = np.where(np.isfinite(window), window, np.nan)
    med, count = _median_last(clean)
    return np.where(count >= least, med, np.nan)


def _rolling_quantile(window: np.ndarray, q: float, least: int) -> np.ndarray:
    """pandas' rolling quantile (linear interpolation) over rows of windows."""
    clean = np.where(np.isfinite(window), window, np.nan)
    count = np.sum(~np.isnan(clean), axis=-1)
    clean.sort(axis=-1)
    ordered = clean
    frac = q * (np.maximum(count, 1) - 1)
    idx = np.floor(frac).astype(np.int64)
    top = ordered.shape[-1] - 1
    low = np.take_along_axis(ordered, np.clip(idx, 0, top)[..., None], axis=-1)[..., 0]
    high = np.take_along_axis(ordered, np.clip(idx + 1, 0, top)[..., None], axis=-1)[..., 0]
    with np.errstate(invalid="ignore"):
        out = np.where(frac == idx, low, low + (high - low) * (frac - idx))
    return np.where((count >= least) & (count > 0), out, np.nan)


def _counter(window: int) -> type:
    """The unsigned integer a running count over `window` buckets is kept in: uint16 (half the
    memory) where its differences over the window stay exact, uint32 beyond (fine steps: two
    weeks at 15 seconds are 80,640 buckets)."""
    return np.uint16 if window < 2**16 else np.uint32


HEAVY = 48  # rows of one key above which its rolling statistic comes from pandas, not sorts


def _moved(
    v: np.ndarray, now: np.ndarray, base: np.ndarray, shift: tuple[np.ndarray, np.ndarray],
    ratio: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """The re-based expected values of shifted points (`now`: their expected values; `base`:
    the same without the level; `shift`: the factor and the offset; `ratio`: by the factor),
    and where a value is at least twice as near the old level as the re-based one: back, not
    re-based (SeasonalDetector._rebase)."""
    factor, offset = shift
    with np.errstate(invalid="ignore"):
        by_factor = np.where(np.isfinite(factor) & (base > 0), base * factor, now)
        by_offset = np.where(np.isfinite(offset), now + offset, now)
        moved = np.where(ratio, by_factor, by_offset)
        returned = 2 * np.abs(v - now) < np.abs(v - moved)
    return np.where(returned, now, moved), returned


def _roll(
    past: _Past,
    who: np.ndarray,
    rows: np.ndarray,
    width: int,
    least: int,
    *,
    q: float | None = None,
    lag: np.ndarray | None = None,
    reach: int = 0,
) -> np.ndarray:
    """pandas' causal rolling median (q None) or linear quantile over the `width` buckets
    before new row rows[k] - lag[k] (0 <= lag <= reach; None: 0) of key who[k]: windows sorted
    for keys with few such rows, pandas' own rolling pass over the key's buckets for keys with
    many (a batch)."""
    out = np.empty(who.size)
    if who.size == 0:
        return out
    back = np.zeros(who.size, dtype=np.int64) if lag is None else reach - lag
    order = np.argsort(who, kind="stable")
    keys, starts, counts = np.unique(who[order], return_index=True, return_counts=True)
    heavy = counts > HEAVY
    light = order[~np.repeat(heavy, counts)]
    step = max(1, BLOCK_BYTES // (width * 8))
    for lo in range(0, light.size, step):
        sel = light[lo : lo + step]
        win = past.pairs(who[sel], rows[sel], width + reach)
        if reach:
            win = np.take_along_axis(win, back[sel][:, None] + np.arange(width)[None, :], 1)
        out[sel] = _rolling_median(win, least) if q is None else _rolling_quantile(win, q, least)
    if not heavy.any():
        return out
    many = keys[heavy]
    cols = (past.c + np.arange(-width - reach, 0)) % past.ring.shape[1]
    full = np.concatenate([past.ring[past.slots[many][:, None], cols[None, :]], past.new[many]], 1)
    rolled = pd.DataFrame(np.where(np.isinf(full), np.nan, full).T).rolling(
        width, min_periods=least
    )
    done = (rolled.median() if q is None else rolled.quantile(q)).to_numpy()
    for k, (start, count) in enumerate(zip(starts[heavy], counts[heavy], strict=True)):
        sel = order[start : start + count]
        out[sel] = done[rows[sel] + back[sel] + width - 1, k]
    return out


def _excursions(past: _Past, who: np.ndarray, rows: np.ndarray, reach: int) -> np.ndarray:
    """Per pair, how many buckets in a row just before new row rows[k] of key who[k] are
    finite and off 0 (absolute errors), up to `reach`: excursion_runs before it."""
    out = np.zeros(who.size, dtype=np.int64)
    if reach == 0:
        return out
    step = max(1, BLOCK_BYTES // (reach * 8))
    for lo in range(0, who.size, step):
        sel = slice(lo, lo + step)
        win = past.pairs(who[sel], rows[sel], reach)
        with np.errstate(invalid="ignore"):
            off = np.isfinite(win) & (win > 1e-12)
        # The buckets off 0 since the last one that was not (all of them where none was).
        last = np.where(off, -1, np.arange(reach)[None, :]).max(axis=1)
        out[sel] = reach - 1 - last
    return out


def _places(values: np.ndarray) -> np.ndarray:
    """Decimal places of each value as _resolution counts them (NaN counts as whole)."""
    finite = np.where(np.isfinite(values), np.abs(values), 0.0)
    places = np.full(values.shape, DECIMALS_MAX, dtype=float)
    if bool(np.all(finite == np.round(finite))):
        return np.zeros(values.shape)
    with np.errstate(over="ignore", invalid="ignore"):  # 1e300 x 10^8: inf, not whole
        for d in range(DECIMALS_MAX - 1, -1, -1):
            scaled = finite * 10.0**d
            exact = np.abs(scaled - np.round(scaled)) <= 1e-6 * np.maximum(scaled, 1.0)
            places = np.where(exact, d, places)
    return places


class BandEngine:
    """The seasonal band for many series at once, recomputing only new and changed buckets."""

    def __init__(self, detector: SeasonalDetector, rows: int) -> None:
        if rows < 1:
            raise ValueError(f"rows must be >= 1, got {rows}")
        self.detector = detector
        self.rows = rows
        self._layout: _Layout | None = None
        self._origin = 0  # ns of bucket 0 on the grid
        self._slot: dict[Hashable, int] = {}
        self._free: list[int] = []
        self._end = np.zeros(0, dtype=np.int64)  # per slot: the bucket after its last one
        self._start = np.zeros(0, dtype=np.int64)  # per slot: its first bucket
        self._reads = np.zeros(0, dtype=np.int64)  # lags at which values are read
        self._counts = np.zeros(0, dtype=bool)  # per slot: all values whole and >= 0
        self._nonneg = np.zeros(0, dtype=bool)  # per slot: no negative value
        # ... kept as counts of the values that break them, so a late fix flips them back
        self._neg = np.zeros(0, dtype=np.int64)
        self._frac = np.zeros(0, dtype=np.int64)
        # per slot: the day whose relative_cap (before the counts test) was last computed, -1
        # for none, and that cap: a day's span is taken once, not on every call
        self._cap_day = np.zeros(0, dtype=np.int64)
        self._cap = np.zeros(0)
        self._rings = _Rings()

    # ---- state -------------------------------------------------------------------------

    def _setup(self, layout: _Layout) -> None:
        det = self.detector
        r = REDO
        lag = int(layout.lags.max())
        rings = _Rings()
        f64, f32 = np.float64, np.float32
        reach = 2 * layout.weekday if det.weekday_z > 0 else layout.weekday
        ahead = np.arange(-reach, reach + 1)
        shifted = [layout.seasons, np.arange(1, layout.cold_points + 1)]
        if layout.weekly is not None:  # the medians up to `reach` points either side
            shifted = [(np.concatenate([layout.seasons, layout.weekly])[:, None]
                        + ahead[None, :]).ravel(), shifted[1]]  # fmt: skip
        self._reads = np.unique(np.concatenate(shifted)).astype(np.int64)
        rings.add("v", 2 * r, f64, np.nan)
        rings.add("most", 1 + r, f64, 0.0)
        rings.add("out", 1 + r, bool, False)
        rings.add("seen", 1 + r, f64, 0.0)
        rings.add("err1", lag + r, f32, np.nan)
        rings.add("err2", lag + r, f32, np.nan)
        for name in ("sn", "sd"):
            rings.add(name, det.level_slow + 1 + r, f64, 0.0)
        for name in ("fn", "fd", "cu", "cm"):
            rings.add(name, det.level_window + 1 + r, f64, 0.0)
        for name in ("sc", "sb"):
            rings.add(name, det.level_slow + 1 + r, _counter(det.level_slow), 0)
        for name in ("fc", "fb"):
            rings.add(name, det.level_window + 1 + r, _counter(det.level_window), 0)
        if layout.weekly is not None and det.weekly_gain > -1:
            for name in ("wd", "ww"):
                rings.add(name, layout.week + 1 + r, f64, 0.0)
            rings.add("ws", layout.week + 1 + r, _counter(layout.week), 0)
        rw = layout.rebase_window
        # bd / bu: re-based down / up, for a value back past the old level after it.
        for name in ("rf", "rh", "rl", "rf2", "rh2", "rl2", "rn", "bd", "bu"):
            rings.add(name, rw + 1 + r, _counter(rw), 0)
        # The mean move's running total; the last bucket of a big level change each way.
        for name, width, fill in (("rd", rw + 1 + r, 0.0), ("lu", 1 + r, -np.inf),
                                  ("ld", 1 + r, -np.inf)):  # fmt: skip
            rings.add(name, width, f64, fill)
        for name in ("z", "z2", "fac", "res", "wh"):
            rings.add(name, rw + r, f64, np.nan)
        rings.add("units", layout.noise_window + r, f64, np.nan)
        rings.add("inside", layout.noise_window + r, bool, False)
        rings.add("size", layout.week + layout.sparse_lag + r, f64, np.nan)
        for name in ("ex", "fi"):  # the sparse floor's share of exact errors
            shared = SPARSE_WEEKS * layout.week
            rings.add(name, shared + 1 + r, _counter(shared), 0)
        rings.add("fce", layout.pooled_window + r, f64, np.nan)
        for name in ("oe", "ol", "ou"):
            rings.add(name, self.rows + layout.late + r, f64, np.nan)
        rings.add("ob", self.rows + layout.late + r, np.int8, 0)
        rings.add("oa", self.rows + layout.late + r, f64, np.nan)
        rings.add("oc", self.rows + layout.late + r, f64, np.nan)
        self._rings = rings
        self._layout = layout
        self._slot.clear()
        self._free.clear()
        self._end = np.zeros(0, dtype=np.int64)
        self._start = np.zeros(0, dtype=np.int64)
        self._counts = np.zeros(0, dtype=bool)
        self._nonneg = np.zeros(0, dtype=bool)
        self._neg = np.zeros(0, dtype=np.int64)
        self._frac = np.zeros(0, dtype=np.int64)
        self._cap_day = np.zeros(0, dtype=np.int64)
        self._cap = np.zeros(0)

    def _new_slots(self, n: int) -> np.ndarray:
        taken = [self._free.pop() for _ in range(min(n, len(self._free)))]
        rest = n - len(taken)
        if rest:
            start = self._rings.capacity
            self._rings.grow(start + max(rest, start // 2, _GROW))
            grow = self._rings.capacity - self._end.size
            self._end = np.concatenate([self._end, np.zeros(grow, dtype=np.int64)])
            self._cap_day = np.concatenate([self._cap_day, np.full(grow, -1, dtype=np.int64)])
            self._cap = np.concatenate([self._cap, np.full(grow, np.nan)])
            self._start = np.concatenate([self._start, np.zeros(grow, dtype=np.int64)])
            self._counts = np.concatenate([self._counts, np.zeros(grow, dtype=bool)])
            self._nonneg = np.concatenate([self._nonneg, np.zeros(grow, dtype=bool)])
            self._neg = np.concatenate([self._neg, np.zeros(grow, dtype=np.int64)])
            self._frac = np.concatenate([self._frac, np.zeros(grow, dtype=np.int64)])
            self._free.extend(range(self._rings.capacity - 1, start + rest - 1, -1))
            taken += list(range(start, start + rest))
        return np.asarray(taken, dtype=np.int64)

    def forget(self, keep: Collection[Hashable]) -> None:
        """Drop the state of every key not in `keep` (a slice that is gone)."""
        keep = set(keep)
        for key in [k for k in self._slot if k not in keep]:
            self._free.append(self._slot.pop(key))

    def __len__(self) -> int:
        return len(self._slot)

    @property
    def nbytes(self) -> int:
        """Bytes of state held (all slots, free ones included)."""
        return sum(arr.nbytes for arr in self._rings.arrays.values())

    # ---- the call ----------------------------------------------------------------------

    def bands(
        self,
        index: pd.DatetimeIndex,
        values: np.ndarray,
        keys: Sequence[Hashable],
        weights: np.ndarray | None = None,
    ) -> EngineBands:
        """The last `rows` buckets of `index` of each series' band (see the module doc)."""
        values = np.asarray(values, dtype=np.float64)
        if values.ndim != 2 or values.shape != (len(keys), len(index)):
            raise ValueError("values must be (len(keys), len(index))")
        if len(set(keys)) != len(keys):
            raise ValueError("keys must be distinct")
        if weights is not None:
            weights = np.asarray(weights, dtype=np.float64)
            if weights.shape != values.shape:
                raise ValueError("weights must have the shape of values")
        if len(index) < 2:
            nothing = np.full((len(keys), self.rows), np.nan)
            return EngineBands(nothing, nothing.copy(), nothing.copy(),
                               np.full((len(keys), self.rows), None, dtype=object),
                               nothing.copy(), nothing.copy())  # fmt: skip
        a = self._place(index)
        end = a + len(index)
        slots, fresh = self._slots_of(keys)
        groups, restart = self._plan(values, slots, fresh, a, end)
        for c, members in groups.items():
            if members and c < end:
                self._run(np.asarray(sorted(members)), slots, values, weights, a=a, c=c)
        if restart:
            self._run(np.asarray(restart), slots, values, weights, a=a, c=a, batch=True)
        return self._output(slots, end, values, a)

    def _place(self, index: pd.DatetimeIndex) -> int:
        """The grid bucket of index[0]; a new step or an off-grid start resets every key."""
        ns = pd.DatetimeIndex(index).as_unit("ns").asi8
        step = int(ns[1] - ns[0])
        if step <= 0 or not bool(np.all(np.diff(ns) == step)):
            raise ValueError("the index must be regular and increasing")
        if self._layout is None or self._layout.step != step or (ns[0] - self._origin) % step:
            self._setup(_Layout.of(self.detector, step))
            self._origin = int(ns[0])
        return int((ns[0] - self._origin) // step)

    def _slots_of(self, keys: Sequence[Hashable]) -> tuple[np.ndarray, list[int]]:
        """Each key's slot (new ones allocated) and the positions of the new keys."""
        slots = np.empty(len(keys), dtype=np.int64)
        fresh: list[int] = []
        for i, key in enumerate(keys):
            slot = self._slot.get(key)
            if slot is None:
                fresh.append(i)
            else:
                slots[i] = slot
        if fresh:
            taken = self._new_slots(len(fresh))
            slots[fresh] = taken
            for i, slot in zip(fresh, taken, strict=True):
                self._slot[keys[i]] = int(slot)
        return slots, fresh

    def _plan(
        self, values: np.ndarray, slots: np.ndarray, fresh: list[int], a: int, end: int
    ) -> tuple[dict[int, list[int]], list[int]]:
        """Keys grouped by the first bucket to compute, and the keys that start afresh."""
        restart = list(fresh)
        groups: dict[int, list[int]] = {}
        known = np.setdiff1d(np.arange(len(slots)), np.asarray(fresh, dtype=np.int64))
        if known.size:
            firsts, ok = self._changed(values, known, slots[known], a, end)
            restart.extend(known[~ok].tolist())
            for first in np.unique(firsts[ok]):
                groups[int(first)] = known[ok & (firsts == first)].tolist()
        # Whole-series properties the reference reads from every value: flips restart a key.
        # So does a window that lacks values the new buckets' same-slot medians read.
        for c, members in list(groups.items()):
            idx = np.asarray(members)
            reads = (c + np.arange(end - c))[:, None] - self._reads[None, :]
            missing = reads[reads < a]
            if missing.size:
                short = self._start[slots[idx]] <= missing.max()
                restart.extend(idx[short].tolist())
                idx = idx[~short]
                groups[c] = idx.tolist()
            # The values from c on replace what the ring holds there (a late fix), then count.
            held = slots[idx]
            ring = self._rings.arrays["v"]
            pos = np.arange(c, end)
            old = ring[held[:, None], (pos % ring.shape[1])[None, :]]
            old = np.where(pos[None, :] < self._end[held][:, None], old, np.nan)
            gone_neg, gone_frac = self._breaks(old)
            new_neg, new_frac = self._breaks(values[idx, c - a :])
            neg = self._neg[held] - gone_neg + new_neg
            frac = self._frac[held] - gone_frac + new_frac
            nonneg, counts = neg == 0, (neg == 0) & (frac == 0)
            self._neg[held], self._frac[held] = neg, frac
            flips = nonneg != self._nonneg[slots[idx]]
            if self.detector.counts == "auto":
                flips |= counts != self._counts[slots[idx]]
            if flips.any():
                restart.extend(idx[flips].tolist())
                groups[c] = idx[~flips].tolist()
            self._nonneg[slots[idx]] = nonneg
            self._counts[slots[idx]] = counts
        if restart:
            idx = np.asarray(sorted(restart))
            self._rings.reset(slots[idx])
            self._cap_day[slots[idx]] = -1
            self._start[slots[idx]] = a
            neg, frac = self._breaks(values[idx])
            self._neg[slots[idx]], self._frac[slots[idx]] = neg, frac
            self._nonneg[slots[idx]], self._counts[slots[idx]] = neg == 0, (neg == 0) & (frac == 0)
        return groups, sorted(restart)

    @staticmethod
    def _breaks(part: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per row: how many values are negative, and how many are non-negative but not
        whole (NaN aside): a series is counts while both are 0, non-negative while the first."""
        finite = np.isfinite(part)
        with np.errstate(invalid="ignore"):
            negative = finite & (part < 0)
            broken = finite & ~negative & (part != np.round(part))
        return negative.sum(axis=1), broken.sum(axis=1)

    def _changed(
        self, values: np.ndarray, rows: np.ndarray, slots: np.ndarray, a: int, end: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """Per key (rows of `values`): the first bucket to compute (new or changed) and
        whether it continues."""
        ring = self._rings.arrays["v"]
        width = ring.shape[1]
        last = self._end[slots]
        first = np.empty(slots.size, dtype=np.int64)
        ok = (last >= a) & (last <= end)
        for e in np.unique(last[ok]):
            members = np.flatnonzero(ok & (last == e))
            lo = max(a, int(e) - width)
            buckets = np.arange(lo, int(e))
            old = ring[slots[members][:, None], (buckets % width)[None, :]]
            new = values[rows[members][:, None], (buckets - a)[None, :]]
            differ = ~((old == new) | (np.isnan(old) & np.isnan(new)))
            hit = differ.any(axis=1)
            at = np.where(hit, lo + np.argmax(differ, axis=1), int(e))
            first[members] = at
            ok[members] = at >= int(e) - REDO
        return first, ok

    def _output(self, slots: np.ndarray, end: int, values: np.ndarray, a: int) -> EngineBands:
        late = self._layout.late if self._layout is not None else 0
        cols = np.arange(end - self.rows - late, end)
        arrays = self._rings.arrays
        width = arrays["oe"].shape[1]
        pick = (slots[:, None], (cols % width)[None, :])
        # The stored bands are each point's own; a point may fit one of the `late` before it
        # better (the values from the call's window; before it, none: each keeps its own).
        expected, lower, upper = arrays["oe"][pick], arrays["ol"][pick], arrays["ou"][pick]
        if late:
            inside = cols - a >= 0
            v = np.full((slots.size, cols.size), np.nan)
            v[:, inside] = values[:, cols[inside] - a]
            expected, lower, upper = late_match(v, expected, lower, upper, late)
        shown = (slots[:, None], (cols[late:] % width)[None, :])
        return EngineBands(
            expected=expected[:, late:],
            lower=lower[:, late:],
            upper=upper[:, late:],
            basis=_CODES[arrays["ob"][shown].astype(np.int64)],
            autocorr=arrays["oa"][shown],
            relative_cap=arrays["oc"][shown],
        )

    def _run(
        self,
        members: np.ndarray,
        slots: np.ndarray,
        values: np.ndarray,
        weights: np.ndarray | None,
        *,
        a: int,
        c: int,
        batch: bool = False,
    ) -> None:
        """Compute buckets c.. for the members, in chunks that keep blocks under BLOCK_BYTES;
        a batch (keys starting afresh) as the reference does for its last `rows`."""
        m = values.shape[1] - (c - a)
        lay = self._layout
        assert lay is not None
        per = m * max(lay.lags.size, lay.pooled_window, lay.noise_window, 1) * 4
        chunk = max(1, BLOCK_BYTES // max(per, 1))
        for lo in range(0, members.size, chunk):
            part = members[lo : lo + chunk]
            group = _Group(self._rings.arrays, slots[part], c, values[part, c - a :])
            group.values = _Window(values, part, c, a)
            if batch:
                group.truncate(lay, self.detector, self.rows + lay.late)
            w = None if weights is None else weights[part, c - a :]
            self._compute(group, w)
            group.store()
            self._end[slots[part]] = c + m

    # ---- the stages: SeasonalDetector._band, for the new rows of a group ---------------------

    def _compute(self, g: _Group, weight: np.ndarray | None) -> None:
        det, lay = self.detector, self._layout
        assert lay is not None
        v = g.v
        if det.counts == "auto":
            counts = self._counts[g.slots][:, None]
        else:
            counts = np.full((g.slots.size, 1), det.counts == "yes")
        resolution, seen, within = self._running(g)
        resolution = weighted_resolution(resolution, weight, counts, within)
        median, weekly, unpulled, shape_error = self._median(g)
        # Pass 1: which points look normal.
        loose = self._scale(g.past("err1", np.abs(v - median).astype(np.float32)), g.first_loose)
        cap = self._caps(g, counts)
        kinds = (counts, within)
        floor0 = self._floor(median, resolution, kinds, cap)
        with np.errstate(invalid="ignore"):
            inlier = np.abs(v - median) <= lay.inlier * np.maximum(loose, floor0)
        # Pass 2: the level from normal-looking points, a lasting shift re-based.
        carry: np.ndarray | float = 1.0
        if det.level_window > 0:
            ok = inlier & np.isfinite(v) & np.isfinite(median)
            u, mm = carry_terms(unpulled, median, ok)
            before_u = g.trailing("cu", u, det.level_window)
            before_m = g.trailing("cm", mm, det.level_window)
            carry = carried(unpulled, median, shape_error, before_u, before_m,
                            z=det.weekday_z, clip=det.level_clip)  # fmt: skip
        expected = median * self._level(g, median, inlier) * carry
        moved, expected, rebased = self._rebase(g, expected, median * carry, (loose, floor0),
                                                counts)  # fmt: skip
        # The width from the level's own errors; the cold start where there is none yet.
        # Signed (see _same_time), a count's in its noise units (as SeasonalDetector).
        units = noise_units(moved, counts)
        err2 = g.past("err2", ((v - moved) / units).astype(np.float32))
        scale, above, below = self._widths(err2, g.first_wide, lay.near, sides=True, units=units)
        basis = np.where(np.isfinite(scale), np.where(weekly, 1, 2), 0).astype(np.int8)
        expected, scale, basis = self._cold(g, expected, scale, basis, seen)
        floor = self._floor(expected, resolution, kinds, cap)
        if weight is not None:
            share = np.clip(expected, 0.0, 1.0)
            with np.errstate(divide="ignore", invalid="ignore"):
                binomial = np.sqrt(share * (1 - share) / np.maximum(weight, 1.0))
            floor = np.maximum(floor, np.where(np.isfinite(binomial), binomial, 0.0))
        sd = np.maximum(scale, floor)
        errors = v - expected
        sd = sd * self._noise(g, errors, sd)
        sparse = self._sparse(g, errors)
        with np.errstate(invalid="ignore"):
            half = np.where(np.isfinite(sd), np.fmax(det.k * sd, sparse), np.nan)
            final = np.where(np.isfinite(half), expected, np.nan)
            known = np.isfinite(final)
            wide = sparse > det.k * np.nan_to_num(sd)
        code = np.where(known, basis + 8 * (rebased & known) + 16 * (known & wide), 0)
        lower = final - half * below
        # As SeasonalDetector: a count's floor, none for anything else.
        lower = np.maximum(lower, count_floor(final, half * below / det.k, det.k, counts))
        autocorr = np.where(known, self._same_time(err2, half / units, g.first_wide), np.nan)
        g.new.update(oe=final, ol=lower, ou=final + half * above, ob=code.astype(np.int8),
                     oa=autocorr, oc=np.where(known, cap, np.nan))  # fmt: skip

    def _running(self, g: _Group) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per new row: the resolution of the values before it, how many were finite, and
        whether all were within 0..1 (shares_before)."""
        prev_most = g.prev("most")
        most = np.maximum.accumulate(np.concatenate([prev_most[:, None], _places(g.v)], 1), 1)
        g.new["most"] = most[:, 1:]
        before = most[:, :-1]
        resolution = np.where(before >= DECIMALS_MAX, 0.0, 10.0**-before)
        with np.errstate(invalid="ignore"):
            beyond = np.isfinite(g.v) & ((g.v < 0) | (g.v > 1))
        out = np.logical_or.accumulate(np.concatenate([g.prev("out")[:, None], beyond], 1), 1)
        g.new["out"] = out[:, 1:]
        prev_seen = g.prev("seen")
        seen_incl = _totals(prev_seen, np.isfinite(g.v).astype(float))
        g.new["seen"] = seen_incl
        seen = np.concatenate([prev_seen[:, None], seen_incl[:, :-1]], axis=1)
        return resolution, seen, ~out[:, :-1]

    def _median(self, g: _Group) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """SeasonalDetector._median: the same-slot median, scaled to the weekday by the rolling
        median of same-weekday / same-slot medians over `weekday` points either side, pulled
        towards 1 by its standard error (which reads the shapes `weekday` points either side,
        so ratios up to twice that far), where it stands out or forecast better over the past
        week. The medians at those points are computed here from the window (they read values
        a day and more before them): none of them is kept. Also, as the reference's, the
        median scaled by the shape before its pull and the shape's standard error."""
        det, lay = self.detector, self._layout
        assert lay is not None
        if lay.weekly is None:
            daily, _ = _median_last(g.values.lagged(g.rows, lay.seasons))
            return daily, np.zeros(daily.shape, dtype=bool), daily, np.full(daily.shape, np.nan)
        h = lay.weekday
        reach = 2 * h if det.weekday_z > 0 else h  # the shapes h points each side, when settled
        m = g.rows.size
        pos = np.arange(-reach, m + reach)  # new rows and `reach` points each side
        around, _ = _median_last(g.values.lagged(pos, lay.seasons))
        daily = around[:, reach : reach + m]
        weeks = g.values.lagged(pos, lay.weekly)
        same, count = _median_last(weeks)  # sorted in place wherever a row has two
        weekly = same_weekday(same, count, weeks[..., 0], weeks[..., 1], around)
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            ratio = np.where((around > 0) & (weekly >= 0), weekly / around, np.nan)
        ratio[~np.isfinite(ratio)] = np.nan
        windows = np.lib.stride_tricks.sliding_window_view(ratio, 2 * h + 1, axis=1)
        shape = _rolling_median(windows, h + 1)  # at the rows and `reach - h` points each side
        scale = raw = shape[:, reach - h : reach - h + m]
        se = np.full(daily.shape, np.nan)
        if det.weekday_z > 0:
            with np.errstate(invalid="ignore"):
                off = np.abs(ratio[:, h : h + shape.shape[1]] - shape)
            near = np.lib.stride_tricks.sliding_window_view(off, 2 * h + 1, axis=1)
            spread = _rolling_median(near, h + 1)
            count = np.sum(~np.isnan(near), axis=-1)
            se = shape_se(spread, count)
            scale = settled(scale, se, det.weekday_z)
        scaled = np.isfinite(scale)
        weekday = np.where(scaled, daily * scale, daily)
        if det.weekly_gain <= -1:
            return weekday, scaled & (scale != 1.0), np.where(scaled, daily * raw, weekday), se
        v = g.v
        both = np.isfinite(v) & np.isfinite(daily) & scaled
        derr = g.trailing("wd", np.where(both, np.abs(v - daily), 0.0), lay.week)
        werr = g.trailing("ww", np.where(both, np.abs(v - weekday), 0.0), lay.week)
        seen = g.trailing("ws", both, lay.week)
        better = (seen * 2 >= lay.week) & (werr * (1 + det.weekly_gain) < derr) & scaled
        chosen = np.where(better, weekday, daily)
        return chosen, better, chosen, np.full(daily.shape, np.nan)

    def _level(self, g: _Group, median: np.ndarray, inlier: np.ndarray) -> np.ndarray:
        """SeasonalDetector._level: slow and fast ratios of recent actual to median."""
        det = self.detector
        if det.level_window == 0:
            return np.ones_like(median)
        ok = inlier & np.isfinite(g.v) & np.isfinite(median)
        if det.level_slow == 0:
            fast = self._ratio(g, median, median, ok, name="f", window=det.level_window, clip=0.25)
            return np.nan_to_num(fast, nan=1.0)
        slow = self._ratio(g, median, median, ok, name="s", window=det.level_slow, clip=0.25)
        slow = np.nan_to_num(slow, nan=1.0)
        fast = self._ratio(g, median, median * slow, ok, name="f", window=det.level_window,
                           clip=det.level_clip)  # fmt: skip
        return np.where(np.isfinite(fast), fast, slow)

    @staticmethod
    def _ratio(
        g: _Group,
        median: np.ndarray,
        centre: np.ndarray,
        ok: np.ndarray,
        *,
        name: str,
        window: int,
        clip: float,
    ) -> np.ndarray:
        """seasonal._ratio for the new rows, its three trailing sums kept as running totals."""
        low, high = centre - clip * np.abs(centre), centre + clip * np.abs(centre)
        clipped = np.clip(g.v, low, high)
        num = g.trailing(name + "n", np.where(ok, clipped, 0.0), window)
        den = g.trailing(name + "d", np.where(ok, median, 0.0), window)
        count = g.trailing(name + "c", ok, window)
        below = g.trailing(name + "b", ok & (median < 0), window)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where((count * 2 >= window) & (den > 0) & (below == 0), num / den, np.nan)

    def _cold(
        self,
        g: _Group,
        expected: np.ndarray,
        scale: np.ndarray,
        basis: np.ndarray,
        seen: np.ndarray,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """SeasonalDetector._cold for the new rows: the forecast's errors are kept for later
        cold rows; the pooled width only where a row is cold."""
        det, lay = self.detector, self._layout
        assert lay is not None
        points = lay.cold_points
        if points == 0:
            return expected, scale, basis
        recent = _rolling_median(g.values.window(g.rows, points), max(points // 2, 1))
        recent = np.where(seen >= points, recent, np.nan)
        short = np.isfinite(expected)
        forecast = np.where(short, expected, recent)
        fc_errors = np.abs(g.v - forecast)
        fc_errors[:, : max(0, g.first_wide - lay.period)] = np.nan
        errors = g.past("fce", fc_errors)
        cold = ~np.isfinite(scale)
        cold[:, : g.first_wide] = False
        if not cold.any():
            return expected, scale, basis
        who, j = np.nonzero(cold)
        least = max(points // 2, 2)
        pooled = 1.4826 * _roll(errors, who, j, lay.pooled_window, least)
        if det.tail > 0:
            upper = _roll(errors, who, j, lay.pooled_window, least, q=TAIL_Q)
            pooled = np.fmax(pooled, det.tail * upper / TAIL_Z)
        use = np.isfinite(forecast[who, j]) & np.isfinite(pooled)
        expected, scale, basis = expected.copy(), scale.copy(), basis.copy()
        expected[who, j] = np.where(use, forecast[who, j], np.nan)
        scale[who, j] = np.where(use, pooled, scale[who, j])
        basis[who, j] = np.where(use, np.where(short[who, j], 3, 4), basis[who, j])
        return expected, scale, basis

    def _same_time(self, err: _Past, half: np.ndarray, first: int) -> np.ndarray:
        """The reference's `autocorr` column for the new rows from `first` on (NaN before):
        the lag-1 correlation of the errors at the same time of day on previous days."""
        lay = self._layout
        assert lay is not None
        out = np.full(err.new.shape, np.nan)
        rows = np.arange(first, err.new.shape[1])
        if rows.size == 0:
            return out
        pairs = same_time_pairs(lay.lags)
        # A few rows at a time: the pairs' blocks (and their terms) stay a fraction of the
        # chunk's (series x rows x lags) one.
        step = max(1, -(-rows.size // 4))
        for lo in range(0, rows.size, step):
            part = rows[lo : lo + step]
            out[:, part] = same_time_autocorr(
                err.lagged(part, pairs), err.lagged(part, pairs + 1), half[:, part]
            )
        return out

    def _scale(self, err: _Past, first: int, near: np.ndarray | None = None) -> np.ndarray:
        """SeasonalDetector._scale for the new rows from `first` on (float32, same picks)."""
        return self._widths(err, first, near, sides=False)[0]

    def _widths(
        self, err: _Past, first: int, near: np.ndarray | None, *, sides: bool,
        units: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray | float, np.ndarray | float]:  # fmt: skip
        """SeasonalDetector._widths: the scale, and with `sides` each side's share of the
        band (err2 keeps the signs; err1 holds sizes only, and needs no sides); 1.0 for both
        where no side is wider, without an array of ones per chunk."""
        det, lay = self.detector, self._layout
        assert lay is not None
        out = np.full(err.new.shape, np.nan)
        above: np.ndarray | float = 1.0
        below: np.ndarray | float = 1.0
        rows = np.arange(first, err.new.shape[1])
        if rows.size == 0:
            return out, above, below
        past = err.lagged(rows, lay.lags)  # a copy: sorted and made sizes in place
        width, split = widths_of(det, past, near, lay.per_row, sides=sides, robust=self._robust)
        if split is not None:
            above, below = np.ones(err.new.shape), np.ones(err.new.shape)
            above[:, first:], below[:, first:] = split
        out[:, first:] = width
        return (out if units is None else out * units), above, below

    def _robust(self, past: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """SeasonalDetector._robust over the last axis; `past` (widths_of's own copy) is
        sorted or partitioned in place."""
        count = np.sum(~np.isnan(past), axis=-1)
        top = max(past.shape[-1] - 1, 0)
        if (count == past.shape[-1]).all() and top > 0:  # the same picks as the sort, sooner
            past.partition(sorted({top // 2, (top + 1) // 2, int(np.floor(top * TAIL_Q))}),
                           axis=-1)  # fmt: skip
        else:
            past.sort(axis=-1)  # NaNs last
        return robust_sd(past, count, self.detector.tail), count

    def _caps(self, g: _Group, counts: np.ndarray) -> np.ndarray:
        """SeasonalDetector._caps for the new rows from first_loose on, the spans from the
        call's window (as the reference reads them from the values it is given)."""
        det, lay = self.detector, self._layout
        assert lay is not None
        m = g.v.shape[1]
        out = np.full(g.v.shape, np.nan)
        first = g.first_loose
        window = g.values
        if det.offset_spans <= 0 or first >= m or not isinstance(window, _Window):
            return out
        pos = g.c + np.arange(first, m)  # grid buckets of the rows
        days = bucket_days(self._origin + pos * lay.step)
        # A day's cap read in an earlier call holds while no value before that day changed:
        # this call's buckets (from the first new or changed one, g.c) all lie on that day.
        kept = np.zeros(g.slots.size, dtype=bool)
        if (self._origin + g.c * lay.step) // DAY_NS == int(days[-1]):
            kept = self._cap_day[g.slots] == int(days[-1])
        todo = np.flatnonzero(~kept)
        if todo.size:
            # The window's buckets from the first day any row's span reads to the last row.
            start = -((self._origin - (int(days[0]) - SPAN_DAYS) * DAY_NS) // lay.step)
            start = max(start, window.a)
            width = window.ring.shape[1]
            cols = np.arange(start, min(int(pos[-1]) + 1, window.a + width))
            block = window.ring[window.slots[todo][:, None], (cols - window.a)[None, :]]
            col_days = bucket_days(self._origin + cols * lay.step)
            out[todo, first:] = offset_caps(block, col_days, days, det.offset_spans, lay.step)
        out[kept, first:] = self._cap[g.slots[kept]][:, None]
        self._cap_day[g.slots] = int(days[-1])
        self._cap[g.slots] = out[:, -1]
        return np.where(counts, np.nan, out)

    def _floor(
        self,
        expected: np.ndarray,
        resolution: np.ndarray,
        kinds: tuple[np.ndarray, np.ndarray],
        cap: np.ndarray,
    ) -> np.ndarray:
        """SeasonalDetector._floor, with counts-ness and share-ness (`kinds`) per series."""
        counts, within = kinds
        floor = self.detector.min_rel_width * relative_to(expected, cap)
        told = share_resolution(resolution, expected, counts, within)
        floor = np.fmax(floor, RESOLUTION_SD * told)
        return np.where(counts, np.maximum(floor, np.sqrt(np.maximum(expected, 1.0))), floor)

    def _rebase(
        self, g: _Group, e: np.ndarray, unlevelled: np.ndarray,
        noise: tuple[np.ndarray, np.ndarray], counts: np.ndarray,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:  # fmt: skip
        """SeasonalDetector._rebase for the new rows (`noise`: the loose width and its floor):
        the shifts in the loose width, then in the noise after a big one (`_after_big`); a
        value back past the old level after a re-base the other way (`back`)."""
        lay = self._layout
        assert lay is not None
        window = lay.rebase_window
        v = g.v
        rebased = np.zeros(v.shape, dtype=bool)
        if window < 2:
            return e, e, rebased
        nonneg = self._nonneg[g.slots]
        loose = np.fmax(*noise)
        b = unlevelled
        with np.errstate(invalid="ignore", divide="ignore"):
            residual = v - e
            z = residual / loose
            fac = np.where(e > 0, v / e, np.nan)
            whole = np.where(b > 0, v / b, np.nan)
        if g.first_rebase:
            residual, z, fac, whole = residual.copy(), z.copy(), fac.copy(), whole.copy()
            for arr in (residual, z, fac, whole):
                arr[:, : g.first_rebase] = np.nan
        pfac, pres, pwhole = g.past("fac", fac), g.past("res", residual), g.past("wh", whole)
        first = self._lasting(g, z, "")
        big = self._after_big(g, residual, (loose, noise[1], e), (first, pfac),
                              nonneg[:, None])  # fmt: skip
        with np.errstate(invalid="ignore", divide="ignore"):
            shifted = self._lasting(g, residual / big, "2")
        who, j = np.nonzero(shifted)
        factor = _roll(pwhole, who, j, window, window // 2)
        ratio = nonneg[who]
        down, up = np.zeros(v.shape, dtype=bool), np.zeros(v.shape, dtype=bool)
        down[who[ratio], j[ratio]] = factor[ratio] < 1
        up[who[ratio], j[ratio]] = factor[ratio] > 1
        recent_down = g.trailing("bd", down, window) > 0
        recent_up = g.trailing("bu", up, window) > 0
        with np.errstate(invalid="ignore"):
            back = np.where(residual > 0, recent_down, recent_up) & ~shifted
            back &= (np.abs(v - b) < np.abs(v - e)) & (b > 0) & nonneg[:, None]
        if not shifted.any() and not back.any():
            return e, e, rebased
        out = e.copy()
        now = e[who, j]
        offset = _roll(pres, who, j, window, window // 2)
        moved, returned = _moved(v[who, j], now, b[who, j], (factor, offset), ratio)
        out[who, j] = moved
        rebased[who, j] = ~returned & np.isfinite(moved)
        out = np.where(back, b, out)
        # A count's level of zero: its errors re-based, not its band (SeasonalDetector).
        dead = np.zeros(v.shape, dtype=bool)
        dead[who, j] = nonneg[who] & counts[who, 0] & (now > 0) & (moved <= REBASE_DEAD * now)
        dead &= g.values.lagged(g.rows, np.array([lay.week]))[:, :, 0] != 0  # as the reference
        return out, np.where(dead, e, out), rebased & ~dead

    def _lasting(self, g: _Group, z: np.ndarray, tag: str) -> np.ndarray:
        """seasonal.lasting_shift for the new rows (its rings named with `tag`); the rolling
        medians only where the cheap count says a shift is possible."""
        lay = self._layout
        assert lay is not None
        window, confirm = lay.rebase_window, lay.confirm
        with np.errstate(invalid="ignore"):
            finite = g.trailing("rf" + tag, np.isfinite(z), window)
            high = g.trailing("rh" + tag, z >= REBASE_MIN, window)
            low = g.trailing("rl" + tag, z <= -REBASE_MIN, window)
        pz = g.past("z" + tag, z)
        shifted = np.zeros(z.shape, dtype=bool)
        maybe = 2 * np.maximum(high, low) >= np.maximum(finite, 1)
        if maybe.any():
            who, j = np.nonzero(maybe)
            long = _roll(pz, who, j, window, window // 2)
            short = _roll(pz, who, j, confirm, confirm_least(confirm))
            with np.errstate(invalid="ignore"):
                ok = (np.abs(long) >= REBASE_MIN) & (np.abs(short) >= REBASE_MIN)
                ok &= np.sign(long) == np.sign(short)
                ok &= ~(np.sign(z[who, j]) * np.sign(long) < 0)  # past the old level already
            shifted[who[ok], j[ok]] = True
        return shifted

    def _after_big(
        self, g: _Group, residual: np.ndarray, noise: tuple[np.ndarray, np.ndarray, np.ndarray],
        shifts: tuple[np.ndarray, _Past], nonneg: np.ndarray,
    ) -> np.ndarray:  # fmt: skip
        """SeasonalDetector._after_big for the new rows: the loose width (noise[0]), or
        `steady_noise` where a shift of REBASE_BIG or more the way the residual stands was
        re-based within `memory` buckets before (the last such bucket each way is kept, as
        the reference's trailing count over `memory` is more than 0)."""
        lay = self._layout
        assert lay is not None
        window = lay.rebase_window
        who, j = np.nonzero(shifts[0])  # the shifts in the loose width, and v / e's ring
        factor = _roll(shifts[1], who, j, window, window // 2)
        t = (g.c + g.rows).astype(np.float64)
        recent = np.zeros(residual.shape, dtype=bool)
        for name, big, side in (("lu", factor >= 1 + REBASE_BIG, residual > 0),
                                ("ld", factor <= 1 / (1 + REBASE_BIG), ~(residual > 0))):
            at = np.full(residual.shape, -np.inf)
            at[who[big], j[big]] = t[j[big]]
            last = np.maximum.accumulate(np.concatenate([g.prev(name)[:, None], at], 1), 1)
            g.new[name] = last[:, 1:]
            recent |= side & (t[None, :] - last[:, :-1] <= lay.memory)
        with np.errstate(invalid="ignore", over="ignore"):
            move = np.abs(np.diff(np.concatenate([g.values.gather(np.array([-1])), g.v], 1), 1))
        move = np.where(np.isfinite(move), move, np.nan)  # a move from or to inf is no scale
        if g.first_rebase:
            move[:, : g.first_rebase] = np.nan
        total = g.trailing("rd", np.nan_to_num(move), window)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = total / g.trailing("rn", np.isfinite(move), window)
        return np.where(recent & nonneg, steady_noise(*noise, mean), noise[0])

    def _noise(self, g: _Group, errors: np.ndarray, sd: np.ndarray) -> np.ndarray:
        """SeasonalDetector._noise for the new rows: the `inside` chain one bucket at a time,
        across all series at once."""
        det, lay = self.detector, self._layout
        assert lay is not None
        window = lay.noise_window
        if window < 2 or det.noise_max <= 1:
            return np.ones(errors.shape)
        with np.errstate(invalid="ignore", divide="ignore"):
            units = np.abs(errors) / sd
        least = max(window // 2, 2)
        m = errors.shape[1]
        behind = np.arange(-window, 0)
        old_units = g.past("units", units).gather(behind)
        old_inside = _Past(g.rings["inside"], g.slots, g.c, units).gather(behind)
        all_units = np.concatenate([old_units, units], axis=1)  # column window + j is row j
        beyond = EVENT_BEYOND * det.k

        def widen(recent: np.ndarray) -> np.ndarray:
            excess = np.nan_to_num(recent, nan=1.0) - (NOISE_SLACK - 1.0)
            return np.clip(excess, 1.0, det.noise_max)

        factor = np.ones(errors.shape)
        step = max(1, BLOCK_BYTES // max(errors.shape[0] * window * 8, 1))
        view = np.lib.stride_tricks.sliding_window_view(all_units, window, axis=1)
        for lo in range(g.first_wide, m, step):  # before first_wide, units are all missing
            block = view[:, lo : min(m, lo + step)]
            factor[:, lo : lo + block.shape[1]] = widen(1.4826 * _rolling_median(block, least))
        with np.errstate(invalid="ignore"):
            inside = np.concatenate([old_inside, units <= beyond], axis=1)
        # Only where counting every bucket widens the band does leaving events out matter.
        for j in np.flatnonzero((factor > 1.0).any(axis=0)):
            who = np.flatnonzero(factor[:, j] > 1.0)
            kept = np.where(inside[who, j : j + window], all_units[who, j : j + window], np.nan)
            med, count = _median_last(kept)
            f = np.where(count >= least, widen(np.asarray(1.4826 * med)), 1.0)
            factor[who, j] = f
            with np.errstate(invalid="ignore"):
                inside[who, window + j] = units[who, j] <= beyond * f
        g.new["inside"] = inside[:, window:]
        return factor

    def _sparse(self, g: _Group, errors: np.ndarray) -> np.ndarray:
        """SeasonalDetector._sparse for the new rows: counts of exact errors over the last
        SPARSE_WEEKS weeks as running totals; the week's quantile only where the series is
        sparse."""
        det, lay = self.detector, self._layout
        assert lay is not None
        out = np.zeros(errors.shape)
        size = np.abs(errors)
        size[:, : max(0, g.first_wide - SPARSE_WEEKS * lay.week - lay.sparse_lag)] = np.nan
        psize = g.past("size", size)
        finite = np.isfinite(size)
        with np.errstate(invalid="ignore"):
            exact = finite & (size <= 1e-12)
        hits = g.trailing("ex", exact, SPARSE_WEEKS * lay.week)
        seen = g.trailing("fi", finite, SPARSE_WEEKS * lay.week)
        if det.sparse_per_day <= 0 or lay.period < 2:
            return out
        with np.errstate(invalid="ignore", divide="ignore"):
            share = np.where(seen >= lay.period, hits / seen, np.nan)
            sparse = share >= SPARSE_SHARE
        sparse[:, : g.first_wide] = False  # no band reads the floor before first_wide
        if not sparse.any():
            return out
        q = float(np.clip(1 - det.sparse_per_day / lay.period, 0.5, 1.0))
        who, j = np.nonzero(sparse)
        lag = _excursions(psize, who, j, lay.sparse_lag)
        out[who, j] = np.nan_to_num(
            _roll(psize, who, j, lay.week, lay.period, q=q, lag=lag, reach=lay.sparse_lag)
        )
        return out


class _Window(_Past):
    """Values from the call's window (every bucket from `a` on; NaN before it), rows `members`."""

    def __init__(self, window: np.ndarray, members: np.ndarray, c: int, a: int) -> None:
        super().__init__(window, members, c, window[members, c - a :])
        self.a = a

    def gather(self, pos: np.ndarray) -> np.ndarray:
        at = self.c - self.a + pos
        wanted, inverse = np.unique(np.maximum(at, 0), return_inverse=True)
        part = self.ring[self.slots[:, None], wanted[None, :]]
        out = np.take(part, inverse.reshape(at.shape), axis=1)
        out[:, at < 0] = np.nan
        return out


class _Group:
    """The keys computed together in one call: their slots, the first new bucket `c`, their
    new values, and each stage's new values to store when done."""

    def __init__(self, rings: dict[str, np.ndarray], slots: np.ndarray, c: int, v: np.ndarray):
        self.rings, self.slots, self.c, self.v = rings, slots, c, v
        self.rows = np.arange(v.shape[1])
        self.new: dict[str, np.ndarray] = {}
        self.values = self.past("v", v)
        # Where each stage starts (rows before are not computed): 0 but in a truncated batch.
        self.first_loose = self.first_rebase = self.first_wide = 0

    def truncate(self, lay: _Layout, det: SeasonalDetector, wanted: int) -> None:
        """The reference's `last` economy: each stage from where the next one reads it. The
        pass-1 width from the level's and re-base's own lookback (the reference also adds
        the width's lags there, which only reach rows no later stage reads)."""
        m = self.v.shape[1]
        self.first_wide = max(0, m - wanted - lay.noise_window)
        lag = int(lay.lags.max())
        self.first_rebase = max(0, self.first_wide - lag - lay.rebase_window - lay.memory)
        self.first_loose = max(0, self.first_rebase - det.level_window - det.level_slow)

    def past(self, name: str, values: np.ndarray) -> _Past:
        """Register a stage's new values; read them with what came before."""
        self.new[name] = values
        return _Past(self.rings[name], self.slots, self.c, values)

    def prev(self, name: str) -> np.ndarray:
        """A stage's value at the bucket before the first new one, per key."""
        return _Past(self.rings[name], self.slots, self.c, self.v).gather(np.array([-1]))[:, 0]

    def trailing(self, name: str, terms: np.ndarray, window: int) -> np.ndarray:
        """The reference's trailing sum of `terms` over `window`, via running totals:
        total[t] - total[t - window], totals inclusive of their bucket, 0 before the start.
        Counts (boolean terms) are totalled in the ring's unsigned integers, which wrap: their
        differences over a window shorter than the type's range are exact, as the reference's
        float ones are (`_counter` picks the type)."""
        ring = self.rings[name]
        m = terms.shape[1]
        # Totals at buckets c - 1 - window .. c - 1 + m - 1 - window (only the first m of
        # them before c when m is small, as in a steady call) and at c - 1.
        span = np.arange(-window - 1, min(m - window - 1, 0))
        cols = (self.c + np.append(span, -1)) % ring.shape[1]
        before = ring[self.slots[:, None], cols[None, :]]
        if terms.dtype == bool:
            steps = np.concatenate([before[:, -1:], terms.astype(ring.dtype)], axis=1)
            totals = np.cumsum(steps, axis=1, dtype=ring.dtype)[:, 1:]
        else:
            totals = _totals(before[:, -1], terms)
        self.new[name] = totals
        # full[:, k] is the total at bucket c - 1 - window + k
        full = np.concatenate([before[:, : span.size], totals], axis=1)
        if span.size < window + 1:  # small m: the buckets c - 1 - window + m .. c - 1 skipped
            high = np.concatenate([before[:, -1:], totals[:, : m - 1]], axis=1)
            return (high - full[:, :m]).astype(np.float64)
        return (full[:, window : window + m] - full[:, :m]).astype(np.float64)

    def store(self) -> None:
        m = self.v.shape[1]
        for name, arr in self.new.items():
            ring = self.rings[name]
            width = ring.shape[1]
            k = min(m, width)
            cols = (self.c + m - k + np.arange(k)) % width
            ring[self.slots[:, None], cols[None, :]] = arr[:, m - k :]
