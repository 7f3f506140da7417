"""The rule's verdict for the last bucket of many series at once: (series x buckets) matrices.

`verdicts()` returns what `Rule.verdict` returns for each row, computed over the whole stack in
numpy. Sums are taken in the same order as the rule takes them (running sums from the start of
the same tail), so every guard decides exactly as the reference does, not merely nearly.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from detectors.base import Direction, Status, Verdict
from detectors.rule import BASIS_WORDS, USUAL_WINDOW, Rule, _fineness

__all__ = ["verdicts"]

# Branches of Rule._explain, in its order.
_MISSING, _NO_DATA, _NO_HISTORY, _SHIFT, _FIRING, _INSIDE, _DIRECTION, _SMALL, _WAITING = range(9)


def _prefix_sums(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per row, the running sum with non-finite values as 0 (as `rule._rolling_sum` adds them
    up) and whether each value is non-finite."""
    bad = ~np.isfinite(values)
    return np.cumsum(np.where(bad, 0.0, values), axis=1), bad


def _last_sum(sums: np.ndarray, bad: np.ndarray, n: int) -> np.ndarray:
    """Per row, the sum of the last n values as `_rolling_sum` gives it: NaN on any hole."""
    width = sums.shape[1]
    total = sums[:, -1] - (sums[:, width - n - 1] if width > n else 0.0)
    return np.where(bad[:, width - n :].any(axis=1), np.nan, total)


def _median_of_finite(values: np.ndarray) -> np.ndarray:
    """Per row, the median of the non-NaN values (NaN when there are none), as pandas'
    rolling median takes it."""
    ordered = np.sort(values, axis=1)  # NaN last
    count = (~np.isnan(values)).sum(axis=1)
    rows = np.arange(values.shape[0])
    low = ordered[rows, np.maximum((count - 1) // 2, 0)]
    high = ordered[rows, np.maximum(count // 2, 0)]
    with np.errstate(invalid="ignore"):
        middle = np.where(count % 2 == 1, low, (low + high) / 2)
    return np.where(count > 0, middle, np.nan)


def _autocorrelation(rule: Rule, value: np.ndarray, expected: np.ndarray, lower: np.ndarray,
                     upper: np.ndarray, columns: np.ndarray) -> np.ndarray:  # fmt: skip
    """`Rule._autocorrelation` at the given columns of the tail, for every row: (S x columns)."""
    rows, width = value.shape
    out = np.zeros((rows, columns.size))
    if rule.autocorr_max <= 0 or width < 3:
        return out
    with np.errstate(invalid="ignore", divide="ignore"):
        half = np.where(value >= expected, upper - expected, expected - lower)
        score = np.where(half > 0, (value - expected) / half, np.nan)
    # The pair ending at bucket t is (score[t], score[t-1]); bucket t uses the pairs before it,
    # so the last pair is never needed.
    x, y = score[:, 1:-1], score[:, :-2]
    ok = np.isfinite(x) & np.isfinite(y) & (np.abs(x) <= 1) & (np.abs(y) <= 1)
    x, y = np.where(ok, x, 0.0), np.where(ok, y, 0.0)
    w = USUAL_WINDOW
    use = columns >= 2
    ends = columns[use] - 1  # trailing sums over pairs ends - w .. ends - 1
    starts = np.maximum(ends - w, 0)

    def trailing(a: np.ndarray) -> np.ndarray:
        total = np.concatenate([np.zeros((rows, 1)), np.cumsum(a, axis=1)], axis=1)
        return total[:, ends] - total[:, starts]

    n = trailing(ok.astype(float))
    sx, sy, sxy = trailing(x), trailing(y), trailing(x * y)
    sxx, syy = trailing(x * x), trailing(y * y)
    with np.errstate(invalid="ignore", divide="ignore"):
        cov = sxy / n - (sx / n) * (sy / n)
        var = np.sqrt((sxx / n - (sx / n) ** 2) * (syy / n - (sy / n) ** 2))
        rho = np.where((n >= w // 4) & (var > 0), cov / var, 0.0)
        rho = rho - 3 / np.sqrt(np.maximum(n, 1))
    out[:, use] = rho
    return np.clip(np.nan_to_num(out, nan=0.0, posinf=0.0, neginf=0.0), 0.0, rule.autocorr_max)


def _window_lengths(
    rule: Rule,
    value: np.ndarray,
    expected: np.ndarray,
    lower: np.ndarray,
    upper: np.ndarray,
    *,
    fine: float,
    rho: np.ndarray,
) -> np.ndarray:
    """Per row, `Rule._window_score` at the last bucket: the shortest window that fires, 0 if
    none. `rho` is each row's autocorrelation at the last bucket."""
    rows, width = value.shape
    length = np.zeros(rows, dtype=int)
    longest = min(rule.window, width)
    if rule.window < 2 or longest < 2:
        return length
    finite = np.isfinite(value)
    counts = finite.any(axis=1) & np.all(
        ~finite | ((value >= 0) & (value == np.round(value))), axis=1
    )
    threshold = rule.window_score * fine**rule.fine_severe
    dev = value - expected
    dev_sums, dev_bad = _prefix_sums(dev)
    spread_sums, spread_bad = _prefix_sums(((upper - lower) / 2) ** 2)
    base_sums, base_bad = _prefix_sums(np.abs(expected))
    sign_sums, sign_bad = _prefix_sums(np.sign(dev))
    rel = max(rule.min_rel_change, rule.window_min_rel)
    candidates: list[tuple[int, np.ndarray, np.ndarray]] = []
    with np.errstate(invalid="ignore", divide="ignore"):
        for n in range(2, longest + 1):
            lags = np.arange(1, n)
            inflation = 1 + 2 * np.sum((1 - lags / n) * rho[:, None] ** lags, axis=1)
            total = _last_sum(dev_sums, dev_bad, n)
            spread = np.sqrt(_last_sum(spread_sums, spread_bad, n))
            spread = spread * np.sqrt(inflation)
            base = _last_sum(base_sums, base_bad, n)
            same = np.abs(_last_sum(sign_sums, sign_bad, n)) == n
            z = np.where(spread > 0, total / spread, 0.0)
            fires = (np.abs(z) >= threshold) & same
            fires &= np.abs(total) >= np.maximum(rel * base, rule.min_abs_change * n)
            if rule.direction is Direction.DOWN:
                fires &= total < 0
            elif rule.direction is Direction.UP:
                fires &= total > 0
            candidates.append((n, fires, base))
    # The volume guard of a non-count row needs its usual size: a median, taken only for the
    # rows that pass everything else.
    usual = np.full(rows, np.nan)
    need = ~counts & np.logical_or.reduce([fires for _, fires, _ in candidates])
    if need.any():
        recent = np.abs(expected[need, -USUAL_WINDOW:])
        usual[need] = _median_of_finite(recent)
    with np.errstate(invalid="ignore"):
        for n, fires, base in candidates:
            share = n / max(rule.window, n)
            volume = np.where(
                counts,
                base >= rule.window_min_expected * np.sqrt(share),
                base >= rule.window_min_share * n * usual,
            )
            length = np.where(fires & volume & (length == 0), n, length)
    return length


def verdicts(
    rule: Rule,
    index: pd.DatetimeIndex,
    values: np.ndarray,
    expected: np.ndarray,
    lower: np.ndarray,
    upper: np.ndarray,
    basis: np.ndarray | None = None,
) -> list[Verdict]:
    """Per row i, `rule.verdict(series_i, band_i)` for the series `values[i]` on `index` and
    the band `expected[i]`, `lower[i]`, `upper[i]` (and `basis[i]` when given).

    All arrays are (series x buckets), float64 with NaN for missing (basis: object, str or
    None); `index` is regular. Only the tail the rule looks at is used.
    """
    value = np.asarray(values, dtype="float64")
    if value.ndim != 2 or value.shape[1] != len(index) or value.shape[1] == 0:
        raise ValueError(f"values must be (series, {len(index)} buckets), got {value.shape}")
    arrays = [np.asarray(a, dtype="float64") for a in (expected, lower, upper)]
    for name, array in zip(("expected", "lower", "upper"), arrays, strict=True):
        if array.shape != value.shape:
            raise ValueError(f"{name} must have the shape of values {value.shape}, got "
                             f"{array.shape}")  # fmt: skip
    if basis is not None and np.shape(basis) != value.shape:
        raise ValueError(f"basis must have the shape of values {value.shape}, got "
                         f"{np.shape(basis)}")  # fmt: skip
    rows = value.shape[0]
    if rows == 0:
        return []
    fine = _fineness(index[-USUAL_WINDOW:])
    width = min(max(rule._persistence(fine)[1], rule.window, round(fine), 1) + USUAL_WINDOW,
                value.shape[1])  # fmt: skip
    index = index[-width:]
    fine = _fineness(index)
    value = value[:, -width:]
    exp, lo, hi = (a[:, -width:] for a in arrays)
    persist_k, persist_m = rule._persistence(fine)
    recent = min(persist_m, width)

    # The last `recent` buckets: score and outside, as Rule.evaluate has them.
    v, e, low, high = (a[:, -recent:] for a in (value, exp, lo, hi))
    with np.errstate(invalid="ignore", divide="ignore"):
        half = np.where(v >= e, high - e, e - low)
        score = np.where(half > 0, (v - e) / half, 0.0)
        below = v < low
        above = v > high
    if rule.direction is Direction.DOWN:
        above = np.zeros_like(above)
    elif rule.direction is Direction.UP:
        below = np.zeros_like(below)
    known = np.isfinite(v) & np.isfinite(e)
    outside = (below | above) & known
    columns = np.arange(width - recent, width)
    need_rho = persist_k > 1 or rule.window >= 2
    rho = (
        _autocorrelation(rule, value, exp, lo, hi, columns)
        if need_rho
        else np.zeros((rows, recent))
    )
    far = outside
    if persist_k > 1:
        level = rule.persist_level * np.sqrt(1 + 2 * rho)
        far = outside & (np.abs(np.nan_to_num(score)) >= level)
    persistent = far.sum(axis=1) >= persist_k
    last_score = score[:, -1]
    severe = np.abs(np.nan_to_num(last_score)) >= rule.severe * fine**rule.fine_severe
    last_v, last_e, last_lo, last_hi = v[:, -1], e[:, -1], low[:, -1], high[:, -1]
    with np.errstate(invalid="ignore"):
        change = np.abs(last_v - last_e)
        big = (change >= rule.min_abs_change) & (change >= rule.min_rel_change * np.abs(last_e))
    firing = outside[:, -1] & big & (persistent | severe)
    window = _window_lengths(rule, value, exp, lo, hi, fine=fine, rho=rho[:, -1])
    last_basis: list[object] = [None] * rows
    if basis is not None:
        last_basis = list(np.asarray(basis, dtype=object)[:, -1])
        sparse = np.array([isinstance(b, str) and b.endswith("sparse") for b in last_basis],
                          dtype=bool)  # fmt: skip
        window = np.where(sparse, 0, window)
    firing |= window > 0
    missing = ~np.isfinite(last_v) & np.isfinite(last_e)
    if rule.missing_min_expected > 0 and rule.direction is not Direction.UP:
        with np.errstate(invalid="ignore"):
            missing &= last_e >= rule.missing_min_expected
        # At a fine step one absent point is a collector's hiccup: missing for a whole 15 min.
        missing &= _absent_for(value, round(fine))
    else:
        missing &= False
    firing |= missing

    with np.errstate(invalid="ignore"):
        side_below = last_v < last_lo
        side_above = last_v > last_hi
    has_side = side_below | side_above
    fin_v, fin_e = np.isfinite(last_v), np.isfinite(last_e)
    case = np.select(
        [
            missing,
            ~fin_v,
            ~fin_e,
            firing & ~has_side,
            firing,
            ~has_side,
            ~outside[:, -1],
        ],
        [_MISSING, _NO_DATA, _NO_HISTORY, _SHIFT, _FIRING, _INSIDE, _DIRECTION],
        default=_WAITING,
    )
    out_count = outside.sum(axis=1)
    known_last = known[:, -1]
    return _build(rule, index[-1], case.tolist(), value[:, -1].tolist(), exp[:, -1].tolist(),
                  lo[:, -1].tolist(), hi[:, -1].tolist(),
                  np.where(known_last, last_score, np.nan).tolist(), side_below.tolist(),
                  window.tolist(), out_count.tolist(), last_basis,
                  (persist_k, persist_m))  # fmt: skip


def _absent_for(value: np.ndarray, run: int) -> np.ndarray:
    """Per row, whether the last `run` buckets are all missing (none when the tail is shorter)."""
    if run > value.shape[1]:
        return np.zeros(value.shape[0], dtype=bool)
    return ~np.isfinite(value[:, value.shape[1] - run :]).any(axis=1)


def _build(
    rule: Rule,
    bucket: pd.Timestamp,
    case: list[int],
    value: list[float],
    expected: list[float],
    lower: list[float],
    upper: list[float],
    score: list[float],
    below: list[bool],
    window: list[int],
    outside: list[int],
    basis: list[object],
    persistence: tuple[int, int],
) -> list[Verdict]:
    """The Verdict objects and their reasons, worded as Rule._explain and Rule.verdict word them."""
    persist_k, persist_m = persistence
    direction = f"but only {rule.direction.value} moves alert"
    waiting = f"for 1 bucket; waiting for {persist_k} of {persist_m}"
    suffixes: dict[str, str] = {}
    found = []
    for i, kind in enumerate(case):
        x, exp = value[i], expected[i]
        status = Status.OK
        if kind == _MISSING:
            status, reason = Status.ANOMALY, f"no data, while about {exp:,.0f} was expected"
        elif kind == _NO_DATA:
            status, reason = Status.UNKNOWN, "no data for this bucket"
        elif kind == _NO_HISTORY:
            status, reason = Status.UNKNOWN, "too little history for an expected range"
        elif kind == _SHIFT:
            way = "below" if x < exp else "above"
            status, reason = Status.ANOMALY, (
                f"{way} expected for the last {window[i]} buckets together "
                "(a sustained shift no single bucket shows)"
            )
        elif kind == _INSIDE:
            reason = "inside the band"
        else:
            side = "below" if below[i] else "above"
            if kind == _FIRING:
                if outside[i] >= persist_k:
                    why = f"{outside[i]} of the last {persist_m} buckets outside"
                else:
                    why = f"{abs(score[i]):.1f}x the band's half-width"
                status, reason = Status.ANOMALY, f"{side} the expected range ({why})"
            elif kind == _DIRECTION:
                reason = f"{side} the band, {direction}"
            elif abs(x - exp) < max(rule.min_abs_change, rule.min_rel_change * abs(exp)):
                reason = f"{side} the band, but the change is below the minimum effect"
            else:
                reason = f"{side} the band {waiting}"
        finite = math.isfinite(x)
        exp_finite = math.isfinite(exp)
        named = basis[i]
        if isinstance(named, str) and exp_finite:
            suffix = suffixes.get(named)
            if suffix is None:
                suffix = f"; {BASIS_WORDS.get(named.split(',')[0], named)}"
                if named.endswith("rebased"):
                    suffix += ", re-based after a lasting level change"
                suffixes[named] = suffix
            reason += suffix
        lo, hi, s = lower[i], upper[i], score[i]
        found.append(
            Verdict(
                status,
                bucket,
                x if finite else None,
                exp if exp_finite else None,
                lo if math.isfinite(lo) else None,
                hi if math.isfinite(hi) else None,
                s if finite and math.isfinite(s) else None,
                reason,
            )
        )
    return found
