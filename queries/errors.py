"""What can go wrong while getting numbers out of a source.

SourceError
├── SourceUnavailable    transient (network, timeout, overload): retried with backoff
│   └── SourceSilent     no answer at all (nothing back in time, or not reached): the rest
│                        of a check does not ask that server again
├── SourceMisconfigured  wrong credentials, unknown database, missing table or column:
│                        retrying will not help, the settings or the schema must change
└── QueryFailed          the source rejected our SQL or sent a broken answer: a bug
"""

from __future__ import annotations

import re
from collections.abc import Iterable

__all__ = ["MASK", "QueryFailed", "SourceError", "SourceMisconfigured", "SourceSilent",
           "SourceUnavailable", "masked"]  # fmt: skip

MASK = "***"
# A secret shorter than this is masked only where it stands as a token of its own (between
# spaces, quotes, "=", ":", "/", "@" and the like): a password of "e" masked everywhere turned
# "metric" into "m***tric" (and showed what it was), one of "1" an address into "***27.0.0.***".
SHORT = 6
_APART = r"""\s'"=:/@,;()\[\]{}<>&?"""


def masked(text: str, secrets: Iterable[str]) -> str:
    """`text` with each secret replaced by ***, longest first (callers sort them so); blank
    ones are left alone (masking every space hides nothing)."""
    for secret in secrets:
        if not secret.strip():
            continue
        if len(secret) >= SHORT:
            text = text.replace(secret, MASK)
        else:
            text = re.sub(rf"(?<![^{_APART}]){re.escape(secret)}(?![^{_APART}])", MASK, text)
    return text


class SourceError(Exception):
    """Base of every error a source raises; the message is meant for people."""


class SourceUnavailable(SourceError):
    """The source did not answer in time or could not be reached."""


class SourceSilent(SourceUnavailable):
    """The server sent nothing back: it did not answer in time, or could not be reached. Unlike
    an error it answers with, this is the server's, not one query's."""


class SourceMisconfigured(SourceError):
    """The source answered, but the settings or the schema do not fit what we need."""


class QueryFailed(SourceError):
    """The source rejected a query or returned something we cannot read."""
