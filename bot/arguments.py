"""The command line's own arguments, checked before anything runs: times (`--at`, `--end`)
and what `seed` is given; a misspelt command or choice gets the closest valid one."""

from __future__ import annotations

import argparse
import difflib
import re
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NoReturn
from zoneinfo import ZoneInfo

from bot.console import UsageError

__all__ = ["EARLIEST", "LATEST", "Parser", "parse_time", "seed_arguments"]

_CHOICE = re.compile(r"invalid choice: '?([^'(]*?)'? \(choose from (.*)\)$")


class Parser(argparse.ArgumentParser):
    """argparse's parser (its subcommands' too), whose 'invalid choice' names the closest
    valid one: `alertbot chek` is answered "Did you mean check?"."""

    def error(self, message: str) -> NoReturn:
        """argparse's error, with the closest choice or flag; a subcommand's unknown flag with
        that subcommand's usage line (`alertbot check --bogus`), not the top level's."""
        found = _CHOICE.search(message)
        if found is not None:
            choices = [c.strip("' ") for c in found[2].split(",")]
            close = difflib.get_close_matches(found[1], choices, n=1, cutoff=0.6)
            if close:
                message += f". Did you mean {close[0]}?"
        elif message.startswith("unrecognized arguments: "):  # `check --jsn`
            parsers = self._parsers()
            flags = [f for parser in parsers for f in parser._option_string_actions]
            extra = message.removeprefix("unrecognized arguments: ").split()
            for given in extra:
                word = given.split("=", 1)[0]  # `--jsn=x`: the flag
                close = difflib.get_close_matches(word, flags, n=1, cutoff=0.7)
                if word.startswith("-") and close:
                    message += f". Did you mean {close[0]}?"
                    break
            else:  # `check views`: a metric named without its flag (not a bad flag's value)
                if len(extra) == 1 and not extra[0].startswith("-") and "--metric" in flags:
                    message += f". Did you mean --metric {extra[0]}?"
            if len(parsers) > 1:  # the subcommand's usage, its error as argparse words it
                argparse.ArgumentParser.error(parsers[1], message)
        super().error(message)

    def parse_known_args(self, args: Any = None, namespace: Any = None) -> Any:
        self.words = list(sys.argv[1:] if args is None else args)
        return super().parse_known_args(args, namespace)

    def _parsers(self) -> list[argparse.ArgumentParser]:
        """This parser and the subcommand's given (argparse reports its unknown flags here)."""
        subs = [a for a in self._actions if isinstance(a, argparse._SubParsersAction)]
        for word in getattr(self, "words", []):  # the first that names one is the subcommand
            for action in subs:
                if word in action.choices:
                    return [self, action.choices[word]]
        return [self]


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
