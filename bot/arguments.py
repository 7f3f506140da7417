"""The command line's own arguments, checked before anything runs: times (`--at`, `--end`)
and what `seed` is given."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from bot.console import UsageError

__all__ = ["EARLIEST", "LATEST", "parse_time", "seed_arguments"]


def seed_arguments(days: int, seed: int, labels: str | None) -> None:
    """UsageError for `seed` arguments it could not use, before the data is replaced."""
    if not 1 <= days <= 366:
        raise UsageError(f"--days must be between 1 and 366, got {days}")
    if not 0 <= seed < 2**63:
        raise UsageError(f"--seed must be a whole number from 0, got {seed}")
    if labels and Path(labels).is_dir():
        raise UsageError(f"--labels {labels}: a folder; give a file name, e.g. labels.json")


EARLIEST, LATEST = 1971, 2200  # the years a time given on the command line may name


def parse_time(text: str, zone: ZoneInfo, flag: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise UsageError(
            f"{flag} {text!r} is not an ISO 8601 time: expected e.g. 2026-11-27T12:00 "
            "or 2026-11-27T12:00+03:00"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=zone)  # a wall-clock time is read in TIMEZONE
    if not EARLIEST <= moment.year <= LATEST:  # the data's clock (and pandas') ends there
        raise UsageError(f"{flag} {text!r} is out of range: give a time between {EARLIEST} and "
                         f"{LATEST}")  # fmt: skip
    return moment.astimezone(UTC)
