"""`alertbot chat`: the bot's chat in a terminal. What is typed goes through the dispatcher,
routers and handlers `alertbot run` serves; what the bot sends is shown as Telegram shows it,
its charts written as files and its buttons numbered, pressed by typing the number."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.service.monitor import Monitor
from bot.state import State
from bot.terminal import Screen, converse, dispatcher_for, plain
from queries.catalogue import load_catalogue
from queries.sources import EmbeddedSource
from tests.conftest import SourceSpec
from tests.test_alerts_i18n import ODD, ODD_DB, copy_with_odd_os, odd_catalogue
from tests.test_bot import Clock, hold_history, settings_for
from tests.test_cli import alertbot, demo_env

__all__ = ["demo_env"]  # the fixture of tests/test_cli.py

PNG = b"\x89PNG\r\n\x1a\n"


async def _chat(spec: SourceSpec, tmp_path: Path, lines: list[str], *,
                odd: bool = False) -> tuple[list[str], Monitor]:  # fmt: skip
    """`lines` sent one after the other from the terminal; what it showed, and the monitor
    (its state file closed: read it again to look)."""
    if odd:  # the odd catalogue on the data whose Android is called ODD
        await copy_with_odd_os(spec)
        spec = SourceSpec("embedded", path=spec.path, database=ODD_DB)
    settings = settings_for("http://127.0.0.1:9", spec, tmp_path / "s.db")  # no Telegram
    if not odd:
        hold_history(settings)
    source = EmbeddedSource(settings.embedded_path, database=settings.clickhouse_database)
    catalogue = odd_catalogue() if odd else load_catalogue()
    monitor = Monitor(source=source, catalogue=catalogue, state=State(settings.state_path),
                      settings=settings, clock=Clock())  # fmt: skip
    shown: list[str] = []
    screen = Screen(shown.append, tmp_path / "charts")
    dispatcher, bot = dispatcher_for(monitor, settings, screen)
    try:
        await monitor.check()  # as `alertbot chat` does before the first command
        await converse(dispatcher, bot, screen, lines)
    finally:
        await monitor.close()
        monitor.state.close()
        await source.close()
    return shown, monitor


async def test_a_session_in_the_terminal_reads_as_the_chat_does(
    embedded_spec: SourceSpec, tmp_path: Path
) -> None:
    """A metric with its chart (a PNG file), a button pressed by its number, an admin's /set
    kept in the state file under the terminal's name, the language changed, a wrong metric and
    a number that is no button answered as the bot answers them; no markup shown."""
    shown, monitor = await _chat(embedded_spec, tmp_path, [
        "/metric views", "/thresholds views", "1", "/set views k 4", "/lang ru",
        "/metric nosuch", "99", "/reload", "/metric views iOS", "exit", "/help",
    ])  # fmt: skip
    text = "\n".join(shown)
    assert shown[0] == "you> /metric views", shown[:3]
    assert shown[1].startswith("bot> Views — "), shown[:3]
    charts = sorted((tmp_path / "charts").iterdir())
    # Named by the metric and its slice, as `check --charts` names them ("005-views.png" was
    # any slice's).
    assert [p.name for p in charts] == ["001-views__total.png", "002-views__os_iOS.png"], charts
    assert charts[0].read_bytes().startswith(PNG)
    assert f"     [chart: {charts[0]}]" in shown
    assert "     [1] All 50 parameters" in shown, text
    assert "you> [1] All 50 parameters" in shown, text
    assert any(s.startswith("bot> Views (views), method seasonal: 50 parameters") for s in shown)
    assert "bot> ✅ Views (views) k: 3.25 → 4" in shown, text
    assert "bot> Метрики «nosuch» нет. Метрики: feed_users, views, likes, ctr, messenger_users, " \
           "messages" in shown, text  # fmt: skip
    assert shown[shown.index("you> 99") + 1] == "bot> Я отвечаю на команды: список — /help.", text
    # Nothing is re-read in the terminal: said in the chat's language, not "🔄 Reloaded."
    # followed by an English line saying nothing was.
    assert shown[shown.index("you> /reload") + 1] == (
        "bot> Здесь нечего перечитывать: alertbot chat читает каталог и .env при каждом "
        "запуске."), text
    assert "you> /help" not in shown  # after `exit`
    assert "<b>" not in text and "&lt;" not in text and "&amp;" not in text, text
    state = State(monitor.settings.state_path)
    try:
        override = state.overrides.of("views")["k"]
    finally:
        state.close()
    assert override.value == 4 and override.who == "console", override


@pytest.mark.slow
async def test_names_with_markup_and_colons_are_shown_as_written(
    embedded_spec: SourceSpec, tmp_path: Path
) -> None:
    """Titles that hold ':', '<i>' and '&', and a slice value of long Cyrillic with ':' and
    '<b>' (the slice that is off): shown as written, never as markup or its escapes."""
    shown, _ = await _chat(embedded_spec, tmp_path, ["/metric views", "/check"], odd=True)
    text = "\n".join(shown)
    assert shown[1] == "bot> Views: <i>лента</i> & co — 🔴 anomaly", shown[:2]
    assert f"os={ODD}" in text, text
    assert "&lt;" not in text and "&amp;" not in text, text


def test_a_text_sent_without_markup_is_shown_as_it_is(tmp_path: Path) -> None:
    """parse_mode=None (a reply sent again as plain text): '<b>' and '&amp;' are its own."""
    from aiogram.methods import SendMessage

    shown: list[str] = []
    screen = Screen(shown.append, tmp_path)
    screen.show(SendMessage(chat_id=1, text="a <b>x</b> &amp; c", parse_mode=None))
    screen.show(SendMessage(chat_id=1, text="a <b>x</b> &amp; c"))  # the bot's default: HTML
    assert shown == ["bot> a <b>x</b> &amp; c", "bot> a x & c"], shown


def test_plain_text_is_what_telegram_shows() -> None:
    assert plain('<b>Views</b> &lt;b&gt; 5 &amp; 6 <a href="https://x.io/d?a=1&amp;b=2">chart'
                 "</a>") == "Views <b> 5 & 6 chart (https://x.io/d?a=1&b=2)"  # fmt: skip
    assert plain('<a href="https://x.io">https://x.io</a>') == "https://x.io"
    assert plain("<code>k</code> = <i>4</i>") == "k = 4"


@pytest.mark.slow  # the CLI on its demo, about 20 s
def test_alertbot_chat_reads_what_is_piped_in(demo_env: dict[str, str], tmp_path: Path) -> None:
    """`alertbot chat` with commands piped in: a transcript (each command, then the answers)
    until `exit`, charts in --charts, exit 0; a --charts that is a file: one sentence, exit 2.
    /status said "next check 09:00", though the terminal checks only when a command asks."""
    import subprocess
    import sys

    from tests.test_cli import clean_env

    done = subprocess.run([sys.executable, "-m", "bot", "chat", "--charts", "pics"],
                          input="/status\n\n/metric views\nexit\n/help\n", cwd=tmp_path,
                          env={**clean_env(), **demo_env}, capture_output=True, text=True,
                          timeout=300, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "you> /status" and lines[1] == "bot> Status", done.stdout
    # No check runs by the clock in the terminal: /status does not promise one.
    assert ("     no check by the clock here: each command checks the newest interval (the bot "
            "checks every 15 minutes)") in lines, done.stdout
    assert not [line for line in lines if "next check" in line], done.stdout
    assert "you> /metric views" in lines and "you> /help" not in lines, done.stdout
    assert [p.suffix for p in (tmp_path / "pics").iterdir()] == [".png"]
    assert "Traceback" not in done.stderr, done.stderr
    (tmp_path / "file").write_text("")
    refused = alertbot("chat", "--charts", str(tmp_path / "file"), "/help", env=demo_env)
    assert refused.returncode == 2, refused.stderr
    assert refused.stderr.strip().endswith("file: not a directory"), refused.stderr



async def test_digits_that_are_not_a_plain_number_are_a_message(
    embedded_spec: SourceSpec, tmp_path: Path
) -> None:
    """'²' and '①' are digits to str.isdigit but no number to int(), and 5,000 nines are more
    digits than int() reads: each is a message the bot answers, never a button or a crash."""
    odd = ["²", "①", "١", "9" * 5000]
    shown, _ = await _chat(embedded_spec, tmp_path, ["/lang", *odd, "/help"])
    text = "\n".join(shown)
    for line in odd:
        said = shown.index(f"you> {line}")
        assert shown[said + 1] == "bot> I answer commands: send /help for the list.", text
    assert "you> /help" in shown, text


async def test_a_reader_gone_ends_the_chat_without_a_traceback(
    embedded_spec: SourceSpec, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """stdout closed early (`alertbot chat /help | head -1`): the write that fails in a handler
    ends the chat with BrokenPipeError (the CLI's quiet exit 141), not a bug logged with its
    traceback and an apology written to the same closed pipe."""
    settings = settings_for("http://127.0.0.1:9", embedded_spec, tmp_path / "s.db")
    source = EmbeddedSource(settings.embedded_path, database=settings.clickhouse_database)
    monitor = Monitor(source=source, catalogue=load_catalogue(), state=State(settings.state_path),
                      settings=settings, clock=Clock())  # fmt: skip
    shown: list[str] = []

    def write(line: str) -> None:
        if shown:
            raise BrokenPipeError(32, "Broken pipe")
        shown.append(line)

    screen = Screen(write, tmp_path / "charts")
    dispatcher, bot = dispatcher_for(monitor, settings, screen)
    try:
        with pytest.raises(BrokenPipeError):
            await converse(dispatcher, bot, screen, ["/help", "/status"])
    finally:
        await monitor.close()
        monitor.state.close()
        await source.close()
    assert shown == ["you> /help"], shown
    assert not [r for r in caplog.records if r.levelname in ("ERROR", "CRITICAL")], caplog.text


async def test_a_chart_that_cannot_be_written_is_said_and_the_reply_stands(
    embedded_spec: SourceSpec, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The charts folder unwritable (a read-only one, /proc, a disk full, a file in its place):
    the reply is shown with why its chart was not written, and the chat goes on; no bug logged
    with a traceback, no apology after the text."""
    (tmp_path / "charts").write_text("a file where the folder was")
    shown, _ = await _chat(embedded_spec, tmp_path, ["/metric views", "/status"])
    text = "\n".join(shown)
    assert shown[1].startswith("bot> Views — "), text
    assert any(s.startswith(f"     [chart not written: {tmp_path / 'charts'}") for s in shown), text
    assert "Sorry" not in text and "bot> Status" in shown, text
    assert not [r for r in caplog.records if r.levelname in ("ERROR", "CRITICAL")], caplog.text


def test_a_chart_named_at_the_length_limit_is_written_once_numbered(tmp_path: Path) -> None:
    """A slice of 300 Cyrillic letters names its chart at the file system's 255 bytes (cut,
    with a hash): the chat's number in front ("001-") made it 259, and the chart was not
    written ("File name too long"). It is cut to fit, keeping its hash and .png."""
    from aiogram.methods import SendPhoto
    from aiogram.types import BufferedInputFile

    from bot.core.files import chart_file_name

    name = chart_file_name("views", "os=" + "ж" * 300)
    assert len(name.encode()) == 255
    shown: list[str] = []
    screen = Screen(shown.append, tmp_path)
    screen.show(SendPhoto(chat_id=1, photo=BufferedInputFile(PNG, name)))
    (written,) = tmp_path.iterdir()
    assert written.read_bytes() == PNG and not any("not written" in s for s in shown), shown
    assert written.name.startswith("001-views__os_жжж") and written.name.endswith(name[-14:])
    assert len(written.name.encode()) <= 255


def test_charts_past_the_999th_are_numbered_on_never_overwritten(tmp_path: Path) -> None:
    """The default charts/ is the same folder session after session: after 999-*.png the next
    charts are 1000-, 1001-, ..., none written over another."""
    from aiogram.methods import SendPhoto
    from aiogram.types import BufferedInputFile

    (tmp_path / "999-views.png").write_bytes(b"old")
    screen = Screen(lambda _: None, tmp_path)
    for n in range(3):
        screen.show(SendPhoto(chat_id=1, photo=BufferedInputFile(PNG + bytes([n]), "v.png")))
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "1000-v.png", "1001-v.png", "1002-v.png", "999-views.png"]  # fmt: skip
    assert (tmp_path / "1002-v.png").read_bytes() == PNG + bytes([2])


async def test_bytes_that_are_not_utf8_are_shown_as_telegram_would(
    embedded_spec: SourceSpec, tmp_path: Path
) -> None:
    """A MESSAGE argument, or a line piped in the C locale, with bytes that are not UTF-8
    reaches Python as lone surrogates ('\\udcff'): it is sent with '�' in their place, as
    Telegram shows such text, so a terminal that writes UTF-8 strictly can show it (it stopped
    the chat with UnicodeEncodeError)."""
    shown, _ = await _chat(embedded_spec, tmp_path, ["/metric \udcff", "/status"])
    text = "\n".join(shown)
    assert text.encode("utf-8"), "a strict terminal writes it"
    assert shown[0] == "you> /metric �", text
    assert shown[1].startswith("bot> There is no metric '�'."), text
    assert "bot> Status" in shown, text


async def test_no_stdin_at_all_is_the_end_of_input(monkeypatch: pytest.MonkeyPatch) -> None:
    """`alertbot chat <&-` (stdin closed, sys.stdin None): nothing typed, the chat ends; it
    stopped with AttributeError on sys.stdin.isatty()."""
    import sys

    from bot.terminal import typed

    monkeypatch.setattr(sys, "stdin", None)
    assert [line async for line in typed("you> ")] == []


@pytest.mark.slow  # the CLI on its demo, about 20 s
def test_alertbot_chat_with_stdin_closed_ends_at_once(demo_env: dict[str, str]) -> None:
    """`alertbot chat <&-`: no input, so exit 0 after the check, no traceback."""
    import subprocess
    import sys

    from tests.test_cli import clean_env

    done = subprocess.run(["sh", "-c", 'exec "$0" -m bot chat <&-', sys.executable],
                          env={**clean_env(), **demo_env}, capture_output=True, text=True,
                          timeout=300, check=False)  # fmt: skip
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr
    assert done.stdout == "", done.stdout
