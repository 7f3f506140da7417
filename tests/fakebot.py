"""A fake Telegram Bot API server: aiohttp on 127.0.0.1, /bot{token}/{method}, form and
multipart bodies, long-polled getUpdates, every call recorded, failures injectable.

The real aiogram bot talks to it over HTTP exactly as it would to api.telegram.org.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web


@dataclass
class Call:
    method: str
    data: dict[str, str]
    files: dict[str, bytes] = field(default_factory=dict)

    @property
    def chat_id(self) -> int | None:
        return int(self.data["chat_id"]) if "chat_id" in self.data else None

    def file(self, field: str) -> bytes:
        """An uploaded file, whether sent as the field itself or as attach://name."""
        value = self.data.get(field, "")
        if value.startswith("attach://"):
            return self.files[value.removeprefix("attach://")]
        return self.files[field]

    @property
    def text(self) -> str:
        return self.data.get("text") or self.data.get("caption") or ""


class FakeTelegram:
    def __init__(self, token: str) -> None:
        self.token = token
        self.calls: list[Call] = []
        self.updates: list[dict[str, Any]] = []
        self.failures: list[tuple[str, int | None, int, dict[str, Any]]] = []
        self.hang: set[str] = set()  # methods whose calls get no answer until released
        self._release = asyncio.Event()
        self._ids = itertools.count(1)
        self._update_ids = itertools.count(1)
        self._changed = asyncio.Condition()
        self.runner: web.AppRunner | None = None
        self.url = ""

    async def start(self) -> str:
        app = web.Application(client_max_size=50 * 1024 * 1024)
        app.router.add_post("/bot{token}/{method}", self.handle)
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}"
        return self.url

    def release(self) -> None:
        """Hung calls end now (their sender is long gone)."""
        self.hang.clear()
        self._release.set()

    async def stop(self) -> None:
        self.release()
        if self.runner is not None:
            await self.runner.cleanup()

    # -- driving the bot -------------------------------------------------------------------
    async def _push(self, update: dict[str, Any]) -> None:
        update["update_id"] = next(self._update_ids)
        async with self._changed:
            self.updates.append(update)
            self._changed.notify_all()

    async def send(self, text: str, *, user: int, chat: int | None = None) -> None:
        """A user writes `text` to the bot (in a private chat unless `chat` is given)."""
        entities = []
        if text.startswith("/"):
            entities = [
                {"type": "bot_command", "offset": 0, "length": len(text.split(maxsplit=1)[0])}
            ]
        await self._push({"message": {
            "message_id": next(self._ids), "date": int(time.time()),
            "chat": {"id": chat or user, "type": "private" if chat is None else "group"},
            "from": {"id": user, "is_bot": False, "first_name": f"User{user}"},
            "text": text, "entities": entities,
        }})  # fmt: skip

    async def press(self, data: str, *, user: int, chat: int, message_id: int = 1) -> None:
        """A user presses an inline button carrying `data`."""
        await self._push({"callback_query": {
            "id": str(next(self._ids)), "chat_instance": "ci", "data": data,
            "from": {"id": user, "is_bot": False, "first_name": f"User{user}"},
            "message": {"message_id": message_id, "date": int(time.time()),
                        "chat": {"id": chat, "type": "group"}, "text": "alert"},
        }})  # fmt: skip

    def fail_next(
        self, method: str, status: int, description: str, *, chat: int | None = None, **extra: Any
    ) -> None:
        """The next call of `method` (to `chat`, if given) gets this error: 429 with
        retry_after, 403, 502..."""
        body = {"ok": False, "error_code": status, "description": description, **extra}
        self.failures.append((method, chat, status, body))

    async def wait_for(
        self, predicate: Callable[[Call], bool], *, count: int = 1, seconds: float = 30.0
    ) -> list[Call]:
        """Until `count` recorded calls match, or fail with what was recorded."""
        deadline = asyncio.get_running_loop().time() + seconds
        async with self._changed:
            while True:
                found = [c for c in self.calls if predicate(c)]
                if len(found) >= count:
                    return found
                left = deadline - asyncio.get_running_loop().time()
                if left <= 0:
                    seen = [(c.method, c.chat_id, c.text[:80]) for c in self.calls]
                    raise AssertionError(f"no {count} matching call(s) in {seconds} s; saw {seen}")
                try:
                    await asyncio.wait_for(self._changed.wait(), timeout=left)
                except TimeoutError:
                    continue

    def sent_to(self, chat: int) -> list[Call]:
        kinds = ("sendMessage", "sendPhoto")
        return [c for c in self.calls if c.chat_id == chat and c.method in kinds]

    # -- the API -------------------------------------------------------------------------
    async def handle(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token:
            return web.json_response({"ok": False, "error_code": 401,
                                      "description": "Unauthorized"}, status=401)  # fmt: skip
        method = request.match_info["method"]
        form = await request.post()
        data: dict[str, str] = {}
        files: dict[str, bytes] = {}
        for key, value in form.items():
            if isinstance(value, web.FileField):
                files[key] = value.file.read()
                value.file.close()
            else:
                data[key] = str(value)
        if method == "getUpdates":
            return await self._get_updates(data)
        if method in self.hang:
            async with self._changed:
                self.calls.append(Call(f"{method}?", data, files))
                self._changed.notify_all()
            await self._release.wait()  # no answer: the sender dies waiting for it
            return web.json_response({"ok": False, "error_code": 500, "description": "gone"},
                                     status=500)  # fmt: skip
        for n, (name, chat, status, body) in enumerate(self.failures):
            if name == method and (chat is None or str(chat) == data.get("chat_id")):
                del self.failures[n]
                async with self._changed:
                    self.calls.append(Call(f"{method}!{status}", data, files))
                    self._changed.notify_all()
                return web.json_response(body, status=status)
        async with self._changed:
            self.calls.append(Call(method, data, files))
            self._changed.notify_all()
        return web.json_response({"ok": True, "result": self._result(method, data)})

    async def _get_updates(self, data: dict[str, str]) -> web.Response:
        offset = int(data.get("offset", 0) or 0)
        timeout = min(float(data.get("timeout", 0) or 0), 1.0)
        async with self._changed:
            self.updates = [u for u in self.updates if u["update_id"] >= offset]
            if not self.updates and timeout > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._changed.wait(), timeout=timeout)
            ready = [u for u in self.updates if u["update_id"] >= offset]
        return web.json_response({"ok": True, "result": ready})

    def _result(self, method: str, data: dict[str, str]) -> Any:
        if method == "getMe":
            return {"id": 4242, "is_bot": True, "first_name": "Alerts", "username": "alerts_bot"}
        if method in ("sendMessage", "sendPhoto", "editMessageText", "editMessageCaption",
                      "editMessageReplyMarkup"):  # fmt: skip
            message: dict[str, Any] = {
                "message_id": next(self._ids), "date": int(time.time()),
                "chat": {"id": int(data.get("chat_id", 0)), "type": "private"},
            }  # fmt: skip
            if method == "sendPhoto":
                message["photo"] = [{"file_id": "photo", "file_unique_id": "u", "width": 1100,
                                     "height": 550}]  # fmt: skip
                if "caption" in data:
                    message["caption"] = data["caption"]
            elif "text" in data:
                message["text"] = data["text"]
            if "reply_markup" in data:
                message["reply_markup"] = json.loads(data["reply_markup"])
            return message
        return True
