"""/subscribe, /unsubscribe, /mute and /unmute through the real dispatcher and the fake Bot API:
each reply says what the chat (or the metric) gets after the command, `all` included, and in a
group only its administrators (or ADMIN_IDS) change what it gets."""

from __future__ import annotations

from pathlib import Path

from bot.core.buttons import Action, pack
from tests.conftest import END, SourceSpec
from tests.fakebot import FakeTelegram
from tests.test_bot import ADMIN, ALERTS, fake, running, settings_for
from tests.test_chat import _say

__all__ = ["fake"]  # the fixture, shared with tests/test_bot.py


async def test_unmute_says_what_stays_muted_and_unmute_all_lifts_every_mute(
    fake: FakeTelegram, embedded_spec: SourceSpec, tmp_path: Path
) -> None:
    """With everything muted, /unmute views says views stays muted until then by "all";
    /unmute all lifts every mute (all and per-metric) and names the ones it lifted; with
    nothing muted it says so in plain words."""
    settings = settings_for(fake.url, embedded_spec, tmp_path / "s.db")
    async with running(settings, fake, schedule=False) as monitor:
        nothing = (await _say(fake, "/unmute all", user=ADMIN))[0].text
        await _say(fake, "/mute all 2h", user=ADMIN)
        under_all = (await _say(fake, "/unmute views", user=ADMIN))[0].text
        await _say(fake, "/mute views 1 час", user=ADMIN)
        own_under_all = (await _say(fake, "/unmute views", user=ADMIN))[0].text
        russian = (await _say(fake, "/unmute views", user=ADMIN, language="ru"))[0].text
        await _say(fake, "/mute views 1 час", user=ADMIN)
        lifted = (await _say(fake, "/unmute all", user=ADMIN))[0].text
        left = monitor.state.mutes.active(END)
        after = (await _say(fake, "/unmute views", user=ADMIN))[0].text
    assert "was not muted" not in nothing and "Nothing was muted" in nothing, nothing
    for said in (under_all, own_under_all):
        assert "was not muted" not in said and "on again" not in said, said
        assert "stay muted until" in said and "UTC" in said and "/unmute all" in said
    assert "Оповещения по <code>views</code> остаются заглушены до" in russian, russian
    assert "on again" in lifted and "<code>views</code>" in lifted, lifted
    assert left == []
    assert "was not muted" in after


async def test_the_mute_button_names_the_zone_as_mute_does(
    fake: FakeTelegram, embedded_spec: SourceSpec, tmp_path: Path
) -> None:
    """The alert's 🔕 button answers "muted until … Europe/Moscow", as /mute does, and so does
    the line it sends to the chat."""
    settings = settings_for(fake.url, embedded_spec, tmp_path / "s.db", timezone="Europe/Moscow")
    async with running(settings, fake) as monitor:
        await fake.wait_for(lambda c: c.method == "sendPhoto" and c.chat_id == ALERTS)
        command = (await _say(fake, "/mute views 2h", user=ADMIN))[0].text
        likes = monitor.state.incidents.open_for("likes")
        assert likes is not None and likes.id is not None
        await fake.press(pack(Action.MUTE, likes.id, 1), user=ADMIN, chat=ALERTS)
        toast = await fake.wait_for(lambda c: c.method == "answerCallbackQuery"
                                    and "Muted" in c.data.get("text", ""))  # fmt: skip
        line = await fake.wait_for(lambda c: c.chat_id == ALERTS and "likes</code> muted" in c.text)
    assert "Europe/Moscow" in command
    assert toast[0].data["text"].endswith(" Europe/Moscow"), toast[0].data["text"]
    assert "Europe/Moscow by" in line[0].text
