"""Adversarial checks of the matrix path (BandEngine, matrix verdicts, the checker's engines)
against the per-series reference: SeasonalDetector.band + Rule.verdict, detect(engines=None)."""

from __future__ import annotations

import threading
from datetime import timedelta

import numpy as np
import pandas as pd
import pytest

import detectors
from bot.service.checker import detect, run_check
from bot.service.engines import BAND_ROWS, Engines, engines_of
from bot.service.history import History
from detectors.engine import BandEngine
from detectors.seasonal import SeasonalDetector
from queries.catalogue import load_catalogue
from queries.series import Slice
from tests.conftest import END, SourceSpec
from tests.test_engine import _daily, _index

# Adversarial and slower: CI runs them (bash .ci/run); README's quick command does not.
pytestmark = pytest.mark.slow

ROWS = BAND_ROWS
DAY = 96
N = DAY * 28
CATALOGUE = load_catalogue()
DELAY = timedelta(minutes=2)


def _mismatch(det: SeasonalDetector, out, i: int, values, index, *, last=None) -> list:
    ref = det.band(pd.Series(values, index=index), last=last).iloc[-ROWS:]
    bad: list = []
    for col in ("expected", "lower", "upper", "autocorr"):
        mine, theirs = getattr(out, col)[i], ref[col].to_numpy()
        same = np.isclose(mine, theirs, rtol=1e-9, atol=1e-12, equal_nan=True)
        if not same.all():
            bad.append((col, int((~same).sum())))
    if list(out.basis[i]) != list(ref["basis"]):
        bad.append("basis")
    return bad


# ---- the engine against detector.band -------------------------------------------------------


def test_adversarial_values_fed_step_by_step_equal_the_reference() -> None:
    """NaN tails, inf, 1e30, negative, all-zero, constant, fractional, a 100-bucket hole and
    sparse 0/1 series, batch then five steady calls, give the reference's bands (counts auto)."""
    v = _daily(N, DAY, 1)
    rows = {
        "nan_tail": np.where(np.arange(N) >= N - 50, np.nan, v),
        "inf": v.copy(),
        "huge": v * 1e30,
        "neg": -v,
        "zero": np.zeros(N),
        "const": np.full(N, 7.0),
        "frac": v / 3,
        "gap": np.where((np.arange(N) >= N - 400) & (np.arange(N) < N - 300), np.nan, v),
        "sparse": np.where(np.random.default_rng(3).random(N) < 0.05, 1.0, 0.0),
    }
    rows["inf"][N - 20], rows["inf"][N - 300] = np.inf, -np.inf
    keys = list(rows)
    values = np.array([rows[k] for k in keys])
    det = SeasonalDetector()
    engine = BandEngine(det, ROWS)
    index = _index(N)
    engine.bands(index[: N - 5], values[:, : N - 5], keys)
    for end in range(N - 4, N + 1):
        out = engine.bands(index[:end], values[:, :end], keys)
    for i, key in enumerate(keys):
        assert _mismatch(det, out, i, values[i], index) == [], key


@pytest.mark.parametrize("back", [1, 10])
def test_a_late_value_a_few_buckets_back_is_recomputed(back: int) -> None:
    """A re-sent bucket 1 or 10 back (inside REDO) gives the reference's band over all values."""
    det = SeasonalDetector(counts="yes")
    v = _daily(N + 1, DAY, 1)
    index = _index(N + 1)
    engine = BandEngine(det, ROWS)
    engine.bands(index[:N], v[None, :N], ["a"])
    v[N - back] += 300
    out = engine.bands(index[1 : N + 1], v[None, 1 : N + 1], ["a"])
    assert _mismatch(det, out, 0, v, index) == []


def test_a_late_value_40_buckets_back_restarts_on_the_window() -> None:
    """A change between REDO and 2 x REDO back restarts the key: the reference over the window."""
    det = SeasonalDetector(counts="yes")
    v = _daily(N + 1, DAY, 1)
    index = _index(N + 1)
    engine = BandEngine(det, ROWS)
    engine.bands(index[:N], v[None, :N], ["a"])
    v[N - 40] += 300
    out = engine.bands(index[1 : N + 1], v[None, 1 : N + 1], ["a"])
    assert _mismatch(det, out, 0, v[1:], index[1:]) == []


@pytest.mark.parametrize("bad", [10.5, -4.0])
def test_a_late_fix_of_a_fractional_or_negative_value_flips_the_series_back(bad: float) -> None:
    """A late row replacing the only non-count value (10.5 or -4) gives the reference's band:
    the series is counts again (lower edge clipped at 0), as detector.band sees it."""
    det = SeasonalDetector()
    v = _daily(N + 1, DAY, 1)
    index = _index(N + 1)
    broken = v.copy()
    broken[N - 3] = bad
    engine = BandEngine(det, ROWS)
    engine.bands(index[:N], broken[None, :N], ["a"])
    out = engine.bands(index[1 : N + 1], v[None, 1 : N + 1], ["a"])
    assert not (_mismatch(det, out, 0, v, index) and _mismatch(det, out, 0, v[1:], index[1:]))


def test_index_going_back_and_a_repeated_call_give_the_window_reference() -> None:
    """A call for an earlier time after a later one restarts on its window; the same call again
    gives the same bands."""
    det = SeasonalDetector(counts="yes")
    v = _daily(N + 100, DAY, 1)
    index = _index(N + 100)
    engine = BandEngine(det, ROWS)
    engine.bands(index[100:], v[None, 100:], ["a"])
    out = engine.bands(index[50 : N + 50], v[None, 50 : N + 50], ["a"])
    assert _mismatch(det, out, 0, v[50 : N + 50], index[50 : N + 50]) == []
    again = engine.bands(index[50 : N + 50], v[None, 50 : N + 50], ["a"])
    for col in ("expected", "lower", "upper"):
        np.testing.assert_array_equal(getattr(again, col), getattr(out, col))


@pytest.mark.parametrize(("step", "per_day"), [("5min", 288), ("1h", 24)])
def test_five_minute_and_hourly_steps_equal_the_reference(step: str, per_day: int) -> None:
    """At 5-minute and 1-hour steps a batch and steady calls 3 buckets apart match the reference."""
    m = per_day * 28
    index = _index(m + 30, step)
    values = np.array([_daily(m + 30, per_day, s) for s in range(4)])
    values[2] /= 7
    det = SeasonalDetector()
    engine = BandEngine(det, ROWS)
    engine.bands(index[:m], values[:, :m], list(range(4)))
    for end in range(m + 1, m + 30, 3):
        out = engine.bands(index[end - m : end], values[:, end - m : end], list(range(4)))
    for i in range(4):
        assert _mismatch(det, out, i, values[i, :end], index[:end]) == [], i


def _shifted_noisy(seed: int) -> np.ndarray:
    """Counts with a level change 200..120 buckets back and noise over the last 150."""
    rng = np.random.default_rng(5)
    for s in range(seed + 1):
        v = _daily(N, DAY, s)
        v[N - 200 : N - 120] *= rng.uniform(0.3, 2.0)
        v[N - 150 :] += rng.normal(0, 30, 150)
    return np.round(np.abs(v))


def test_a_cold_engine_gives_the_per_series_paths_band() -> None:
    """On a first check the engine's band equals what detect(engines=None) computes per series,
    detector.band(series, last=BAND_ROWS), for a series with a level shift and a noisy stretch."""
    det = SeasonalDetector(counts="yes")
    v, index = _shifted_noisy(4), _index(N)
    out = BandEngine(det, ROWS).bands(index, v[None], ["a"])
    assert _mismatch(det, out, 0, v, index, last=ROWS) == []


def test_ratios_with_zero_denominators_equal_the_reference() -> None:
    """Ratios whose denominators are 0 for hours (value NaN or inf there), fed step by step with
    their weights, give the reference's bands with the same weights."""
    rng = np.random.default_rng(7)
    den = np.array([_daily(N, DAY, s, 50.0) for s in range(4)])
    den[1, N - 300 : N - 200] = 0
    den[2, N - 10 :] = 0
    den[3, ::5] = 0
    num = rng.binomial(den.astype(int), 0.2).astype(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = num / den
    ratio[2, N - 10 :] = np.inf
    det = SeasonalDetector(counts="no")
    index = _index(N)
    engine = BandEngine(det, ROWS)
    engine.bands(index[: N - 3], ratio[:, : N - 3], list(range(4)), den[:, : N - 3])
    for end in range(N - 2, N + 1):
        out = engine.bands(index[:end], ratio[:, :end], list(range(4)), den[:, :end])
    for i in range(4):
        ref = det.band(pd.Series(ratio[i], index=index),
                       weight=pd.Series(den[i], index=index)).iloc[-ROWS:]  # fmt: skip
        for col in ("expected", "lower", "upper", "autocorr"):
            np.testing.assert_allclose(getattr(out, col)[i], ref[col], rtol=1e-9, atol=1e-12)
        assert list(out.basis[i]) == list(ref["basis"])


def test_keys_that_vanish_reappear_and_reorder_among_hundreds() -> None:
    """300 series: a third leave (forgotten) and come back two calls later, in shuffled order;
    the ones that stayed equal the reference on all values, the returning ones on the window."""
    s, m = 300, DAY * 15
    rng = np.random.default_rng(11)
    values = np.array([_daily(m + 3, DAY, int(x), float(rng.uniform(5, 500))) for x in range(s)])
    index = _index(m + 3)
    det = SeasonalDetector(counts="yes", days=7, weeks=0)
    engine = BandEngine(det, ROWS)
    keys = [f"k{i}" for i in range(s)]
    engine.bands(index[:m], values[:, :m], keys)
    stay = list(range(100, s))
    for end in (m + 1, m + 2):
        engine.bands(index[end - m : end], values[stay, end - m : end], [keys[i] for i in stay])
        engine.forget([keys[i] for i in stay])
    order = rng.permutation(s)
    end = m + 3
    out = engine.bands(index[end - m : end], values[order, end - m : end],
                       [keys[i] for i in order])  # fmt: skip
    for row, i in enumerate(order[::10]):
        at = int(np.flatnonzero(order == i)[0])
        lo = 0 if i >= 100 else end - m
        assert _mismatch(det, out, at, values[i, lo:end], index[lo:end]) == [], (row, i)


# ---- the checker: detect(engines=...) against detect(engines=None) ---------------------------


def _same_results(got, ref) -> None:
    assert [(r.metric.name, r.slice) for r in got] == [(r.metric.name, r.slice) for r in ref]
    for mine, theirs in zip(got, ref, strict=True):
        assert mine.verdict == theirs.verdict, (mine.metric.name, mine.slice)


async def test_an_iqr_metric_falls_back_and_threads_share_engines(
    embedded_spec: SourceSpec,
) -> None:
    """With views on iqr (/set), the engine path judges it per series; two threads judging
    views and likes through one Engines both give the per-series verdicts."""
    source = embedded_spec.open()
    try:
        history = History(source, CATALOGUE, None)
        await run_check(history, END, delay=DELAY, metrics=["views", "likes"])
        table = CATALOGUE.tables["feed_actions"]
        held = await history.held_slices(table)
        assert held is not None
        sliced, window = held
        metrics = [CATALOGUE.metric("views"), CATALOGUE.metric("likes")]
        overrides = {"views": {"method": "iqr"}}
        ref = detect(pd.DataFrame(), window, table, metrics, CATALOGUE.step, sliced=sliced,
                     overrides=overrides)  # fmt: skip
        engines = Engines()
        got = detect(pd.DataFrame(), window, table, metrics, CATALOGUE.step, sliced=sliced,
                     overrides=overrides, engines=engines)  # fmt: skip
        _same_results(got, ref)
        assert ("feed_actions", "views") not in engines._engines
        plain = detect(pd.DataFrame(), window, table, metrics, CATALOGUE.step, sliced=sliced)
        shared = engines_of(history)
        found: list = [None, None]

        def judge(i: int) -> None:
            found[i] = detect(pd.DataFrame(), window, table, metrics, CATALOGUE.step,
                              sliced=sliced, engines=shared)  # fmt: skip

        threads = [threading.Thread(target=judge, args=(i,)) for i in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        for results in found:
            _same_results(results, plain)
    finally:
        await source.close()


async def test_checks_going_back_repeating_and_switching_spec_judge_like_per_series(
    embedded_spec: SourceSpec,
) -> None:
    """Checks of views at END, then END - 1 h (the index goes back), then again at END - 1 h
    with k=1 (/set): each judges as detect(engines=None) on its own window."""
    source = embedded_spec.open()
    try:
        history = History(source, CATALOGUE, None)
        table, views = CATALOGUE.tables["feed_actions"], CATALOGUE.metric("views")
        back = END - timedelta(hours=1)
        plan = [(END, None), (back, None), (back, {"views": {"k": 1.0}})]
        for now, overrides in plan:
            report = await run_check(history, now, delay=DELAY, metrics=["views"],
                                     overrides=overrides)  # fmt: skip
            frame, window, _ = await history.frame(table, now, DELAY)
            ref = detect(frame, window, table, [views], CATALOGUE.step, overrides=overrides)
            _same_results(report.results, ref)
    finally:
        await source.close()


def test_a_check_computes_every_band_row_the_default_rule_reads() -> None:
    """The rows of band a check computes cover what the default rule's verdict reads at 15
    minutes (a small count's windows of up to 16 buckets included): none of them is NaN for
    want of a band, as none is in a backtest's evaluation of the whole series."""
    assert detectors.build_rule(detectors.DEFAULT_SPEC).verdict_rows(1.0) <= BAND_ROWS


def test_a_one_minute_metric_s_check_computes_every_band_row_its_rule_reads() -> None:
    """At a 1-minute step the rule's verdict reads more rows than at 15 (the sudden moves of
    the quarter-hour before the bucket, each with its own window of moves): the engine's
    check computes all of them, and its verdicts and bands are the per-series path's over the
    same rows, a break in the last minutes included."""
    metric, table = CATALOGUE.metric("views"), CATALOGUE.tables["feed_actions"]
    spec = {**detectors.DEFAULT_SPEC, "counts": "yes"}
    detector, rule = detectors.build(spec), detectors.build_rule(spec)
    per_day = 1440
    n = per_day * 9
    index = _index(n, "1min")
    reads = rule.verdict_rows(15.0)
    assert reads > BAND_ROWS  # what makes this test: 157 rows at 1 minute against 120
    values = np.array([_daily(n, per_day, seed, scale=scale)
                       for seed, scale in ((1, 40.0), (2, 400.0))])  # fmt: skip
    values[1, -20:-12] *= 0.3  # a break a quarter-hour back: its window reads 157 rows
    wheres = [Slice("os", "iOS"), Slice("os", "Android")]
    series = [pd.Series(v, index=index) for v in values]

    got = Engines().judge(table, metric, spec=spec, detector=detector, rule=rule, index=index,
                          values=values, weights=None, wheres=wheres,
                          series_of=lambda where: series[wheres.index(where)])  # fmt: skip
    for where, one, result in zip(wheres, series, got, strict=True):
        assert not np.isnan(result.band["expected"].to_numpy()[-reads:]).any(), where
        band = detector.band(one)
        assert result.verdict == detectors.floored(rule.verdict(one, band)), where
        np.testing.assert_allclose(result.band["expected"].to_numpy()[-reads:],
                                   band["expected"].to_numpy()[-reads:], rtol=1e-9)  # fmt: skip
