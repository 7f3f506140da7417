"""A Russian chat reads as one language: the replies name a metric and a detector as its alert
cards and chart captions do, /help's placeholders are Russian, and what a reply tells the
user to type is something the bot takes. They drive the real bot through the fake Bot API,
nothing of aiogram or the project mocked."""

from __future__ import annotations

import re
from pathlib import Path

from tests.conftest import SourceSpec
from tests.fakebot import FakeTelegram, render_html
from tests.test_bot import ADMIN, USER, running, settings_for
from tests.test_chat import _say, fake

__all__ = ["fake"]


async def test_thresholds_names_the_detector_as_the_chart_caption_does(
    fake: FakeTelegram, embedded_spec: SourceSpec, tmp_path: Path
) -> None:
    """A Russian chat reads «детектор: сезонный: …» under /metric views; /thresholds must say
    «сезонный» for that detector too, not the catalogue's `seasonal` (which the full list
    still gives, as the catalogue's key, beside the word); an English chat says "seasonal"
    in both."""
    settings = settings_for(fake.url, embedded_spec, tmp_path / "s.db")
    async with running(settings, fake, schedule=False) as monitor:
        await monitor.check()
        caption = render_html((await _say(fake, "/metric views", user=USER,
                                          language="ru"))[0].text)  # fmt: skip
        overview = render_html((await _say(fake, "/thresholds", user=USER,
                                           language="ru"))[0].text)  # fmt: skip
        full = render_html((await _say(fake, "/thresholds views all", user=USER,
                                       language="ru"))[0].text)  # fmt: skip
        english = render_html((await _say(fake, "/thresholds", user=ADMIN))[0].text)
    said = re.search(r"^детектор: (\w+):", caption, re.M)
    assert said is not None and said[1] == "сезонный", caption
    views = next(line for line in overview.splitlines() if "views" in line)
    assert f": {said[1]}, k = 3,25, рост и падение" in views, views
    assert "seasonal" not in overview, overview
    assert "метод сезонный (seasonal)" in full.splitlines()[0], full
    assert ": seasonal, k = 3.25, rises and drops" in english, english
