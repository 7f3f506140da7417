"""`alertbot chat`: the bot's chat in a terminal, no Telegram needed. What you type goes to the
very routers, handlers and middlewares `alertbot run` serves (aiogram's dispatcher, fed one
update per line), as a private chat with an admin; what the bot sends comes back here through
a session of its own instead of the Bot API: text as Telegram shows it (no markup), charts
written as PNG files, buttons numbered (type the number to press one). It reads and writes the
same state file and source as the other commands, so a /set here is the bot's too."""

from __future__ import annotations

import asyncio
import html
import itertools
import json
import re
import sys
import threading
import time
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiogram import Bot, Dispatcher
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.base import BaseSession
from aiogram.enums import ParseMode
from aiogram.methods import (
    AnswerCallbackQuery,
    EditMessageCaption,
    EditMessageReplyMarkup,
    EditMessageText,
    GetMe,
    SendMessage,
    SendPhoto,
    TelegramMethod,
)
from aiogram.types import BufferedInputFile, InlineKeyboardMarkup, Update

from bot.core.files import NAME_MAX_BYTES, shortened
from bot.core.text import plain as rendered

if TYPE_CHECKING:
    from bot.service.monitor import Monitor
    from bot.settings import Settings

__all__ = ["CONSOLE", "Screen", "TerminalSession", "converse", "dispatcher_for", "plain"]

CONSOLE = 1  # the terminal's user, an admin, in a private chat of the same id
_PERSON = {"id": CONSOLE, "is_bot": False, "first_name": "console"}
_CHAT = {"id": CONSOLE, "type": "private", "first_name": "console"}
_BOT = {"id": 2, "is_bot": True, "first_name": "alertbot", "username": "alertbot"}
_LINK = re.compile(r'<a\s+href="([^"]*)"\s*>(.*?)</a>', re.IGNORECASE | re.DOTALL)
_UNSAFE = re.compile(r"[^\w.=+-]+")  # in a chart's file name
_NUMBERED = re.compile(r"([0-9]{1,9})-")  # a chart's file: 001-views.png, 1000-views.png
_NUMBER = re.compile(r"[0-9]{1,9}")  # a button's, as typed: not '²' or '①' (digits to isdigit)


def plain(text: str) -> str:
    """What Telegram shows of a text sent as HTML (bot.core.text's reading of it), a link's
    address after its words."""
    return rendered(_LINK.sub(lambda m: m[2] if m[2] == m[1] else f"{m[2]} ({m[1]})", text))


class Screen:
    """Where the bot's messages are shown (`write`, a line at a time) and its charts kept."""

    def __init__(self, write: Callable[[str], None], charts: Path) -> None:
        self._write = write
        self.gone = False  # the reader went away (stdout closed): nothing more is shown
        self.charts = charts
        self.messages: dict[int, dict[str, Any]] = {}  # what the bot sent, as Telegram's JSON
        self.buttons: dict[int, tuple[int, str, str]] = {}  # number: message id, data, label
        self._message_ids = itertools.count(1)
        self._numbers = itertools.count(1)

    def write(self, line: str) -> None:
        """A line shown; once the reader is gone, none (the handler still runs to its end,
        and `converse` stops after it: its error handler would log a bug and apologise)."""
        if not self.gone:
            try:
                self._write(line)
            except BrokenPipeError:
                self.gone = True

    def _say(self, head: str, text: str, *, markup: bool = True) -> None:
        lines = (plain(text) if markup else text).splitlines() or [""]
        self.write(f"{head} {lines[0]}")
        for line in lines[1:]:
            self.write(f"     {line}" if line else "")

    def _keyboard(self, message_id: int, markup: object) -> dict[str, Any] | None:
        if not isinstance(markup, InlineKeyboardMarkup):
            return None
        for row in markup.inline_keyboard:
            shown = []
            for button in row:
                if button.callback_data is not None:
                    number = next(self._numbers)
                    self.buttons[number] = (message_id, button.callback_data, button.text)
                    shown.append(f"[{number}] {button.text}")
                elif button.url is not None:
                    shown.append(f"{button.text}: {button.url}")
            if shown:
                self.write("     " + "   ".join(shown))
        return json.loads(markup.model_dump_json(exclude_none=True))

    def _sent(self, **fields: Any) -> dict[str, Any]:
        message = {"message_id": next(self._message_ids), "date": int(time.time()),
                   "chat": _CHAT, "from": _BOT, **fields}  # fmt: skip
        self.messages[message["message_id"]] = message
        return message

    def _chart(self, photo: object) -> str:
        """Writes the chart as the next numbered file in the folder (none overwritten)."""
        data = photo.data if isinstance(photo, BufferedInputFile) else b""
        name = _UNSAFE.sub("_", (photo.filename if isinstance(photo, BufferedInputFile)
                                 else None) or "chart.png")  # fmt: skip
        try:  # a folder unwritable, full or gone: said, and the reply stands
            self.charts.mkdir(parents=True, exist_ok=True)
            taken = [int(m[1]) for p in self.charts.iterdir() if (m := _NUMBERED.match(p.name))]
            number = f"{max(taken, default=0) + 1:03d}-"
            path = self.charts / (number + shortened(name, NAME_MAX_BYTES - len(number)))
            path.write_bytes(data)
        except OSError as exc:
            return f"chart not written: {exc.filename or self.charts}: {exc.strerror or exc}"
        return f"chart: {path}"

    def show(self, method: TelegramMethod[Any]) -> object:
        """Shows what the bot asked of Telegram; returns what Telegram would answer."""
        html_ = getattr(method, "parse_mode", None) is not None  # None: the text as it is
        if isinstance(method, SendMessage):
            message = self._sent(text=plain(method.text) if html_ else method.text)
            self._say("bot>", method.text, markup=html_)
        elif isinstance(method, SendPhoto):
            caption = method.caption or ""
            message = self._sent(photo=[{"file_id": "chart", "file_unique_id": "chart",
                                         "width": 1, "height": 1}],
                                 caption=plain(caption) if html_ else caption)  # fmt: skip
            self._say("bot>", caption, markup=html_)
            self.write(f"     [{self._chart(method.photo)}]")
        elif isinstance(method, EditMessageText | EditMessageCaption | EditMessageReplyMarkup):
            number = int(method.message_id or 0)
            message = dict(self.messages.get(number) or self._sent())
            said = getattr(method, "text", None) or getattr(method, "caption", None)
            if said is not None:
                message["caption" if "photo" in message else "text"] = (
                    plain(said) if html_ else said)  # fmt: skip
                self._say(f"bot (message {number} now reads)>", said, markup=html_)
            elif method.reply_markup is None:
                self.write(f"bot> (message {number}: its buttons are gone)")
            else:
                self.write(f"bot> (message {number}: its buttons are now)")
        elif isinstance(method, AnswerCallbackQuery):
            if method.text:
                self._say("bot (notice)>", html.escape(method.text))
            return True
        elif isinstance(method, GetMe):
            return _BOT
        else:  # nothing else is asked in a private chat; Telegram would say True
            return True
        markup = self._keyboard(message["message_id"], method.reply_markup)
        if markup is not None:
            message["reply_markup"] = markup
        self.messages[message["message_id"]] = message
        return message

    def pressed(self, line: str) -> tuple[int, str, str] | None:
        """The button whose number `line` is, if any."""
        return self.buttons.get(int(line)) if _NUMBER.fullmatch(line) else None

    def update(self, update_id: int, line: str) -> dict[str, Any]:
        """The update Telegram would send for `line`: a button's number presses it (as long as
        its message is there), anything else is a message."""
        pressed = self.pressed(line)
        if pressed is not None:
            message_id, data, _ = pressed
            return {"update_id": update_id, "callback_query": {
                "id": str(update_id), "from": _PERSON, "chat_instance": "console",
                "data": data, "message": self.messages[message_id]}}  # fmt: skip
        command = line.split(maxsplit=1)[0] if line.startswith("/") else ""
        entities = [{"type": "bot_command", "offset": 0, "length": len(command)}] if command else []
        return {"update_id": update_id, "message": {
            "message_id": 10_000 + update_id, "date": int(time.time()), "chat": _CHAT,
            "from": _PERSON, "text": line, "entities": entities}}  # fmt: skip


class TerminalSession(BaseSession):
    """The Bot API, answered by the screen: each call is shown, none leaves the machine."""

    def __init__(self, screen: Screen) -> None:
        super().__init__()
        self.screen = screen

    async def make_request(self, bot: Bot, method: TelegramMethod[Any],
                           timeout: int | None = None) -> Any:  # noqa: ASYNC109  # fmt: skip
        answer = json.dumps({"ok": True, "result": self.screen.show(method)})
        return self.check_response(bot, method, 200, answer).result

    async def stream_content(  # aiogram's signature
        self, url: str, headers: dict[str, Any] | None = None, timeout: int = 30,  # noqa: ASYNC109
        chunk_size: int = 65536, raise_for_status: bool = True,
    ) -> AsyncGenerator[bytes, None]:  # fmt: skip
        yield b""  # no file is ever downloaded from the chat

    async def close(self) -> None:
        return None


def dispatcher_for(monitor: Monitor, settings: Settings, screen: Screen) -> tuple[Dispatcher, Bot]:
    """The bot's dispatcher as `alertbot run` builds it, the terminal's user one of its admins,
    and a Bot that shows what it sends on `screen`."""
    from bot.chat import dependencies, install
    from bot.chat.admin import nothing_to_reload  # it reads all as it starts

    admins = (*settings.admin_ids, CONSOLE)
    settings = settings.model_copy(update={"admin_ids": admins})
    dispatcher = Dispatcher(**dependencies(monitor, settings), reload=nothing_to_reload,
                            scheduled=False)
    install(dispatcher, admins)
    bot = Bot("1:console", session=TerminalSession(screen),
              default=DefaultBotProperties(parse_mode=ParseMode.HTML))  # fmt: skip
    return dispatcher, bot


async def converse(
    dispatcher: Dispatcher, bot: Bot, screen: Screen,
    lines: Iterable[str] | AsyncIterator[str], *, echo: bool = True,
) -> int:  # fmt: skip
    """Each line as the chat would send it, answered before the next (with `echo`, shown
    first, as a transcript reads); returns how many."""
    count = 0

    async def each() -> AsyncIterator[str]:
        if isinstance(lines, AsyncIterator):
            async for line in lines:
                yield line
        else:
            for line in lines:
                yield line

    async for raw in each():
        line = re.sub("[\ud800-\udfff]", "\ufffd", raw).strip()  # bytes not UTF-8: '�'
        if not line:
            continue
        if line in ("exit", "quit"):
            break
        count += 1
        pressed = screen.pressed(line)
        if echo:
            screen.write(f"you> {line}" if pressed is None else f"you> [{line}] {pressed[2]}")
        if not screen.gone:  # nothing is sent once no one reads (a /set included)
            update = Update.model_validate(screen.update(count, line), context={"bot": bot})
            await dispatcher.feed_update(bot, update)
        if screen.gone:
            raise BrokenPipeError(32, "the reader of the chat went away")
        await asyncio.sleep(0)
    return count


async def typed(prompt: str) -> AsyncIterator[str]:
    """Lines typed at the terminal (the prompt shown once the last answer is), or piped in,
    until the end of input. The reading thread never holds the process at its end (Ctrl-C)."""
    if sys.stdin is None:  # closed before the start (`alertbot chat <&-`): nothing to read
        return
    loop = asyncio.get_running_loop()
    lines: asyncio.Queue[str | None] = asyncio.Queue()
    ready = threading.Event()
    shown = prompt if sys.stdin.isatty() else ""

    def read() -> None:
        while True:
            ready.wait()
            ready.clear()
            try:
                line: str | None = input(shown)
            except UnicodeDecodeError:
                print("alertbot: stopped reading: the input is not UTF-8 text", file=sys.stderr)
                line = None
            except (EOFError, OSError, ValueError):  # the end of input, or stdin closed
                line = None
            loop.call_soon_threadsafe(lines.put_nowait, line)
            if line is None:
                return

    threading.Thread(target=read, name="terminal input", daemon=True).start()
    while True:
        ready.set()
        line = await lines.get()
        if line is None:
            return
        yield line


async def cmd_chat(said: list[str], charts: str, settings: Settings) -> int:
    """`alertbot chat [MESSAGE ...]`: each MESSAGE in turn, else what is typed (or piped)."""
    from bot.console import charts_folder, load_checked, make_source, prepare_demo
    from bot.runtime import make_monitor
    from bot.state import State
    from queries.errors import SourceError
    from queries.sources import EmbeddedSource

    folder = charts_folder(charts)
    load_checked(settings.catalogue_path)  # a mistake in it: exit 2, as for the bot
    state = State(settings.state_path, exclusive=True)  # not beside a bot on the same file
    try:
        source = make_source(settings)
        try:
            monitor = make_monitor(settings, source, state=state)
            if isinstance(source, EmbeddedSource):
                await prepare_demo(source, monitor.catalogue, monitor.clock(), settings.state_path)
            print(f"checking {source.describe()} ...", file=sys.stderr)
            try:  # the commands then answer at once; a source that hangs holds them 60 s
                await monitor.report(budget=60.0)  # (it goes on behind them), not 3 minutes
            except SourceError as exc:  # the chat says it too (/status, /check)
                print(f"warning: the check failed: {exc}", file=sys.stderr)
            screen = Screen(print, folder)
            dispatcher, bot = dispatcher_for(monitor, settings, screen)
            tty = sys.stdin is not None and sys.stdin.isatty()  # None: closed (<&-)
            if not said and tty:
                print("Type a command (/help lists them), a button's number to press it, or "
                      "exit.", file=sys.stderr)  # fmt: skip
            echo = bool(said) or not tty  # a transcript: what was sent, too
            await converse(dispatcher, bot, screen, said or typed("you> "), echo=echo)
            await monitor.close()
        finally:
            await source.close()
    finally:
        state.close()
    return 0
