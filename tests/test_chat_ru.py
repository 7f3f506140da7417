"""A Russian chat reads as one language: the replies name a metric and a detector as its alert
cards and chart captions do, /help's placeholders are Russian, and what a reply tells the
user to type is something the bot takes. They drive the real bot through the fake Bot API,
nothing of aiogram or the project mocked."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bot.core.formatting import named
from bot.core.i18n import translator
from tests.conftest import SourceSpec
from tests.fakebot import FakeTelegram, render_html
from tests.test_bot import ADMIN, USER, running, settings_for
from tests.test_chat import MEMBER, _say, fake

__all__ = ["fake"]


async def _read(fake: FakeTelegram, text: str, *, user: int, language: str | None = "ru",
                count: int = 1) -> str:  # fmt: skip
    """The bot's first answer to `user` writing `text` from a client in `language`, as read."""
    return render_html((await _say(fake, text, user=user, language=language,
                                   count=count))[0].text)  # fmt: skip


async def test_thresholds_names_the_detector_as_the_chart_caption_does(
    fake: FakeTelegram, embedded_spec: SourceSpec, tmp_path: Path
) -> None:
    """A Russian chat reads «детектор: сезонный (…)» under /metric views; /thresholds must say
    «сезонный» for that detector too, not the catalogue's `seasonal` (which the full list
    still gives, as the catalogue's key, beside the word); an English chat says "seasonal"
    in both. The overview's heading points to one metric's details in words that read ("one
    metric's: /thresholds METRIC" did not)."""
    settings = settings_for(fake.url, embedded_spec, tmp_path / "s.db")
    async with running(settings, fake, schedule=False) as monitor:
        await monitor.check()
        caption = await _read(fake, "/metric views", user=USER)
        overview = await _read(fake, "/thresholds", user=USER)
        full = await _read(fake, "/thresholds views all", user=USER)
        english = await _read(fake, "/thresholds", user=ADMIN, language=None)
    said = re.search(r"^детектор: (\w+) \(", caption, re.M)
    assert said is not None and said[1] == "сезонный", caption
    views = next(line for line in overview.splitlines() if "views" in line)
    assert f": {said[1]}, k = 3,25, рост и падение" in views, views
    assert "seasonal" not in overview, overview
    assert "метод сезонный (seasonal)" in full.splitlines()[0], full
    assert ": seasonal, k = 3.25, rises and drops" in english, english
    assert overview.startswith("Действующие настройки (подробнее об одной метрике — "
                               "/thresholds МЕТРИКА)\n"), overview
    assert english.startswith("Settings in force (for one metric in detail: /thresholds "
                              "METRIC)\n"), english


@pytest.mark.slow
async def test_replies_name_a_metric_by_its_title_and_suggest_commands_that_work(
    fake: FakeTelegram, embedded_spec: SourceSpec, tmp_path: Path
) -> None:
    """Alert cards name a metric by the catalogue's title in the chat's language («Просмотры»,
    "Views"); /check, /thresholds, /set and /reset must too, not by its code (`views`). Where
    the user is to type the metric, the code stays (and the title says which one it is:
    «Просмотры (views)»), and every command those replies suggest is one the bot takes."""
    settings = settings_for(fake.url, embedded_spec, tmp_path / "s.db")
    async with running(settings, fake, schedule=False) as monitor:
        await monitor.check()
        metrics = list(monitor.catalogue.metrics.values())
        check_ru = await _read(fake, "/check", user=USER, count=4)
        check_en = await _read(fake, "/check", user=ADMIN, language=None, count=4)
        overview = await _read(fake, "/thresholds", user=USER)
        changed = await _read(fake, "/set views k 4", user=ADMIN)
        short = await _read(fake, "/thresholds views", user=ADMIN)
        suggested = re.findall(r"/(?:set|reset|backtest|thresholds)(?: [A-Za-z0-9_]+(?:\.\d+)?)+",
                               "\n".join((short, changed)))  # fmt: skip
        answers = {}
        for command in dict.fromkeys(suggested):
            answers[command] = await _read(fake, command, user=ADMIN)
    untitled = check_ru + check_en  # what is left once the titles are taken out
    for m in sorted(metrics, key=lambda m: -len(m.title)):  # "CTR (likes / views)" first
        untitled = untitled.replace(m.title, "").replace(m.title_in("ru"), "")
        # The name a command takes, beside the title of a metric with slices off, and in the
        # /metric line that shows one of them.
        untitled = untitled.replace(f" ({m.name}): ", "").replace(f" [{m.name}]: ", "")
        untitled = untitled.replace(f"/metric {m.name} ", "")
    for m in metrics:
        russian = m.title_in("ru")
        assert russian in check_ru and m.title in check_en, (m.name, check_ru, check_en)
        assert not re.search(rf"\b{m.name}\b", untitled), (m.name, untitled)
        assert f"{named(m, translator('ru'))}: " in overview, overview
    assert "\n• Просмотры (views): os=" in check_ru, check_ru  # slices off, under the title
    assert changed.startswith("✅ Просмотры (views) k: 3,25 → 4\n"), changed
    assert {"/set views k 3.5", "/reset views", "/backtest views",
            "/thresholds views all"} <= set(answers), suggested  # fmt: skip
    for command, answer in answers.items():
        assert "Формат:" not in answer and "Метрики " not in answer, (command, answer)
    assert answers["/reset views"].startswith("↩️ Просмотры (views): "), answers


async def test_a_title_that_ends_in_parentheses_takes_its_name_in_brackets(
    fake: FakeTelegram, embedded_spec: SourceSpec, tmp_path: Path
) -> None:
    """A metric's name follows its title in parentheses, and a title that ends in its own
    read «CTR (лайки / просмотры) (ctr)»: such a title takes the name in brackets, «CTR (лайки
    / просмотры) [ctr]», in every reply that names a metric so (/thresholds, /set), in Russian
    and English; other titles keep the parentheses."""
    settings = settings_for(fake.url, embedded_spec, tmp_path / "s.db")
    async with running(settings, fake, schedule=False, warm=False) as monitor:
        await monitor.check()
        replies = {
            "overview": await _read(fake, "/thresholds", user=USER),
            "english": await _read(fake, "/thresholds", user=ADMIN, language=None),
            "short": await _read(fake, "/thresholds ctr", user=USER),
            "full": await _read(fake, "/thresholds ctr all", user=USER),
            "changed": await _read(fake, "/set ctr k 4", user=ADMIN),
        }
    assert "\nCTR (лайки / просмотры) [ctr]: сезонный" in replies["overview"], replies
    assert "\nПросмотры (views): сезонный" in replies["overview"], replies
    assert "\nCTR (likes / views) [ctr]: seasonal" in replies["english"], replies
    assert replies["short"].startswith("CTR (лайки / просмотры) [ctr]: от чего зависит "
                                       "оповещение\n"), replies  # fmt: skip
    assert replies["full"].startswith("CTR (лайки / просмотры) [ctr], метод "), replies
    assert replies["changed"].startswith("✅ CTR (лайки / просмотры) [ctr] k: 3,25 → 4\n"), replies
    assert not [r for r in replies.values() if "(ctr)" in r], replies


async def test_russian_help_and_usage_lines_have_russian_placeholders(
    fake: FakeTelegram, embedded_spec: SourceSpec, tmp_path: Path
) -> None:
    """Russian /help read «/metric NAME [slice]» and «/set METRIC PARAM VALUE»: the
    placeholders must be Russian («МЕТРИКА [срез]»), in /help, in a usage line and in /metrics,
    with the command names and the words typed as written (/metric, all, en|ru) kept; the
    English ones stay as they were."""
    settings = settings_for(fake.url, embedded_spec, tmp_path / "s.db")
    async with running(settings, fake, schedule=False):
        help_ru = await _read(fake, "/help", user=ADMIN)
        help_en = await _read(fake, "/help", user=USER, language="en")
        usage_ru = await _read(fake, "/set views", user=ADMIN)
        metrics_ru = await _read(fake, "/metrics", user=USER)
    for line in ("/metric МЕТРИКА [срез] — ", "/subscribe [метрика|all] — ",
                 "/thresholds [метрика] [all] — ", "/history [N] — ",
                 "/backtest МЕТРИКА [дни] — ", "/lang [en|ru] — ",
                 "/set МЕТРИКА ПАРАМЕТР ЗНАЧЕНИЕ — ", "/reset МЕТРИКА — ",
                 "/mute МЕТРИКА|all СРОК — ", "/unmute МЕТРИКА|all — "):  # fmt: skip
        assert f"\n{line}" in help_ru, (line, help_ru)
    english = re.compile(r"(?<![/\w-])(NAME|METRIC|PARAM|VALUE|DURATION|slice|days|metric)"
                         r"(?![\w-])")  # not /metric nor metric-alertbot
    assert not english.search(help_ru + usage_ru + metrics_ru), (help_ru, usage_ru, metrics_ru)
    assert "Формат: /set МЕТРИКА ПАРАМЕТР ЗНАЧЕНИЕ\n" in usage_ru, usage_ru
    assert "/metric МЕТРИКА [срез]" in metrics_ru, metrics_ru
    assert "\n/metric NAME [slice] — one metric now" in help_en, help_en


async def test_check_sends_its_charts_most_deviating_first(
    fake: FakeTelegram, embedded_spec: SourceSpec, tmp_path: Path
) -> None:
    """The charts after /check came in the detector's order, a -28% before a -49%: the user
    expects the largest change from the expected value first, as each caption writes it."""
    settings = settings_for(fake.url, embedded_spec, tmp_path / "s.db")
    async with running(settings, fake, schedule=False) as monitor:
        await monitor.check()
        answers = await _say(fake, "/check", user=USER, language="ru", count=4)
    captions = [render_html(a.text) for a in answers[1:]]
    changes = []
    for caption in captions:
        said = re.search(r"^значение .* ([+-]\d+(?:,\d+)?)%$", caption, re.M)
        assert said is not None, caption
        changes.append(abs(float(said[1].replace(",", "."))))
    assert len(changes) == 3 and changes == sorted(changes, reverse=True), captions


async def test_russian_corrections_name_the_metric_as_typed_in_natural_russian(
    fake: FakeTelegram, embedded_spec: SourceSpec, tmp_path: Path
) -> None:
    """A user who typed the title hears it back with the name (not just «views»), and the
    sentences decline as Russian does: «У Просмотры (views) k уже 3,5» and «дней должно быть
    целое число» read as calques."""
    settings = settings_for(fake.url, embedded_spec, tmp_path / "s.db")
    async with running(settings, fake, schedule=False) as monitor:
        await monitor.check()
        slice_typo = await _read(fake, "/metric Просмотры os=Andriod", user=USER)
        days = await _read(fake, "/backtest views 99", user=USER)
        same = await _read(fake, "/set views k 3.25", user=ADMIN)
    assert slice_typo.startswith("У метрики Просмотры (views) нет среза «os=Andriod»; срезы: "
                                 "total, "), slice_typo  # fmt: skip
    assert days.startswith("Число дней — целое от 1 до 14.\nФормат: /backtest МЕТРИКА [дни]"), days
    assert same == "Просмотры (views): k уже 3,25, ничего не изменилось.", same


async def test_mute_subscribe_backtest_status_and_help_name_a_metric_by_its_title(
    fake: FakeTelegram, embedded_spec: SourceSpec, tmp_path: Path
) -> None:
    """/mute, /unmute, /subscribe, /unsubscribe, /backtest, /status's mutes and subscriptions
    and /help's first line said a metric's code (`views`) where /check and the alerts say its
    title («Просмотры»); they name it by title, with the name a command takes beside it where
    one may type it (/mute, /unmute, /subscribe, /unsubscribe, /status, /help), in Russian
    as Russian declines it («по метрике Просмотры (views)») and in English. What is left of a
    reply without its titles and the commands it suggests holds no metric's code."""
    settings = settings_for(fake.url, embedded_spec, tmp_path / "s.db")
    script = [(USER, "/subscribe views"), (ADMIN, "/mute views 2h"), (ADMIN, "/mute ctr 3h"),
              (USER, "/status"), (ADMIN, "/unmute views"), (ADMIN, "/unmute views"),
              (ADMIN, "/mute all 1h"), (ADMIN, "/mute likes 30m"), (ADMIN, "/unmute likes"),
              (ADMIN, "/unmute all"), (USER, "/unsubscribe views"), (USER, "/unsubscribe views"),
              (USER, "/subscribe all"), (USER, "/subscribe likes"), (USER, "/unsubscribe likes"),
              (USER, "/unsubscribe all"), (ADMIN, "/backtest views 2"),
              (USER, "/help")]  # fmt: skip
    said: dict[str, list[str]] = {"ru": [], "en": []}
    async with running(settings, fake, schedule=False) as monitor:
        await monitor.check()
        metrics = sorted(monitor.catalogue.metrics.values(), key=lambda m: -len(m.title))
        for lang, user_of in (("ru", {USER: USER, ADMIN: ADMIN}),
                              ("en", {USER: MEMBER, ADMIN: ADMIN})):  # fmt: skip
            for user, text in script:
                said[lang].append(await _read(fake, text, user=user_of[user],
                                              language=None if lang == "en" else lang))
    for lang, replies in said.items():
        t = translator(lang)
        for reply in replies:
            rest = re.sub(r"/\w+ [A-Za-z_]+", "", reply)  # the commands it suggests
            for m in metrics:  # "CTR (likes / views)" first
                rest = rest.replace(named(m, t), "").replace(m.title_in(lang), "")
            assert not re.search(rf"\b({'|'.join(m.name for m in metrics)})\b", rest), reply
    ru, en = said["ru"], said["en"]
    assert ru[0] == ("🔔 Теперь этот чат получает оповещения по метрике Просмотры (views). "
                     "Отписаться — /unsubscribe."), ru[0]  # fmt: skip
    assert en[0] == "🔔 This chat now gets alerts for Views (views). /unsubscribe to stop.", en[0]
    assert ru[1].startswith("🔕 Оповещения по метрике Просмотры (views) заглушены до "), ru[1]
    assert en[1].startswith("🔕 Alerts for Views (views) muted until "), en[1]
    muted = re.search(r"\nзаглушены: (.+) \(UTC\)\n", ru[3])
    assert muted is not None and {p.split(" до ")[0] for p in muted[1].split(", ")} == {
        "Просмотры (views)", "CTR (лайки / просмотры) [ctr]"}, ru[3]  # fmt: skip
    assert ("\nэтот чат получает оповещения по метрикам: Просмотры (views); отписаться — "
            "/unsubscribe\n") in ru[3], ru[3]  # fmt: skip
    assert "\nthis chat gets alerts for: Views (views); /unsubscribe to stop\n" in en[3], en[3]
    assert ru[4] == "🔔 Оповещения по метрике Просмотры (views) снова включены.", ru[4]
    assert ru[5] == "Оповещения по метрике Просмотры (views) не были заглушены.", ru[5]
    assert "\nЗаглушены дольше: CTR (лайки / просмотры) [ctr] до " in ru[6], ru[6]
    assert ru[8].startswith("Заглушение метрики Лайки (likes) снято. Оповещения по метрике "
                            "Лайки (likes) остаются заглушены до "), ru[8]  # fmt: skip
    assert ru[9] == ("🔔 Оповещения по всем метрикам снова включены. Сняты и заглушения "
                     "отдельных метрик: CTR (лайки / просмотры) [ctr]."), ru[9]  # fmt: skip
    assert ru[10] == "🔕 Этот чат больше не получает оповещения по метрике Просмотры (views).", ru
    assert ru[13].startswith("Этот чат уже получает оповещения по всем метрикам, в том числе по "
                             "метрике Лайки (likes) "), ru[13]  # fmt: skip
    lines = ru[16].splitlines()
    assert lines[0].startswith("Просмотры: за 2 дня истории"), ru[16]
    assert all(re.match(r"\d\d\.\d\d \d\d:\d\d (Просмотры|\w+=\w+) — \d+ интервал", line)
               for line in lines[2:]), ru[16]  # fmt: skip
    assert ru[17].startswith("metric-alertbot раз в 15 минут проверяет метрики и их срезы: "
                             "Активные пользователи ленты (feed_users), Просмотры (views), "
                             ), ru[17]  # fmt: skip
    assert en[17].startswith("metric-alertbot checks these metrics and their slices every 15 "
                             "minutes: Feed active users (feed_users), Views (views), "), en[17]
