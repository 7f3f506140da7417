"""The failures of an alerting core that must not lose an alert, each attacked black-box: the real
`alertbot run` process (environment variables only) against the fake Bot API server, reading the
real ClickHouse server at CLICKHOUSE_URL (a demo seeded to end now, its Android incident ongoing).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import signal
import sqlite3
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path

import pytest

from queries import seeding
from queries.catalogue import load_catalogue
from queries.sources import ClickHouseSource
from tests.conftest import SourceSpec, clear_of_the_next_bucket
from tests.fakebot import Call, FakeTelegram, render_html

TOKEN = "8:HARDENING-SECRET-TOKEN"
SECRET = TOKEN.split(":", 1)[1]
ADMIN, ALERTS = 1, -100
SENDS = ("sendPhoto", "sendMessage")
DEMO_DB = "hardening"
ODD_COUNTRY = "Азербайджанская Республика: <b>Баку</b>"


def base_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith(("CLICKHOUSE_", "BOT_"))}


def sql(url: str, query: str) -> str:
    request = urllib.request.Request(url, data=query.encode(), method="POST")
    with urllib.request.urlopen(request, timeout=120) as answer:
        body: bytes = answer.read()
        return body.decode()


@pytest.fixture(scope="module")
def demo(server_spec: SourceSpec) -> dict[str, str]:
    """One demo on the ClickHouse server for the module, seeded by `alertbot seed` to end now."""
    assert server_spec.url is not None
    sql(server_spec.url, f"DROP DATABASE IF EXISTS {DEMO_DB}")
    sql(server_spec.url, f"CREATE DATABASE {DEMO_DB}")
    env = {"CLICKHOUSE_URL": server_spec.url, "CLICKHOUSE_DATABASE": DEMO_DB}
    done = subprocess_run("seed", "--days", "8", "--end", datetime.now(UTC).isoformat(), env=env)
    assert done.returncode == 0, done.stderr
    return env


def subprocess_run(*args: str, env: dict[str, str]) -> Completed:
    import subprocess

    with tempfile.TemporaryDirectory() as folder:  # its own state: no history cached elsewhere
        state = {"STATE_PATH": str(Path(folder) / "check.sqlite3")}
        done = subprocess.run([sys.executable, "-m", "bot", *args], cwd=folder,
                              env={**base_env(), **state, **env}, capture_output=True, text=True,
                              timeout=300, check=False)  # fmt: skip
    return Completed(done.returncode, done.stdout, done.stderr)


class Completed:
    def __init__(self, returncode: int, stdout: str, stderr: str) -> None:
        self.returncode, self.stdout, self.stderr = returncode, stdout, stderr


async def refresh(env: dict[str, str], *, extend: bool = True, check: bool = True) -> set[str]:
    """Rows up to now (the incident goes on), then the titles of the metrics `alertbot check`
    finds off: what every alert chat must receive."""
    if check:  # the bot, started next, must check the bucket this check saw
        await clear_of_the_next_bucket(90)
    if extend:
        source = ClickHouseSource(env["CLICKHOUSE_URL"], database=env["CLICKHOUSE_DATABASE"],
                                  timeout=60, retries=2, backoff=0.2)  # fmt: skip
        try:
            await seeding.extend(source, datetime.now(UTC), history=timedelta(days=28))
        finally:
            await source.close()
    if not check:
        return set()
    done = await asyncio.to_thread(subprocess_run, "check", "--json", env=env)
    assert done.returncode in (0, 1), done.stderr
    report = json.loads(done.stdout)
    catalogue = load_catalogue()
    off = {r["metric"] for r in report["results"] if r["status"] == "anomaly"}
    assert off, "the demo's ongoing incident should be visible"
    return {catalogue.metrics[m].title for m in off}


@pytest.fixture
async def fake() -> AsyncIterator[FakeTelegram]:
    server = FakeTelegram(TOKEN)
    await server.start()
    yield server
    await server.stop()


class Bot:
    """One `alertbot run` process; its stderr goes to a file (read with `.stderr`)."""

    count = 0

    def __init__(self, env: dict[str, str], folder: Path) -> None:
        Bot.count += 1
        self.env, self.folder = env, folder
        self.log = folder / f"run-{Bot.count}.stderr"
        self.process: asyncio.subprocess.Process | None = None

    async def start(self) -> Bot:
        with self.log.open("wb") as err:
            self.process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "bot", "run", env={**base_env(), **self.env},
                cwd=self.folder, stdout=asyncio.subprocess.DEVNULL, stderr=err,
            )  # fmt: skip
        return self

    @property
    def stderr(self) -> str:
        return self.log.read_text(errors="replace")

    @property
    def returncode(self) -> int | None:
        assert self.process is not None
        return self.process.returncode

    async def exited(self, seconds: float) -> int | None:
        """The exit code if the process ends within `seconds`, else None (still running)."""
        assert self.process is not None
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.process.wait(), timeout=seconds)
        return self.process.returncode

    async def stop(self, seconds: float = 60) -> int:
        """SIGTERM, then SIGKILL if it does not end within `seconds`."""
        assert self.process is not None
        if self.process.returncode is None:
            self.process.send_signal(signal.SIGTERM)
            if await self.exited(seconds) is None:
                self.process.kill()
                await self.process.wait()
        assert self.process.returncode is not None
        return self.process.returncode

    def kill(self) -> None:
        assert self.process is not None
        if self.process.returncode is None:
            self.process.kill()


def bot_env(demo: dict[str, str], fake: FakeTelegram, folder: Path, **extra: str) -> dict[str, str]:
    return {**demo, "BOT_TOKEN": TOKEN, "TELEGRAM_API_URL": fake.url,
            "STATE_PATH": str(folder / "state.sqlite3"), "ADMIN_IDS": str(ADMIN),
            "ALERT_CHAT_IDS": str(ALERTS), "HTTP_PORT": "0", **extra}  # fmt: skip


def assert_clean(stderr: str) -> None:
    assert "Traceback" not in stderr, stderr[-4000:]
    assert SECRET not in stderr, "the bot token was written to the log"


def delivered(fake: FakeTelegram, chat: int) -> list[Call]:
    """Messages Telegram accepted for `chat`."""
    return [c for c in fake.calls if c.method in SENDS and c.chat_id == chat]


def has_all(fake: FakeTelegram, chat: int, titles: set[str]) -> bool:
    texts = [c.text for c in delivered(fake, chat)]
    return all(any(title in text for text in texts) for title in titles)


async def wait_until(condition: Callable[[], bool], fake: FakeTelegram, seconds: float) -> bool:
    """True once `condition()` holds (checked after every call the fake records)."""
    with contextlib.suppress(AssertionError):
        await fake.wait_for(lambda _: condition(), seconds=seconds)
        return True
    return condition()


def _answered(fake: FakeTelegram, query: str) -> bool:
    return bool(fake.answers(query))


def _sent_since(fake: FakeTelegram, seen: int) -> bool:
    return any(c.method in SENDS for c in fake.calls[seen:])


def missing(fake: FakeTelegram, chat: int, titles: set[str]) -> set[str]:
    texts = [c.text for c in delivered(fake, chat)]
    return {t for t in titles if not any(t in text for text in texts)}


def duplicates(fake: FakeTelegram, chat: int) -> dict[str, int]:
    counts = Counter(c.text for c in delivered(fake, chat))
    return {text[:60]: n for text, n in counts.items() if n > 1}


# -- 0. the fake accepts what the bot sends when nothing odd is involved -------------------------


async def test_plain_alerts_pass_the_fake_servers_checks(
    demo: dict[str, str], fake: FakeTelegram, tmp_path: Path
) -> None:
    """Baseline: with ordinary data and settings, every alert is accepted by the fake's HTML,
    length and button checks and reaches the alert chat once."""
    titles = await refresh(demo)
    bot = await Bot(bot_env(demo, fake, tmp_path), tmp_path).start()
    try:
        assert await wait_until(lambda: has_all(fake, ALERTS, titles), fake, 60), missing(
            fake, ALERTS, titles
        )
        await asyncio.sleep(1)
    finally:
        code = await bot.stop()
    refused = [(c.method, c.result) for c in fake.calls if c.method.endswith("!400")]
    assert refused == []
    assert duplicates(fake, ALERTS) == {}
    assert code == 0
    assert_clean(bot.stderr)


# -- 1. one slice value switches off all alerting ------------------------------------------------


async def test_a_slice_value_with_html_and_a_colon_does_not_switch_off_alerting(
    demo: dict[str, str], fake: FakeTelegram, tmp_path: Path
) -> None:
    """A top country named with long Cyrillic, ':' and HTML, and off itself: every alert of the
    check still reaches the alert chat, the name shown as written."""
    await refresh(demo)
    url, odd = demo["CLICKHOUSE_URL"], f"{DEMO_DB}_odd"
    sql(url, f"DROP DATABASE IF EXISTS {odd}")
    sql(url, f"CREATE DATABASE {odd}")
    name = ODD_COUNTRY.replace("\\", "\\\\").replace("'", "\\'")
    # Likes of the renamed country fall by 90% over the last hour: its CTR is off while the total
    # CTR is not, so it heads an alert of its own (in WHERE, `country` and `time` are the
    # SELECT's aliases).
    fewer_likes = (f"NOT (country = '{name}' AND action = 'like' AND time >= now() - 3600 "
                   "AND cityHash64(user_id, toUInt32(time)) % 10 < 9)")  # fmt: skip
    for table in ("feed_actions", "message_actions"):
        columns = sql(url, f"SELECT name FROM system.columns WHERE database = '{DEMO_DB}' "
                           f"AND table = '{table}'").split()  # fmt: skip

        def select(shift: int, columns: list[str] = columns) -> str:
            renamed = {"country": f"if(country = 'Ukraine', '{name}', country) AS country",
                       "time": f"time + {shift} AS time"}  # fmt: skip
            return ", ".join(renamed.get(c, c) for c in columns)

        sql(url, f"CREATE TABLE {odd}.{table} AS {DEMO_DB}.{table}")
        if table == "message_actions":
            sql(url, f"INSERT INTO {odd}.{table} SELECT {select(0)} FROM {DEMO_DB}.{table}")
            continue
        # The Android incident healed (its last 4 hours replaced by the same hours a week
        # before), so fewer than four metrics fire: one alert per metric, each with buttons.
        week, recent = 7 * 86400, "time >= now() - 4 * 3600 AND time < now() + 3600"
        sql(url, f"INSERT INTO {odd}.{table} SELECT {select(0)} FROM {DEMO_DB}.{table} "
                 f"WHERE NOT (os = 'Android' AND {recent}) AND {fewer_likes}")  # fmt: skip
        sql(url, f"INSERT INTO {odd}.{table} SELECT {select(week)} FROM {DEMO_DB}.{table} "
                 f"WHERE os = 'Android' AND {recent} AND {fewer_likes}")  # fmt: skip
    env = {**demo, "CLICKHOUSE_DATABASE": odd}
    titles = await refresh(env, extend=False)
    assert load_catalogue().metrics["ctr"].title in titles
    bot = await Bot(bot_env(env, fake, tmp_path), tmp_path).start()
    try:
        ok = await wait_until(lambda: has_all(fake, ALERTS, titles), fake, 60)
        await asyncio.sleep(1)
    finally:
        code = await bot.stop()
        sql(url, f"DROP DATABASE IF EXISTS {odd}")
    assert ok, f"missing alerts for {missing(fake, ALERTS, titles)}"
    shown = [render_html(c.text) if c.data.get("parse_mode") == "HTML" else c.text
             for c in delivered(fake, ALERTS)]  # fmt: skip
    assert any(ODD_COUNTRY in text for text in shown), shown  # escaped, not bold
    assert code == 0
    assert_clean(bot.stderr)


# -- 2. a long DASHBOARD_URL loses every alert ---------------------------------------------------


async def test_a_long_dashboard_url_loses_no_alert(
    demo: dict[str, str], fake: FakeTelegram, tmp_path: Path
) -> None:
    """DASHBOARD_URL of about 760 characters with & and quotes: every alert is delivered."""
    titles = await refresh(demo)
    dashboard = ('https://grafana.example.com/d/abc/"product"?orgId=1&var-metric={metric}'
                 "&var-slice={slice}&from=now-24h&to=now")  # fmt: skip
    while len(dashboard) < 760:
        dashboard += f"&var-extra{len(dashboard)}=%22x%22"
    bot = await Bot(bot_env(demo, fake, tmp_path, DASHBOARD_URL=dashboard), tmp_path).start()
    try:
        ok = await wait_until(lambda: has_all(fake, ALERTS, titles), fake, 60)
    finally:
        code = await bot.stop()
    refused = [c.result for c in fake.calls if c.method.endswith("!400")]
    assert ok, f"missing alerts for {missing(fake, ALERTS, titles)}; refused: {refused}"
    assert code == 0
    assert_clean(bot.stderr)


# -- 3. an HTML error page from a proxy; errors at start-up --------------------------------------


async def test_a_502_html_page_on_the_first_sends_delays_the_alert_but_loses_nothing(
    demo: dict[str, str], fake: FakeTelegram, tmp_path: Path
) -> None:
    """A proxy's 502 HTML page (echoing the URL with the token) on the first sendPhoto and
    sendMessage: the retry delivers every alert, and the log holds no token."""
    titles = await refresh(demo)
    fake.fail_next_html("sendPhoto", 502, chat=ALERTS)
    fake.fail_next_html("sendMessage", 502, chat=ALERTS)
    bot = await Bot(bot_env(demo, fake, tmp_path), tmp_path).start()
    try:
        ok = await wait_until(lambda: has_all(fake, ALERTS, titles), fake, 60)
    finally:
        code = await bot.stop()
    assert [c for c in fake.calls if c.method.endswith("!502")], "the 502 was never met"
    assert ok, f"missing alerts for {missing(fake, ALERTS, titles)}"
    assert duplicates(fake, ALERTS) == {}
    assert code == 0
    assert_clean(bot.stderr)


async def test_502_html_pages_at_start_up_are_retried_and_the_bot_serves(
    demo: dict[str, str], fake: FakeTelegram, tmp_path: Path
) -> None:
    """setMyCommands answered by a proxy's 502 HTML page twice, then fine: the process keeps
    running and answers /start, with no traceback and no token in its log."""
    fake.fail_next_html("setMyCommands", 502)
    fake.fail_next_html("setMyCommands", 502)
    bot = await Bot(bot_env(demo, fake, tmp_path), tmp_path).start()
    try:
        retried = await wait_until(
            lambda: bool([c for c in fake.calls if c.method == "setMyCommands"]), fake, 60
        )
        await fake.send("/start", user=5)
        answered = retried and await wait_until(lambda: bool(delivered(fake, 5)), fake, 30)
        running = bot.returncode is None
    finally:
        code = await bot.stop()
    assert running, f"the process ended ({bot.returncode}): {bot.stderr[-2000:]}"
    assert answered, "/start got no answer"
    assert code == 0
    assert_clean(bot.stderr)


async def test_a_wrong_token_exits_2_naming_bot_token(
    demo: dict[str, str], fake: FakeTelegram, tmp_path: Path
) -> None:
    """Telegram answers 401 (a revoked or mistyped token): exit 2 with a sentence naming
    BOT_TOKEN, no traceback, the token not printed."""
    wrong = "8:WRONG-TOKEN-NOT-THIS-ONE"
    env = {**bot_env(demo, fake, tmp_path), "BOT_TOKEN": wrong}
    bot = await Bot(env, tmp_path).start()
    try:
        code = await bot.exited(60)
    finally:
        await bot.stop()
    err = bot.stderr
    assert code == 2, f"exit {code}: {err[-2000:]}"
    assert "BOT_TOKEN" in err
    assert "Traceback" not in err, err[-4000:]
    assert wrong.split(":", 1)[1] not in err


# -- 4. the state file: two processes, deleted while running, corrupt ----------------------------


async def test_a_second_process_on_the_same_state_file_exits_2(
    demo: dict[str, str], fake: FakeTelegram, tmp_path: Path
) -> None:
    """Two `alertbot run` on one STATE_PATH: the second exits 2 saying the state file is in use,
    and the alert chat gets each alert once."""
    titles = await refresh(demo)
    env = bot_env(demo, fake, tmp_path)
    first = await Bot(env, tmp_path).start()
    second = Bot(env, tmp_path)
    try:
        await fake.wait_for(lambda c: c.method == "setMyCommands", seconds=60)
        await second.start()
        code = await second.exited(45)
        ok = await wait_until(lambda: has_all(fake, ALERTS, titles), fake, 60)
        await asyncio.sleep(2)
    finally:
        await second.stop()
        first_code = await first.stop()
    err = second.stderr.lower()
    assert code == 2, f"the second process: exit {code}; {second.stderr[-2000:]}"
    assert any(w in err for w in ("in use", "already running", "another", "locked")), err
    assert ok, f"missing alerts for {missing(fake, ALERTS, titles)}"
    assert duplicates(fake, ALERTS) == {}
    assert first_code == 0
    assert_clean(first.stderr)
    assert_clean(second.stderr)


async def test_a_state_file_deleted_while_running_is_reported_not_recreated(
    demo: dict[str, str], fake: FakeTelegram, tmp_path: Path
) -> None:
    """The state file deleted under the running bot: the next checks send no second alert for
    the incidents already alerted, and the loss is reported (to operators or in the log)."""
    titles = await refresh(demo)
    env = bot_env(demo, fake, tmp_path, CHECK_INTERVAL="20s")
    state = Path(env["STATE_PATH"])
    bot = await Bot(env, tmp_path).start()
    try:
        assert await wait_until(lambda: has_all(fake, ALERTS, titles), fake, 60)
        await asyncio.sleep(2)
        before = len(fake.calls)
        alerted = {c.text for c in delivered(fake, ALERTS)}
        _delete(state)
        log_at = len(bot.stderr)
        await asyncio.sleep(45)  # two checks at least
    finally:
        code = await bot.stop()
    after = fake.calls[before:]
    again = [c.text[:80] for c in after if c.method in SENDS and c.chat_id == ALERTS
             and any(t in c.text for t in titles) and c.text.startswith(("🔻", "🔺"))]  # fmt: skip
    said = [c.text for c in after if c.method in SENDS and c.chat_id in (ALERTS, ADMIN)
            and c.text not in alerted]  # fmt: skip
    logged = bot.stderr[log_at:]
    reported = [t for t in [*said, logged] if state.name in t or "state" in t.lower()]
    assert again == [], f"alerted again after the state file was deleted: {again}"
    assert reported, f"the deletion went unreported; said {said}, logged {logged[-1500:]}"
    assert code == 0
    assert_clean(bot.stderr)


def _delete(state: Path) -> None:
    for path in state.parent.glob(state.name + "*"):  # with its -wal and -shm
        path.unlink()


def _garbage(path: Path) -> None:
    path.write_bytes(random.Random(1).randbytes(64 * 1024))


def _damaged_pages(path: Path) -> None:
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE filler (id INTEGER PRIMARY KEY, note TEXT)")
        db.executemany("INSERT INTO filler (note) VALUES (?)", [("x" * 200,)] * 2000)
    db.close()
    data = bytearray(path.read_bytes())
    noise = random.Random(2).randbytes(3 * 4096)
    data[4096 : 4096 + len(noise)] = noise  # the schema page survives, the pages after it do not
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("damage", [_garbage, _damaged_pages], ids=["garbage", "damaged-pages"])
async def test_a_corrupt_state_file_at_start_up_exits_2_saying_how_to_recover(
    demo: dict[str, str],
    fake: FakeTelegram,
    tmp_path: Path,
    damage: Callable[[Path], None],
) -> None:
    """A corrupt STATE_PATH at start-up: exit 2 with a sentence naming the file and how to
    recover, no traceback."""
    env = bot_env(demo, fake, tmp_path)
    state = Path(env["STATE_PATH"])
    damage(state)
    bot = await Bot(env, tmp_path).start()
    try:
        code = await bot.exited(45)
    finally:
        await bot.stop()
    err = bot.stderr
    assert code == 2, f"exit {code}: {err[-2000:]}"
    assert state.name in err
    assert any(w in err.lower() for w in ("remove", "delete", "move", "rename", "restore",
                                          "backup")), err  # fmt: skip
    assert_clean(err)


# -- 5. who may act on an incident ---------------------------------------------------------------


async def test_only_members_of_the_alert_chat_act_on_its_incidents_and_names_are_escaped(
    demo: dict[str, str], fake: FakeTelegram, tmp_path: Path
) -> None:
    """A stranger's Ack / False alarm on the team's alert is refused (with an answer) and changes
    nothing; a member whose name is an <a href> acknowledges, and the edit shows the name as
    text, not as a link."""
    await refresh(demo)
    member, stranger = 7, 666
    fake.set_member(ALERTS, member)
    bot = await Bot(bot_env(demo, fake, tmp_path), tmp_path).start()
    try:
        alerts = await fake.wait_for(lambda c: c.method in SENDS and c.chat_id == ALERTS
                                     and bool(c.buttons), seconds=60)  # fmt: skip
        alert = alerts[0]
        data = {b["text"]: b["callback_data"] for b in alert.buttons if "callback_data" in b}
        ack = next(v for k, v in data.items() if "Ack" in k)
        false = next(v for k, v in data.items() if "False" in k)
        queries = []
        for pressed in (ack, false):
            query = await fake.press(pressed, user=stranger, message=alert,
                                     first_name="Stranger666")  # fmt: skip
            queries.append(query)
            await wait_until(partial(_answered, fake, query), fake, 15)
        await asyncio.sleep(2)
        stranger_answers = [fake.answers(q) for q in queries]
        stranger_effects = [c.method for c in fake.calls if "Stranger666" in c.text]
        evil = '<a href="http://evil">x</a>'
        query = await fake.press(ack, user=member, message=alert, first_name=evil)
        edited = await wait_until(
            lambda: any(c.method.startswith("editMessage") and c.message_id == alert.message_id
                        for c in fake.calls), fake, 15)  # fmt: skip
        member_answered = bool(fake.answers(query))
    finally:
        code = await bot.stop()
    assert all(stranger_answers), "a stranger's press was never answered"
    assert all(a[0].data.get("text") for a in stranger_answers), "no refusal given"
    assert stranger_effects == [], f"a stranger changed the team's incident: {stranger_effects}"
    assert member_answered and edited, "a member's Ack did nothing"
    edits = [c for c in fake.calls if c.method.startswith("editMessage")]
    assert not any('href="http://evil"' in c.text for c in edits), [c.text for c in edits]
    assert any(evil in render_html(c.text) for c in edits if c.text)  # shown as text
    assert code == 0
    assert_clean(bot.stderr)


# -- 6. delivery: 403, SIGTERM mid-send, a hung source, malformed buttons ------------------------


@pytest.mark.parametrize("gone", [False, True], ids=["chat-still-there", "chat-confirmed-gone"])
async def test_a_403_for_one_chat_drops_no_other_message(
    demo: dict[str, str], fake: FakeTelegram, tmp_path: Path, gone: bool
) -> None:
    """A 403 on one message to one of three alert chats: the other chats get every alert; that
    chat gets its other messages too unless getChat confirms it is gone."""
    titles = await refresh(demo)
    chats = [ALERTS, -200, -300]
    if gone:
        fake.chat_gone(-200)
    else:
        fake.fail_next("sendPhoto", 403, "Forbidden: bot was blocked by the user", chat=-200)
    env = bot_env(demo, fake, tmp_path, ALERT_CHAT_IDS=",".join(map(str, chats)))
    bot = await Bot(env, tmp_path).start()
    try:
        others = await wait_until(
            lambda: all(has_all(fake, c, titles) for c in (ALERTS, -300)), fake, 60)  # fmt: skip
        blocked_ok = gone or await wait_until(
            lambda: len(missing(fake, -200, titles)) <= 1, fake, 20)  # fmt: skip
        await asyncio.sleep(1)
    finally:
        code = await bot.stop()
    assert [c for c in fake.calls if c.method.endswith("!403")], "the 403 was never met"
    assert others, {c: missing(fake, c, titles) for c in (ALERTS, -300)}
    assert blocked_ok, f"chat -200 lost {missing(fake, -200, titles)} after one 403"
    assert code == 0
    assert_clean(bot.stderr)


async def test_sigterm_during_a_send_finishes_it_and_a_restart_sends_nothing_twice(
    demo: dict[str, str], fake: FakeTelegram, tmp_path: Path
) -> None:
    """SIGTERM while Telegram takes 4 s to answer a sendPhoto: the process exits 0, and after a
    restart on the same state every alert has reached the chat exactly once."""
    titles = await refresh(demo)
    env = bot_env(demo, fake, tmp_path)
    fake.delay("sendPhoto", 4)
    fake.delay("sendMessage", 4)
    first = await Bot(env, tmp_path).start()
    try:
        await fake.wait_for(lambda c: c.method in SENDS and c.chat_id == ALERTS, seconds=60)
        first.process.send_signal(signal.SIGTERM)  # type: ignore[union-attr]
        code = await first.exited(60)
    finally:
        await first.stop()
    fake.delays.clear()
    second = await Bot(env, tmp_path).start()
    try:
        ok = await wait_until(lambda: has_all(fake, ALERTS, titles), fake, 60)
        await fake.send("/status", user=ADMIN)
        await wait_until(lambda: bool(delivered(fake, ADMIN)), fake, 30)
        await asyncio.sleep(3)
    finally:
        second_code = await second.stop()
    assert code == 0, first.stderr[-2000:]
    assert ok, f"missing alerts for {missing(fake, ALERTS, titles)}"
    assert duplicates(fake, ALERTS) == {}
    assert second_code == 0
    assert_clean(first.stderr)
    assert_clean(second.stderr)


@pytest.mark.slow
async def test_metric_answers_within_15_s_when_clickhouse_hangs(
    fake: FakeTelegram, tmp_path: Path
) -> None:
    """CLICKHOUSE_URL is a server that accepts connections and never answers: /metric views
    still gets an answer within 15 s saying the source is not answering."""
    held: list[asyncio.StreamWriter] = []

    async def accept(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)  # never a byte back

    server = await asyncio.start_server(accept, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    demo = {"CLICKHOUSE_URL": f"http://127.0.0.1:{port}", "CLICKHOUSE_DATABASE": DEMO_DB}
    bot = await Bot(bot_env(demo, fake, tmp_path), tmp_path).start()
    try:
        await fake.wait_for(lambda c: c.method == "setMyCommands", seconds=60)
        await asyncio.sleep(1)
        asked = time.monotonic()
        await fake.send("/metric views", user=ADMIN)
        answered = await wait_until(lambda: bool(delivered(fake, ADMIN)), fake, 15)
        took = time.monotonic() - asked
        await wait_until(lambda: bool(delivered(fake, ADMIN)), fake, 60)  # for the record
    finally:
        code = await bot.stop()
        for writer in held:
            writer.close()
        server.close()
    replies = [c.text for c in delivered(fake, ADMIN)]
    assert answered, f"no answer within 15 s (took {time.monotonic() - asked:.0f} s: {replies})"
    assert took <= 15
    words = ("answer", "respond", "time", "reach", "read", "available")
    assert any(w in replies[0].lower() for w in words), replies
    assert code == 0
    assert_clean(bot.stderr)


async def test_malformed_callback_data_is_always_answered(
    demo: dict[str, str], fake: FakeTelegram, tmp_path: Path
) -> None:
    """Buttons carrying "ack:zzz", "nonsense" or 70 random characters: each press is answered."""
    bot = await Bot(bot_env(demo, fake, tmp_path), tmp_path).start()
    pressed = ["ack:zzz", "nonsense", random.Random(3).randbytes(35).hex()]
    try:
        await fake.wait_for(lambda c: c.method == "setMyCommands", seconds=60)
        queries = [await fake.press(data, user=ADMIN, chat=ALERTS) for data in pressed]
        await wait_until(lambda: all(fake.answers(q) for q in queries), fake, 30)
    finally:
        code = await bot.stop()
    unanswered = [d for d, q in zip(pressed, queries, strict=True) if not fake.answers(q)]
    assert unanswered == [], f"never answered: {unanswered}"
    assert code == 0
    assert_clean(bot.stderr)


# -- 7. kill -9 at random moments while alerts go out --------------------------------------------


@pytest.mark.slow
async def test_kill_9_loop_during_sends_delivers_every_alert(
    demo: dict[str, str], fake: FakeTelegram, tmp_path: Path
) -> None:
    """At least 20 SIGKILLs at random moments while alerts go out to 8 chats (each send takes
    0.3 s), restarting on the same state: every alert reaches every chat; duplicates counted."""
    titles = await refresh(demo)
    chats = [-100 - n for n in range(8)]
    env = bot_env(demo, fake, tmp_path, ALERT_CHAT_IDS=",".join(map(str, chats)))
    fake.delay("sendPhoto", 0.3)
    fake.delay("sendMessage", 0.3)
    rng = random.Random(10)
    kills, mid_send, logs = 0, 0, []
    started = time.monotonic()
    while kills < 20 and time.monotonic() - started < 900:  # a loaded machine starts slowly
        if kills % 5 == 4:
            await refresh(demo, check=False)  # rows up to now: the incident stays open
        seen = len(fake.calls)
        bot = await Bot(env, tmp_path).start()
        if all(has_all(fake, c, titles) for c in chats):  # nothing left to send: any moment
            await asyncio.sleep(rng.uniform(1.0, 5.0))
        else:  # the first run waits for its check; later ones for the outbox to drain
            sending = await wait_until(partial(_sent_since, fake, seen), fake, 90 if kills == 0
                                       else 30)  # fmt: skip
            await asyncio.sleep(rng.uniform(0.0, 0.9))
            mid_send += sending
        bot.kill()
        await bot.exited(30)
        kills += 1
        logs.append(bot.stderr)
    final = await Bot(env, tmp_path).start()
    try:
        ok = await wait_until(lambda: all(has_all(fake, c, titles) for c in chats), fake, 120)
        await asyncio.sleep(3)
    finally:
        code = await final.stop()
    extra = {c: duplicates(fake, c) for c in chats}
    print(f"{kills} kills, {mid_send} while sending; duplicates per chat: {extra}; "
          f"{sum(n - 1 for d in extra.values() for n in d.values())} in all")  # fmt: skip
    assert kills >= 20
    assert ok, {c: missing(fake, c, titles) for c in chats}
    assert code == 0
    for text in [*logs, final.stderr]:
        assert SECRET not in text
    assert_clean(final.stderr)
