"""Telegram's limits on what it renders: a caption holds 1024 characters, a message 4096,
counted after the HTML is parsed (tags gone, entities one character) in UTF-16 code units.

Cutting or splitting raw HTML by its length breaks it (a cut inside `<a href="...` makes
Telegram refuse the whole message), so both work on the parsed form: text is cut only between
characters of the rendered text, at a line break when one is near, and every tag left open is
closed (and reopened in the next part when splitting).
"""

from __future__ import annotations

import html
import re

__all__ = ["CAPTION_LIMIT", "MESSAGE_LIMIT", "TOAST_NAME", "as_plain", "clipped", "cut_html",
           "plain", "quoted", "rendered_length", "split_html"]

CAPTION_LIMIT = 1024
MESSAGE_LIMIT = 4096
TOAST_NAME = 60  # characters a metric's title and name keep in a button's answer (200 in all)
ELLIPSIS = "…"

_TOKEN = re.compile(r"<(/?)([a-zA-Z][a-zA-Z0-9-]*)((?:\s[^<>]*)?)>|([^<]+)|(<)")


def clipped(text: str, width: int = 40) -> str:
    """What someone typed, for an answer that repeats it: cut with "…" when it is long."""
    return text if len(text) <= width else text[: width - 1] + "…"


def quoted(text: str, lang: str = "en", width: int = 40) -> str:
    """What someone typed, repeated in an answer: in the quotes of the chat's language
    ('views'; Russian «views»), as typed (no escapes: one backslash stays one, and a quote
    inside stays as it is), on one line, cut with "…" past `width` characters."""
    flat = "".join(" " if c.isspace() or not c.isprintable() else c for c in text)
    cut = clipped(flat, width)
    return f"«{cut}»" if lang == "ru" else f"'{cut}'"


def _units(text: str) -> int:
    """Length in UTF-16 code units, as Telegram counts."""
    return len(text.encode("utf-16-le")) // 2


def _tokens(text: str) -> list[tuple[str, str, str]]:
    """(kind, name, raw) with kind 'open', 'close' or 'text' (raw text is unescaped)."""
    out = []
    for match in _TOKEN.finditer(text):
        closing, name, _, body, stray = match.groups()
        if body is not None:
            out.append(("text", "", html.unescape(body)))
        elif stray is not None:
            out.append(("text", "", "<"))
        else:
            out.append(("close" if closing else "open", name.lower(), match.group(0)))
    return out


def rendered_length(text: str) -> int:
    return sum(_units(raw) for kind, _, raw in _tokens(text) if kind == "text")


def plain(text: str) -> str:
    """The rendered text without any markup."""
    return "".join(raw for kind, _, raw in _tokens(text) if kind == "text")


def _take(text: str, room: int) -> str:
    """The longest prefix of `text` within `room` UTF-16 units, preferring a line break."""
    taken, used = [], 0
    for char in text:
        width = _units(char)
        if used + width > room:
            break
        taken.append(char)
        used += width
    prefix = "".join(taken)
    newline = prefix.rfind("\n")
    if newline >= len(prefix) * 0.6:
        return prefix[:newline]
    return prefix


def _close(stack: list[tuple[str, str]]) -> str:
    return "".join(f"</{name}>" for name, _ in reversed(stack))


def as_plain(text: str, limit: int) -> str:
    """`text` as plain text that no parser can refuse (markup dropped, the rest escaped),
    within `limit`: what is left to try when Telegram refused a message or an edit as it was."""
    return cut_html(html.escape(plain(text), quote=False), limit)


def cut_html(text: str, limit: int) -> str:
    """`text` unchanged when it fits, else cut to `limit` rendered characters ending in "…",
    with every tag closed. Never cuts inside a tag or an entity."""
    if rendered_length(text) <= limit:
        return text
    room = limit - _units(ELLIPSIS)
    out: list[str] = []
    stack: list[tuple[str, str]] = []
    used = 0
    for kind, name, raw in _tokens(text):
        if kind == "open":
            stack.append((name, raw))
            out.append(raw)
        elif kind == "close":
            if stack and stack[-1][0] == name:
                stack.pop()
                out.append(raw)
        else:
            width = _units(raw)
            if used + width <= room:
                out.append(html.escape(raw, quote=False))
                used += width
                continue
            out.append(html.escape(_take(raw, room - used), quote=False))
            break
    return "".join(out).rstrip() + ELLIPSIS + _close(stack)


def split_html(text: str, limit: int = MESSAGE_LIMIT) -> list[str]:
    """Parts of at most `limit` rendered characters, split at line breaks where possible; a tag
    open at a split is closed at the end of one part and reopened at the start of the next."""
    if rendered_length(text) <= limit:
        return [text] if text else []
    parts: list[str] = []
    stack: list[tuple[str, str]] = []
    current: list[str] = []
    used = 0

    def flush() -> None:
        nonlocal current, used
        body = "".join(current) + _close(stack)
        if plain(body).strip():
            parts.append(body)
        current = [raw for _, raw in stack]
        used = 0

    for kind, name, raw in _tokens(text):
        if kind == "open":
            stack.append((name, raw))
            current.append(raw)
            continue
        if kind == "close":
            if stack and stack[-1][0] == name:
                stack.pop()
                current.append(raw)
            continue
        for piece in re.split(r"(?<=\n)", raw):  # lines, each keeping its line break
            rest = piece
            while rest:
                width = _units(rest)
                if used + width <= limit:
                    current.append(html.escape(rest, quote=False))
                    used += width
                    break
                if used > 0:
                    flush()
                    continue
                head = _take(rest, limit) or rest[:1]
                current.append(html.escape(head, quote=False))
                used += _units(head)
                rest = rest[len(head) :]
                flush()
    if current and plain("".join(current)).strip():
        parts.append("".join(current) + _close(stack))
    return parts
