"""Cutting and splitting HTML for Telegram's limits: on rendered length, never inside a tag."""

from __future__ import annotations

import html
import random
from html.parser import HTMLParser

import pytest

from bot.core.text import cut_html, plain, rendered_length, split_html


class _Balance(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.ok = True

    def handle_starttag(self, tag: str, attrs: object) -> None:
        self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack.pop() != tag:
            self.ok = False


def balanced(text: str) -> bool:
    parser = _Balance()
    parser.feed(text)
    parser.close()
    return parser.ok and not parser.stack and "<a href" not in text.rsplit(">", maxsplit=1)[-1]


def random_html(rng: random.Random) -> str:
    words = ["Азербайджанская", "Республика:", "views", "&", "<", ">", "😀", "x" * 30, "\n",
             "страна", "a:b", '"q"']  # fmt: skip
    parts = []
    for _ in range(rng.randint(5, 120)):
        word = html.escape(rng.choice(words), quote=False)
        roll = rng.random()
        if roll < 0.15:
            parts.append(f"<b>{word}</b>")
        elif roll < 0.2:
            url = html.escape("https://dash.example/?m=views&s=" + "ы" * rng.randint(1, 400))
            parts.append(f'<a href="{url}">{word}</a>')
        elif roll < 0.25:
            parts.append(f"<pre>{word}\n{word}</pre>")
        else:
            parts.append(word)
        parts.append(rng.choice([" ", "\n", ""]))
    return "".join(parts)


@pytest.mark.parametrize("seed", range(40))
def test_cut_and_split_fit_the_limit_and_keep_the_markup_valid(seed: int) -> None:
    """Random HTML with Cyrillic, emoji, entities and long links: every cut or split part fits
    its rendered limit and is balanced markup; splitting loses no rendered character."""
    rng = random.Random(seed)
    text = random_html(rng)
    limit = rng.choice([40, 100, 1024])
    cut = cut_html(text, limit)
    assert rendered_length(cut) <= limit and balanced(cut)
    if rendered_length(text) <= limit:
        assert cut == text
    parts = split_html(text, limit)
    assert all(rendered_length(p) <= limit and balanced(p) for p in parts)
    assert "".join(plain(p) for p in parts).split() == plain(text).split()


def test_a_long_link_is_cut_outside_the_tag() -> None:
    """A caption whose dashboard link would cross the limit keeps the link whole or drops its
    text: the tag itself is never cut."""
    caption = "line one\n" * 130 + '<a href="https://x.example/' + "q" * 700 + '">dashboard</a>'
    cut = cut_html(caption, 1024)
    assert rendered_length(cut) <= 1024 and balanced(cut) and cut.endswith("…")
    assert "<a href" not in cut or "</a>" in cut
