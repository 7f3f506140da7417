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

__all__ = ["EARLIEST", "LATEST", "Parser", "build_parser", "parse_time", "seed_arguments"]

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
                if len(parsers) > 1 and word in parsers[0]._option_string_actions:
                    # `check -v`: a flag of alertbot's own, not "Did you mean -v?"
                    command = parsers[1].prog.split()[-1]
                    message += f". {word} goes before the command: alertbot {word} {command}"
                    break
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


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="alertbot",
        description="Anomaly alerts for product metrics in ClickHouse, delivered to Telegram.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log what happens")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.add_parser("run", help="the Telegram bot: commands, scheduled checks, alerts")
    chat = sub.add_parser("chat", help="the bot's chat in this terminal, no Telegram needed: "
                          "each MESSAGE in turn, else what you type")  # fmt: skip
    chat.add_argument("message", nargs="*", metavar="MESSAGE",
                      help="a command as you would send it, e.g. '/metric views'")  # fmt: skip
    chat.add_argument("--charts", default="charts", metavar="DIR",
                      help="write the charts the bot sends here (default: charts)")  # fmt: skip
    check = sub.add_parser("check", help="one check cycle over every metric and slice")
    check.add_argument("--metric", help="only this metric (default: all)")
    check.add_argument("--at", help="check as of this time (ISO 8601; default: now)")
    check.add_argument("--charts", metavar="DIR", help="write a PNG chart per anomaly here")
    check.add_argument("--json", action="store_true", help="print JSON instead of a table")
    check.add_argument("--reread", action="store_true",
                       help="read the whole history from the source again, not only what is "
                       "new (after data was corrected or loaded again)")  # fmt: skip
    check.add_argument("--notify", action="store_true",
                       help="alert as the bot would (incidents, outbox), then exit")  # fmt: skip
    listing = sub.add_parser("catalogue", help="what the catalogue in force defines: metrics, "
                             "slices, detectors, and the series a check covers")  # fmt: skip
    listing.add_argument("--json", action="store_true", help="print JSON instead of text")
    what = "(re)generate the demo data, replacing the tables of the same name in the source"
    seed = sub.add_parser("seed", help=what, description=what + " and its cache")
    seed.add_argument("--days", type=int, default=28, help="days of history (default 28)")
    seed.add_argument("--end", help="end of the dataset (ISO 8601; default: now)")
    seed.add_argument("--labels", metavar="FILE", help="write the injected incidents as JSON")
    seed.add_argument("--seed", type=int, default=7, help="random seed (default 7)")
    backtest = sub.add_parser("backtest", help="replay the detectors over history")
    backtest.add_argument("--metric", help="only this metric (default: all)")
    backtest.add_argument("--days", type=int, default=7, help="days to replay (default 7)")
    backtest.add_argument("--labels", metavar="FILE", help="known incidents (seed --labels)")
    backtest.add_argument("--json", action="store_true", help="print JSON instead of a report")
    tune = sub.add_parser("tune", help="choose each metric's band and rule settings (k, "
                          "severe, jump, window_score, persist_level, noise_max, skew, "
                          "autocorr_se, window_up_peak, weekday_z, offset_spans) from its "
                          "history")  # fmt: skip
    tune.add_argument("--metric", help="only this metric (default: all)")
    tune.add_argument("--days", default="12", metavar="N",
                      help="days of history to learn from (default 12)")  # fmt: skip
    tune.add_argument("--labels", metavar="FILE", help="known incidents (seed --labels)")
    tune.add_argument("--target-false-per-week", default="1", metavar="X", help="false alerts "
                      "a week allowed per metric, all its slices together (default 1)")
    return parser
