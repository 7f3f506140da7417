"""What can go wrong while getting numbers out of a source.

SourceError
├── SourceUnavailable    transient (network, timeout, overload): retried with backoff
├── SourceMisconfigured  wrong credentials, unknown database, missing table or column:
│                        retrying will not help, the settings or the schema must change
└── QueryFailed          the source rejected our SQL or sent a broken answer: a bug
"""

from __future__ import annotations

__all__ = ["QueryFailed", "SourceError", "SourceMisconfigured", "SourceUnavailable"]


class SourceError(Exception):
    """Base of every error a source raises; the message is meant for people."""


class SourceUnavailable(SourceError):
    """The source did not answer in time or could not be reached."""


class SourceMisconfigured(SourceError):
    """The source answered, but the settings or the schema do not fit what we need."""


class QueryFailed(SourceError):
    """The source rejected a query or returned something we cannot read."""
