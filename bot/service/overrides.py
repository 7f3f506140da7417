"""Threshold overrides (/set) against the catalogue in force. Each /set is checked when it is
made, but the catalogue can change under it (an edited file and a restart): persist_k 4, set
where the catalogue had persist_m 5, is refused once persist_m is back at 3, and a metric whose
settings cannot build would fail every check. At start-up such overrides are withdrawn, newest
first, until the metric's settings build, each one named in the log with the reason."""

from __future__ import annotations

from collections.abc import Mapping

import detectors
from bot.service.checker import spec_for
from bot.state import State
from queries.catalogue import Catalogue

__all__ = ["builds", "withdraw_refused"]


def builds(spec: Mapping[str, object]) -> None:
    """Raise ValueError (saying why) unless the spec's detector and rule both build."""
    detectors.build(spec)
    detectors.build_rule(spec)


def _refusal(spec: Mapping[str, object]) -> str | None:
    try:
        builds(spec)
    except ValueError as exc:
        return str(exc)
    return None


def withdraw_refused(state: State, catalogue: Catalogue) -> list[str]:
    """Withdraw the overrides the catalogue refuses (newest first, until each metric's settings
    build); one line for each, saying what it was, who set it and why it went."""
    lines = []
    for metric in catalogue.metrics.values():
        held = state.overrides.of(metric.name)
        while held:
            why = _refusal(spec_for(metric, {p: o.value for p, o in held.items()}))
            if why is None:
                break
            newest = max(held, key=lambda p: (held[p].set_at, p))
            gone = held.pop(newest)
            state.overrides.remove(metric.name, newest)
            lines.append(f"{metric.name}: the override {newest} = {gone.value!r} (set by "
                         f"{gone.who}) is withdrawn, the catalogue in force refuses it: {why}; "
                         f"/thresholds {metric.name} shows what is in force")  # fmt: skip
    return lines
