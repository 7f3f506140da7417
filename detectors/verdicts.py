"""The rule's verdict for the last bucket of many series at once, over (series x buckets) arrays.

`verdicts()` returns what `Rule.verdict` returns for each row. Running sums are added up in the
order the rule adds them (from the start of the same tail, bucket after bucket), so every guard
decides exactly as the reference does, not merely nearly; they are taken bucket-major (bucket x
series), one contiguous row of all series per bucket. Only the Verdict objects are per series.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import repeat
from typing import NamedTuple

import numpy as np
import pandas as pd

from detectors.base import Direction, Status, Verdict, relative_to
from detectors.rule import (
    ACCEPTED_WORDS,
    BASIS_WORDS,
    SMALL_REL,
    SPARSE_PERSIST_LEVEL,
    USUAL_WINDOW,
    Rule,
    _scales,
    _side_half,
    _up_scores,
    drop_relief,
    effect_words,
    falls,
    fineness,
    half_widths,
    jump_words,
    shift_reason,
    shift_words,
    size_words,
)

__all__ = ["verdicts"]

CHUNK = 8192  # series judged together

# Branches of Rule._explain, in its order.
_MISSING, _NO_DATA, _NO_HISTORY, _SHIFT, _FIRING, _INSIDE, _DIRECTION, _SMALL, _WAITING = range(9)
_STATUS = {_MISSING: Status.ANOMALY, _NO_DATA: Status.UNKNOWN, _NO_HISTORY: Status.UNKNOWN,
           _SHIFT: Status.ANOMALY, _FIRING: Status.ANOMALY, _INSIDE: Status.OK,
           _DIRECTION: Status.OK, _SMALL: Status.OK, _WAITING: Status.OK}  # fmt: skip


class _Last(NamedTuple):
    """Per series, what the last bucket's verdict is made of."""

    case: np.ndarray  # which branch of Rule._explain
    value: np.ndarray
    expected: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    score: np.ndarray  # NaN where value or expected is unknown
    window: np.ndarray  # buckets of the sustained shift that fired (0: none)
    outside: np.ndarray  # buckets outside among the last persist_m
    shifted: np.ndarray  # buckets outside among those of the sustained shift that fired
    jump: np.ndarray  # Rule.evaluate's `jump` where it alone made the bucket fire, else 0
    severe: np.ndarray  # the last bucket's score is at least the rule's `severe` here
    # The sustained shift that fired has no bucket outside (Rule._confirmed), before it is
    # confirmed; or it has one (a shift held back after it carries on).
    inside: np.ndarray
    shown: np.ndarray
    size: np.ndarray  # what the last bucket's relative change is a share of (relative_to)


def _prefix_sums(parts: Sequence[np.ndarray], at: Sequence[int]) -> np.ndarray:
    """The running sums of each of `parts` (bucket x series) before bucket k, for each k in
    `at`: what `concatenate([[0], cumsum(a)])[k]` gives each series, added in the same order.
    (at x parts x series)"""
    wanted = set(at)
    found = {0: np.zeros((len(parts), *parts[0].shape[1:]))}
    if max(wanted, default=0) > 0:
        totals = [p[0].copy() for p in parts]
        for k in range(1, max(wanted) + 1):
            if k > 1:
                for total, p in zip(totals, parts, strict=True):
                    np.add(total, p[k - 1], out=total)
            if k in wanted:
                found[k] = np.stack(totals)
    return np.stack([found[k] for k in at])


def _joined(rule: Rule, day: np.ndarray, same_time: np.ndarray) -> np.ndarray:
    """Rule._joined: the last day's correlation or where larger the band's at the same time
    of day (NaN: none), between 0 and autocorr_max."""
    return np.clip(np.fmax(day, same_time), 0.0, rule.autocorr_max)


def _day_autocorrelation(rule: Rule, value: np.ndarray, expected: np.ndarray,
                         lower: np.ndarray, upper: np.ndarray, *,
                         buckets: Sequence[int]) -> np.ndarray:  # fmt: skip
    """`Rule._day_autocorrelation` at the given buckets: (buckets x series)."""
    series, width = value.shape
    out = np.zeros((len(buckets), series))
    if width < 3:
        return out
    value, expected, lower, upper = (
        np.ascontiguousarray(a.T) for a in (value, expected, lower, upper)
    )
    with np.errstate(invalid="ignore", divide="ignore"):
        half = np.where(value >= expected, upper - expected, expected - lower)
        score = np.where(half > 0, (value - expected) / half, np.nan)
    # Pair j is (score[j + 1], score[j]); bucket t uses the pairs before it (up to t - 2), so
    # the last pair is never needed.
    x, y = score[1:-1], score[:-2]
    ok = np.isfinite(x) & np.isfinite(y) & (np.abs(x) <= 1) & (np.abs(y) <= 1)
    x, y = np.where(ok, x, 0.0), np.where(ok, y, 0.0)
    w = USUAL_WINDOW
    used = [i for i, t in enumerate(buckets) if t >= 2]
    ends = [buckets[i] - 1 for i in used]
    starts = [max(k - w, 0) for k in ends]
    sums = _prefix_sums([ok.astype(float), x, y, x * y, x * x, y * y], ends + starts)
    trailing = sums[: len(ends)] - sums[len(ends) :]
    n, sx, sy, sxy, sxx, syy = (trailing[:, i] for i in range(6))
    with np.errstate(invalid="ignore", divide="ignore"):
        cov = sxy / n - (sx / n) * (sy / n)
        var = np.sqrt((sxx / n - (sx / n) ** 2) * (syy / n - (sy / n) ** 2))
        rho = np.where((n >= w // 4) & (var > 0), cov / var, 0.0)
        rho = rho - rule.autocorr_se / np.sqrt(np.maximum(n, 1))
    out[used] = rho
    return np.clip(np.nan_to_num(out, nan=0.0, posinf=0.0, neginf=0.0), 0.0, rule.autocorr_max)


def _jump(rule: Rule, value: np.ndarray, expected: np.ndarray, lower: np.ndarray,
          upper: np.ndarray, *, where: np.ndarray) -> np.ndarray:  # fmt: skip
    """`Rule._jumps` at the last bucket of each series (a row of the tails): how many times the
    largest move of the score over the USUAL_WINDOW buckets before it the last move was, where
    that is at least `jump`, went the way the score stands and started inside the band, for
    the series `where` holds; 0 elsewhere."""
    out = np.zeros(value.shape[0])
    rows = np.flatnonzero(where)  # only the series whose last bucket is outside, past guards
    if rule.jump <= 0 or value.shape[1] < 3 or rows.size == 0:
        return out
    value, expected, lower, upper = (a[rows] for a in (value, expected, lower, upper))
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        score = _scores(value, expected, lower, upper)
        score = np.where(np.isfinite(score), score, np.nan)
        move = np.diff(score, axis=1)  # move j: from bucket j to j + 1
        move = np.where(np.isfinite(move), move, np.nan)
        last = move[:, -1]
        before = np.abs(move[:, -1 - USUAL_WINDOW : -1])
        seen = np.isfinite(before).sum(axis=1)
        largest = np.max(np.where(np.isnan(before), -np.inf, before), axis=1, initial=-np.inf)
        largest = np.where(seen >= USUAL_WINDOW // 4, largest, np.nan)
        jumped = (np.abs(last) >= rule.jump * largest) & (np.sign(last) == np.sign(score[:, -1]))
        # From inside the band; a series that did not move for a day has no scale of moves.
        jumped &= (largest > 0) & (np.abs(score[:, -2]) <= 1)
        ratio = np.where(largest > 0, np.minimum(np.abs(last) / largest, 1e6), 0.0)
    out[rows] = np.where(np.nan_to_num(jumped, nan=0).astype(bool), ratio, 0.0)
    return out


def _fine_jump(
    rule: Rule, jump: np.ndarray, tails: Sequence[np.ndarray], *, fine: float,
    where: np.ndarray, sparse_before: Sequence[np.ndarray] | None,
) -> np.ndarray:  # fmt: skip
    """Rule._fine_jumps at the last bucket of each series (`tails`: value, expected, lower and
    upper, and what a relative change is a share of, `relative_to`): the last bucket's own
    `jump` where `Rule.fires_at_once` holds, else (with
    `sparse_before`) the largest sudden move the same way of the quarter-hour before it, for
    the series `where` holds (outside, past the effect guards, its band not sparse)."""
    jump = np.where(rule.fires_at_once(tails[0][:, -1], tails[1][:, -1], tails[4][:, -1], fine),
                    jump, 0.0)  # fmt: skip
    if sparse_before is None:
        return jump
    since = _jump_since(rule, *tails[:4], size=tails[4], fine=fine, where=where & (jump == 0),
                        sparse_before=sparse_before)  # fmt: skip
    return np.where(jump == 0, since, jump)


def _jump_since(rule: Rule, value: np.ndarray, expected: np.ndarray, lower: np.ndarray,
                upper: np.ndarray, *, size: np.ndarray, fine: float, where: np.ndarray,
                sparse_before: Sequence[np.ndarray]) -> np.ndarray:  # fmt: skip
    """Rule._fine_jumps' confirmation at the last bucket: per series `where` holds (the last
    bucket outside, past the effect guards, its band not sparse), the largest sudden move
    the same way over the `Rule._jump_reach` buckets before it, each judged at its own bucket as
    Rule._jumps judges it (`sparse_before[j - 1]`: per series, whether its band j buckets
    before the last is sparse); 0 elsewhere."""
    out = np.zeros(value.shape[0])
    rows = np.flatnonzero(where)
    if rule.jump <= 0 or rows.size == 0:
        return out
    value, expected, lower, upper, size = (a[rows] for a in (value, expected, lower, upper, size))
    way = np.sign(_scores(value[:, -1:], expected[:, -1:], lower[:, -1:], upper[:, -1:])[:, 0])
    best = np.zeros(rows.size)
    for back in range(1, min(rule._jump_reach(fine), value.shape[1] - 3) + 1):
        cut = [a[:, :-back] for a in (value, expected, lower, upper)]
        v, e, lo, hi = (a[:, -1] for a in cut)
        relative = size[:, -1 - back]
        below, above = v < lo, v > hi
        if rule.direction is Direction.DOWN:
            above = np.zeros_like(above)
        elif rule.direction is Direction.UP:
            below = np.zeros_like(below)
        change = np.abs(v - e)
        big = (change >= rule.min_abs_change) & (change >= rule.min_rel_change * relative)
        eligible = (below | above) & np.isfinite(v) & np.isfinite(e) & big
        moved = _jump(rule, *cut, where=eligible & ~sparse_before[back - 1][rows])
        score = _scores(v[:, None], e[:, None], lo[:, None], hi[:, None])[:, 0]
        best = np.where((np.sign(score) == way) & (moved > best), moved, best)
    out[rows] = best
    return out


def _scores(value: np.ndarray, expected: np.ndarray, lower: np.ndarray,
            upper: np.ndarray) -> np.ndarray:  # fmt: skip
    """Rule.evaluate's score: the deviation in half-widths of the side it is on (`half_widths`:
    +-NO_WIDTH off a side with no width), NaN where the value or the expected value is
    unknown."""
    half = np.where(value >= expected, upper - expected, expected - lower)
    score = half_widths(value - expected, half)
    return np.where(np.isfinite(value) & np.isfinite(expected), score, np.nan)


def _median_of_finite(values: np.ndarray) -> np.ndarray:
    """Per row, the median of the finite values (NaN when there are none), as pandas'
    rolling median takes it (it reads inf as missing)."""
    values = np.where(np.isfinite(values), values, np.nan)
    ordered = np.sort(values, axis=1)  # NaN last
    count = (~np.isnan(values)).sum(axis=1)
    rows = np.arange(values.shape[0])
    low = ordered[rows, np.maximum((count - 1) // 2, 0)]
    high = ordered[rows, np.maximum(count // 2, 0)]
    with np.errstate(invalid="ignore"):
        middle = np.where(count % 2 == 1, low, (low + high) / 2)
    return np.where(count > 0, middle, np.nan)


class _Windows:
    """The sustained-shift test (`Rule._window_score`) at the last bucket of every series: the
    running sums it needs, taken once, then the test for any rows and autocorrelations."""

    def __init__(self, rule: Rule, value: np.ndarray, expected: np.ndarray, lower: np.ndarray,
                 upper: np.ndarray, *, size: np.ndarray, fine: float, fresh: np.ndarray,
                 counts: np.ndarray | None = None) -> None:  # fmt: skip
        series, width = value.shape
        self.rule = rule
        # Per series, the smallest relative shift at its last bucket (`Rule.window_rel_at`).
        self.rel = rule.window_rel_at(fresh > 0, fine)
        # A small count's windows go on to `window_small` (Rule._small_only): the sums are
        # taken that far for every series, the longer windows judged for those alone.
        self.longest = min(rule.longest_window(True), width)
        self.threshold = rule.window_score * fine**rule.fine_severe
        self.pair_up = rule.pair_up_threshold(self.threshold)
        # Every bucket of a window that fires leans the same way: the sums are taken only for
        # the series whose last two buckets do (`at`: each series' place among them, or -1).
        self.at = np.full(series, -1)
        if self.longest < 2:
            return
        with np.errstate(invalid="ignore"):
            lean = np.sign(value[:, -2:] - expected[:, -2:])
        chosen = np.flatnonzero((lean[:, 0] == lean[:, 1]) & (lean[:, 1] != 0))
        self.at[chosen] = np.arange(chosen.size)
        self.chosen = chosen  # the series of each place in the sums
        value, expected, lower, upper, size = (
            a[chosen] for a in (value, expected, lower, upper, size)
        )
        series = chosen.size
        self.recent = expected[:, -USUAL_WINDOW:]  # whose median is a usual size
        self.usual = np.full(series, np.nan)
        last = self.longest
        dev = value - expected
        with np.errstate(invalid="ignore"):
            parts = [dev, _side_half(dev, expected, lower, upper) ** 2, np.abs(expected), size]
        bad = [~np.isfinite(p) for p in parts]
        # Running sums from the start of the tail, bucket-major so that each bucket adds a
        # contiguous row; the signs are whole numbers, summed in any order alike.
        filled = [
            np.ascontiguousarray(np.where(b, 0.0, p).T) for p, b in zip(parts, bad, strict=True)
        ]
        sums = _prefix_sums(filled, [width - n for n in range(last + 1)])
        signs = np.sign(dev[:, -last:])
        bad.append(np.isnan(signs))
        signs = np.cumsum(np.where(bad[-1], 0.0, signs)[:, ::-1], axis=1)
        holes = [np.cumsum(b[:, ::-1][:, :last], axis=1) for b in bad]
        # As Rule._rolling_sum: per length n, the sums of the last n (total deviation, squared
        # half-widths, expected, what a relative change is a share of, signs), NaN where any
        # of them is missing.
        self.sums = np.empty((last, 5, series))
        for n in range(1, last + 1):
            self.sums[n - 1, :4] = sums[0] - sums[n]
            self.sums[n - 1, 4] = signs[:, n - 1]
            gaps = np.stack([h[:, n - 1] for h in holes])
            self.sums[n - 1][gaps > 0] = np.nan
        self.counts = _counts(value) if counts is None else counts[chosen]
        # As Rule._window_score's peak: per length n, the highest score above the expected
        # value among the last n buckets.
        up = _up_scores(dev[:, -last:], (upper - expected)[:, -last:])
        self.peaks = np.maximum.accumulate(up[:, ::-1], axis=1)
        # And the least share any of them fell by (`drop_relief`).
        fall = falls(dev[:, -last:], expected[:, -last:])
        self.least_falls = np.minimum.accumulate(fall[:, ::-1], axis=1)

    def lengths(self, rows: np.ndarray, day: np.ndarray, same_time: np.ndarray) -> np.ndarray:
        """For the series `rows` (indices), the shortest window that fires, 0 if none, with
        the last day's correlation of the errors `day` (buckets x rows, the last bucket last:
        a window of n buckets takes it n buckets back, where the window starts, as
        Rule._window_score does; with fewer buckets than the longest window, the first stands
        for those before it) and the band's at the same time of day at the last bucket
        (`same_time`, per row, NaN where none)."""
        out = np.zeros(rows.size, dtype=int)
        if self.longest < 2:
            return out
        chosen = self.at[rows] >= 0
        out[chosen] = self._lengths(self.at[rows[chosen]], day[:, chosen], same_time[chosen])
        return out

    def _lengths(self, rows: np.ndarray, day: np.ndarray, same_time: np.ndarray) -> np.ndarray:
        """lengths() for `rows` among the chosen series (places in the sums)."""
        rule = self.rule
        length = np.zeros(rows.size, dtype=int)
        if rows.size == 0:
            return length
        rel = self.rel[self.chosen[rows]]
        found = []
        with np.errstate(invalid="ignore", divide="ignore"):
            for n in range(2, self.longest + 1):
                total, spread, base, relative, signs = self.sums[n - 1][:, rows]
                lags = np.arange(1, n)
                rho = _joined(rule, day[-min(n, day.shape[0])], same_time)
                inflation = 1 + 2 * np.sum((1 - lags / n) * rho[:, None] ** lags, axis=1)
                spread = np.sqrt(spread)
                spread = spread * np.sqrt(inflation)
                z = np.where(spread > 0, total / spread, 0.0)
                fires = (np.abs(z) >= self.threshold) & (np.abs(signs) == n)
                if n == 2 and self.pair_up > self.threshold:
                    fires &= (total < 0) | (np.abs(z) >= self.pair_up)
                if rule.window_up_peak > 0:
                    fires &= (total < 0) | (self.peaks[rows, n - 1] >= rule.window_up_peak)
                fires &= np.abs(total) >= np.maximum(rel * relative, rule.min_abs_change * n)
                if rule.direction is Direction.DOWN:
                    fires &= total < 0
                elif rule.direction is Direction.UP:
                    fires &= total > 0
                if n > rule.window:
                    # As Rule._small_only: the usual longest window expects too few events.
                    small = self.sums[rule.window - 1][2][rows] < rule.window_min_expected
                    bar = np.maximum(SMALL_REL * rule._window_rel(), rel)  # as the rule's
                    far = np.abs(total) >= bar * relative
                    fires &= self.counts[rows] & small & far
                found.append((n, fires, base, drop_relief(self.least_falls[rows, n - 1], n)))
        # A non-count series' volume guard is against its usual size: a median, taken only
        # for the series that pass everything else.
        counts = self.counts[rows]
        need = rows[~counts & np.logical_or.reduce([fires for _, fires, _, _ in found])]
        need = need[np.isnan(self.usual[need])]
        if need.size:
            self.usual[need] = _median_of_finite(np.abs(self.recent[need]))
        usual = self.usual[rows]
        with np.errstate(invalid="ignore"):
            for n, fires, base, relief in found:
                share = n / max(rule.window, n)
                volume = np.where(
                    counts,
                    base >= rule.window_min_expected * np.sqrt(share) * relief,
                    base >= rule.window_min_share * n * usual,
                )
                length = np.where(fires & volume & (length == 0), n, length)
        return length


def _counts(value: np.ndarray) -> np.ndarray:
    """Per series (row), whether its known values are all whole and non-negative: events,
    whose volume guard is in events (Rule.evaluate decides it over the whole tail)."""
    finite = np.isfinite(value)
    return finite.any(axis=1) & np.all(~finite | ((value >= 0) & (value == np.round(value))),
                                       axis=1)  # fmt: skip


def _may_count(value: np.ndarray) -> np.ndarray:
    """Per series, whether it may count events for its "no data" alert, as Rule.evaluate
    takes it with counts "auto": its known values are counts, or none is known."""
    return _counts(value) | ~np.isfinite(value).any(axis=1)


def _judge(  # noqa: PLR0917 - the tails of Rule.evaluate's inputs, as verdicts() has them
           rule: Rule, value: np.ndarray, expected: np.ndarray, lower: np.ndarray,
           upper: np.ndarray, same_time: np.ndarray, size: np.ndarray, fresh: np.ndarray, *,
           fine: float,
           sparse: np.ndarray, counts: np.ndarray | None = None, coarse: float = 1.0,
           sparse_before: Sequence[np.ndarray] | None = None) -> _Last:  # fmt: skip
    """Rule.evaluate's last row and Rule._explain's branch for every series (a row of the
    arrays' tails; `same_time` the band's `autocorr` column, NaN where it has none; `size`
    what a relative change is a share of, `relative_to`; `fresh` 1 in a series' first week,
    `first_week`).
    `sparse`: per series, whether its last band rests on a sparse basis; `counts`, whether
    it is counts (by default, from these values). With `sparse_before` (see `_jump_since`),
    a bucket outside after a sudden move at a fine step fires as Rule._fine_jumps has it;
    without, only the jumps of the last bucket count (enough for what `_confirm` reads)."""
    series, width = value.shape
    persist_k, persist_m = rule._persistence(fine)
    recent = min(persist_m, width)
    v, e, lo, hi = (a[:, -recent:].T for a in (value, expected, lower, upper))
    with np.errstate(invalid="ignore", divide="ignore"):
        half = np.where(v >= e, hi - e, e - lo)
        score = half_widths(v - e, half)
        below, above = v < lo, v > hi
    side = below | above
    if rule.direction is Direction.DOWN:
        above = np.zeros_like(above)
    elif rule.direction is Direction.UP:
        below = np.zeros_like(below)
    known = np.isfinite(v) & np.isfinite(e)
    outside = (below | above) & known
    # Autocorrelation only ever holds a bucket back (a persistence level of at least
    # persist_level, a window's band at least as wide as without it), so it is needed only
    # where a bucket is that far out or a window fires without it.
    windows = _Windows(rule, value, expected, lower, upper, size=size, fine=fine,
                       fresh=fresh[:, -1], counts=counts)  # fmt: skip
    everyone = np.arange(series)
    window = windows.lengths(everyone, np.zeros((1, series)), np.zeros(series))
    rho = np.zeros(v.shape)
    far = outside
    # Rule.evaluate's level: persist_level, or the sparse band's edge where the last band is
    # sparse (the judged bucket's band decides for its whole run).
    level = np.where(sparse, min(rule.persist_level, SPARSE_PERSIST_LEVEL), rule.persist_level)
    if persist_k > 1:
        far = outside & (np.abs(np.nan_to_num(score)) >= level[None, :])
    if rule.autocorr_max > 0:
        rows = everyone[(window > 0) | (far.any(axis=0) if persist_k > 1 else False)]
        # The last day's correlation at the last `recent` buckets (persistence) and where
        # each window starts.
        reach = max(recent, windows.longest)
        buckets = range(width - reach, width)
        day = _day_autocorrelation(rule, value[rows], expected[rows], lower[rows],
                                   upper[rows], buckets=buckets)  # fmt: skip
        same = same_time[rows][:, list(buckets)].T
        rho[:, rows] = _joined(rule, day[-recent:], same[-recent:])
        window[rows] = windows.lengths(rows, day, same[-1])
    if persist_k > 1:
        far = outside & (np.abs(np.nan_to_num(score)) >= level[None, :] * np.sqrt(1 + 2 * rho))
    severe = np.abs(np.nan_to_num(score[-1])) >= rule.severe_bar(fine, coarse)
    with np.errstate(invalid="ignore"):
        change = np.abs(v[-1] - e[-1])
        big = (change >= rule.min_abs_change) & (change >= rule.min_rel_change * size[:, -1])
        small = change < np.maximum(rule.min_abs_change, rule.min_rel_change * size[:, -1])
    firing = outside[-1] & big & ((far.sum(axis=0) >= persist_k) | severe)
    window = np.where(sparse, 0, window)
    jump = _jump(rule, value, expected, lower, upper, where=outside[-1] & big & ~sparse)
    if rule._jump_reach(fine) > 0:
        jump = _fine_jump(rule, jump, (value, expected, lower, upper, size), fine=fine,
                          where=outside[-1] & big & ~sparse,
                          sparse_before=sparse_before)  # fmt: skip
    shifted = _outside_of(rule, value, expected, lower, upper, window)
    firing |= (window > 0) | (jump > 0)
    missing = _missing(rule, value, e[-1], fine=fine, counts=counts)
    firing |= missing
    case = np.select(
        [missing, ~np.isfinite(v[-1]), ~np.isfinite(e[-1]), firing & ~side[-1], firing,
         ~side[-1], ~outside[-1], small],
        [_MISSING, _NO_DATA, _NO_HISTORY, _SHIFT, _FIRING, _INSIDE, _DIRECTION, _SMALL],
        default=_WAITING,
    )  # fmt: skip
    # The reason names the jump only where neither persistence nor severity made it fire.
    jump = np.where((far.sum(axis=0) >= persist_k) | severe, 0.0, jump)
    return _Last(case, v[-1], e[-1], lo[-1], hi[-1], np.where(known[-1], score[-1], np.nan),
                 window, outside.sum(axis=0), shifted, jump, severe,
                 (window > 0) & (shifted == 0), (window > 0) & (shifted > 0),
                 size[:, -1])  # fmt: skip


def _missing(rule: Rule, value: np.ndarray, expected: np.ndarray, *, fine: float,
             counts: np.ndarray | None = None) -> np.ndarray:  # fmt: skip
    """Per series, whether its last bucket fires as missing data (`expected`: its last
    expected value), as Rule.evaluate's `missing`: only for counts (the rule's `counts`, or
    with "auto" `counts`, by default from these values, rows with none known included)."""
    width = value.shape[1]
    events = rule.counts_events(_may_count(value) if counts is None else counts)
    missing = ~np.isfinite(value[:, -1]) & np.isfinite(expected) & events
    if rule.missing_min_expected <= 0 or rule.direction is Direction.UP:
        return missing & False
    with np.errstate(invalid="ignore"):
        missing &= expected >= rule.missing_min_expected
    # At a fine step one absent point is a collector's hiccup: missing for 15 minutes.
    run = round(fine)
    return missing & (run <= width) & ~np.isfinite(value[:, width - run :]).any(axis=1)


def _confirm(rule: Rule, tail: Sequence[np.ndarray], last: _Last, *, fine: float,
             sparse_before: Sequence[np.ndarray], coarse: float = 1.0) -> _Last:  # fmt: skip
    """`last` (the tails' last buckets, judged) with the shifts Rule._confirmed holds back
    not firing: a shift with no bucket outside fires once it did at `window_confirm_up` (a
    rise) or `window_confirm_down` buckets in a row, or straight after a shift with a bucket
    outside. The buckets before are judged here, only for the series that need them
    (`sparse_before[j - 1]`: per series, whether its band j buckets before the last is
    sparse)."""
    needed = np.where(last.value > last.expected, rule.window_confirm_up,
                      rule.window_confirm_down)  # fmt: skip
    open_ = last.inside & (needed > 1)
    keep = np.zeros(open_.size, dtype=bool)
    # Rule.evaluate tells counts from the whole tail it judges, the last bucket included.
    counts = np.zeros(open_.size, dtype=bool)
    counts[open_] = _may_count(tail[0][open_])
    for back in range(1, rule._confirm_reach() + 1):
        rows = np.flatnonzero(open_)
        if rows.size == 0:
            break
        before = _judge(rule, *(a[rows, :-back] for a in tail), fine=fine, coarse=coarse,
                        sparse=sparse_before[back - 1][rows], counts=counts[rows])  # fmt: skip
        keep[rows] = before.shown | (before.inside & (back + 1 >= needed[rows]))
        open_[rows] = before.inside & ~keep[rows]
    held = last.inside & (needed > 1) & ~keep
    if not held.any():
        return last
    # A held bucket is not outside in a direction that alerts: inside the band, or outside
    # it the other way (as Rule._explain words a bucket that does not fire).
    side = (last.value < last.lower) | (last.value > last.upper)
    case = np.where(held, np.where(side, _DIRECTION, _INSIDE), last.case)
    return last._replace(case=case, window=np.where(held, 0, last.window))


def _outside_of(  # noqa: PLR0917 - the tails of Rule.evaluate's inputs, as _judge has them
    rule: Rule, value: np.ndarray, expected: np.ndarray, lower: np.ndarray, upper: np.ndarray,
    window: np.ndarray,
) -> np.ndarray:  # fmt: skip
    """Per series, how many of the last `window` buckets (the sustained shift that fired; 0:
    none) were outside the band in a direction that alerts, as Rule.evaluate's `outside`."""
    out = np.zeros(window.size, dtype=int)
    rows = np.flatnonzero(window > 0)
    if rows.size == 0:
        return out
    last = int(window[rows].max())
    v, e, lo, hi = (a[rows, -last:] for a in (value, expected, lower, upper))
    below, above = v < lo, v > hi
    if rule.direction is Direction.DOWN:
        above = np.zeros_like(above)
    elif rule.direction is Direction.UP:
        below = np.zeros_like(below)
    outside = (below | above) & np.isfinite(v) & np.isfinite(e)
    # Counted from the last bucket back: column n - 1 holds the last n buckets' count.
    counts = np.cumsum(outside[:, ::-1], axis=1)
    out[rows] = counts[np.arange(rows.size), window[rows] - 1]
    return out


def verdicts(  # noqa: PLR0917 - the series and its band's columns, as Rule.verdict takes them
    rule: Rule,
    index: pd.DatetimeIndex,
    values: np.ndarray,
    expected: np.ndarray,
    lower: np.ndarray,
    upper: np.ndarray,
    basis: np.ndarray | None = None,
    autocorr: np.ndarray | None = None,
    relative_cap: np.ndarray | None = None,
    fresh: np.ndarray | None = None,
) -> list[Verdict]:
    """Per row i, `rule.verdict(series, band)` for the series `values[i]` on `index` and the
    band `expected[i]`, `lower[i]`, `upper[i]` (and a `basis` column `basis[i]`, an
    `autocorr` column `autocorr[i]`, a `relative_cap` column `relative_cap[i]` when given).
    `fresh`: true in a series' first week, as `first_week` marks it over the whole series
    (the rule's evaluate reads all of it; these arrays, only a tail); none if None.

    Arrays are (series x buckets): float64 with NaN for missing; basis of objects (str or
    None). `index` is regular; only the tail the rule looks at is used.
    """
    value = np.asarray(values, dtype="float64")
    if value.ndim != 2 or value.shape[1] != len(index) or value.shape[1] == 0:
        raise ValueError(f"values must be (series, {len(index)} buckets), got {value.shape}")
    band = [np.asarray(a, dtype="float64") for a in (expected, lower, upper)]
    named = None if basis is None else np.asarray(basis, dtype=object)
    same_time = None if autocorr is None else np.asarray(autocorr, dtype="float64")
    cap = None if relative_cap is None else np.asarray(relative_cap, dtype="float64")
    names = ("expected", "lower", "upper", "basis", "autocorr", "relative_cap", "fresh")
    for name, array in zip(names, [*band, named, same_time, cap, fresh], strict=True):
        if array is not None and array.shape != value.shape:
            raise ValueError(f"{name} must be shaped as values {value.shape}, got {array.shape}")
    band.append(np.full(value.shape, np.nan) if same_time is None else same_time)
    band.append(relative_to(band[0], cap))
    band.append(np.zeros(value.shape) if fresh is None else np.asarray(fresh, dtype="float64"))
    if value.shape[0] == 0:
        return []
    width = min(rule.verdict_rows(fineness(index[-USUAL_WINDOW:])), value.shape[1])
    fine, coarse = _scales(index[-width:])
    tail = [a[:, -width:] for a in (value, *band)]
    # Each distinct basis once: its code per series (-1: none), whether it is sparse.
    if named is None:
        codes, kinds = np.full(value.shape[0], -1), []
    else:
        codes, found = pd.factorize(named[:, -1])
        kinds = list(found)
    sparse = np.array([isinstance(k, str) and k.endswith("sparse") for k in kinds] + [False])

    def sparse_at(back: int, rows: slice) -> np.ndarray:
        """Per series of `rows`, whether its band `back` buckets before the last is sparse."""
        if named is None or back >= width:
            return np.zeros(value[rows].shape[0], dtype=bool)
        return np.array([isinstance(b, str) and b.endswith("sparse")
                         for b in named[rows, -1 - back]], dtype=bool)  # fmt: skip

    sparse = sparse[codes]
    parts = []
    # A few thousand series at a time: the working arrays stay tens of MB at any count.
    for start in range(0, value.shape[0], CHUNK):
        rows = slice(start, start + CHUNK)
        chunk = [a[rows] for a in tail]
        with np.errstate(invalid="ignore", divide="ignore", over="ignore"):  # NaN, inf as data
            since = [sparse_at(back, rows) for back in range(1, rule._jump_reach(fine) + 1)]
            judged = _judge(rule, *chunk, fine=fine, sparse=sparse[rows], sparse_before=since,
                            coarse=coarse)
            if judged.inside.any():
                before = [sparse_at(back, rows) for back in range(1, rule._confirm_reach() + 1)]
                judged = _confirm(rule, chunk, judged, fine=fine, sparse_before=before,
                                  coarse=coarse)
            parts.append(judged)
    last = _Last(*(np.concatenate(field) for field in zip(*parts, strict=True)))
    return _build(rule, index[-1], last, (codes, kinds), rule._persistence(fine))


def _basis_words(basis: object) -> str:
    """What Rule.verdict adds to a reason for the basis of a band."""
    if not isinstance(basis, str):
        return ""
    words = f"; {BASIS_WORDS.get(basis.split(',')[0], basis)}"
    if ", accepted" in basis:
        words += ACCEPTED_WORDS
    if basis.endswith("rebased"):
        words += ", re-based after a lasting level change"
    return words


def _build(
    rule: Rule,
    bucket: pd.Timestamp,
    last: _Last,
    bases: tuple[np.ndarray, list[object]],
    persistence: tuple[int, int],
) -> list[Verdict]:
    """The Verdict objects, worded as Rule._explain and Rule.verdict word them: the reasons
    that are the same for many series are worded once."""
    persist_k, persist_m = persistence
    codes, kinds = bases
    suffixes = [_basis_words(k) for k in kinds] + [""]
    below = last.value < last.lower
    sides = np.where(below, "below", "above")
    # The basis is named only where there is an expected value.
    codes = np.where(np.isfinite(last.expected), codes, -1)
    reasons = np.empty(last.case.size, dtype=object)
    special = np.isin(last.case, (_MISSING, _SHIFT, _FIRING, _SMALL))
    common = np.flatnonzero(~special)
    key = (last.case[common] * 2 + below[common]) * len(suffixes) + codes[common] + 1
    keys, inverse = np.unique(key, return_inverse=True)
    worded = np.empty(keys.size, dtype=object)
    for j, k in enumerate(keys.tolist()):
        case, side = divmod(k // len(suffixes), 2)
        side_word = "below" if side else "above"
        text = {
            _NO_DATA: "no data for this bucket",
            _NO_HISTORY: "too little history for an expected range",
            _INSIDE: "inside the band",
            _DIRECTION: f"{side_word} the band, but only {rule.direction.value} moves alert",
            _WAITING: f"{side_word} the band for 1 bucket; waiting for {persist_k} of {persist_m}",
        }[case]
        worded[j] = text + suffixes[k % len(suffixes) - 1]
    reasons[common] = worded[inverse]
    for i in np.flatnonzero(special).tolist():
        case = int(last.case[i])
        if case == _MISSING:
            text = f"no data, while about {float(last.expected[i]):,.0f} was expected"
        elif case == _SHIFT:
            way = "below" if last.value[i] < last.expected[i] else "above"
            text = shift_reason(way, int(last.window[i]), int(last.shifted[i]))
        elif case == _SMALL:
            change = abs(float(last.value[i]) - float(last.expected[i]))
            words = effect_words(change, float(last.size[i]), rule.min_rel_change,
                                 rule.min_abs_change)  # fmt: skip
            text = f"{sides[i]} the band, but the change is below the minimum effect{words}"
        else:
            recent = int(last.outside[i])
            if recent >= persist_k:
                why = f"{recent} of the last {persist_m} buckets outside"
            elif last.jump[i] > 0:
                why = jump_words(float(last.jump[i]))
            elif last.window[i] > 0 and not last.severe[i]:
                why = shift_words(int(last.window[i]))
            else:
                why = size_words(float(last.score[i]))
            text = f"{sides[i]} the expected range ({why})"
        reasons[i] = text + suffixes[codes[i]]
    score = np.where(np.isfinite(last.value), last.score, np.nan)
    fields = [_numbers(a) for a in (last.value, last.expected, last.lower, last.upper, score)]
    statuses = np.array([_STATUS[case] for case in range(len(_STATUS))], dtype=object)
    return list(map(Verdict, statuses[last.case].tolist(), repeat(bucket, last.case.size),
                    *fields, reasons.tolist()))  # fmt: skip


def _numbers(values: np.ndarray) -> list[float | None]:
    """Python floats, None where not finite (as a Verdict holds them)."""
    out = values.astype(object)
    out[~np.isfinite(values)] = None
    return list(out)
