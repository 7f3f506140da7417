"""What a button press gets: the answer to the press (the spinner stops), then what follows.
And `localized`: a text built by a shared wording function, in the chat's language."""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from bot.core.i18n import Translator

__all__ = ["Reply", "localized", "out_of_date"]


def out_of_date(t: Translator) -> str:
    return t._("That button is out of date.")


def localized(build: Callable[..., str], t: Translator, /, *args: Any, **kwargs: Any) -> str:
    """`build(*args, **kwargs)`, given the chat's translator (as `t`) or language (as `lang`)
    when it takes one: the alert texts' functions (bot/core/wording.py, bot/service/edits.py)
    are shared with the notifier and learn the language parameter on their own schedule."""
    wanted = inspect.signature(build).parameters
    if "t" in wanted:
        kwargs["t"] = t
    elif "lang" in wanted:
        kwargs["lang"] = t.lang
    return build(*args, **kwargs)


@dataclass(frozen=True)
class Reply:
    text: str  # answerCallbackQuery's text: at most 200 characters
    alert: bool = False  # shown as a dialog (refusals), not a passing notice
    then: Callable[[], Awaitable[object]] | None = None  # edits, charts: after the answer
