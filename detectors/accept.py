"""A level accepted as the new normal.

A release or a new market moves a metric's baseline for good. The detector re-bases by itself
once the change has held for half of `rebase_hours` (12 hours by default); until then every
check alerts. When someone says in the chat that the new level is expected, the band follows
it from the bucket the change began: from then on each bucket is judged against the level of
the buckets before it (at least LEAST of them, at most `window`), so the metric stops alerting
at once, and a further move on top of the new level still alerts.

The shift is measured as the detector measures its own re-base: as a factor for a series that
never goes below zero, else as an offset, the median over the buckets since the change. Each
side of the band keeps its width. A count expected at 0 (a quiet night) has no factor and
stays; buckets the detector has re-based by itself are already at the new level and neither
move nor count (else the change would be applied twice). Works on (series x buckets) arrays, for the
per-series and the matrix paths alike: only buckets with a band are looked at.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np

from detectors.base import never_negative

__all__ = ["ACCEPTED", "LEAST", "accept_level", "accepted_basis"]

ACCEPTED = "accepted"  # noted in the basis, after its first part: "daily, accepted, rebased"
LEAST = 2  # buckets at the new level before the band follows it


def _rebased(basis: object) -> bool:
    return isinstance(basis, str) and "rebased" in basis.split(", ")


def accepted_basis(basis: object) -> object:
    """`basis` noted as following an accepted level (None, no band, stays None)."""
    if not isinstance(basis, str) or not basis:
        return basis
    head, *rest = basis.split(", ")
    if ACCEPTED in rest:
        return basis
    return ", ".join([head, ACCEPTED, *rest])


def accept_level(  # noqa: PLR0917 - the series and its band's columns, as verdicts() takes them
    values: np.ndarray,
    expected: np.ndarray,
    lower: np.ndarray,
    upper: np.ndarray,
    basis: np.ndarray | None,
    start: int,
    *,
    window: int,
    least: int = LEAST,
    counts: str = "auto",
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray | None]:
    """The band of each row moved to the level its values held from column `start` on.

    Column j >= start + least is judged against the median of the buckets in
    [max(start, j - window), j) (never j itself); the columns before it, from `start`, against
    the level of [start, start + least) they set together. A row with fewer than `least` known
    buckets there keeps its band at j. Nothing moves unless the last column comes after those
    first `least` (it is never judged against a level measured on itself). `start` may be
    below 0: the change began before the first column, and columns before 0 count as unknown.
    `counts` is the detector's setting (auto: whole values never below zero): the rows whose
    lower bound the detector holds at 0 keep it there. A ratio's or a mean's is the band's own
    width, which the rule judges by, even where it ends below 0 once moved (the check shows
    the range from 0: `detectors.floored`). Returns new arrays; the inputs are not changed."""
    value = np.asarray(values, dtype="float64")
    exp, lo, hi = (np.array(a, dtype="float64", copy=True) for a in (expected, lower, upper))
    named = None if basis is None else np.array(basis, dtype=object, copy=True)
    shapes = [a.shape for a in (exp, lo, hi) + (() if named is None else (named,))]
    if value.ndim != 2 or any(shape != value.shape for shape in shapes):
        raise ValueError(f"arrays must be (series, buckets) alike, got {value.shape}, {shapes}")
    n = value.shape[1]
    least = max(int(least), 1)
    window = max(int(window), least)
    # The last column is never judged against a level measured on itself.
    if start + least > n - 1 or value.shape[0] == 0:
        return exp, lo, hi, named
    orig_exp = np.asarray(expected, dtype="float64")
    measure, own, nonneg, floored = _measures(value, orig_exp, lo, named, counts)
    half = np.asarray(upper, dtype="float64") - orig_exp
    below = orig_exp - np.asarray(lower, dtype="float64")
    # Each side keeps its own width; a count's lower bound held at 0 hides its side's width, and
    # the upper side's stands in for it.
    below = np.where(floored[:, None] & (below >= orig_exp), half, below)
    sized = np.isfinite(half) & np.isfinite(below)
    for j in range(max(start, 0), n):
        # The first `least` buckets at the new level are past: they take the level they set
        # together, so the rule's look back over them sees the accepted level too.
        span = slice(max(start, j - window, 0), max(j, start + least, 0))
        known = np.isfinite(measure[:, span]).sum(axis=1) >= least
        if not known.any():
            continue
        e = orig_exp[:, j]
        with _quiet():
            shift = np.nanmedian(measure[:, span], axis=1)
        moved = np.where(nonneg, np.where(e > 0, e * shift, np.nan), e + shift)
        go = known & ~own[:, j] & np.isfinite(moved) & np.isfinite(e) & sized[:, j]
        if not go.any():
            continue
        exp[go, j] = moved[go]
        hi[go, j] = moved[go] + half[go, j]
        low = moved[go] - below[go, j]
        lo[go, j] = np.where(floored[go], np.maximum(low, 0.0), low)
        if named is not None:
            for i in np.flatnonzero(go):
                named[i, j] = accepted_basis(named[i, j])
    return exp, lo, hi, named


def _measures(
    value: np.ndarray, orig_exp: np.ndarray, lo: np.ndarray, named: np.ndarray | None,
    counts: str,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:  # fmt: skip
    """Per bucket, what the shift is measured in (a ratio, or an offset for a row that goes
    below zero), NaN where it does not count; which buckets the detector re-based by itself;
    per row, whether it never goes below zero, and whether the detector holds its band's lower
    bound at 0 (a count, by `counts`)."""
    # Only where there is a band: the rows' history before it says nothing here.
    banded = np.isfinite(orig_exp) & np.isfinite(value)
    # A factor for a row that never goes below zero (counts, shares), else an offset.
    nonneg = np.all(np.where(banded, value, 0.0) >= 0, axis=1)
    # A count's lower bound is held at 0 by the detector, and still is once moved (auto: whole
    # values never below zero, as the detector decides it).
    whole = np.all(np.where(np.isfinite(value), value == np.round(value), True), axis=1)
    held = {"yes": np.ones_like(nonneg), "no": np.zeros_like(nonneg)}.get(
        counts, never_negative(value) & whole
    )
    floored = held & np.all(np.where(banded & np.isfinite(lo), lo, 0.0) >= 0, axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        # A count expected at 0 has no factor (a night at 0 stays at 0): it does not move.
        measure = np.where(nonneg[:, None], np.where(orig_exp > 0, value / orig_exp, np.nan),
                           value - orig_exp)  # fmt: skip
    # Where the detector re-based by itself its expected value is at the new level already:
    # moving it again would count the change twice. Those buckets neither move nor measure.
    own = np.zeros(value.shape, dtype=bool)
    if named is not None:
        own = np.vectorize(_rebased, otypes=[bool])(named) if named.size else own
    measure[own] = np.nan
    return measure, own, nonneg, floored


@contextmanager
def _quiet() -> Iterator[None]:
    """Silences numpy's warning for an all-NaN median (the row then simply does not move)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        yield
