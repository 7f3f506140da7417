"""The alert rule on top of a band: which out-of-band buckets are worth waking someone for.

A bucket fires when it is outside the band in a direction that matters, the move is big enough
to matter (relative and absolute guards), and it persists (k of the last m buckets outside) or is
severe (|score| >= severe). A missing bucket of a count fires when events were clearly
expected there.
Vectorised over the whole series, so the same code serves the live check and the backtest.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from detectors.base import (
    NO_WIDTH,
    REFERENCE_STEP,
    Direction,
    Status,
    Verdict,
    infer_step,
    relative_to,
)
from detectors.params import Param, validate

__all__ = ["RULE_PARAMS", "Rule", "effect_words", "fineness", "half_widths", "jump_words",
           "shift_reason", "shift_words", "size_words"]

# The coarsest step, in quarter-hours, whose bar for one bucket to fire at once is lower than at
# 15 minutes: an hour. Coarser steps keep the hour's bar (a daily step at the same power would
# fire on every day outside the band, 3-10x the false alerts of the bar of 2 on clean series).
COARSEST = 4.0


def half_widths(dev: np.ndarray, half: np.ndarray) -> np.ndarray:
    """A deviation in half-widths of its side of the band; where that side has no width, 0 on
    the expected value and +-NO_WIDTH off it, as judge() has it (a band of no width that a
    value leaves is left by as far as a score goes)."""
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        off = np.where(dev == 0, 0.0, np.copysign(NO_WIDTH, dev))
        return np.where(half > 0, dev / half, np.where(np.isnan(dev), np.nan, off))


def size_words(score: float) -> str:
    """How far out a bucket that fired on its size is, in words."""
    if not abs(score) < NO_WIDTH:
        return "the band has no width there"
    return f"{abs(score):.1f}x the band's half-width"


def _rolling_sum(values: np.ndarray, n: int) -> np.ndarray:
    """Sum of each value and the n - 1 before it; NaN where fewer than n exist or any is NaN."""
    bad = ~np.isfinite(values)
    filled = np.where(bad, 0.0, values)
    total = np.concatenate([[0.0], np.cumsum(filled)])
    missing = np.concatenate([[0], np.cumsum(bad)])
    out = np.full(values.size, np.nan)
    if values.size >= n:
        sums = total[n:] - total[:-n]
        holes = missing[n:] - missing[:-n]
        out[n - 1 :] = np.where(holes == 0, sums, np.nan)
    return out


RULE_PARAMS: Mapping[str, Param] = {
    "direction": Param(
        str, "both", None, None, "which moves alert", choices=("both", "down", "up")
    ),
    "persist_k": Param(int, 2, 1, 12, "buckets outside the band among the last persist_m"),
    "persist_m": Param(int, 3, 1, 12, "window, in buckets, for the persistence rule"),
    "severe": Param(
        float, 2.0, 1.0, 100.0,
        "half-widths away at which one bucket fires at once, at 15 minutes (see fine_severe)",
    ),
    "min_rel_change": Param(
        float, 0.1, 0.0, 10.0, "smallest |value - expected| / expected (see offset_spans)"
    ),
    "min_abs_change": Param(float, 0.0, 0.0, 1e12, "smallest |value - expected|, in units"),
    "window": Param(
        int, 4, 0, 96, "longest window (buckets) of the sustained-shift test (0 = off)"
    ),
    "window_score": Param(
        float, 1.25, 0.1, 100.0, "the window's deviation, in combined half-widths, that fires"
    ),
    "window_pair_up": Param(
        float, 1.5, 0.1, 100.0,
        "the deviation, in combined half-widths, a rise over 2 buckets needs for that test "
        "(never less than window_score)",
    ),
    "window_up_peak": Param(
        float, 1.35, 0.0, 100.0,
        "a rise fires that test only with one of its buckets this many half-widths above the "
        "expected value (0 = any)",
    ),
    "window_confirm_up": Param(
        int, 2, 1, 4,
        "buckets in a row the sustained-shift test must fire on a rise inside the band to alert "
        "(with window_up_peak below 1)",
    ),
    "window_confirm_down": Param(
        int, 1, 1, 4,
        "buckets in a row the sustained-shift test must fire on a drop inside the band to alert",
    ),
    "window_min_rel": Param(
        float, 0.15, 0.0, 10.0, "smallest relative shift the sustained-shift test fires on"
    ),
    "window_first_week": Param(
        float, 0.4, 0.0, 10.0,
        "smallest relative shift the sustained-shift test fires on in a series' first week, its "
        "weekdays not all seen yet (steps of 15 minutes and more; at most window_min_rel = off)",
    ),
    "window_min_expected": Param(
        float, 400.0, 0.0, 1e12, "counts: events expected over the longest window (pro rata)"
    ),
    "window_min_share": Param(
        float, 0.25, 0.0, 1.0, "non-counts: share of a usual window's size for that test"
    ),
    "window_small": Param(
        int, 16, 0, 96,
        "counts whose longest window expects fewer than window_min_expected events: windows up "
        "to this many buckets, each expecting that many (0 or at most window = off)",
    ),
    "autocorr_max": Param(
        float, 0.9, 0.0, 0.99, "most that test allows for errors that follow one another"
    ),
    "autocorr_se": Param(
        float, 2.0, 0.0, 10.0,
        "standard errors of the errors' correlation (last 96 buckets) put down to chance",
    ),
    "jump": Param(
        float, 2.0, 0.0, 100.0,
        "a bucket outside fires at once if it got there in a move this many times the largest "
        "of the last 96 (0 = off)",
    ),
    "missing_min_expected": Param(
        float, 50.0, 0.0, 1e12,
        "a missing bucket of a count fires when this many events were expected (0 never)",
    ),
    # 1.15, not the edge (1): noise with heavier tails than normal (small counts, a ratio of
    # few events, real KPIs' bursts) puts two buckets of three just past the edge far more
    # often than a normal one would; a shift that matters stands further out, or fires on the
    # window test.
    "persist_level": Param(
        float, 1.15, 1.0, 100.0, "half-widths away at which a bucket counts for persistence"
    ),
    "fine_severe": Param(
        float, 0.2, 0.0, 2.0,
        "how severe grows at finer steps and shrinks at coarser ones: severe x (steps per 15 "
        "min) ^ this; at finer steps the window's bar and a sudden move's size grow the same way",
    ),
    "fine_persist": Param(
        float, 1.0, 0.0, 1.0, "persist_k, persist_m x (steps per 15 min) ^ this, finer steps"
    ),
}


USUAL_WINDOW = 96  # points over which a non-count series' usual size is taken
# A small count's windows past `window` (`window_small`) need this many times the relative
# shift the usual ones do (`Rule._small_only`).
SMALL_REL = 2.0
# A count's window each of whose buckets fell by more than DROP_RELIEF_FROM of what it
# expected needs less volume (`drop_relief`), scaled as a fall of DROP_RELIEF over the whole
# volume: a slice of 15 events a bucket at 0 all day never alerted, since 16 buckets of it
# expect 240 events, under the 400 asked.
DROP_RELIEF_FROM = 0.6
DROP_RELIEF = 0.4
# ... and only a window of at least this many buckets: where a bursty count's band reaches 0,
# two or three low buckets in a row score sqrt(n) combined half-widths, and are common.
DROP_RELIEF_BUCKETS = 6
# Half-widths from which a bucket of a sparse band (a mostly-zero series' weekly excursion,
# no standard deviation) counts for persistence, whatever `persist_level` asks of the others.
SPARSE_PERSIST_LEVEL = 1.0
# What the range rests on (a detector's `basis` column), as the verdict's reason says it.
# What a reason adds for a band following the level accepted in the chat (detectors.accept).
ACCEPTED_WORDS = ", re-based to the level accepted in the chat as the new normal"
BASIS_WORDS = {
    "weekly": "range from previous days, shaped to this weekday by previous weeks",
    "daily": "range from the same time on previous days",
    "daily-short": "range from the same time on the few days of history there are",
    "recent": "range from the last hours only (less than a day of history)",
}


def shift_reason(way: str, n: int, outside: int) -> str:
    """The reason of a bucket inside its band that fires on the sustained-shift test: the last
    `n` buckets together are off to `way`. When some of them were outside the band (`outside`),
    it says so: right after an incident the shift may be theirs, the bucket itself back."""
    why = (
        f"{outside} of them outside the band"
        if outside
        else "a sustained shift no single bucket shows"
    )
    return f"{way} expected for the last {n} buckets together ({why})"


def jump_words(ratio: float) -> str:
    """Why a bucket just outside fired at once: it got there in a move `ratio` times the
    largest of the last USUAL_WINDOW buckets."""
    return f"a sudden move, {ratio:.1f}x the largest of the last {USUAL_WINDOW} buckets"


def shift_words(n: int) -> str:
    """Why a bucket just outside fired without persistence, severity or a sudden move: it and
    the ones before it add up to a sustained shift over `n` buckets."""
    return f"a sustained shift over the last {n} buckets"


def falls(dev: np.ndarray, expected: np.ndarray) -> np.ndarray:
    """Per bucket, the share of its expected value it fell by, at most all of it (0 where it
    did not fall, or either is unknown): what `drop_relief` reads, the least of them over a
    window. At most 1: a value below zero (no count's) or -inf is no clearer a fall than 0."""
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        fall = np.where((dev < 0) & (expected > 0), np.minimum(-dev / expected, 1.0), 0.0)
    return np.nan_to_num(fall, nan=0.0)


def drop_relief(least_fall: np.ndarray, n: int) -> np.ndarray | float:
    """The share of its volume guard (`window_min_expected`) a count's window of `n` buckets
    needs, by the least share any of them fell by: beyond DROP_RELIEF_FROM (60%), (DROP_RELIEF /
    that) squared, from 0.44 down to 0.16 where every bucket is 0 (64 events of the 400); 1
    otherwise. A shift's size in Poisson noise grows with the fall times the square root of
    the volume, so a fall to zero over 64 events is as clear as a 40% one over 400; and the
    guard stands against a small count's forecast running 20-25% off for hours, which
    explains no fall of most of it, bucket after bucket. Only over DROP_RELIEF_BUCKETS (6)
    and more: a count of 20 to 200 a bucket made of a few users' bursts (a slice's views) has
    a band reaching 0, and two low buckets in a row of it are common (with the relief from 2
    buckets, such series alerted 2 to 4 times as often). Every bucket, not the window's sum:
    a bursty small count (a country's views at night: 7, 54, 16, 6 against some 50) falls by
    most of its sum with one bucket near the usual. From 60%, not 40%: a small count's night
    forecast on a day after a holiday runs 50-70% high for an hour. Not for a rise, which has
    no such bound: a small count's bursts (a bot, one heavy user) are ordinary."""
    if n < DROP_RELIEF_BUCKETS:
        return 1.0
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(least_fall > DROP_RELIEF_FROM, (DROP_RELIEF / least_fall) ** 2, 1.0)


def _column(band: pd.DataFrame, name: str) -> np.ndarray | None:
    """A band's optional float column (a detector may not give it)."""
    return band[name].to_numpy(dtype="float64") if name in band.columns else None


def _at_start(per_bucket: np.ndarray, n: int) -> np.ndarray:
    """Per bucket, `per_bucket` at the first bucket of the window of `n` ending there (the
    bucket's own where fewer than n buckets exist: no such window is complete)."""
    if n <= 1 or per_bucket.size == 0:
        return per_bucket
    shift = min(n - 1, per_bucket.size)
    return np.concatenate([per_bucket[:shift], per_bucket[: per_bucket.size - shift]])


def _scales(index: pd.Index) -> tuple[float, float]:
    """Steps per 15 minutes and quarter-hours per step of a time index, each at least 1 (1 and
    1 where it has no step to tell)."""
    if not isinstance(index, pd.DatetimeIndex) or len(index) < 2:
        return 1.0, 1.0
    try:
        step = infer_step(index).total_seconds()
    except ValueError:
        return 1.0, 1.0
    if step <= 0:
        return 1.0, 1.0
    return max(REFERENCE_STEP / step, 1.0), max(step / REFERENCE_STEP, 1.0)


def fineness(index: pd.Index) -> float:
    """Steps per 15 minutes (1 at 15 minutes and for coarser steps)."""
    return _scales(index)[0]


def amount(x: float) -> str:
    """A non-negative number as a reason writes it: thousands grouped, about three significant
    digits, never in exponent form."""
    if not np.isfinite(x) or x == 0:
        return "0"
    places = int(min(max(2 - np.floor(np.log10(abs(x))), 0), 9))
    return f"{x:,.{places}f}"


def effect_words(change: float, size: float, min_rel: float, min_abs: float) -> str:
    """How small a change below the minimum effect was, for its reason: against the absolute
    guard where that is the larger, else as a share of what relative changes are measured by
    (`size`: the level, or its relative_cap)."""
    if min_abs >= min_rel * size or not size > 0:
        return f" ({amount(change)}, less than {amount(min_abs)})"
    return f" ({change / size:.1%} of {amount(size)}, less than {min_rel * 100:g}%)"


def _is_counts(values: np.ndarray) -> bool:
    """Whole non-negative numbers: events, whose volume guards are in events."""
    finite = values[np.isfinite(values)]
    return (
        finite.size > 0 and bool(np.all(finite >= 0)) and bool(np.all(finite == np.round(finite)))
    )


def _up_scores(dev: np.ndarray, half_up: np.ndarray) -> np.ndarray:
    """Per bucket, its deviation in upper half-widths where it is above its expected value; 0
    where it is not, or the half-width is not positive. Noise above the expected value runs
    further than below it, so a rise the window test takes must show in one of its buckets
    (`window_up_peak`)."""
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        return np.where((half_up > 0) & (dev > 0), dev / half_up, 0.0)


def _side_half(
    dev: np.ndarray, expected: np.ndarray, lower: np.ndarray, upper: np.ndarray
) -> np.ndarray:
    """Per bucket, the half-width the window test sums (`dev`: value less expected). A rise
    reads the upper side: bursts of traffic last several buckets, so a sum of them runs as far
    up as the buckets' noise does (the detector's `skew`). A drop reads the narrower side: a
    wider lower side mostly comes from drops in the history (outages, past incidents), and the
    test for a sustained drop must not be dulled by the last one. A count's lower bound held at
    0 is a side like any other (the narrower one where the value cannot fall further); a side
    that is missing or unbounded leaves no width, as an upper side below the expected value
    leaves the lower one alone."""
    above, below = upper - expected, expected - lower
    with np.errstate(invalid="ignore"):
        narrower = np.where(above >= 0, np.minimum(above, below), below)
        drop = np.where(np.isfinite(below), narrower, np.nan)
    return np.where(dev >= 0, above, drop)


def _run_length(flags: np.ndarray) -> np.ndarray:
    """Per point, how many points in a row up to and including it are True."""
    idx = np.arange(flags.size)
    last_false = np.maximum.accumulate(np.where(flags, -1, idx))
    return np.where(flags, idx - last_false, 0)


def _trailing_median(values: np.ndarray, window: int) -> np.ndarray:
    """Median of the finite values among the last `window` points up to each one."""
    rolled = pd.Series(values).rolling(window, min_periods=1).median()
    return rolled.to_numpy(dtype="float64")


class Rule:
    """Parameters validated in the constructor, like a detector's."""

    PARAMS = RULE_PARAMS

    def __init__(self, counts: str = "auto", **params: Any) -> None:
        """`counts`: whether the series counts events, for its "no data" alert (the detector's
        setting of that name, which the checker fills in from the metric's kind): "yes", "no",
        or "auto" (decided from its known values). Only a count alerts on a missing bucket."""
        values = validate("rule", self.PARAMS, params)
        if counts not in ("auto", "yes", "no"):
            raise ValueError(f"rule: counts must be one of auto, yes, no, got {counts!r}")
        self.counts = counts
        self.direction = Direction(values["direction"])
        self.persist_k: int = values["persist_k"]
        self.persist_m: int = values["persist_m"]
        self.severe: float = values["severe"]
        self.min_rel_change: float = values["min_rel_change"]
        self.min_abs_change: float = values["min_abs_change"]
        self.missing_min_expected: float = values["missing_min_expected"]
        self.window: int = values["window"]
        self.window_score: float = values["window_score"]
        self.window_pair_up: float = values["window_pair_up"]
        self.window_up_peak: float = values["window_up_peak"]
        self.window_confirm_up: int = values["window_confirm_up"]
        self.window_confirm_down: int = values["window_confirm_down"]
        self.window_min_rel: float = values["window_min_rel"]
        self.window_first_week: float = values["window_first_week"]
        self.window_min_expected: float = values["window_min_expected"]
        self.window_min_share: float = values["window_min_share"]
        self.window_small: int = values["window_small"]
        self.fine_severe: float = values["fine_severe"]
        self.fine_persist: float = values["fine_persist"]
        self.persist_level: float = values["persist_level"]
        self.autocorr_max: float = values["autocorr_max"]
        self.autocorr_se: float = values["autocorr_se"]
        self.jump: float = values["jump"]
        if self.persist_k > self.persist_m:
            raise ValueError(
                f"rule: persist_k must be <= persist_m ({self.persist_m}), got {self.persist_k}"
            )

    @classmethod
    def from_spec(cls, spec: Mapping[str, Any]) -> Rule:
        """The rule part of a spec (keys the rule knows); other keys belong to the detector."""
        return cls(counts=str(spec.get("counts", "auto")),
                   **{k: v for k, v in spec.items() if k in cls.PARAMS})  # fmt: skip

    def evaluate(self, series: pd.Series, band: pd.DataFrame) -> pd.DataFrame:
        """Per bucket: score, outside (in a direction that matters), missing, firing."""
        # NaN, inf and values near the float limits are data here, as in the matrix path.
        with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
            return self._evaluate(series, band)

    def _evaluate(  # noqa: PLR0915 - the rule's steps in order, as the matrix verdicts have them
        self, series: pd.Series, band: pd.DataFrame
    ) -> pd.DataFrame:
        value = series.to_numpy(dtype="float64")
        expected = band["expected"].to_numpy(dtype="float64")
        lower = band["lower"].to_numpy(dtype="float64")
        upper = band["upper"].to_numpy(dtype="float64")
        with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
            half = np.where(value >= expected, upper - expected, expected - lower)
            score = half_widths(value - expected, half)
            below = value < lower
            above = value > upper
            if self.direction is Direction.DOWN:
                above = np.zeros_like(above)
            elif self.direction is Direction.UP:
                below = np.zeros_like(below)
            outside = below | above
            change = np.abs(value - expected)
            # What a relative change is a share of: the level, or the band's relative_cap
            # where that is smaller (a level far from zero next to its own span).
            size = relative_to(expected, _column(band, "relative_cap"))
            big = (change >= self.min_abs_change) & (change >= self.min_rel_change * size)
        known = np.isfinite(value) & np.isfinite(expected)
        outside &= known
        fine, coarse = _scales(series.index)
        # A bucket counts towards persistence when it is clearly outside: real errors often
        # follow one another and hover just past the edge of the band for a while without
        # anything happening. Errors correlated by rho (lag 1) wander sqrt(1 + 2 rho) times
        # as far over a run as independent ones: a run counts from that far out.
        same_time = _column(band, "autocorr")
        day = self._day_autocorrelation(value, expected, lower, upper)
        rho = self._joined(day, same_time)
        # At a finer step the same noise stays outside for more steps in a row: persistence
        # is measured in time (by default 2 of 3 quarter-hours' worth of steps).
        persist_k, persist_m = self._persistence(fine)
        sparse = np.array(
            [isinstance(b, str) and b.endswith("sparse") for b in band["basis"]],
            dtype=bool,
        ) if "basis" in band.columns else np.zeros(value.size, dtype=bool)  # fmt: skip
        ends = np.arange(1, outside.size + 1)

        def run_of(level: float) -> np.ndarray:
            """Per bucket, how many of the last persist_m were `level` (x the correlation's
            sqrt(1 + 2 rho)) half-widths out or further (every bucket outside: level 0)."""
            far = outside
            if level > 0:
                far = outside & (np.abs(np.nan_to_num(score)) >= level * np.sqrt(1 + 2 * rho))
            flags = np.concatenate([[0.0], np.cumsum(far.astype(float))])
            return flags[ends] - flags[np.maximum(ends - persist_m, 0)]

        level = self.persist_level if persist_k > 1 else 0.0  # a run, not every bucket outside
        recent = run_of(level)
        if level > SPARSE_PERSIST_LEVEL and sparse.any():
            # A sparse band's edge is the excursion it makes about once a week, not a number
            # of standard deviations: a bucket past it counts, whatever the margin the others
            # need (the judged bucket's band says which).
            recent = np.where(sparse, run_of(SPARSE_PERSIST_LEVEL), recent)
        persistent = recent >= persist_k
        severe = np.abs(np.nan_to_num(score)) >= self.severe_bar(fine, coarse)
        # A bucket that left the band in one move far larger than the series' moves of the
        # last day is a break, not a drift: it fires at once, as a severe one does.
        jump = np.where(outside & big, self._jumps(np.where(known, score, np.nan)), 0.0)
        firing = outside & big & (persistent | severe)
        counts = _is_counts(value)
        fresh = _column(band, "first_week")  # the series' first week (`first_week`)
        window = self._window_score(
            value,
            expected,
            lower,
            upper,
            counts=counts,
            threshold=self.window_score * fine**self.fine_severe,
            correlation=(day, same_time),
            size=size,
            rel=None if fresh is None else self.window_rel_at(np.nan_to_num(fresh) > 0, fine),
        )
        if window is None:
            window = np.zeros(value.size, dtype=int)
        # A band set by a mostly-zero series' daily excursion is no standard deviation: a few
        # blips in a row add up to nothing unusual there, and bursts are what it does.
        window = np.where(sparse, 0, window)
        jump = self._fine_jumps(np.where(sparse, 0.0, jump), score, (value, expected, size),
                                outside & big & ~sparse, fine)  # fmt: skip
        window = self._confirmed(window, outside, value > expected)
        firing |= (window > 0) | (jump > 0)
        missing = ~np.isfinite(value) & np.isfinite(expected)
        # The volume that makes a gap an outage is in events: a mean, a ratio or a latency
        # says nothing of volume (a table's counts carry its "no data"), and a gap in such a
        # record is no verdict.
        events = bool(self.counts_events(counts or not np.isfinite(value).any()))
        if self.missing_min_expected > 0 and self.direction is not Direction.UP and events:
            missing &= expected >= self.missing_min_expected
            # At a fine step one absent point is a collector's hiccup, not an outage: data
            # must be missing for as long as one 15-minute bucket.
            missing &= _run_length(~np.isfinite(value)) >= round(fine)
        else:
            missing &= False
        return pd.DataFrame(
            {
                "score": np.where(known, score, np.nan),
                "outside": outside,
                "missing": missing,
                "firing": firing | missing,
                "window": window,  # buckets of the sustained shift that fired (0: none)
                # How many times the largest move of the last USUAL_WINDOW buckets this
                # bucket's move out of the band was, where that made it fire (0: it did not).
                "jump": jump,
            },
            index=series.index,
        )

    def _window_score(
        self,
        value: np.ndarray,
        expected: np.ndarray,
        lower: np.ndarray,
        upper: np.ndarray,
        *,
        counts: bool = True,
        threshold: float | None = None,
        correlation: tuple[np.ndarray, np.ndarray | None],
        size: np.ndarray | None = None,
        rel: np.ndarray | None = None,
    ) -> np.ndarray | None:
        """Per bucket, the shortest window (2 .. `window` buckets) ending there whose summed
        deviation is outside the window's own band, sqrt(sum of half-widths squared), the
        half-width of a sum of independent buckets; 0 where none is. Every bucket of the window
        must be known and lean the same way as the sum, and the sum must pass the effect
        guards. Testing every length lets a clear shift fire after 2 buckets while a moderate
        one still adds up over 4. The volume guard is in events for counts, and relative to
        the series' usual size for anything else (a ratio, a mean). `correlation`: the last
        day's correlation of the errors and the band's at the same time of day (`_joined`'s
        two parts). `size`: what the relative guard reads (`relative_to`; |expected| if
        None). `rel`: per bucket, the smallest relative shift (`window_rel_at`; the usual
        one if None)."""
        if self.window < 2:
            return None
        if rel is None:
            rel = np.full(value.size, self._window_rel())
        usual = None
        if not counts:
            usual = _trailing_median(np.abs(expected), USUAL_WINDOW)
        day, same_time = correlation
        length = np.zeros(value.size, dtype=int)
        limit = self.window_score if threshold is None else threshold
        with np.errstate(invalid="ignore", over="ignore"):  # inf and 1e308 as data
            dev = value - expected
            half2 = _side_half(dev, expected, lower, upper) ** 2  # the same for every length
        up = _up_scores(dev, upper - expected)
        peak = up.copy()  # per bucket, the highest of `up` over it and the n - 1 before it
        fall = falls(dev, expected)
        least = fall.copy()  # and the least share it and those fell by (`drop_relief`)
        # A window longer than the series never completes (and has no buckets to compare).
        # A small count's windows go on past `window`, up to `window_small`, where the longest
        # usual one expects too few events to be judged (`_small_only`).
        small = self._small_only(expected) if counts else None
        for n in range(2, min(self.longest_window(counts), value.size) + 1):
            peak[n - 1 :] = np.maximum(peak[n - 1 :], up[: up.size - n + 1])
            least[n - 1 :] = np.minimum(least[n - 1 :], fall[: fall.size - n + 1])
            # Errors that lean the same way bucket after bucket (real data's often do) add up
            # faster than independent ones: the window's own band widens by that much. By
            # the last day's correlation as it stood where the window starts: a shift that
            # stays just inside the band leans the same way bucket after bucket too, and would
            # otherwise testify to its own correlation and widen its own band. (The band's,
            # from the same time on earlier days, is the window's last bucket's.)
            lags = np.arange(1, n)
            rho = self._joined(_at_start(day, n), same_time)
            inflation = 1 + 2 * np.sum((1 - lags / n) * rho[:, None] ** lags, axis=1)
            fires = self._window_fires(
                n,
                dev,
                half2,
                expected,
                usual=usual,
                inflation=inflation,
                threshold=limit,
                up_threshold=self.pair_up_threshold(limit) if n == 2 else None,
                up_peak=peak,
                least_fall=least,
                size=size,
                rel=rel,
            )
            if n > self.window and small is not None:
                # Twice the relative shift the usual windows need: a small count's forecast
                # runs 20-25% off for hours at night or on a quiet weekend, and a longer
                # window sums that up into a shift; a halving is 50%.
                relative = _rolling_sum(np.abs(expected) if size is None else size, n)
                with np.errstate(invalid="ignore"):
                    bar = np.maximum(SMALL_REL * self._window_rel(), rel)
                    far = np.abs(_rolling_sum(dev, n)) >= bar * relative
                fires &= small & far
            length = np.where(fires & (length == 0), n, length)
        return length

    def _window_rel(self) -> float:
        """The smallest relative shift the sustained-shift test fires on."""
        return max(self.min_rel_change, self.window_min_rel)

    def window_rel_at(self, fresh: np.ndarray, fine: float) -> np.ndarray:
        """Per bucket, the smallest relative shift the sustained-shift test fires on: more in
        a series' first week (`fresh`, `first_week`), at 15 minutes and coarser. There each day
        is forecast from other weekdays, and a weekend's level sums up over a window into a
        shift hour after hour; at a finer step the cost on the real KPIs' first week was their
        labelled shifts of 10-30%, with no bucket outside the band (measured)."""
        usual = self._window_rel()
        if fine > 1 or self.window_first_week <= usual:
            return np.full(np.shape(fresh), usual)
        return np.where(fresh, self.window_first_week, usual)

    def longest_window(self, counts: bool) -> int:
        """The longest window the sustained-shift test reads: `window`, or for counts
        `window_small` where that is longer (0 where the test is off)."""
        if self.window < 2:
            return 0
        return max(self.window, self.window_small) if counts else self.window

    def _small_only(self, expected: np.ndarray) -> np.ndarray:
        """Per bucket, whether the `window` buckets ending there expect fewer events than
        `window_min_expected` (all of them known): a count too small for the usual windows'
        volume guard, whose longer windows (up to `window_small`) are then tested. Where the
        usual windows could be judged, the longer ones are not: on larger counts they add
        false alerts (windows of 8 doubled the demo's) and catch little the short ones miss.
        A count of 60 events a bucket halved for 12 hours was never alerted: a bucket of 30
        stays inside a band of +-25, and 4 buckets expect 240 events, under the 400 asked."""
        with np.errstate(invalid="ignore"):
            return _rolling_sum(np.abs(expected), self.window) < self.window_min_expected

    def pair_up_threshold(self, threshold: float) -> float:
        """What a rise over the shortest window (2 buckets) needs, where the other windows
        need `threshold` (window_score, scaled to the step): `window_pair_up` scaled alike, and
        never less. Noise above the expected value runs further than noise below it (counts
        and traffic are right-skewed: on the real KPIs, of pairs of unlabelled buckets past
        window_score, 2.6 rises to each drop), and a sum of 2 buckets keeps most of one
        bucket's skew, where a sum of 4 averages half of it away."""
        return threshold * max(1.0, self.window_pair_up / self.window_score)

    def _confirmed(self, window: np.ndarray, outside: np.ndarray, up: np.ndarray) -> np.ndarray:
        """`window` with the shifts that do not count yet set to 0. A sustained shift none of
        whose buckets is outside the band is the weakest evidence the rule takes (on real and
        synthetic series most such lone shifts were noise): it counts once it has fired at
        `window_confirm_up` (a rise, `up`) or `window_confirm_down` buckets in a row, or where
        it carries straight on from a shift with a bucket outside. (The bucket before a run of
        such shifts is inside the run's first window, so it was not outside: persistence,
        severity and a jump, which need it outside, cannot have fired there.) Consecutive
        shifts lean the same way: each holds the other's bucket."""
        if max(self.window_confirm_up, self.window_confirm_down) <= 1:
            return window
        seen = np.concatenate([[0], np.cumsum(outside)])
        ends = np.arange(1, window.size + 1)
        shown = seen[ends] - seen[np.maximum(ends - np.maximum(window, 1), 0)] > 0
        inside = (window > 0) & ~shown
        run = _run_length(inside)
        before = np.arange(window.size) - run  # the bucket before each run of inside shifts
        led = (before >= 0) & ((window > 0) & shown)[np.maximum(before, 0)]
        needed = np.where(up, self.window_confirm_up, self.window_confirm_down)
        return np.where(inside & (run < needed) & ~led, 0, window)

    def verdict_rows(self, fine: float) -> int:
        """How many buckets, the last one included, the last bucket's verdict reads at a step
        `fine` times finer than 15 minutes: its persistence, its longest window and the
        USUAL_WINDOW pairs of buckets of moves and correlation before them (the correlation
        where the longest window starts needs the bucket before its first pair too: one
        more), the buckets before it that a shift inside the band is confirmed by, and at a
        fine step the sudden moves of the quarter-hour before it with their own USUAL_WINDOW
        of moves (`_fine_jumps`). The matrix verdicts read as many: what is judged over the
        tail (whether it is a count, the errors' correlation) is judged over the same
        buckets."""
        rows = max(self._persistence(fine)[1], self.longest_window(True), round(fine), 1)
        rows += USUAL_WINDOW + 1
        return rows + max(self._confirm_reach(), self._jump_reach(fine))

    def _jump_reach(self, fine: float) -> int:
        """How many buckets after a sudden move a bucket outside it confirms (`_fine_jumps`):
        round(steps per 15 minutes) at a finer step (a quarter-hour at 1 and 5 minutes, 20
        minutes at 10), 0 where that is 1 bucket (the move fires at once or not at all)."""
        reach = round(fine)
        return reach if reach > 1 and self.jump > 0 else 0

    def _confirm_reach(self) -> int:
        """How many buckets before the last one its verdict may read (`_confirmed`)."""
        return max(self.window_confirm_up, self.window_confirm_down) - 1

    def _jumps(self, score: np.ndarray) -> np.ndarray:
        """Per bucket, how many times the largest move of the score (deviation in half-widths)
        from one bucket to the next over the last USUAL_WINDOW buckets its own move was, where
        that is at least `jump`, the move went the way the score now stands and started inside
        the band; 0 elsewhere.
        A band wide enough for a day's slow drifts holds a sudden break of a few half-widths;
        its size against the day's moves does not."""
        out = np.zeros(score.size)
        if self.jump <= 0 or score.size < 3:
            return out
        # An overflowing score (a huge deviation over a tiny half-width) is no scale of moves.
        score = np.where(np.isfinite(score), score, np.nan)
        with np.errstate(invalid="ignore", over="ignore"):
            move = np.concatenate([[np.nan], np.diff(score)])
        move = np.where(np.isfinite(move), move, np.nan)
        before = pd.Series(np.abs(move)).shift(1)
        largest = before.rolling(USUAL_WINDOW, min_periods=USUAL_WINDOW // 4).max()
        largest = largest.to_numpy(dtype="float64")
        inside = np.abs(np.concatenate([[np.nan], score[:-1]])) <= 1
        with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
            # From inside the band, and a series that did not move at all for a day has no
            # scale to measure a move by.
            jumped = (np.abs(move) >= self.jump * largest) & (np.sign(move) == np.sign(score))
            jumped &= (largest > 0) & inside
            ratio = np.where(largest > 0, np.minimum(np.abs(move) / largest, 1e6), 0.0)
        return np.where(np.nan_to_num(jumped, nan=0).astype(bool), ratio, 0.0)

    def fires_at_once(
        self, value: np.ndarray, expected: np.ndarray, size: np.ndarray | None, fine: float
    ) -> np.ndarray:
        """Per bucket, whether a sudden move to `value` is large enough to fire at once at a
        step `fine` times finer than 15 minutes: |value - expected| / size at least
        `min_rel_change` grown as `severe` grows (x fine ^ `fine_severe`; 17% at 1 minute,
        12.5% at 5); any change where the size is 0. `size`: what a relative change is a
        share of (`relative_to`; |expected| if None)."""
        change = np.abs(value - expected)
        size = np.abs(expected) if size is None else size
        with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
            rel = np.where(size != 0, change / size, np.inf)
            return rel >= self.min_rel_change * fine**self.fine_severe

    def _fine_jumps(
        self, jump: np.ndarray, score: np.ndarray,
        moved_to: tuple[np.ndarray, np.ndarray, np.ndarray], eligible: np.ndarray, fine: float,
    ) -> np.ndarray:  # fmt: skip
        """`jump` as it fires at a step finer than 15 minutes (as it is at 15 minutes and
        coarser). A lone point of a 1-minute series breaks away by a few half-widths now and
        then and is back the next minute: a sudden move not large enough to fire at once
        (`fires_at_once`, of `moved_to`: value, expected and size) fires only once the series is
        outside again on the same side (`eligible`: outside, past the effect guards) within
        the quarter-hour after it
        (`_jump_reach` buckets), and that bucket carries the move's ratio. A larger move fires
        at once, as at 15 minutes; either confirms the buckets after it. Where the step rounds
        to a quarter-hour (12 minutes and coarser) the moves are as they are."""
        reach = self._jump_reach(fine)
        if reach == 0:
            return jump
        now = np.where(self.fires_at_once(*moved_to, fine), jump, 0.0)
        way = np.sign(np.nan_to_num(score))
        for side in (1.0, -1.0):
            moved = pd.Series(np.where((jump > 0) & (way == side), jump, 0.0))
            # The largest move this way over the `reach` buckets before each bucket.
            since = moved.shift(1).rolling(reach, min_periods=1).max().fillna(0.0).to_numpy()
            now = np.where((now == 0) & eligible & (way == side), since, now)
        return now

    def severe_bar(self, fine: float, coarse: float = 1.0) -> float:
        """The score at which one bucket fires at once: `severe` x (steps per 15 minutes) ^
        `fine_severe`, higher at finer steps, where there are more buckets to cross it by
        chance, and lower at coarser ones (`coarse` quarter-hours a bucket: 1.74 at 30
        minutes, 1.52 by the hour and at any coarser step, COARSEST), where a bucket holds
        several quarter-hours of a move."""
        return float(self.severe * max(fine / coarse, 1 / COARSEST) ** self.fine_severe)

    def _persistence(self, fine: float) -> tuple[int, int]:
        """persist_k of persist_m at this step: at finer steps more of a longer window."""
        grow = fine**self.fine_persist
        persist_m = max(round(self.persist_m * grow), 1)
        return min(max(round(self.persist_k * grow), 1), persist_m), persist_m

    def _day_autocorrelation(
        self, value: np.ndarray, expected: np.ndarray, lower: np.ndarray, upper: np.ndarray
    ) -> np.ndarray:
        """Per bucket, how much each bucket's deviation resembled the one before it over the
        last day: the lag-1 correlation of the scores over the last USUAL_WINDOW buckets,
        before this one, only pairs inside the band (so an incident does not set it), less
        `autocorr_se` standard errors, between 0 and autocorr_max (0 everywhere where the
        rule takes none)."""
        if self.autocorr_max <= 0:
            return np.zeros(value.size)
        with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
            half = np.where(value >= expected, upper - expected, expected - lower)
            score = np.where(half > 0, (value - expected) / half, np.nan)
        # Only pairs of buckets both inside the band: an incident's run of outside buckets is
        # what the test is for, and must not count as "this series always drifts".
        x, y = score[1:], score[:-1]
        ok = np.isfinite(x) & np.isfinite(y) & (np.abs(x) <= 1) & (np.abs(y) <= 1)
        x, y = np.where(ok, x, 0.0), np.where(ok, y, 0.0)
        w = USUAL_WINDOW

        def trailing(a: np.ndarray) -> np.ndarray:
            total = np.concatenate([[0.0], np.cumsum(a)])
            ends = np.arange(1, a.size + 1)
            return total[ends] - total[np.maximum(ends - w, 0)]

        n = trailing(ok.astype(float))
        sx, sy, sxy = trailing(x), trailing(y), trailing(x * y)
        sxx, syy = trailing(x * x), trailing(y * y)
        with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
            cov = sxy / n - (sx / n) * (sy / n)
            var = np.sqrt((sxx / n - (sx / n) ** 2) * (syy / n - (sy / n) ** 2))
            rho = np.where((n >= w // 4) & (var > 0), cov / var, 0.0)
            # Only what sampling noise cannot explain (`autocorr_se` standard errors of a
            # correlation from that many pairs): on independent errors the estimate alone
            # wobbles by 0.1 over USUAL_WINDOW (96) buckets.
            rho = rho - self.autocorr_se / np.sqrt(np.maximum(n, 1))
        # rho[i] uses pairs up to (score[i + 1], score[i]): for bucket t, pairs before it.
        causal = np.concatenate([[0.0, 0.0], rho[:-1]])[: value.size]
        return np.clip(np.nan_to_num(causal, nan=0.0, posinf=0.0, neginf=0.0), 0.0,
                       self.autocorr_max)  # fmt: skip

    def _joined(self, day: np.ndarray, same_time: np.ndarray | None) -> np.ndarray:
        """Per bucket, the errors' lag-1 correlation the rule allows for: the last day's
        (`_day_autocorrelation`), or where larger the band's `same_time` (the same at this
        time of day on previous days: a day's own level that steps at midnight leaves its
        first buckets one error), between 0 and autocorr_max (0 where the rule takes none)."""
        if self.autocorr_max <= 0:
            return np.zeros(day.size)
        if same_time is None:
            return day
        return np.clip(np.fmax(day, same_time), 0.0, self.autocorr_max)

    def _window_fires(
        self, n: int, dev: np.ndarray, half2: np.ndarray, expected: np.ndarray,
        *, usual: np.ndarray | None = None,
        inflation: np.ndarray | None = None, threshold: float,
        up_threshold: float | None = None, up_peak: np.ndarray | None = None,
        size: np.ndarray | None = None, least_fall: np.ndarray | None = None,
        rel: float | np.ndarray | None = None,
    ) -> np.ndarray:  # fmt: skip
        with np.errstate(invalid="ignore", over="ignore"):  # inf and 1e308 as data
            total = _rolling_sum(dev, n)
            spread = np.sqrt(_rolling_sum(half2, n))
        if inflation is not None:
            spread = spread * np.sqrt(inflation)
        base = _rolling_sum(np.abs(expected), n)
        same = np.abs(_rolling_sum(np.sign(dev), n)) == n
        with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
            z = np.where(spread > 0, total / spread, 0.0)
            fires = (np.abs(z) >= threshold) & same
            if up_threshold is not None and up_threshold > threshold:
                fires &= (total < 0) | (np.abs(z) >= up_threshold)
            if up_peak is not None and self.window_up_peak > 0:
                fires &= (total < 0) | (up_peak >= self.window_up_peak)
            # The effect guard reads `size` (the level, or the band's relative_cap where
            # smaller); the volume guards below read the level itself.
            relative = base if size is None else _rolling_sum(size, n)
            fires &= np.abs(total) >= np.maximum(
                (self._window_rel() if rel is None else rel) * relative,
                self.min_abs_change * n,
            )
            if usual is None:
                # The volume is stated for the longest window; a shorter one needs less, by
                # the square root of its share: a 2-bucket spike on 200 events a bucket (283
                # needed) is a clearer event than 4 x 100, yet 2 x 100 stays too small to judge.
                share = n / max(self.window, n)
                relief = 1.0 if least_fall is None else drop_relief(least_fall, n)
                fires &= base >= self.window_min_expected * np.sqrt(share) * relief
            else:
                fires &= base >= self.window_min_share * n * usual
        if self.direction is Direction.DOWN:
            fires &= total < 0
        elif self.direction is Direction.UP:
            fires &= total > 0
        return np.nan_to_num(fires, nan=0).astype(bool)

    def counts_events(self, by_values: bool | np.ndarray) -> np.ndarray:
        """Whether a missing bucket of the series (per series for an array) is an outage of
        events: as `counts` is set, or (auto) as its known values say (`by_values`); the
        checker always sets it from the metric's kind. With auto, rows with no known value at
        all may be counts: a count's outage longer than the rows a verdict reads keeps
        alerting."""
        by = np.asarray(by_values, dtype=bool)
        return by if self.counts == "auto" else np.full(by.shape, self.counts == "yes")

    def verdict(self, series: pd.Series, band: pd.DataFrame) -> Verdict:
        """The last bucket's verdict under this rule (only the rows its windows need)."""
        if series.empty:
            raise ValueError("cannot judge an empty series: pass at least its last bucket")
        series = series.astype("float64")  # a nullable column's NA, an object's None: NaN
        tail = self.verdict_rows(fineness(series.index[-USUAL_WINDOW:]))
        table = self.evaluate(series.iloc[-tail:], band.iloc[-tail:])
        row = table.iloc[-1]
        value = float(series.iloc[-1])
        exp, lo, hi = (float(band[c].iloc[-1]) for c in ("expected", "lower", "upper"))

        def num(x: float) -> float | None:
            return None if not np.isfinite(x) else x

        cap = _column(band, "relative_cap")
        size = float(relative_to(np.array([exp]), None if cap is None else cap[-1:])[0])
        status, reason = self._explain(table, value, exp, lo, hi, size=size)
        basis = band["basis"].iloc[-1] if "basis" in band.columns else None
        if isinstance(basis, str) and np.isfinite(exp):
            reason = f"{reason}; {BASIS_WORDS.get(basis.split(',')[0], basis)}"
            if ", accepted" in basis:
                reason += ACCEPTED_WORDS
            if basis.endswith("rebased"):
                reason += ", re-based after a lasting level change"
        score = num(float(row["score"]))
        return Verdict(status, series.index[-1], num(value), num(exp), num(lo), num(hi),
                       score if np.isfinite(value) else None, reason)  # fmt: skip

    def _explain(
        self, table: pd.DataFrame, value: float, exp: float, lo: float, hi: float, *, size: float
    ) -> tuple[Status, str]:
        """Status and reason of the last row of an evaluated table, in words (`size`: what a
        relative change is a share of)."""
        row = table.iloc[-1]
        if bool(row["missing"]):
            return Status.ANOMALY, f"no data, while about {exp:,.0f} was expected"
        if not np.isfinite(value):
            return Status.UNKNOWN, "no data for this bucket"
        if not np.isfinite(exp):
            return Status.UNKNOWN, "too little history for an expected range"
        side = "below" if value < lo else "above" if value > hi else None
        if bool(row["firing"]):
            if side is None:
                n = int(row["window"])
                return Status.ANOMALY, shift_reason(
                    "below" if value < exp else "above", n, int(table["outside"].iloc[-n:].sum())
                )
            fine, coarse = _scales(table.index)
            persist_k, persist_m = self._persistence(fine)
            recent = int(table["outside"].iloc[-persist_m:].sum())
            severe = abs(float(row["score"])) >= self.severe_bar(fine, coarse)
            if recent >= persist_k:
                why = f"{recent} of the last {persist_m} buckets outside"
            elif float(row["jump"]) > 0 and not severe:
                why = jump_words(float(row["jump"]))
            elif int(row["window"]) > 0 and not severe:
                why = shift_words(int(row["window"]))
            else:
                why = size_words(float(row["score"]))
            return Status.ANOMALY, f"{side} the expected range ({why})"
        if side is None:
            return Status.OK, "inside the band"
        if not bool(row["outside"]):
            return Status.OK, f"{side} the band, but only {self.direction.value} moves alert"
        change = abs(value - exp)
        if change < max(self.min_abs_change, self.min_rel_change * size):
            words = effect_words(change, size, self.min_rel_change, self.min_abs_change)
            return Status.OK, f"{side} the band, but the change is below the minimum effect{words}"
        persist_k, persist_m = self._persistence(fineness(table.index))
        return Status.OK, f"{side} the band for 1 bucket; waiting for {persist_k} of {persist_m}"
