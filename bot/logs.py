"""Logging for every command: one handler on stderr, and a filter on it that takes the secrets
(the bot token and its secret part, CLICKHOUSE_PASSWORD, the webhook secret) out of every
record, its exception text and stack included: a proxy's error page that echoes the request
URL must not put the token in a log."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from urllib.parse import quote

__all__ = ["SecretFilter", "configure"]

MASK = "***"


class SecretFilter(logging.Filter):
    """Replaces each secret (and its URL-encoded form) with ***; a bot token's part after the
    colon is a secret of its own (URLs and error pages show it without the bot id)."""

    def __init__(self, secrets: Iterable[str | None] = ()) -> None:
        super().__init__()
        self.secrets: list[str] = []
        self.add(*secrets)

    def add(self, *secrets: str | None) -> None:
        forms = set(self.secrets)
        for secret in secrets:
            if not secret:
                continue
            forms.update({secret, quote(secret, safe="")})
            bot_id, colon, rest = secret.partition(":")
            if colon and bot_id.isdigit() and rest:
                forms.update({rest, quote(rest, safe="")})
        # Longest first: a token is replaced whole before its secret part is looked for.
        self.secrets = sorted(forms, key=len, reverse=True)

    def scrub(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, MASK)
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        if not self.secrets:
            return True
        record.msg, record.args = self.scrub(record.getMessage()), None
        if record.exc_info:
            # Rendered here, scrubbed, and the live exception dropped: no formatter downstream
            # can render it again with the secret in it.
            if not record.exc_text:
                record.exc_text = logging.Formatter().formatException(record.exc_info)
            record.exc_info = None
        if record.exc_text:
            record.exc_text = self.scrub(record.exc_text)
        if record.stack_info:
            record.stack_info = self.scrub(record.stack_info)
        return True


def configure(level: int, secrets: Iterable[str | None] = ()) -> SecretFilter:
    """Log to stderr at `level` with the secrets filtered out; returns the filter, so secrets
    known later (from .env) can be added."""
    scrubber = SecretFilter(secrets)
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for handler in logging.getLogger().handlers:
        handler.addFilter(scrubber)  # on the handler: records of every logger pass through it
    return scrubber
