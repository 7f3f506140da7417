"""What a button press gets: the answer to the press (the spinner stops), then what follows."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

__all__ = ["OUT_OF_DATE", "Reply"]

OUT_OF_DATE = "That button is out of date."


@dataclass(frozen=True)
class Reply:
    text: str  # answerCallbackQuery's text: at most 200 characters
    alert: bool = False  # shown as a dialog (refusals), not a passing notice
    then: Callable[[], Awaitable[object]] | None = None  # edits, charts: after the answer
