"""The `alertbot` command line: check, catalogue, seed, backtest, tune, run, chat. The composition
root: it alone knows all three packages, the settings and the clock. Each command imports what
it uses when it runs, so `alertbot --help` starts without pandas, matplotlib or chDB."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from bot.arguments import build_parser, parse_time
from bot.console import UsageError, history_for, load_checked, make_source, metric_name
from bot.errors import stop_on_early_sigterm, usage_errors
from bot.logs import configure, last_words

if TYPE_CHECKING:
    from bot.core.report import CheckReport
    from bot.service.overrides import Overrides
    from bot.settings import Settings
    from queries.catalogue import Catalogue

__all__ = ["main"]

log = logging.getLogger("alertbot")

EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2
SECRET_VARIABLES = ("BOT_TOKEN", "CLICKHOUSE_PASSWORD", "ALERT_WEBHOOK_SECRET", "WEBHOOK_SECRET")


def _warned(found: tuple[Overrides, list[str]]) -> Overrides:
    """The chat's overrides in force (bot.service.overrides); each one left out said on stderr."""
    for line in found[1]:
        print(f"warning: {line}", file=sys.stderr)
    return found[0]


def _noted(chat: Overrides, metric: str | None) -> Overrides:
    """`chat`, its overrides of `metric` (None: all) said on stderr: a check that judged by a
    guard set in the chat said nothing of it, and read as the catalogue's."""
    from bot.core.tuning_text import chat_overrides

    held = chat_overrides({name: p for name, p in chat.items() if metric in (None, name)})
    if held:
        print(f"note: in force, set with /set in the chat: {held} (/reset METRIC in the chat "
              "goes back to the catalogue's)", file=sys.stderr)  # fmt: skip
    return chat


async def cmd_check(args: argparse.Namespace, settings: Settings) -> int:
    from bot.cli_report import check_table, write_check_charts
    from bot.console import charts_folder
    from bot.core.formatting import report_json
    from queries.errors import SourceError, SourceMisconfigured

    catalogue = load_checked(settings.catalogue_path)
    if args.metric is not None:
        args.metric = metric_name(args.metric, catalogue)
    if args.charts == "":  # `--charts ""` (an unset shell variable) wrote nothing, silently
        raise UsageError("--charts needs a folder, e.g. --charts charts")
    if args.charts:  # before the check: a bad folder would otherwise fail after the table
        charts_folder(args.charts)
    if args.notify:
        from bot.notify import check_and_notify  # aiogram is only needed here
        done = await check_and_notify(settings, at=args.at, metric=args.metric,
                                      reread=args.reread)
        report, undelivered = done.report, done.exit_code  # 2: an alert chat is gone
    else:
        report, undelivered = await _check(args, settings, catalogue), EXIT_OK
    if report.errors and not report.results:
        if args.json:  # a script reading stdout still gets its document, the errors in it
            print(report_json(report))
        raise next(iter(report.failures.values()), SourceError(next(iter(report.errors.values()))))
    print(report_json(report) if args.json else check_table(report, settings.zone))
    if args.charts:  # a chart that cannot be drawn costs only its picture, said on stderr
        await asyncio.to_thread(write_check_charts, report, Path(args.charts), settings.zone,
                                settings.language, quiet=args.json)  # fmt: skip
    misconfigured = any(isinstance(e, SourceMisconfigured) for e in report.failures.values())
    return max(undelivered, EXIT_USAGE if misconfigured else int(bool(report.errors)))  # 2: fix


async def _check(args: argparse.Namespace, settings: Settings, catalogue: Catalogue
                 ) -> CheckReport:  # fmt: skip
    from bot.console import before_the_data, past_the_data, prepare_demo
    from bot.service.checker import History, run_check
    from bot.service.overrides import in_force
    from bot.state import State
    from queries.sources import EmbeddedSource

    wall = datetime.now(UTC)
    now = parse_time(args.at, settings.zone, "--at") if args.at else wall
    source, store = make_source(settings), State(settings.state_path)
    try:
        if isinstance(source, EmbeddedSource):
            await prepare_demo(source, catalogue, wall, settings.state_path)
        # As of the future nothing is stored: the empty window would be held as history.
        history = History(source, catalogue, store.history if now <= wall else None)
        if args.reread:
            history.forget()
        accepted = {name: b.since for name, b in store.baselines.active(now).items()}
        chat = _noted(_warned(in_force(store, catalogue)), args.metric)  # as /set left them
        report = await run_check(history, now, delay=settings.data_delay,
                               late_grace=settings.late_data_grace, accepted=accepted,
                               overrides=chat, metrics=[args.metric] if args.metric else None)
        report = await before_the_data(report, source, catalogue, settings.zone)
        return past_the_data(report, wall, settings.zone) if now > wall else report
    finally:
        await source.close()
        store.close()


async def cmd_catalogue(args: argparse.Namespace, settings: Settings) -> int:
    from bot.cli_report import catalogue_doc, catalogue_text
    from bot.console import count_series, prepare_demo
    from bot.core.zones import clock_hint
    from queries.errors import SourceError
    from queries.sources import EmbeddedSource

    catalogue = load_checked(settings.catalogue_path)
    counts, source, failure = None, make_source(settings), None
    try:
        now = datetime.now(UTC)
        if isinstance(source, EmbeddedSource):
            await prepare_demo(source, catalogue, now, settings.state_path)
        counts = await count_series(source, catalogue, now)
    except SourceError as exc:  # the definitions are still worth showing; then exit 1 (or 2)
        where = "" if source.describe() in str(exc) else f" in {source.describe()}"
        failure = type(exc)(f"cannot count the series{where}: {exc}")
    finally:
        await source.close()
    doc = catalogue_doc(catalogue, settings.catalogue_path, counts)
    print(json.dumps(doc, indent=2, ensure_ascii=False) if args.json else catalogue_text(doc))
    if not args.json and (hint := clock_hint(catalogue, settings.timezone)):
        print(hint)
    if failure is not None:
        raise failure
    return EXIT_OK


async def cmd_seed(args: argparse.Namespace, settings: Settings) -> int:
    from bot.arguments import seed_arguments
    from bot.console import Progress, forget_history
    from queries import demo, seeding

    end = parse_time(args.end, settings.zone, "--end") if args.end else datetime.now(UTC)
    await asyncio.to_thread(seed_arguments, args.days, args.seed, args.labels)
    source = make_source(settings)
    progress = Progress(f"seeding {args.days} days into {source.describe()}")
    try:
        config, labels, rows = await seeding.seed(source, days=args.days, end=end,
                                                  seed_value=args.seed, progress=progress)
        forget_history(settings.state_path, source)  # the rows it held are of the old data
    finally:
        await source.close()
    progress.finish(rows)
    if args.labels:
        text = demo.labels_json(config, labels)
        await asyncio.to_thread(Path(args.labels).write_text, text, encoding="utf-8")
        print(f"labels: {args.labels}")
    zone = settings.zone
    span = f"{config.start.astimezone(zone):%Y-%m-%d %H:%M} – "
    span += f"{config.anchor.astimezone(zone):%Y-%m-%d %H:%M} {zone.key}"
    print(f"dataset: {span}, seed {config.seed}")
    print("incidents:")
    for incident in labels:
        where = ", ".join(f"{k}={v}" for k, v in incident.slice.items()) or "all"
        late = incident.kind is demo.IncidentKind.LATE_DATA
        effect = "—" if late else f"{incident.effect:+.0%}"
        print(f"  {incident.start.astimezone(zone):%Y-%m-%d %H:%M} – "
              f"{incident.end.astimezone(zone):%H:%M}  {incident.kind.value:<16} {where:<20} "
              f"{effect:>5}  {incident.description}")  # fmt: skip
    return EXIT_OK


async def cmd_backtest(args: argparse.Namespace, settings: Settings) -> int:
    from bot.core.formatting import report_backtest, report_backtest_json
    from bot.service import backtesting, overrides

    source, catalogue, collected, labels = await history_for(args, settings)
    feedback = await asyncio.to_thread(backtesting.feedback_from_state, settings.state_path)
    chat = _noted(_warned(await asyncio.to_thread(overrides.from_state, settings.state_path,
                                                  catalogue)), args.metric)  # fmt: skip
    try:
        result = await asyncio.to_thread(
            backtesting.run, collected, labels, catalogue.step, chat, feedback
        )
    finally:
        await source.close()
    zone = settings.zone
    print(report_backtest_json(result, zone, args.days) if args.json
          else report_backtest(result, zone, catalogue.step, args.days))  # fmt: skip
    return EXIT_OK


async def cmd_tune(args: argparse.Namespace, settings: Settings) -> int:
    days, given = args.days.strip(), args.target_false_per_week.strip()  # one-line errors
    if not days.isdecimal():
        raise UsageError(f"--days must be a whole number of days, got {days!r}")
    if not given.replace(".", "", 1).isdecimal() or not 0 < (target := float(given)) <= 1000:
        raise UsageError("--target-false-per-week must be a number above 0 and at most 1000, "
                         f"got {given!r}")  # fmt: skip
    args.days = int(days)
    from bot.core.formatting import report_tune
    from bot.service import backtesting, overrides, tuning

    source, catalogue, collected, labels = await history_for(args, settings)
    await source.close()
    feedback = await asyncio.to_thread(backtesting.feedback_from_state, settings.state_path)
    chat = _warned(await asyncio.to_thread(overrides.from_state, settings.state_path, catalogue))
    choices = await tuning.tune(collected, labels, catalogue.step, target_per_week=target,
                                feedback=feedback, overrides=chat)  # fmt: skip
    print(report_tune(choices, collected, labels is not None, target, feedback))
    return EXIT_OK


async def cmd_chat(args: argparse.Namespace, settings: Settings) -> int:
    from bot.terminal import cmd_chat as chat  # aiogram is only needed here

    return await chat(args.message, args.charts, settings)


async def cmd_run(args: argparse.Namespace, settings: Settings) -> int:
    if settings.bot_token is None:
        from bot.settings import token_elsewhere
        raise UsageError(
            f"BOT_TOKEN is not set{token_elsewhere()}: create a bot with @BotFather in Telegram "
            "(/newbot), put its token in .env as BOT_TOKEN=..., and run `alertbot run` again. "
            "`alertbot check` works without it."
        )
    from bot.app import make_monitor, serve  # aiogram is only needed here
    from bot.state import State

    load_checked(settings.catalogue_path)  # a mistake in it stops the start, with exit 2
    state = State(settings.state_path, exclusive=True)  # the lock first: a second bot stops here
    try:
        source = make_source(settings)
        try:
            monitor = make_monitor(settings, source, state=state)
            await serve(settings, monitor)  # its first log line says what starts
        finally:
            await source.close()
    finally:
        state.close()  # and the lock with it
    return EXIT_OK


COMMANDS = {
    "run": cmd_run,
    "check": cmd_check,
    "catalogue": cmd_catalogue,
    "seed": cmd_seed,
    "backtest": cmd_backtest,
    "tune": cmd_tune,
    "chat": cmd_chat,
}


def _log_level(args: argparse.Namespace, settings: Settings) -> str:
    """The bot is a service: it logs at LOG_LEVEL (INFO unless set). The other commands print
    their own output: there LOG_LEVEL applies when set, else errors only; -v adds INFO."""
    chosen = args.command == "run" or "log_level" in settings.model_fields_set
    level = settings.log_level if chosen else "ERROR"
    return "INFO" if args.verbose and logging.getLevelName(level) > logging.INFO else level


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return EXIT_USAGE
    if args.command == "run":  # SIGTERM in its seconds of start-up: exit 0, as later
        stop_on_early_sigterm()
    # Until the settings are read: errors only (with -v: what happens).
    scrubber = configure(logging.INFO if args.verbose else logging.ERROR,
                         [os.environ.get(name) for name in SECRET_VARIABLES])  # fmt: skip
    if not args.verbose:
        logging.getLogger("aiogram.event").setLevel(logging.WARNING)  # a line per update
    from bot.settings import load_settings
    from queries.errors import SourceError

    errors = usage_errors()
    try:
        settings = load_settings()
        configure(_log_level(args, settings), settings.secrets(), fmt=settings.log_format,
                  scrubber=scrubber)  # fmt: skip
        return asyncio.run(COMMANDS[args.command](args, settings))
    except errors as exc:
        last_words(str(exc), scrubber)
        return EXIT_USAGE
    except SourceError as exc:  # unreachable, timed out, or a query that failed: try later
        last_words(str(exc), scrubber)
        return EXIT_FAILURE
    except KeyboardInterrupt:
        print("alertbot: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader went away (`alertbot backtest | head`): stop quietly, as other tools do,
        # and keep the interpreter's last flush from failing on the same pipe.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 128 + 13  # as if killed by SIGPIPE
    except Exception:  # a bug: its traceback goes through the log, secrets taken out
        log.critical("alertbot stopped on an unexpected error", exc_info=True)
        return EXIT_FAILURE
