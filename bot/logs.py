"""Logging for every command: one handler on stderr (text, or one JSON object a line), and a
filter on every handler that takes the secrets (the bot token and its secret part,
CLICKHOUSE_PASSWORD, the webhook secrets) out of every record, its exception text and stack
included: a proxy's error page that echoes the request URL must not put the token in a log."""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import TextIO
from urllib.parse import quote

from queries.errors import masked

__all__ = ["JsonFormatter", "SecretFilter", "configure", "last_words"]

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"



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
            if not secret or not secret.strip():  # blank: masking every space hides nothing
                continue
            forms.update({secret, quote(secret, safe="")})
            bot_id, colon, rest = secret.partition(":")
            if colon and bot_id.isdigit() and rest:
                forms.update({rest, quote(rest, safe="")})
        # Longest first: a token is replaced whole before its secret part is looked for.
        self.secrets = sorted(forms, key=len, reverse=True)

    def scrub(self, text: str) -> str:
        return masked(text, self.secrets)

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


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time (UTC, ISO 8601), level, logger, message, and exc (the
    traceback, already scrubbed) when there is one."""

    def format(self, record: logging.LogRecord) -> str:
        out = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            out["exc"] = record.exc_text
        if record.stack_info:
            out["stack"] = record.stack_info
        return json.dumps(out, ensure_ascii=False)


class _Stderr(logging.StreamHandler):
    """Writes to whatever sys.stderr is at the time (a test may swap it), never a stale one."""

    @property
    def stream(self) -> TextIO:
        return sys.stderr

    @stream.setter
    def stream(self, _: object) -> None:
        pass


def configure(
    level: int | str,
    secrets: Iterable[str | None] = (),
    *,
    fmt: str = "text",
    scrubber: SecretFilter | None = None,
) -> SecretFilter:
    """Log to stderr at `level` in `fmt` (text or json) with the secrets filtered out of every
    handler's records; returns the filter, so secrets known later (from .env) can be added.
    Called again (once the settings are read) it changes level and format in place."""
    scrubber = scrubber if scrubber is not None else SecretFilter()
    scrubber.add(*secrets)
    root = logging.getLogger()
    ours = [h for h in root.handlers if isinstance(h, _Stderr)]
    handler = ours[0] if ours else _Stderr()
    if not ours:
        root.addHandler(handler)
    handler.setFormatter(JsonFormatter() if fmt == "json" else logging.Formatter(TEXT_FORMAT))
    root.setLevel(level)
    for each in root.handlers:  # records of every logger pass through each of them
        if scrubber not in each.filters:
            each.addFilter(scrubber)
    return scrubber


def last_words(text: str, scrubber: SecretFilter) -> None:
    """The line that says why a command stopped, on stderr, secrets taken out: one of the log's
    JSON objects where the log is JSON lines (a pipeline reading them drops a plain line, the
    one that says why the service died), else `alertbot: <text>`."""
    text = scrubber.scrub(text)
    ours = [h for h in logging.getLogger().handlers if isinstance(h, _Stderr)]
    if ours and isinstance(ours[0].formatter, JsonFormatter):
        logging.getLogger("alertbot").critical("%s", text)
    else:
        print(f"alertbot: {text}", file=sys.stderr)
