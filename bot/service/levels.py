"""Levels accepted in the chat as a metric's new normal, as the check sees them: which are in
force, and which a settings change withdraws. An accepted level stands for the detector's own
re-base (bot/chat/baselines.py), so it lives only while that re-base is the one it was set for."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime

import detectors
from bot.service.engines import accepts
from bot.state import State
from queries.catalogue import Catalogue, Metric

__all__ = ["in_force", "rebase_hours", "settle"]

Spec = Mapping[str, object]


def rebase_hours(spec: Spec) -> float | None:
    """How long the detector of `spec` takes to re-base by itself; None if it never does."""
    try:
        detector = detectors.build(spec)
    except ValueError:
        return None
    return detector.rebase_hours if accepts(detector) else None


def in_force(state: State, catalogue: Catalogue, spec_of: Callable[[Metric], Spec],
             now: datetime) -> dict[str, datetime]:  # fmt: skip
    """Metrics whose new level was accepted in the chat, with the bucket it began. A level
    whose metric's detector no longer re-bases by itself (a new catalogue) is withdrawn."""
    out = {}
    for name, level in state.baselines.active(now).items():
        metric = catalogue.metrics.get(name)
        if metric is None:
            continue
        if rebase_hours(spec_of(metric)) is None:
            state.baselines.withdraw(name)
            continue
        out[name] = level.since
    return out


def settle(state: State, metric: Metric, before: Spec, after: Spec, now: datetime) -> None:
    """After a settings change: a level accepted for the re-base in force before is withdrawn
    when the change alters it (rebase_hours, the method); it would lapse too early, or not be
    followed at all."""
    if state.baselines.of_metric(metric.name, now) is None:
        return
    if rebase_hours(before) != rebase_hours(after):
        state.baselines.withdraw(metric.name)
