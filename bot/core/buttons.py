"""What an alert's inline buttons carry: an action and numbers (ids into the state file), never
a metric or slice name, so the data fits Telegram's 64 bytes whatever the catalogue holds."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from bot.core.i18n import Translator, translator

__all__ = ["DATA_LIMIT", "DIGEST", "Action", "Button", "alert_buttons", "digest_buttons", "label",
           "pack", "relabel", "unpack"]  # fmt: skip

DATA_LIMIT = 64  # bytes of callback data Telegram accepts


class Action(enum.StrEnum):
    ACK = "ack"  # incident id: no more reminders
    UNACK = "unack"  # incident id: reminders again
    FALSE = "false"  # incident id: a false alarm (a label for tune)
    UNFALSE = "unfalse"  # incident id: undo the false alarm mark
    MUTE = "mute"  # incident id, hours: silence the incident's metric
    SHOW = "show"  # alert id: the chart of the series that alerted
    ACCEPT = "normal"  # incident id: the metric's new level is its new normal
    UNACCEPT = "unnormal"  # incident id: take that back
    # A digest's buttons carry the digest's id and act on every incident it lists.
    DIGEST_ACK = "dack"
    DIGEST_UNACK = "dunack"
    DIGEST_FALSE = "dfalse"
    DIGEST_UNFALSE = "dunfalse"
    DIGEST_MUTE = "dmute"  # digest id, hours: silence every metric of the digest
    DIGEST_SHOW = "dshow"  # digest id: the charts of its worst metrics


# How many numbers each action carries.
ARITY = {Action.ACK: 1, Action.UNACK: 1, Action.FALSE: 1, Action.UNFALSE: 1, Action.MUTE: 2,
         Action.SHOW: 1, Action.ACCEPT: 1, Action.UNACCEPT: 1, Action.DIGEST_ACK: 1,
         Action.DIGEST_UNACK: 1, Action.DIGEST_FALSE: 1, Action.DIGEST_UNFALSE: 1,
         Action.DIGEST_MUTE: 2, Action.DIGEST_SHOW: 1}  # fmt: skip
# A digest's action for each action of a single alert (the label is the same but the chart's).
DIGEST = {Action.ACK: Action.DIGEST_ACK, Action.UNACK: Action.DIGEST_UNACK,
          Action.FALSE: Action.DIGEST_FALSE, Action.UNFALSE: Action.DIGEST_UNFALSE,
          Action.MUTE: Action.DIGEST_MUTE, Action.SHOW: Action.DIGEST_SHOW}  # fmt: skip
SINGLE = {digest: single for single, digest in DIGEST.items()}
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


def label(action: Action, numbers: tuple[int, ...], t: Translator | None = None) -> str:
    """What a button of `action` says, in `t`'s language (English without one)."""
    t = t or translator()
    if action is Action.DIGEST_SHOW:
        return t._("📈 Charts")
    action = SINGLE.get(action, action)
    if action is Action.MUTE:
        hours = numbers[1] if len(numbers) > 1 else 1
        return t.ngettext("🔕 {n} h", "🔕 {n} h", hours)
    return {
        Action.ACK: t._("👀 Ack"), Action.UNACK: t._("↩️ Un-ack"),
        Action.FALSE: t._("🙅 False alarm"), Action.UNFALSE: t._("↩️ Not false"),
        Action.SHOW: t._("📈 Chart"),
        Action.ACCEPT: t._("📏 New normal"), Action.UNACCEPT: t._("↩️ Not the new normal"),
    }[action]  # fmt: skip


def relabel(
    keyboard: tuple[tuple[Button, ...], ...], t: Translator
) -> tuple[tuple[Button, ...], ...]:
    """The same buttons saying their action in `t`'s language (a button that is not ours is
    left as it is): labels follow the chat, the data stays."""
    out = []
    for row in keyboard:
        buttons = []
        for button in row:
            unpacked = unpack(button.data)
            text = label(*unpacked, t) if unpacked is not None else button.text
            buttons.append(Button(text, button.data))
        out.append(tuple(buttons))
    return tuple(out)


def alert_buttons(
    incident_id: int, alert_id: int | None, *, acknowledged: bool = False,
    false_alarm: bool = False, resolved: bool = False, accepted: bool = False,
    normal: bool = True, t: Translator | None = None,
) -> tuple[tuple[Button, ...], ...]:  # fmt: skip
    """An alert's keyboard; the state shown on the message decides which toggles it offers.
    A resolved incident keeps all but Ack (nothing left to acknowledge): it can still be called
    a false alarm (a label for tune), its metric muted, its chart opened. New normal (the
    metric's new level is expected: its band follows it) is offered while the incident is
    open, and its undo while the level is accepted; not at all with `normal=False` (a digest:
    its one keyboard would not say which metric, and it is never edited to offer the undo).
    A false alarm offers no Ack nor Un-ack either: the mark acknowledges it, until Not false."""
    first = (
        _button(Action.UNACK, incident_id, t=t) if acknowledged
        else _button(Action.ACK, incident_id, t=t),
        _button(Action.UNFALSE, incident_id, t=t) if false_alarm
        else _button(Action.FALSE, incident_id, t=t),
    )[1 if resolved or false_alarm else 0 :]  # fmt: skip
    second = [_button(Action.MUTE, incident_id, 1, t=t), _button(Action.MUTE, incident_id, 24, t=t)]
    if alert_id is not None:
        second.append(_button(Action.SHOW, alert_id, t=t))
    if accepted:
        return (first, tuple(second), (_button(Action.UNACCEPT, incident_id, t=t),))
    if not resolved and normal:
        return (first, tuple(second), (_button(Action.ACCEPT, incident_id, t=t),))
    return (first, tuple(second))


def _button(action: Action, *numbers: int, t: Translator | None) -> Button:
    return Button(label(action, numbers, t), pack(action, *numbers))


def digest_buttons(
    digest_id: int, *, acknowledged: bool = False, false_alarm: bool = False,
    resolved: bool = False, t: Translator | None = None,
) -> tuple[tuple[Button, ...], ...]:  # fmt: skip
    """A digest's keyboard: each button acts on every incident the digest lists (Ack, False
    alarm and their undo, the mutes) or shows the charts of its worst metrics. No New normal:
    a level is accepted for one metric, on its own alert or /metric. Once every incident is
    resolved, no Ack (nothing left to acknowledge), as on an alert; nor while all are called
    false alarms."""
    return (
        (_button(Action.DIGEST_UNACK if acknowledged else Action.DIGEST_ACK, digest_id, t=t),
         _button(Action.DIGEST_UNFALSE if false_alarm else Action.DIGEST_FALSE, digest_id,
                 t=t))[1 if resolved or false_alarm else 0 :],
        (_button(Action.DIGEST_MUTE, digest_id, 1, t=t),
         _button(Action.DIGEST_MUTE, digest_id, 24, t=t),
         _button(Action.DIGEST_SHOW, digest_id, t=t)),
    )  # fmt: skip
