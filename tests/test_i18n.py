"""The bot's two languages: every message the code marks has an English and a Russian text,
the compiled catalogues match their sources, and plural forms follow each language's rules."""

from __future__ import annotations

import pytest

from bot.core.i18n import DOMAINS, LANGUAGES, language_of, translator


def test_every_message_is_translated_and_compiled() -> None:
    """Extracting the marked messages from bot/ finds none without both translations, no
    translation with other {fields} than its message, and no .mo older than its .po."""
    from bot.locales.__main__ import problems

    found = problems()
    assert found == [], "\n".join(found[:30])


@pytest.mark.parametrize(
    ("n", "form"), [(1, 0), (2, 1), (4, 1), (5, 2), (11, 2), (12, 2), (14, 2), (21, 0), (22, 1),
                    (25, 2), (101, 0), (111, 2)],
)  # fmt: skip
def test_russian_plural_rule(n: int, form: int) -> None:
    """The Russian catalogues carry the three-form plural rule (1 / 2-4 / 5-20, by the last
    digits), so '21 оповещение' and '11 оповещений' both come out right."""
    import gettext

    from bot.locales.__main__ import po_path, read

    catalog = read(po_path("ru", "alerts"), "ru", "alerts")
    assert catalog.num_plurals == 3
    assert gettext.c2py(catalog.plural_expr)(n) == form


def test_language_codes() -> None:
    """Telegram's language codes map onto ours; a language we do not speak gives None."""
    assert language_of("ru") == "ru"
    assert language_of("ru-RU") == "ru"
    assert language_of("en-GB") == "en"
    assert language_of("de") is None
    assert language_of(None) is None
    assert set(LANGUAGES) == {"en", "ru"}


def test_unknown_language_and_message_fall_back_to_english() -> None:
    """An unknown language gets English; a message with no translation yet is shown as written,
    with its fields filled, never as an error."""
    assert translator("xx").lang == "en"
    text = translator("ru")._("no such message {x}", x="<b>")
    assert text == "no such message <b>"


def test_every_parameter_description_reaches_the_catalogue_and_is_translated() -> None:
    """/thresholds shows each parameter's description in the chat's language: every method's
    and the rule's descriptions are listed for extraction, and Russian has its own text for
    each (a description changed or added in detectors/ and not here stays English)."""
    import detectors
    from bot.chat.param_help import PARAM_HELP
    from detectors import RULE_PARAMS

    helps = {par.help for method in detectors.METHODS.values()
             for par in getattr(method, "PARAMS", {}).values()}  # fmt: skip
    helps |= {par.help for par in RULE_PARAMS.values()}
    assert sorted(helps - set(PARAM_HELP)) == []
    russian = translator("ru")
    assert sorted(h for h in helps if russian._(h) == h) == []


def test_russian_has_one_word_for_an_alert() -> None:
    """The Russian texts call an alert «оповещение» throughout: none says «алерт», the
    anglicism some /thresholds lines used beside «оповещение» in the lines around them."""
    from bot.locales.__main__ import po_path, read

    odd = []
    for domain in DOMAINS:
        for message in read(po_path("ru", domain), "ru", domain):
            strings = message.string if isinstance(message.string, tuple) else (message.string,)
            odd += [s for s in strings if s and "алерт" in s.lower()]
    assert odd == []
    described = translator("ru")._("buckets in a row the sustained-shift test must fire on a "
                                   "drop inside the band to alert")  # fmt: skip
    assert described.endswith("чтобы пришло оповещение"), described
