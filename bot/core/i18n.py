"""What the bot says, in English or Russian. Pure (reads the bundled catalogues once).

Messages are written in English in the code and marked for translation through a Translator:
`t._("Muted {metric} until {until}.", metric=..., until=...)` and
`t.ngettext("{n} alert", "{n} alerts", n)`. The catalogues are gettext's: sources in
`bot/locales/<lang>/LC_MESSAGES/<domain>.po`, compiled to `.mo` beside them by
`python -m bot.locales` (which also extracts new messages from the code). A message missing
from a catalogue falls back to its English text, and a test keeps every message translated.

Placeholders are `str.format` fields with names; values are inserted after translation, so a
value is never translated and a translation may reorder the fields. HTML stays in the caller:
values that need escaping are escaped before they are passed in.
"""

from __future__ import annotations

import gettext
from functools import cache
from pathlib import Path
from typing import Any

__all__ = ["DEFAULT", "DOMAINS", "LANGUAGES", "LOCALES", "Translator", "language_of",
           "translator"]  # fmt: skip

LANGUAGES: tuple[str, ...] = ("en", "ru")
DEFAULT = "en"
# One catalogue per part of the bot, so that parts change their texts independently.
DOMAINS: tuple[str, ...] = ("alerts", "chat", "charts")
LOCALES = Path(__file__).resolve().parent.parent / "locales"


class Translator:
    """One language's texts. Cheap to pass around; get one with `translator(lang)`."""

    def __init__(self, lang: str, catalogue: gettext.NullTranslations) -> None:
        self.lang = lang
        self._catalogue = catalogue

    def _(self, message: str, /, **values: Any) -> str:
        """The message in this language, with `values` put into its {fields}."""
        text = self._catalogue.gettext(message)
        return text.format(**values) if values else text

    def ngettext(self, singular: str, plural: str, n: int, /, **values: Any) -> str:
        """The form of the message for the number `n` (English: 2 forms; Russian: 3), with
        `{n}` and `values` put in."""
        text = self._catalogue.ngettext(singular, plural, n)
        return text.format(n=n, **values)

    def __repr__(self) -> str:
        return f"Translator({self.lang!r})"


@cache
def translator(lang: str | None = None) -> Translator:
    """The translator for `lang` ('en', 'ru'; anything else gets English)."""
    lang = lang if lang in LANGUAGES else DEFAULT
    catalogue: gettext.NullTranslations = gettext.NullTranslations()
    for domain in reversed(DOMAINS):
        found = gettext.translation(domain, LOCALES, languages=[lang], fallback=True)
        found.add_fallback(catalogue)
        catalogue = found
    return Translator(lang, catalogue)


def language_of(code: str | None) -> str | None:
    """Our language for a Telegram `language_code` ('ru', 'ru-RU', 'en-GB'), or None when we do
    not speak it (the caller then uses the default)."""
    if not code:
        return None
    base = code.replace("_", "-").split("-")[0].lower()
    return base if base in LANGUAGES else None
