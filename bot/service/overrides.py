"""Threshold overrides (/set) against the catalogue in force. Each /set is checked when it is
made, but the catalogue can change under it (an edited file and a restart): persist_k 4, set
where the catalogue had persist_m 5, is refused once persist_m is back at 3, and a metric whose
settings cannot build would fail every check. Such overrides are left out, newest first, until
the metric's settings build, each one said (the bot's log, a command's stderr) with who set
it and why; the bot's start-up also withdraws them from the state file. The commands (check,
backtest, tune) judge with the same settings in force as the bot."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import detectors
from bot.service.checker import spec_for
from bot.state import State
from bot.state.overrides import Override
from queries.catalogue import Catalogue, Metric

__all__ = ["Overrides", "builds", "from_state", "in_force"]

Overrides = dict[str, dict[str, object]]


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


def _refused(metric: Metric, held: dict[str, Override]) -> list[tuple[str, Override, str]]:
    """The overrides to leave out of `held` (which loses them), newest first, until the
    metric's settings build; each with the reason."""
    out = []
    while held:
        why = _refusal(spec_for(metric, {p: o.value for p, o in held.items()}))
        if why is None:
            break
        newest = max(held, key=lambda p: (held[p].set_at, p))
        out.append((newest, held.pop(newest), why))
    return out


def in_force(state: State, catalogue: Catalogue, *,
             withdraw: bool = False) -> tuple[Overrides, list[str]]:  # fmt: skip
    """Each metric's overrides, less those the catalogue refuses (with `withdraw`, removed
    from the state file too); and a line for each one left out, saying what and why."""
    out: Overrides = {}
    said = []
    for metric in catalogue.metrics.values():
        held = state.overrides.of(metric.name)
        for param, gone, why in _refused(metric, held):
            if withdraw:
                state.overrides.remove(metric.name, param)
            said.append(f"{metric.name}: the override {param} = {gone.value!r} (set by "
                        f"{gone.who}) is {'withdrawn' if withdraw else 'left out'}, the "
                        f"catalogue in force refuses it: {why}; /thresholds {metric.name} "
                        "shows what is in force")  # fmt: skip
        out[metric.name] = {p: o.value for p, o in held.items()}
    return out, said


def from_state(path: Path, catalogue: Catalogue) -> tuple[Overrides, list[str]]:
    """The overrides in force from the bot's state file at `path` (none if it is absent),
    for a command that runs beside the bot: it reads, and leaves the withdrawing to the bot."""
    if not path.is_file():
        return {}, []
    state = State(path)
    try:
        return in_force(state, catalogue)
    finally:
        state.close()
