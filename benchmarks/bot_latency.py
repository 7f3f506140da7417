"""How long people wait for the bot while charts render: 20 users at once through the fake Bot
API server, against the real bot (aiogram polling, the embedded demo, a fixed clock during the
demo's Android incident).

    python benchmarks/bot_latency.py [--users 20] [--rounds 3] [--limit 2]

Each round every user sends `/metric views`, `/check` and `/status` (each user starting with a
different one, so the three mix), waiting for the command's full answer before the next. Before
each round the chart caches are emptied, as after a check that found new anomalies, so every
round renders its charts again. Printed: p50 / p95 / max seconds per command, from the update
reaching the fake server to the command's last answer, for two bots measured alternately in the
same run:

    current   the baseline: Monitor.chart rendering per request on the default thread pool,
              nothing shared (as before the chart desk)
    desk      the bot's Monitor as it is: charts through bot.service.chartdesk.ChartDesk (one
              render per chart, shared; at most --limit at once; /check's anomaly charts drawn
              right after the check), detection through the matrix engine

and the ratio current / desk.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.app import BotApp
from bot.core.report import CheckReport, SeriesResult
from bot.service.chartdesk import ChartDesk
from bot.service.charts import render_chart
from bot.service.monitor import Monitor
from bot.settings import load_settings
from bot.state import State
from queries import seeding
from queries.catalogue import load_catalogue
from queries.sources import EmbeddedSource
from tests.fakebot import FakeTelegram

TOKEN = "42:BENCH-TOKEN"
END = datetime(2026, 11, 27, 12, 7, 30, tzinfo=UTC)  # the demo's Android incident is on
COMMANDS = ("/metric views", "/check", "/status")


class PerRequestMonitor(Monitor):
    """The baseline: a render per request on the default thread pool, nothing shared, no
    charts drawn ahead (what Monitor.chart did before the chart desk)."""

    async def chart(self, result: SeriesResult, lang: str | None = None) -> bytes:
        return await asyncio.to_thread(render_chart, result.metric, result.slice, result.series,
                                       result.band, result.verdict, zone=self.settings.zone,
                                       lang=lang or self.settings.language)  # fmt: skip

    def warm_charts(self, report: CheckReport, langs: tuple[str, ...] = ()) -> None:
        """Nothing drawn ahead."""


def forget_charts(monitor: Monitor) -> None:
    """The benchmark empties the chart cache between rounds, as after a check that found new
    anomalies; the bot then draws /check's charts at once, as after such a check."""
    monitor.desk.clear()
    last = monitor.last_report
    if last is not None and not isinstance(monitor, PerRequestMonitor):
        monitor.warm_charts(last[0])


async def settle(fake: FakeTelegram, chat: int, before: int) -> int:
    """How many answers a command gets: wait for the first, then until none comes for 2 s."""
    await fake.wait_for(lambda c: c.chat_id == chat and c.method in ("sendMessage", "sendPhoto"),
                        count=before + 1, seconds=120)  # fmt: skip
    seen = len(fake.sent_to(chat))
    while True:
        await asyncio.sleep(2.0)
        now = len(fake.sent_to(chat))
        if now == seen:
            return now - before
        seen = now


async def one(fake: FakeTelegram, user: int, text: str, expect: int) -> float:
    before = len(fake.sent_to(user))
    started = time.perf_counter()
    await fake.send(text, user=user)
    await fake.wait_for(lambda c: c.chat_id == user and c.method in ("sendMessage", "sendPhoto"),
                        count=before + expect, seconds=300)  # fmt: skip
    return time.perf_counter() - started


async def bot_run(mode: str, args: argparse.Namespace, db: Path, work: Path,
                  times: dict[tuple[str, str], list[float]]) -> None:  # fmt: skip
    fake = FakeTelegram(TOKEN)
    await fake.start()
    state = work / f"{mode}-{time.monotonic_ns()}.sqlite3"
    settings = load_settings(bot_token=TOKEN, telegram_api_url=fake.url, admin_ids=(1,),
                             alert_chat_ids=(), state_path=state, clickhouse_url=None,
                             clickhouse_database="seeded", embedded_path=db,
                             http_port=0)  # fmt: skip
    source = EmbeddedSource(db, database="seeded")
    parts: dict[str, Any] = {"source": source, "catalogue": load_catalogue(),
                             "state": State(state), "settings": settings,
                             "clock": lambda: END}  # fmt: skip
    monitor = PerRequestMonitor(**parts) if mode == "current" else Monitor(**parts)
    monitor.desk = ChartDesk(limit=args.limit, keep=64)
    app = BotApp(settings, monitor)
    stop = asyncio.Event()
    task = asyncio.create_task(app.run(stop=stop, handle_signals=False, polling_timeout=1,
                                       schedule=False, drain_every=0.2))  # fmt: skip
    try:
        await fake.wait_for(lambda c: c.method == "setMyCommands", seconds=120)
        await monitor.check()
        expect = {}
        for n, text in enumerate(COMMANDS):  # how many answers each command gets
            probe = 10_000 + n
            before = len(fake.sent_to(probe))
            await fake.send(text, user=probe)
            expect[text] = await settle(fake, probe, before)
        for _ in range(args.rounds):
            forget_charts(monitor)

            async def user(u: int) -> None:
                for k in range(len(COMMANDS)):
                    text = COMMANDS[(u + k) % len(COMMANDS)]
                    times[(mode, text)].append(await one(fake, 100 + u, text, expect[text]))

            await asyncio.gather(*(user(u) for u in range(args.users)))
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=60)
        monitor.state.close()
        await source.close()
        await fake.stop()


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=3, help="rounds per bot")
    parser.add_argument("--repeat", type=int, default=2, help="bots per mode, alternating")
    parser.add_argument("--limit", type=int, default=2, help="the desk's render concurrency")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="alertbot-latency-"))
    db = work / "db"
    source = EmbeddedSource(db, database="seeded")
    await source.execute("CREATE DATABASE IF NOT EXISTS seeded")
    await seeding.seed(source, days=8, end=END)
    await source.close()
    times: dict[tuple[str, str], list[float]] = defaultdict(list)
    for _ in range(args.repeat):
        for mode in ("current", "desk"):
            await bot_run(mode, args, db, work, times)
    print(f"{args.users} users x {args.rounds} rounds x {args.repeat} bots per mode; "
          f"desk limit {args.limit}; seconds from the command to its last answer")  # fmt: skip
    print(f"{'command':<15} {'mode':<8} {'p50':>6} {'p95':>6} {'max':>6} {'n':>4}")
    for text in COMMANDS:
        for mode in ("current", "desk"):
            v = times[(mode, text)]
            print(f"{text:<15} {mode:<8} {pct(v, 0.5):6.2f} {pct(v, 0.95):6.2f} {max(v):6.2f} "
                  f"{len(v):>4}")  # fmt: skip
        cur, desk = times[("current", text)], times[("desk", text)]
        print(f"{text:<15} {'ratio':<8} {pct(cur, 0.5) / pct(desk, 0.5):5.1f}x "
              f"{pct(cur, 0.95) / pct(desk, 0.95):5.1f}x  (current / desk)")  # fmt: skip


if __name__ == "__main__":
    asyncio.run(main())
