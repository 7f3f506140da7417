"""What `alertbot tune` prints: per metric the settings it chose, what each change buys, the
/set lines and the catalogue snippet that apply them."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["chat_overrides", "report_tune"]


def _shown(value: Any) -> str:
    return f"{value:g}" if isinstance(value, int | float) else str(value)


def chat_overrides(overrides: Mapping[str, Mapping[str, Any]]) -> str:
    """The settings /set put in force in the chat, as the command line says them: "views k 8,
    persist_k 3; likes severe 3" ("" when none)."""
    return "; ".join(f"{metric} " + ", ".join(f"{k} {_shown(v)}" for k, v in params.items())
                     for metric, params in overrides.items() if params)  # fmt: skip


def _tuned_row(c: Any, labelled: bool) -> str:
    a, b = c.start, c.outcome
    rate = f"{a.false_per_week:.1f}" + (f" -> {b.false_per_week:.1f}" if c.changes else "")
    count = f"{len(a.caught)}" + (f" -> {len(b.caught)}" if c.changes else "")
    alerts = f"{a.alerts}" + (f" -> {b.alerts}" if c.changes else "")
    caught = (", ".join(b.caught) or "nothing") if labelled else "—"
    flag = "" if b.met else "  (target not reachable: the fewest false alerts found)"
    return f"{c.metric:<16} {rate:>11} {count:>7} {alerts:>9}  {caught}{flag}"


def report_tune(
    choices: Sequence[Any], collected: Any, labelled: bool, target: float, feedback: Any = None
) -> str:
    """What `alertbot tune` chose per metric, what each change buys, and how to apply it."""
    days = (collected.end - collected.start).total_seconds() / 86400
    if labelled:
        basis = "false alerts (alerts no known incident explains)"
    elif feedback:
        basis = "alerts not on an incident acknowledged in the chat"
    else:
        basis = "alerts (no labels: every alert counts against the budget)"
    knobs = dict.fromkeys(k for c in choices for k in c.current)
    lines = [
        f"tuned on {days:.0f} {'day' if f'{days:.0f}' == '1' else 'days'} of history; target: "
        f"at most {target:g} a week of {basis}, per metric, all its slices together",
        f"searched {', '.join(knobs)} from the settings in force: "
        f"{sum(c.replays for c in choices)} settings replayed",
        "",
        f"{'metric':<16} {'false/week':>11} {'caught':>7} {'alerts':>9}  would have caught",
    ]
    lines[1:1] = _later(choices, collected)
    chat = chat_overrides({c.metric: c.overridden for c in choices})
    if chat:
        lines[2:2] = [f"in force, set with /set in the chat: {chat} (the catalogue snippet keeps "
                      "them; /reset METRIC before pasting it, or they shadow it)"]
    shown = labelled or bool(feedback and feedback.confirmed)
    for c in choices:
        lines.append(_tuned_row(c, shown))
        if shown and c.outcome.missed:
            lines.append(f"{'':<16} missed: {', '.join(c.outcome.missed)}")
        if c.outcome.false_alarms_again:
            again = c.outcome.false_alarms_again
            lines.append(f"{'':<16} would raise again the false "
                         f"{'alarm' if len(again) == 1 else 'alarms'} marked in the chat: "
                         f"{', '.join(again)}")  # fmt: skip
        spared = [m for m in c.start.false_alarms_again if m not in c.outcome.false_alarms_again]
        if spared:
            lines.append(f"{'':<16} no longer raises the false "
                         f"{'alarm' if len(spared) == 1 else 'alarms'} marked in the chat "
                         f"that the settings in force raise again: "
                         f"{', '.join(spared)}")  # fmt: skip
    lines += ["", "what each change buys (false alerts a week, incidents caught):"]
    for c in choices:
        for s in c.steps if c.changes else ():
            lines.append(f"  {c.metric:<16} {s.knob} {_shown(s.before)} -> {_shown(s.after)}: "
                         f"false/week {s.was.false_per_week:.1f} -> {s.now.false_per_week:.1f}, "
                         f"caught {len(s.was.caught)} -> {len(s.now.caught)}")  # fmt: skip
        if not c.changes:
            now = ", ".join(f"{k} {_shown(v)}" for k, v in c.current.items())
            lines.append(f"  {c.metric:<16} nothing beats the current settings ({now})")
    sets = [line for c in choices for line in c.set_lines()]
    if sets:
        lines += ["", "to apply in the chat (an admin):", *sets]
    return "\n".join([*lines, "", *_snippets(choices)])


def _later(choices: Sequence[Any], collected: Any) -> list[str]:
    """A line for each metric whose table's data begins after the others' (Collected.later)."""
    later = getattr(collected, "later", {})
    table_of = {m.name: m.table for m in getattr(collected, "metric", {}).values()}
    lines = []
    for c in choices:
        if (begins := later.get(table_of.get(c.metric))) is not None:
            n = f"{(collected.end - begins).total_seconds() / 86400:.0f}"
            lines.append(f"  {c.metric}: {n} {'day' if n == '1' else 'days'}, from where its "
                         f"table's data begins ({begins:%Y-%m-%d %H:%M} UTC)")  # fmt: skip
    return lines


def _snippets(choices: Sequence[Any]) -> list[str]:
    """The catalogue tables of what changes the catalogue: a change found, or settings /set
    in the chat (a table that sets what is in force would change nothing)."""
    moved = [c for c in choices if c.changes or c.overridden]
    if not moved:
        return ["nothing to change in the catalogue"]
    lines = ["catalogue snippet for your catalogue (CATALOGUE_PATH): each table below replaces "
             "that metric's detector settings, so first delete the metric's own `detector = "
             "{ ... }` line or `[metrics.NAME.detector]` table (TOML refuses one defined twice):"]
    for c in moved:
        lines += ["", *c.snippet()]
    return lines
