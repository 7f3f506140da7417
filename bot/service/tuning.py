"""`alertbot tune`: per metric, the settings of the band and the rule that its own history
says work best, searched one knob at a time from the settings in force.

Pure apart from the thread it runs in: a Collected history in, choices out. A band is computed
once per distinct detector spec and every rule candidate judged against it (the rule is the
cheap part of a replay)."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pandas as pd

import detectors
from bot.service.backtesting import GRACE, Backtest, Collected, Feedback
from bot.service.checker import spec_for
from detectors.backtest import Alert, Label, SeriesKey, alerts_of, score
from queries.catalogue import Kind

__all__ = ["KNOBS", "LADDERS", "SENSITIVITY", "Choice", "Outcome", "Step", "spent", "tune"]

SENSITIVITY = (2.5, 3.0, 3.25, 3.5, 4.0, 4.5, 5.0, 6.0, 8.0)

# The knobs that trade false alerts for caught incidents, in the order they are tried, and the
# values each may take (within its Param): the search walks from the current value.
LADDERS: Mapping[str, tuple[float, ...]] = {
    "k": SENSITIVITY,  # the band's half-width, in robust sd
    "severe": (1.5, 2.0, 2.5, 3.0, 4.0, 6.0),  # one bucket this far out fires at once
    "jump": (1.5, 2.0, 3.0, 5.0, 10.0),  # a bucket that got outside in one move that large
    "window_score": (1.0, 1.25, 1.5, 2.0, 3.0),  # the sustained-shift test
    "persist_level": (1.0, 1.15, 1.25, 1.5, 2.0),  # how far out a bucket counts for "2 of 3"
    "noise_max": (1.5, 2.0, 3.0, 5.0, 8.0),  # the most a noisy day widens the band
    "skew": (1.0, 1.25, 1.5, 2.0),  # the most one side of the band widens on its own errors
    "autocorr_se": (1.0, 1.5, 2.0, 3.0, 4.0),  # the errors' correlation put down to chance
    "window_up_peak": (0.0, 1.0, 1.35, 1.5, 2.0),  # how far out a rise the window takes must show
    "weekday_z": (0.0, 1.0, 2.0, 3.0, 4.0),  # the weekday's shape's pull to 1, in its own se
    "offset_spans": (2.0, 3.0, 5.0, 8.0, 20.0),  # spans a level counts as; 0 (off) is strictest
}
KNOBS = tuple(LADDERS)
ROUNDS = 2


@dataclass(frozen=True)
class Outcome:
    """One setting replayed over the metric's history: its alerts, scored."""

    alerts: int
    false: int
    false_per_week: float
    caught: tuple[str, ...]  # known (or acknowledged) incidents some alert points at
    missed: tuple[str, ...]  # the metric's incidents in the span that nothing caught
    false_alarms_again: tuple[str, ...]  # marked false in the chat, raised again
    met: bool  # false_per_week within the target


@dataclass(frozen=True)
class Step:
    """One knob changed by the search, and what the change bought."""

    knob: str
    before: Any
    after: Any
    was: Outcome
    now: Outcome


@dataclass
class Choice:
    metric: str
    current: dict[str, Any]  # the tuned knobs as they are now (catalogue over defaults)
    chosen: dict[str, Any]  # the same knobs after the search
    start: Outcome
    outcome: Outcome
    steps: list[Step]
    detector: dict[str, Any] = field(default_factory=dict)  # the catalogue's own table
    replays: int = 0
    overridden: dict[str, Any] = field(default_factory=dict)  # set with /set in the chat

    @property
    def changes(self) -> dict[str, Any]:
        """The knobs whose chosen value differs from the one in force."""
        return {k: v for k, v in self.chosen.items() if v != self.current.get(k)}

    @property
    def k(self) -> float:
        return float(self.chosen.get("k", self.current.get("k", 0.0)))

    @property
    def met(self) -> bool:
        return self.outcome.met

    def set_lines(self) -> list[str]:
        """The chat commands that apply the changes (one /set per knob)."""
        return [f"/set {self.metric} {k} {_shown(v)}" for k, v in self.changes.items()]

    def snippet(self) -> list[str]:
        """The metric's catalogue detector table with the changes, its other settings (guards,
        what /set changed) kept: pasting it over the old table loses nothing."""
        settings = {"method": "seasonal", **self.detector, **self.overridden, "k": self.k,
                    **self.changes}  # fmt: skip
        lines = [f"[metrics.{self.metric}.detector]"]
        for key, value in settings.items():
            shown = f'"{value}"' if isinstance(value, str) else _shown(value)
            lines.append(f"{key} = {shown}")
        return lines


def _shown(value: Any) -> str:
    return f"{value:g}" if isinstance(value, int | float) else str(value)


def ladder(knob: str, param: detectors.Param) -> list[float]:
    """The knob's ladder within its Param's bounds."""
    return [v for v in LADDERS[knob] if (param.low is None or v >= param.low)
            and (param.high is None or v <= param.high)]  # fmt: skip


def candidates(knob: str, current: float, param: detectors.Param
               ) -> tuple[list[float], list[float]]:  # fmt: skip
    """The ladder's values below and above `current`, nearest first, within the Param
    (`offset_spans` 0, the level as it is, stands above its ladder: the strictest)."""
    values = ladder(knob, param)
    current = float("inf") if knob == "offset_spans" and current == 0 else current
    return [v for v in reversed(values) if v < current], [v for v in values if v > current]


def better(new: Outcome, old: Outcome, keep: bool = False) -> bool:
    """Above the target: fewer false alerts (then more caught). Within it: more incidents
    caught while staying within, or the same incidents caught with fewer false alerts. `keep`:
    never at the cost of an incident caught now (what people acknowledged stays caught)."""
    if keep and not set(new.caught) >= set(old.caught):
        return False
    if not old.met:
        return new.false < old.false or (new.false == old.false
                                         and len(new.caught) > len(old.caught))  # fmt: skip
    if not new.met or len(new.caught) != len(old.caught):
        return new.met and len(new.caught) > len(old.caught)
    return set(new.caught) >= set(old.caught) and new.false < old.false


class _Replayer:
    """One metric's history, replayed under many specs; bands cached per detector spec."""

    def __init__(self, part: Collected, name: str, labels: list[Label], *, feedback: Feedback,
                 step: timedelta, target: float, keep: bool) -> None:  # fmt: skip
        self.part, self.name, self.labels, self.feedback = part, name, labels, feedback
        self.keep = keep  # an incident caught now must stay caught
        self.step, self.target = step, target
        self.weeks = (part.end - part.start) / timedelta(days=7)
        self.bands: dict[tuple[Any, ...], dict[SeriesKey, pd.DataFrame]] = {}
        self.seen: dict[tuple[Any, ...], Outcome] = {}
        self.start_ts, self.end_ts = pd.Timestamp(part.start), pd.Timestamp(part.end)
        self.relevant = [lb.id for lb in labels if name in lb.metrics and lb.start >= self.start_ts]

    def _band(self, spec: Mapping[str, Any]) -> dict[SeriesKey, pd.DataFrame]:
        own = tuple(sorted((k, str(v)) for k, v in spec.items() if k not in detectors.RULE_PARAMS))
        if own not in self.bands:
            detector = detectors.build(spec)
            self.bands[own] = {
                key: detector.band(values, weight=self.part.weight[key]
                                   if self.part.metric[key].kind is Kind.RATIO else None)
                for key, values in self.part.series.items()
            }  # fmt: skip
        return self.bands[own]

    def outcome(self, spec: Mapping[str, Any]) -> Outcome:
        seen = tuple(sorted((k, str(v)) for k, v in spec.items()))
        if seen in self.seen:
            return self.seen[seen]
        bands, rule = self._band(spec), detectors.build_rule(spec)
        alerts: dict[SeriesKey, list[Alert]] = {}
        for key, values in self.part.series.items():
            table = rule.evaluate(values, bands[key])
            window = (table.index >= self.start_ts) & (table.index < self.end_ts)
            alerts[key] = alerts_of(key, table["firing"][window], table["score"][window])
        scored = score(alerts, self.labels, start=self.start_ts, end=self.end_ts,
                       step=self.step, grace=GRACE)  # fmt: skip
        result = Backtest(alerts, scored, self.labels, self.part.start, self.part.end,
                          len(alerts), self.feedback)  # fmt: skip
        caught = sorted({lid for group in alerts.values() for a in group
                         if (lid := result.explained_by(a))})  # fmt: skip
        rate = scored.false_alerts / self.weeks if self.weeks else 0.0
        self.seen[seen] = Outcome(
            scored.alerts, scored.false_alerts, rate, tuple(caught),
            tuple(i for i in self.relevant if i not in caught),
            tuple(result.false_alarms_again), rate <= self.target,
        )  # fmt: skip
        return self.seen[seen]


def _most_sensitive_k(replayer: _Replayer, spec: dict[str, Any], now: Outcome,
                      param: detectors.Param) -> tuple[float, Outcome]:  # fmt: skip
    """Without known incidents: the smallest k within the target that keeps every incident
    acknowledged and caught now (the budget spent on sensitivity), else the one with the
    fewest false alerts that keeps them."""
    best: tuple[float, Outcome] | None = None
    for k in ladder("k", param):
        got = replayer.outcome({**spec, "k": k})
        if not set(got.caught) >= set(now.caught):
            continue
        if got.met:
            return k, got
        if best is None or got.false < best[1].false:
            best = (k, got)
    return best or (float(spec.get("k", param.default)), now)


def _walk(replayer: _Replayer, spec: dict[str, Any], knob: str, side: list[float],
          now: Outcome) -> tuple[float | None, Outcome]:  # fmt: skip
    """Along one side of the ladder, nearest first, while values are no worse; the best seen
    (None: nothing better than `now`). A rule knob may cross two equal values (its replays
    reuse the band, so they are cheap), a band knob one."""
    patience = 2 if knob in detectors.RULE_PARAMS else 1
    pick, best, idle = None, now, 0
    for candidate in side:
        tried = replayer.outcome({**spec, knob: candidate})
        if better(tried, best, replayer.keep):
            pick, best, idle = candidate, tried, 0
        elif better(best, tried) or (idle := idle + 1) >= patience:
            break
    return pick, best


def _line(replayer: _Replayer, spec: dict[str, Any], knob: str, value: float,
          now: Outcome) -> tuple[float, Outcome]:  # fmt: skip
    """The best value on either side of `value` (the lower, more sensitive, side on a tie)."""
    below, above = candidates(knob, value, detectors.params_of(spec)[knob])
    low, low_got = _walk(replayer, spec, knob, below, now)
    high, high_got = _walk(replayer, spec, knob, above, now)
    if high is not None and (low is None or better(high_got, low_got, replayer.keep)):
        return high, high_got
    return (low, low_got) if low is not None else (value, now)


def search(replayer: _Replayer, spec: dict[str, Any], *, labelled: bool) -> tuple[
        dict[str, Any], Outcome, list[Step]]:  # fmt: skip
    """Coordinate descent from `spec`: each knob in turn moves along its ladder while that is
    better (see `better`), for at most ROUNDS passes; returns the spec, its outcome, steps."""
    params = detectors.params_of(spec)
    knobs = [k for k in KNOBS if k in params and params[k].type in (int, float)]
    now = replayer.outcome(spec)
    steps: list[Step] = []
    for _ in range(ROUNDS):
        moved = False
        for knob in knobs:
            value = float(spec.get(knob, params[knob].default))
            if knob == "k" and not labelled:
                pick, got = _most_sensitive_k(replayer, spec, now, params[knob])
                if pick == value or (got == now and pick > value):
                    continue
            else:
                pick, got = _line(replayer, spec, knob, value, now)
                if pick == value:
                    continue
            steps.append(Step(knob, value, pick, now, got))
            spec, now, moved = {**spec, knob: pick}, got, True
        if not moved:
            break
    return spec, now, steps


async def tune(
    collected: Collected,
    labels: list[Label] | None,
    step: timedelta,
    *,
    target_per_week: float,
    feedback: Feedback | None = None,
    overrides: Mapping[str, Mapping[str, Any]] | None = None,
) -> list[Choice]:
    """Per metric, the band's and the rule's knobs (KNOBS) searched from the settings in force
    (the catalogue's, with what /set changed in the chat: `overrides` per metric).

    With labels, a change is kept when it catches more known incidents within the target, or
    the same with fewer false alerts; above the target, when it cuts false alerts, first
    without losing a caught incident and, only if the target is still out of reach, at that
    cost. Without, alerts on incidents acknowledged in the chat are
    true and every other alert counts as false: k takes the most sensitive value within the
    target (as before), the other knobs move only to cut false alerts without losing an
    acknowledged incident. False alarms marked in the chat are reported when raised again."""
    feedback = feedback or Feedback([], [])
    known = labels if labels is not None else feedback.confirmed
    choices = []
    for name in dict.fromkeys(m.name for m in collected.metric.values()):
        keys = [k for k in collected.series if k.metric == name]
        part = Collected(
            {k: collected.series[k] for k in keys}, {k: collected.weight[k] for k in keys},
            {k: collected.metric[k] for k in keys}, collected.start_of(collected.metric[keys[0]]),
            collected.end,
        )  # fmt: skip
        metric = collected.metric[keys[0]]
        spec = spec_for(metric, (overrides or {}).get(name))
        params = detectors.params_of(spec)
        current = {k: spec.get(k, params[k].default) for k in KNOBS if k in params}
        replayer = _Replayer(part, name, list(known), feedback=feedback, step=step,
                             target=target_per_week, keep=True)
        start = await asyncio.to_thread(replayer.outcome, spec)
        tuned, outcome, steps = await asyncio.to_thread(search, replayer, spec,
                                                        labelled=labels is not None)  # fmt: skip
        if labels is not None and not outcome.met:  # last resort: give up incidents for it
            replayer.keep = False
            tuned, outcome, more = await asyncio.to_thread(search, replayer, tuned, labelled=True)
            steps += more
        chosen = {k: tuned.get(k, v) for k, v in current.items()}
        choices.append(Choice(name, current, chosen, start, outcome, steps,
                              dict(metric.detector or {}), len(replayer.seen),
                              dict((overrides or {}).get(name, {}))))  # fmt: skip
    return choices


def spent(choices: Sequence[Choice]) -> int:
    """Replays run in all (distinct settings judged)."""
    return sum(c.replays for c in choices)
