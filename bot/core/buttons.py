"""What an alert's inline buttons carry: an action and numbers (ids into the state file), never
a metric or slice name, so the data fits Telegram's 64 bytes whatever the catalogue holds."""

from __future__ import annotations

import enum
from dataclasses import dataclass

__all__ = ["DATA_LIMIT", "Action", "Button", "alert_buttons", "pack", "unpack"]

DATA_LIMIT = 64  # bytes of callback data Telegram accepts


class Action(enum.StrEnum):
    ACK = "ack"  # incident id: no more reminders
    UNACK = "unack"  # incident id: reminders again
    FALSE = "false"  # incident id: a false alarm (a label for tune)
    UNFALSE = "unfalse"  # incident id: undo the false alarm mark
    MUTE = "mute"  # incident id, hours: silence the incident's metric
    SHOW = "show"  # alert id: the chart of the series that alerted


# How many numbers each action carries.
ARITY = {Action.ACK: 1, Action.UNACK: 1, Action.FALSE: 1, Action.UNFALSE: 1, Action.MUTE: 2,
         Action.SHOW: 1}  # fmt: skip
MAX_ID = 2**53  # any id SQLite hands out; bounds the data's length


@dataclass(frozen=True)
class Button:
    text: str
    data: str


def pack(action: Action, *numbers: int) -> str:
    if len(numbers) != ARITY[action] or not all(0 <= n < MAX_ID for n in numbers):
        raise ValueError(f"{action} takes {ARITY[action]} id(s) in [0, 2^53), got {numbers}")
    return ":".join([action.value, *map(str, numbers)])


def unpack(data: str | None) -> tuple[Action, tuple[int, ...]] | None:
    """The action and its numbers, or None for data no button of ours carries."""
    if not data or len(data.encode()) > DATA_LIMIT:
        return None
    head, *rest = data.split(":")
    try:
        action = Action(head)
    except ValueError:
        return None
    if len(rest) != ARITY[action] or not all(p.isascii() and p.isdigit() for p in rest):
        return None
    numbers = tuple(int(p) for p in rest)
    return (action, numbers) if all(n < MAX_ID for n in numbers) else None


def alert_buttons(
    incident_id: int, alert_id: int | None, *, acknowledged: bool = False,
    false_alarm: bool = False, labels: dict[str, str] | None = None,
) -> tuple[tuple[Button, ...], ...]:  # fmt: skip
    """An alert's keyboard; the state shown on the message decides which toggles it offers."""
    say = {"ack": "👀 Ack", "unack": "↩️ Un-ack", "false": "🙅 False alarm",
           "unfalse": "↩️ Not false", "mute1": "🔕 1 h", "mute24": "🔕 24 h",
           "show": "📈 Chart", **(labels or {})}  # fmt: skip
    first = (
        Button(say["unack"], pack(Action.UNACK, incident_id)) if acknowledged
        else Button(say["ack"], pack(Action.ACK, incident_id)),
        Button(say["unfalse"], pack(Action.UNFALSE, incident_id)) if false_alarm
        else Button(say["false"], pack(Action.FALSE, incident_id)),
    )  # fmt: skip
    second = [
        Button(say["mute1"], pack(Action.MUTE, incident_id, 1)),
        Button(say["mute24"], pack(Action.MUTE, incident_id, 24)),
    ]
    if alert_id is not None:
        second.append(Button(say["show"], pack(Action.SHOW, alert_id)))
    return (first, tuple(second))
