"""A fake Telegram Bot API server: aiohttp on 127.0.0.1, /bot{token}/{method}, form and
multipart bodies, long-polled getUpdates, every call recorded, failures injectable.

The real aiogram bot talks to it over HTTP exactly as it would to api.telegram.org, and it
refuses what Telegram refuses: HTML it cannot parse (when parse_mode=HTML), texts and captions
too long once rendered (UTF-16 code units), callback data over 64 bytes.

Injectable: errors with a JSON body (`fail_next`) or an HTML page from a proxy
(`fail_next_html`), a delay per method before answering (`delay`), calls that never get an answer
(`hang`), getChat / getChatMember answers per chat and user (`set_member`, `chat_gone`), a group
upgraded to a supergroup (`migrate`).
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import itertools
import json
import re
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
    result: Any = None  # what the fake answered (the message, for sends and edits)
    answered: bool = False  # the answer was written back (a delayed call may never be)
    at: float = field(default_factory=time.monotonic)  # when it arrived

    @property
    def message_id(self) -> int | None:
        if isinstance(self.result, dict) and "message_id" in self.result:
            return int(self.result["message_id"])
        return int(self.data["message_id"]) if "message_id" in self.data else None

    @property
    def buttons(self) -> list[dict[str, Any]]:
        """The inline buttons sent with this call, row after row."""
        if "reply_markup" not in self.data:
            return []
        markup = json.loads(self.data["reply_markup"])
        return [b for row in markup.get("inline_keyboard", []) for b in row]

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


ALLOWED_TAGS = {"b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "a", "code", "pre",
                "tg-spoiler", "span", "blockquote", "tg-emoji"}  # fmt: skip
NAMED_ENTITIES = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}
_ENTITY = re.compile(r"&(#[0-9]+|#[xX][0-9a-fA-F]+|[a-zA-Z]+);")
_ATTRIBUTE = re.compile(r"""\s*([a-zA-Z_-]+)(?:\s*=\s*("[^"]*"|'[^']*'|[^\s>"']+))?""")
TEXT_LIMIT, CAPTION_LIMIT, CALLBACK_DATA_LIMIT = 4096, 1024, 64


class HtmlError(ValueError):
    """What Telegram says after "can't parse entities: "."""


def _offset(text: str, i: int) -> int:
    return len(text[:i].encode())


def render_html(text: str) -> str:  # noqa: PLR0912, PLR0915  (one pass, as Telegram's)
    """The text Telegram shows for `text` sent with parse_mode=HTML, or HtmlError as Telegram
    would refuse it (its rules: only the allowed tags, closed in order, attributes closed)."""
    out: list[str] = []
    stack: list[str] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch == "&":
            m = _ENTITY.match(text, i)
            if m is None:
                out.append("&")
                i += 1
                continue
            name = m.group(1)
            if name.startswith(("#x", "#X")):
                out.append(chr(int(name[2:], 16)))
            elif name.startswith("#"):
                out.append(chr(int(name[1:])))
            else:
                out.append(NAMED_ENTITIES.get(name, m.group(0)))
            i = m.end()
        elif ch == "<" and text.startswith("</", i):
            end = text.find(">", i)
            if end < 0:
                raise HtmlError(f"Unclosed end tag at byte offset {_offset(text, i)}")
            name = text[i + 2 : end].strip().lower()
            if not stack:
                raise HtmlError(f"Unexpected end tag at byte offset {_offset(text, i)}")
            if name != stack[-1]:
                raise HtmlError(
                    f"Unmatched end tag at byte offset {_offset(text, i)}, expected "
                    f'"</{stack[-1]}>", found "</{name}>"'
                )
            stack.pop()
            i = end + 1
        elif ch == "<":
            m = re.compile(r"<([a-zA-Z0-9-]*)").match(text, i)
            assert m is not None
            name = m.group(1).lower()
            if name not in ALLOWED_TAGS:
                raise HtmlError(
                    f'Unsupported start tag "{m.group(1)}" at byte offset {_offset(text, i)}'
                )
            j = m.end()
            attributes: dict[str, str] = {}
            while True:
                while j < n and text[j].isspace():
                    j += 1
                if j >= n:
                    raise HtmlError(f"Unclosed start tag at byte offset {_offset(text, i)}")
                if text[j] == ">":
                    break
                if text.startswith("/>", j):
                    raise HtmlError(f"Unclosed start tag at byte offset {_offset(text, i)}")
                a = _ATTRIBUTE.match(text, j)
                if a is None or a.end() == j:
                    raise HtmlError(f"Unclosed start tag at byte offset {_offset(text, i)}")
                value = a.group(2) or ""
                if value[:1] in ('"', "'"):
                    value = value[1:-1]
                attributes[a.group(1).lower()] = html.unescape(value)
                j = a.end()
                if j >= n:
                    raise HtmlError(f"Unclosed start tag at byte offset {_offset(text, i)}")
            if name == "span" and attributes.get("class") != "tg-spoiler":
                raise HtmlError('Tag "span" must have class "tg-spoiler"')
            stack.append(name)
            i = j + 1
        else:
            out.append(ch)
            i += 1
    if stack:
        raise HtmlError(f'Can\'t find end tag corresponding to start tag "{stack[-1]}"')
    return "".join(out)


def utf16_length(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def rejection(method: str, data: dict[str, str]) -> str | None:
    """The 400 description Telegram would answer this call with, or None when it is fine."""
    html_mode = data.get("parse_mode", "").lower() == "html"
    for key, limit, too_long in (
        ("text", TEXT_LIMIT, "Bad Request: message is too long"),
        ("caption", CAPTION_LIMIT, "Bad Request: message caption is too long"),
    ):
        if key not in data:
            continue
        shown = data[key]
        if html_mode:
            try:
                shown = render_html(shown)
            except HtmlError as error:
                return f"Bad Request: can't parse entities: {error}"
        if utf16_length(shown) > limit:
            return too_long
        if key == "text" and not shown.strip() and method in ("sendMessage", "editMessageText"):
            return "Bad Request: message text is empty"
    if "reply_markup" in data:
        try:
            markup = json.loads(data["reply_markup"])
        except ValueError:
            return "Bad Request: can't parse reply keyboard markup JSON object"
        rows = markup.get("inline_keyboard", []) if isinstance(markup, dict) else []
        for row in rows:
            for button in row:
                callback = button.get("callback_data")
                if callback is not None and not 1 <= len(callback.encode()) <= CALLBACK_DATA_LIMIT:
                    return "Bad Request: BUTTON_DATA_INVALID"
    return None


class FakeTelegram:
    def __init__(self, token: str) -> None:
        self.token = token
        self.calls: list[Call] = []
        self.updates: list[dict[str, Any]] = []
        # (method, chat or None, status, body): a JSON body (dict) or an HTML page (str)
        self.failures: list[tuple[str, int | None, int, Any]] = []
        self.hang: set[str] = set()  # methods whose calls get no answer until released
        self.delays: dict[str, float] = {}  # method -> seconds between receiving and answering
        self.members: dict[int, dict[int, str]] = {}  # chat -> user -> getChatMember status
        self.gone: dict[int, tuple[int, str]] = {}  # chat -> getChat error (status, description)
        self.moved: dict[int, int] = {}  # group -> the supergroup it became (its new id)
        self.validate = True  # refuse what Telegram refuses (HTML, lengths, callback data)
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

    async def press(
        self,
        data: str,
        *,
        user: int,
        chat: int | None = None,
        message_id: int = 1,
        message: Call | None = None,
        first_name: str | None = None,
        username: str | None = None,
    ) -> str:
        """A user presses an inline button carrying `data`, on `message` (a recorded send: its
        chat, message id, text or caption and buttons) or on message `message_id` in `chat`.
        Returns the callback query id (answerCallbackQuery names it as callback_query_id)."""
        shown: dict[str, Any] = {"text": "alert"}
        if message is not None:
            chat = message.chat_id if chat is None else chat
            message_id = message.message_id or message_id
            if "caption" in message.data:
                shown = {"caption": message.data["caption"],
                         "photo": [{"file_id": "photo", "file_unique_id": "u", "width": 1100,
                                    "height": 550}]}  # fmt: skip
            else:
                shown = {"text": message.text}
            if "reply_markup" in message.data:
                shown["reply_markup"] = json.loads(message.data["reply_markup"])
        assert chat is not None, "press(): give chat= or message="
        sender: dict[str, Any] = {"id": user, "is_bot": False,
                                  "first_name": first_name or f"User{user}"}  # fmt: skip
        if username:
            sender["username"] = username
        query_id = str(next(self._ids))
        await self._push({"callback_query": {
            "id": query_id, "chat_instance": "ci", "data": data, "from": sender,
            "message": {"message_id": message_id, "date": int(time.time()),
                        "chat": {"id": chat, "type": "group" if chat < 0 else "private"},
                        **shown},
        }})  # fmt: skip
        return query_id

    def answers(self, query_id: str) -> list[Call]:
        """answerCallbackQuery calls for one pressed button."""
        return [c for c in self.calls if c.method.startswith("answerCallbackQuery")
                and c.data.get("callback_query_id") == query_id]  # fmt: skip

    # -- chats and members -----------------------------------------------------------------
    def set_member(self, chat: int, user: int, status: str = "member") -> None:
        """getChatMember(chat, user) answers `status` ("member", "administrator", "creator",
        "left", "kicked"); users never declared are "left"."""
        self.members.setdefault(chat, {})[user] = status

    def chat_gone(
        self,
        chat: int,
        status: int = 403,
        description: str = "Forbidden: bot was blocked by the user",
    ) -> None:
        """The chat is gone for the bot: getChat, getChatMember and every send to it fail."""
        self.gone[chat] = (status, description)

    def migrate(self, chat: int, to: int) -> None:
        """The group `chat` became the supergroup `to`: every call naming the old id gets 400
        with migrate_to_chat_id, as Telegram answers."""
        self.moved[chat] = to

    def fail_next(
        self, method: str, status: int, description: str, *, chat: int | None = None, **extra: Any
    ) -> None:
        """The next call of `method` (to `chat`, if given) gets this error: 429 with
        retry_after, 403, 502..."""
        body = {"ok": False, "error_code": status, "description": description, **extra}
        self.failures.append((method, chat, status, body))

    def fail_next_html(
        self,
        method: str,
        status: int = 502,
        *,
        chat: int | None = None,
        page: str | None = None,
        echo_url: bool = True,
    ) -> None:
        """The next call of `method` (to `chat`, if given) gets an HTML page from a proxy, not
        JSON (content type text/html); with `echo_url` the page shows the request URL, token
        included, as some proxies do."""
        if page is None:
            page = (f"<html><head><title>{status} Bad Gateway</title></head><body>"
                    f"<h1>{status} Bad Gateway</h1>{{url}}<hr><center>nginx</center>"
                    "</body></html>")  # fmt: skip
        if not echo_url:
            page = page.replace("{url}", "")
        self.failures.append((method, chat, status, page))

    def delay(self, method: str, seconds: float) -> None:
        """Calls of `method` are received (and count as delivered) at once, answered later."""
        self.delays[method] = seconds

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
            return await self._get_updates(data, request)
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
                return await self._error(
                    method, data, files, status=status, body=body, request=request
                )
        lost = self._chat_error(_int(data.get("chat_id")), method)
        if lost is not None:
            return await self._error(method, data, files, status=lost["error_code"], body=lost,
                                     request=request)  # fmt: skip
        if self.validate:
            refused = rejection(method, data)
            if refused is not None:
                body = {"ok": False, "error_code": 400, "description": refused}
                return await self._error(
                    method, data, files, status=400, body=body, request=request
                )
        call = Call(method, data, files)
        call.result = self._result(method, data)
        async with self._changed:
            self.calls.append(call)
            self._changed.notify_all()
        if self.delays.get(method):
            await asyncio.sleep(self.delays[method])
        call.answered = True
        return web.json_response({"ok": True, "result": call.result})

    def _chat_error(self, chat_id: int | None, method: str) -> dict[str, Any] | None:
        """The error every call naming a gone (or migrated) chat gets, else None."""
        if chat_id is None or method == "answerCallbackQuery":
            return None
        if chat_id in self.moved:
            return {"ok": False, "error_code": 400,
                    "description": "Bad Request: group chat was upgraded to a supergroup chat",
                    "parameters": {"migrate_to_chat_id": self.moved[chat_id]}}  # fmt: skip
        if chat_id in self.gone:
            status, description = self.gone[chat_id]
            return {"ok": False, "error_code": status, "description": description}
        return None

    async def _error(
        self,
        method: str,
        data: dict[str, str],
        files: dict[str, bytes],
        *,
        status: int,
        body: Any,
        request: web.Request,
    ) -> web.Response:
        call = Call(f"{method}!{status}", data, files, result=body, answered=True)
        async with self._changed:
            self.calls.append(call)
            self._changed.notify_all()
        if isinstance(body, str):
            page = body.replace("{url}", html.escape(str(request.url)))
            return web.Response(text=page, status=status, content_type="text/html")
        return web.json_response(body, status=status)

    async def _get_updates(self, data: dict[str, str], request: web.Request) -> web.Response:
        refused = next((n for n, f in enumerate(self.failures) if f[0] == "getUpdates"), None)
        if refused is not None:  # a token revoked while polling: 401 (recorded, as others)
            _, _, status, body = self.failures.pop(refused)
            return await self._error("getUpdates", data, {}, status=status, body=body,
                                     request=request)  # fmt: skip
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
        if method == "getChat":
            chat = _int(data.get("chat_id")) or 0
            kind = (
                "private" if chat > 0 else "supergroup" if str(chat).startswith("-100") else "group"
            )
            return {"id": chat, "type": kind, "title": f"Chat {chat}"}
        if method == "getChatMember":
            chat, user = _int(data.get("chat_id")) or 0, _int(data.get("user_id")) or 0
            status = self.members.get(chat, {}).get(user, "member" if chat == user else "left")
            person = {"id": user, "is_bot": False, "first_name": f"User{user}"}
            answer: dict[str, Any] = {"status": status, "user": person}
            if status == "administrator":
                answer.update(can_be_edited=False, is_anonymous=False, can_manage_chat=True,
                              can_delete_messages=True, can_manage_video_chats=True,
                              can_restrict_members=True, can_promote_members=False,
                              can_change_info=True, can_invite_users=True,
                              can_post_stories=False, can_edit_stories=False,
                              can_delete_stories=False,
                              can_send_welcome_messages=False)  # fmt: skip
            if status == "kicked":
                answer["until_date"] = 0
            return answer
        if method in ("sendMessage", "sendPhoto", "editMessageText", "editMessageCaption",
                      "editMessageReplyMarkup"):  # fmt: skip
            # An edit answers with the message it edited, as Telegram does: same id.
            edited = _int(data.get("message_id")) if method.startswith("edit") else None
            message: dict[str, Any] = {
                "message_id": edited or next(self._ids), "date": int(time.time()),
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


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None
