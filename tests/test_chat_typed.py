"""What people type into the chat as they write it: a language by its name, a slice or a
choice in capitals, a thousand as 1,000, a share far out of range, `all` where other commands
take it, an edited command and one posted in a channel. Each test says what the user expects;
they drive the real bot through the fake Bot API, nothing of aiogram or the project mocked."""

from __future__ import annotations

import asyncio
import re
import time
from datetime import timedelta
from pathlib import Path

import pytest

from tests.conftest import SourceSpec
from tests.fakebot import FakeTelegram, render_html
from tests.test_bot import ADMIN, USER, running, settings_for
from tests.test_chat import _say, fake

__all__ = ["fake"]


async def _text(fake: FakeTelegram, text: str, *, user: int, language: str | None = None) -> str:
    """What the user reads in the first answer (HTML rendered as Telegram shows it)."""
    return render_html((await _say(fake, text, user=user, language=language))[0].text)


async def test_lang_repeats_a_wrong_code_as_typed_not_as_html_entities(
    fake: FakeTelegram, embedded_spec: SourceSpec, tmp_path: Path
) -> None:
    """`/lang <b>` and `/lang fr&en`: the user expects "not '<b>'" / "not 'fr&en'", as every
    other command repeats what was typed, not the word escaped twice ("not '&lt;b&gt;'")."""
    settings = settings_for(fake.url, embedded_spec, tmp_path / "s.db")
    async with running(settings, fake, schedule=False, warm=False):
        tag = await _text(fake, "/lang <b>", user=USER)
        amp = await _text(fake, "/lang fr&en", user=USER)
    assert "not '<b>'" in tag, tag
    assert "not 'fr&en'" in amp, amp


async def test_lang_named_in_words_is_not_denied(
    fake: FakeTelegram, embedded_spec: SourceSpec, tmp_path: Path
) -> None:
    """`/lang русский` (a Russian user) and `/lang English`: the user expects the language
    switched, not "I speak English and Russian only, not 'русский'"."""
    settings = settings_for(fake.url, embedded_spec, tmp_path / "s.db")
    async with running(settings, fake, schedule=False, warm=False) as monitor:
        russian = await _text(fake, "/lang русский", user=USER, language="ru")
        english = await _text(fake, "/lang English", user=ADMIN)
        chosen = monitor.state.languages.of_chat(USER)
    assert "'русский'" not in russian or chosen == "ru", russian
    assert "not 'English'" not in english, english


@pytest.mark.slow
async def test_a_share_above_100_is_answered_with_advice_that_works(
    fake: FakeTelegram, embedded_spec: SourceSpec, tmp_path: Path
) -> None:
    """`/set views window_min_share 500` (0..1), `/set views min_rel_change 500` (0..10) and
    `/set views min_rel_change 50` (50%, or 5000%?): the user expects every "write X" the bot
    suggests to be a value /set takes, and where no reading of the number fits, the range. (It
    used to say "write 5 or 500%" to the first two: 5 was refused in turn, and 500% is out of
    window_min_share's range.)"""
    settings = settings_for(fake.url, embedded_spec, tmp_path / "s.db")
    refused, advised = [], 0
    async with running(settings, fake, schedule=False, warm=False):
        said = await _text(fake, "/set views window_min_share 500", user=ADMIN)
        assert "must be a share from 0 to 1 or a percentage from 0% to 100%" in said, said
        for param, value in (("min_rel_change", "500"), ("min_rel_change", "50")):
            said = await _text(fake, f"/set views {param} {value}", user=ADMIN)
            first = said.split("\n")[0]
            ways = re.findall(r"write (\S+?)(?:\.|$| or)", first)
            ways += re.findall(r"or (\S+?)\.", first)
            assert ways, said
            for way in ways:
                advised += 1
                again = await _text(fake, f"/set views {param} {way}", user=ADMIN)
                if "✅" not in again and "already" not in again:
                    refused.append((param, first, way, again.split("\n")[0]))
    assert advised >= 3 and not refused, (advised, refused)


async def test_a_huge_share_is_not_said_to_mean_inf_percent(
    fake: FakeTelegram, embedded_spec: SourceSpec, tmp_path: Path
) -> None:
    """`/set views min_rel_change 1e308`: the user expects "must be a share from 0 to 10 ...",
    not "1e+308 would mean inf%; write 1e+306 or 1e+308%" (both refused)."""
    settings = settings_for(fake.url, embedded_spec, tmp_path / "s.db")
    async with running(settings, fake, schedule=False, warm=False):
        said = await _text(fake, "/set views min_rel_change 1e308", user=ADMIN)
    assert "inf%" not in said and "write 1e+306" not in said, said
    assert "must be a share from 0 to 10 or a percentage from 0% to 1,000%" in said, said


async def test_an_english_thousands_separator_is_not_read_as_a_decimal_comma(
    fake: FakeTelegram, embedded_spec: SourceSpec, tmp_path: Path
) -> None:
    """In an English chat the bot itself writes a thousand as "1,000" (values, ranges). An
    admin writing `/set views min_abs_change 1,000` expects 1000, not 1 (a decimal comma, as
    a Russian chat writes it: there 2,5 is still 2.5)."""
    settings = settings_for(fake.url, embedded_spec, tmp_path / "s.db")
    async with running(settings, fake, schedule=False, warm=False) as monitor:
        said = await _text(fake, "/set views min_abs_change 1,000", user=ADMIN)
        kept = monitor.state.overrides.of("views").get("min_abs_change")
        russian = await _text(fake, "/set views k 3,5", user=ADMIN, language="ru")
        k = monitor.state.overrides.of("views").get("k")
    assert kept is not None and kept.value == 1000.0, (kept, said)
    assert k is not None and k.value == 3.5, (k, russian)


async def test_a_russian_thousand_grouped_by_a_space_is_one_number_and_said_as_set(
    fake: FakeTelegram, embedded_spec: SourceSpec, tmp_path: Path
) -> None:
    """A Russian chat writes a thousand as "1 000", and the bot writes it so (with a no-break
    space). `/set messages min_abs_change 1 000` was refused as two values with the advice to
    send `... 1`, a guard a thousand times lower: the admin expects 1000 set. A value of
    millions is said back as set, "1 234 567", not rounded in an exponent ("1,23457e+06"), and
    the valid range of a number reads in figures, not "1e+12"."""
    settings = settings_for(fake.url, embedded_spec, tmp_path / "s.db")
    async with running(settings, fake, schedule=False, warm=False) as monitor:
        spaced = await _text(fake, "/set messages min_abs_change 1 000", user=ADMIN,
                             language="ru")  # fmt: skip
        thousand = monitor.state.overrides.of("messages").get("min_abs_change")
        copied = await _text(fake, "/set views min_abs_change 1\u00a0234\u00a0567,5", user=ADMIN,
                             language="ru")  # fmt: skip
        millions = monitor.state.overrides.of("views").get("min_abs_change")
        english = await _text(fake, "/set likes min_abs_change 2500000", user=ADMIN)
        refused = await _text(fake, "/set likes min_abs_change -5", user=ADMIN, language="ru")
        two = await _text(fake, "/set views persist_k 2 3", user=ADMIN, language="ru")
    assert thousand is not None and thousand.value == 1000.0, (thousand, spaced)
    assert "→ 1\u00a0000\n" in spaced, spaced
    assert millions is not None and millions.value == 1234567.5, (millions, copied)
    assert "→ 1\u00a0234\u00a0567,5\n" in copied, copied
    assert "min_abs_change: 0 → 2,500,000\n" in english and "e+" not in english, english
    assert "от 0 до 1\u00a0000\u00a0000\u00a0000\u00a0000" in refused, refused
    assert "e+" not in refused, refused
    assert two.startswith("/set принимает одно значение, а не «2 3»"), two  # not 23


async def test_a_share_s_smallest_change_is_set_as_a_percentage_and_refusals_quote_as_typed(
    fake: FakeTelegram, embedded_spec: SourceSpec, tmp_path: Path
) -> None:
    """CTR reads 20,12% everywhere, so an admin writes its smallest change as a percentage:
    `/set ctr min_abs_change 0,5%` was refused ("a number ..., not '0.5%'"), and nothing said
    that 0,005 is half a point. It is set now, and said both ways. A refused value is repeated
    as typed (3,5, not 3.5), in the chat's quotes, a backslash as one."""
    settings = settings_for(fake.url, embedded_spec, tmp_path / "s.db")
    async with running(settings, fake, schedule=False, warm=False) as monitor:
        percent = await _text(fake, "/set ctr min_abs_change 0,5%", user=ADMIN, language="ru")
        kept = monitor.state.overrides.of("ctr").get("min_abs_change")
        shown = await _text(fake, "/thresholds ctr", user=ADMIN, language="ru")
        counts = await _text(fake, "/set views min_abs_change 5%", user=ADMIN)
        days = await _text(fake, "/set views days 3,5", user=ADMIN, language="ru")
        slash = await _text(fake, "/metric a\\b", user=ADMIN)
    assert kept is not None and kept.value == 0.005, (kept, percent)
    assert "min_abs_change: 0 (0%) → 0,005 (0,5%)\n" in percent, percent
    assert "min_abs_change = 0,005 (0,5%)" in shown, shown
    assert "not '5%'" in counts, counts  # views counts events: a percentage means nothing
    assert "а не «3,5»" in days, days
    assert "There is no metric 'a\\b'." in slash, slash


async def test_a_change_that_changes_nothing_says_so_in_words(
    fake: FakeTelegram, embedded_spec: SourceSpec, tmp_path: Path
) -> None:
    """A guard of 1 view on thousands changes no alert: the admin reads "the same 29 alerts",
    not "29 alerts instead of 29 (+0)"; /reset of a metric nobody changed says there was no
    override, not "0 overrides removed"."""
    settings = settings_for(fake.url, embedded_spec, tmp_path / "s.db")
    async with running(settings, fake, schedule=False, warm=False):
        same = await _text(fake, "/set views min_abs_change 1", user=ADMIN)
        russian = await _text(fake, "/set views min_abs_change 2", user=ADMIN, language="ru")
        reset = await _text(fake, "/reset likes", user=ADMIN)
    assert re.search(r"\nOver the last 7 days this would have raised the same \d+ alerts?\.\n",
                     same), same  # fmt: skip
    assert "instead of" not in same and "(+0)" not in same, same
    assert re.search(r"\nЗа 7 дней истории это дало бы столько же оповещений: \d+\.\n",
                     russian), russian  # fmt: skip
    assert reset == ("↩️ Likes (likes): no override to remove; the catalogue's settings are in "
                     "force."), reset


async def test_metric_total_is_read_in_any_case(
    fake: FakeTelegram, embedded_spec: SourceSpec, tmp_path: Path
) -> None:
    """`/metric views Total`: the slice is read in any case (`/metric views ios` works), and
    the user expects the total, not "'Total' is not a slice: write os=iOS, iOS or total"."""
    settings = settings_for(fake.url, embedded_spec, tmp_path / "s.db")
    async with running(settings, fake, schedule=False) as monitor:
        await monitor.check()
        calls = await _say(fake, "/metric views Total", user=USER)
    assert "is not a slice" not in calls[0].text, calls[0].text
    assert render_html(calls[0].text).startswith("Views —"), calls[0].text


async def test_metric_slice_dimension_is_read_in_any_case(
    fake: FakeTelegram, embedded_spec: SourceSpec, tmp_path: Path
) -> None:
    """`/metric views OS=iOS` and `/metric views Country=Russia`: the value is matched in any
    case (`os=ios` works), and so is the dimension: the user expects the iOS slice, not
    "views is sliced by os, source, country, not 'OS'"."""
    settings = settings_for(fake.url, embedded_spec, tmp_path / "s.db")
    async with running(settings, fake, schedule=False) as monitor:
        await monitor.check()
        os_ = await _text(fake, "/metric views OS=iOS", user=USER)
        country = await _text(fake, "/metric views Country=Russia", user=USER)
    assert os_.startswith("Views · os=iOS"), os_
    assert country.startswith("Views · country=Russia"), country


async def test_thresholds_all_lists_every_metric(
    fake: FakeTelegram, embedded_spec: SourceSpec, tmp_path: Path
) -> None:
    """`/subscribe all`, `/mute all`, `/unmute all` take "all"; `/thresholds all` is the same
    habit and the user expects the settings of every metric (what bare /thresholds shows),
    not "There is no metric 'all'"."""
    settings = settings_for(fake.url, embedded_spec, tmp_path / "s.db")
    async with running(settings, fake, schedule=False, warm=False):
        said = await _text(fake, "/thresholds all", user=USER)
    assert "There is no metric 'all'" not in said, said


async def test_a_choice_parameter_is_read_in_any_case(
    fake: FakeTelegram, embedded_spec: SourceSpec, tmp_path: Path
) -> None:
    """`/set views direction Down` (a phone capitalizes, people write "Down"): commands and
    metric names are read in any case, so the admin expects direction = down."""
    settings = settings_for(fake.url, embedded_spec, tmp_path / "s.db")
    async with running(settings, fake, schedule=False, warm=False) as monitor:
        said = await _text(fake, "/set views direction Down", user=ADMIN)
        kept = monitor.state.overrides.of("views").get("direction")
    assert kept is not None and kept.value == "down", said


async def test_an_edited_command_is_answered(
    fake: FakeTelegram, embedded_spec: SourceSpec, tmp_path: Path
) -> None:
    """A user fixes a typo by editing the message (`/mute veiws 2h` -> `/mute views 2h`), as
    Telegram invites: the edit arrives as `edited_message`. The user expects an answer (here
    that an edit is not run: send it again); silence would leave the admin believing views
    muted."""
    settings = settings_for(fake.url, embedded_spec, tmp_path / "s.db")
    async with running(settings, fake, schedule=False, warm=False):
        now = int(time.time())
        await fake._push({"edited_message": {
            "message_id": 5, "date": now - 5, "edit_date": now,
            "chat": {"id": USER, "type": "private"},
            "from": {"id": USER, "is_bot": False, "first_name": "U"}, "text": "/status",
            "entities": [{"type": "bot_command", "offset": 0, "length": 7}],
        }})  # fmt: skip
        await fake.wait_for(lambda c: c.chat_id == USER)
        await asyncio.sleep(1.0)  # room for a second answer, were there one
        answered = [render_html(c.text) for c in fake.sent_to(USER)]
    assert answered == ["I don't run edited commands: send /status again as a new message."]


async def test_a_command_posted_in_a_channel_is_answered(
    fake: FakeTelegram, embedded_spec: SourceSpec, tmp_path: Path
) -> None:
    """A team that gets its alerts in a channel (the bot an administrator there) posts
    `/status` in it: Telegram delivers it as `channel_post`. The user expects an answer (here
    the pointer to a private chat or a group), not silence."""
    settings = settings_for(fake.url, embedded_spec, tmp_path / "s.db")
    channel = -1005
    async with running(settings, fake, schedule=False, warm=False):
        await fake._push({"channel_post": {
            "message_id": 6, "date": int(time.time()),
            "chat": {"id": channel, "type": "channel", "title": "Alerts"},
            "sender_chat": {"id": channel, "type": "channel", "title": "Alerts"},
            "text": "/status", "entities": [{"type": "bot_command", "offset": 0, "length": 7}],
        }})  # fmt: skip
        await fake.wait_for(lambda c: c.chat_id == channel)
        await asyncio.sleep(1.0)  # room for a second answer, were there one
        answered = [render_html(c.text) for c in fake.sent_to(channel)]
    assert answered == ["I don't take commands in a channel: send /status to me in a private "
                        "chat or a group."], answered


async def test_a_date_is_written_as_the_chat_s_language_writes_it(
    fake: FakeTelegram, embedded_spec: SourceSpec, tmp_path: Path
) -> None:
    """Who set what, and when, in `/thresholds views`: a Russian chat reads 12-06 as the 12th of
    June, so it gets 06.12 (day first); an English chat keeps 12-06."""
    settings = settings_for(fake.url, embedded_spec, tmp_path / "s.db")
    async with running(settings, fake, schedule=False, warm=False) as monitor:
        await _text(fake, "/set views k 4", user=ADMIN)
        russian = await _text(fake, "/thresholds views", user=ADMIN, language="ru")
        english = await _text(fake, "/thresholds views", user=USER)
        now = monitor.clock()
    assert f"{now:%d.%m} " in russian and f"{now:%m-%d} " not in russian, russian
    assert f"{now:%m-%d} " in english, english


async def test_a_long_cyrillic_slice_with_markup_under_a_capitalized_dimension(
    fake: FakeTelegram, embedded_spec: SourceSpec, tmp_path: Path
) -> None:
    """`/metric views Country=` and 300 characters of Cyrillic holding ':' and '<b>': the
    dimension is taken in any case, the value is no slice of views, and the answer says so
    as plain text (what was typed shown as typed, cut short), never as markup."""
    settings = settings_for(fake.url, embedded_spec, tmp_path / "s.db")
    value = ("Москва: <b>жирный</b> " * 15)[:300]
    async with running(settings, fake, schedule=False) as monitor:
        await monitor.check()
        calls = await _say(fake, f"/metric views Country={value}", user=USER)
    shown = render_html(calls[0].text)
    assert "<b>жирный" not in calls[0].text and "Москва: <b>жирный</b>" in shown, calls[0].text
    assert "is sliced by" not in shown and len(calls[0].text) < 1500, shown


async def test_check_with_a_metric_after_it_says_where_one_metric_is_checked(
    fake: FakeTelegram, embedded_spec: SourceSpec, tmp_path: Path
) -> None:
    """`/check views` ran the whole check (four messages, three charts) as if "views" had not
    been written: the user expects one metric, and is told the command that shows one."""
    settings = settings_for(fake.url, embedded_spec, tmp_path / "s.db")
    async with running(settings, fake, schedule=False, warm=False):
        calls = await _say(fake, "/check views", user=USER)
        russian = await _text(fake, "/check Просмотры", user=USER, language="ru")
    assert len(calls) == 1 and calls[0].method == "sendMessage", calls
    said = render_html(calls[0].text)
    assert said.startswith("/check checks every metric and takes nothing after it; for one "
                           "metric send /metric views\nUsage: /check"), said
    assert "/metric Просмотры" in russian, russian


async def test_words_people_write_for_a_direction_a_mute_and_a_language(
    fake: FakeTelegram, embedded_spec: SourceSpec, tmp_path: Path
) -> None:
    """/thresholds explains a direction as "down (drops only)", so an admin writes `/set views
    direction вниз`; a mute for `полчаса` or for `час`; `/lang русский язык`. Each was refused
    as no value, no duration or no language."""
    settings = settings_for(fake.url, embedded_spec, tmp_path / "s.db")
    async with running(settings, fake, schedule=False, warm=False) as monitor:
        down = await _text(fake, "/set views direction вниз", user=ADMIN, language="ru")
        direction = monitor.state.overrides.of("views").get("direction")
        half = await _text(fake, "/mute likes полчаса", user=ADMIN, language="ru")
        likes = monitor.state.mutes.until("likes", monitor.clock())
        hour = await _text(fake, "/mute ctr час", user=ADMIN, language="ru")
        ctr = monitor.state.mutes.until("ctr", monitor.clock())
        russian = await _text(fake, "/lang русский язык", user=USER)
        chosen = monitor.state.languages.of_chat(USER)
    assert direction is not None and direction.value == "down", (direction, down)
    now = monitor.clock()
    assert likes is not None and abs(likes - now - timedelta(minutes=30)) < timedelta(minutes=1), \
        half
    assert ctr is not None and abs(ctr - now - timedelta(hours=1)) < timedelta(minutes=1), hour
    assert chosen == "ru", russian


async def test_status_says_how_complete_the_data_is_without_reading_as_a_breach(
    fake: FakeTelegram, embedded_spec: SourceSpec, tmp_path: Path
) -> None:
    """/status said "data complete up to 16:15 (10 minutes ago; delay allowed 2 minutes)":
    ten minutes beside two allowed read as data late, in the middle of an ordinary interval.
    It says what the two minutes are: how long after its end an interval counts."""
    settings = settings_for(fake.url, embedded_spec, tmp_path / "s.db")
    async with running(settings, fake, schedule=False, warm=False) as monitor:
        await monitor.check()
        english = await _text(fake, "/status", user=USER)
        russian = await _text(fake, "/status", user=USER, language="ru")
    line = next(x for x in english.splitlines() if x.startswith("data complete up to "))
    assert re.fullmatch(r"data complete up to \d\d:\d\d \(.+ ago; an interval counts 2 minutes "
                        r"after it ends\)", line), line
    assert "allowed" not in english and "допускается" not in russian, (english, russian)
    assert re.search(r"данные полные до \d\d:\d\d \(.+ назад; интервал учитывается через 2 минуты "
                     r"после конца\)", russian), russian


async def test_check_marks_a_muted_metric(
    fake: FakeTelegram, embedded_spec: SourceSpec, tmp_path: Path
) -> None:
    """After `/mute likes полчаса`, /check showed Likes as any other metric, while /metric likes
    said it was muted: the team reading /check expects the 🔕 there too, with its end."""
    settings = settings_for(fake.url, embedded_spec, tmp_path / "s.db")
    async with running(settings, fake, schedule=False, warm=False) as monitor:
        await monitor.check()
        await _say(fake, "/mute likes полчаса", user=ADMIN, language="ru")
        until = monitor.state.mutes.until("likes", monitor.clock())
        english = await _text(fake, "/check", user=USER)
        russian = await _text(fake, "/check", user=USER, language="ru")
    assert until is not None
    likes = next(line for line in english.splitlines() if " Likes: " in line)
    assert likes.endswith(f" 🔕 muted until {until:%H:%M}"), likes
    views = next(line for line in english.splitlines() if " Views: " in line)
    assert "🔕" not in views, views
    assert re.search(rf"Лайки: .+ 🔕 оповещения заглушены до {until:%H:%M}$", russian, re.M), \
        russian
