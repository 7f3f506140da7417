"""/set, /reset, /mute, /unmute, /reload and the mute buttons: for ADMIN_IDS only.

The commands' access rule is the router's filter, applied once; everyone else reaches
`refusal`. The mute buttons come through the one button router, which asks `mute_incident`
(bot/chat/muting.py holds the mutes' handlers).
"""

from __future__ import annotations

import math
import re
from collections.abc import Awaitable, Callable, Iterable
from decimal import Decimal

from aiogram import F, Router
from aiogram.filters import CommandObject
from aiogram.types import Message

import detectors
from bot.chat.errors import UsageError
from bot.chat.guard import command_filter
from bot.chat.muting import mute, mute_incident, unmute
from bot.chat.naming import metric_named, param_named
from bot.chat.previews import replayed
from bot.chat.thresholds import KNOBS, SHARE_PARAMS, SHARES, in_percent, rule_text, shown_value
from bot.core.commands import admin_commands
from bot.core.formatting import percent_of, setting_number, titled
from bot.core.i18n import Translator
from bot.core.text import clipped, quoted
from bot.core.wording import e
from bot.service.monitor import Monitor
from bot.settings import Settings
from bot.state import Baseline, State
from queries.catalogue import Catalogue, Metric

__all__ = ["build", "build_refusal", "mute_incident"]

def build(admin_ids: Iterable[int]) -> Router:
    """The admin router: its filter lets only ADMIN_IDS in."""
    router = Router(name="admin")
    allowed = frozenset(admin_ids)
    router.message.filter(F.from_user.id.in_(allowed))
    router.message.register(set_param, command_filter("set"))
    router.message.register(reset, command_filter("reset"))
    router.message.register(mute, command_filter("mute"))
    router.message.register(unmute, command_filter("unmute"))
    router.message.register(reload_config, command_filter("reload"))
    return router


# What a bot that reads its settings only as it starts (`alertbot chat`) answers /reload with.
NOTHING_TO_RELOAD = ("Nothing to reload here: alertbot chat reads the catalogue and .env each "
                     "time it starts.")  # fmt: skip


async def nothing_to_reload() -> str:
    """/reload of `alertbot chat`, which reads the catalogue and .env as it starts."""
    return NOTHING_TO_RELOAD


async def reload_config(
    message: Message, *, reload: Callable[[], Awaitable[str]], t: Translator,
) -> None:  # fmt: skip
    """The catalogue and the settings safe to change, re-read and validated (SIGHUP does the
    same); the answer says what changed, or why the old ones stay, in the chat's language
    (the reason itself, a setting's or the catalogue's error, as logged: in English)."""
    answer = await reload()
    said = "\n".join(_reloaded(line, t) for line in answer.splitlines())
    if answer.startswith(NOTHING_TO_RELOAD):  # `alertbot chat`: read as it starts
        await message.answer(e(said))
        return
    done = t._("Reloaded.")
    if all(" not reloaded, " in line for line in answer.splitlines()):
        done = t._("Nothing reloaded; what is in force stays.")
    await message.answer(f"🔄 {done}\n{e(said)}")


def _reloaded(line: str, t: Translator) -> str:
    """One line of bot/service/reload.py's answer in `t`'s language; another kept as is."""
    if t.lang == "en":
        return line
    if line == NOTHING_TO_RELOAD:
        return t._("Nothing to reload here: alertbot chat reads the catalogue and .env each "
                   "time it starts.")  # fmt: skip
    if m := re.fullmatch(r"Settings not reloaded, the old ones stay: (.+)", line, re.S):
        return t._("Settings not reloaded, the old ones stay: {why}", why=m[1])
    if m := re.fullmatch(r"Catalogue not reloaded, the old one stays: (.+)", line, re.S):
        return t._("Catalogue not reloaded, the old one stays: {why}", why=m[1])
    if line == "Settings reloaded: nothing changed.":
        return t._("Settings reloaded: nothing changed.")
    if m := re.fullmatch(r"Settings reloaded: (.+)\.", line):
        return t._("Settings reloaded: {names}.", names=m[1])
    if m := re.fullmatch(r"Changed but only applied at a restart: (.+)\.", line):
        return t._("Changed but only applied at a restart: {names}.", names=m[1])
    if m := re.fullmatch(r"Catalogue reloaded: (\d+) metrics \((.*)\)\.", line):
        return t.ngettext("Catalogue reloaded: {n} metric ({names}).",
                          "Catalogue reloaded: {n} metrics ({names}).", int(m[1]),
                          names=m[2])  # fmt: skip
    return line


def _share(name: str, raw: str, param: detectors.Param, t: Translator) -> str:
    """A share's value as the detector takes it: a percentage as its fraction (5% -> 0.05,
    exactly: 1.1% is 0.011). A bare number above 1 of SHARES is a usage error saying what to
    write instead."""
    percent = re.fullmatch(r"([+-]?\d+(?:\.\d+)?)%", raw, re.ASCII)
    if percent is not None:
        return format(Decimal(percent[1]).scaleb(-2).normalize(), "f")
    try:
        number = float(raw)
    except ValueError:
        return raw
    if name not in SHARES or not math.isfinite(number) or number <= 1:
        return raw
    low, high = param.low or 0.0, param.high if param.high is not None else math.inf
    if not low <= number / 100 <= high:  # no reading of it fits: say what does
        raise _not_valid(name, param, raw, t, share=True)
    written, meant = setting_number(number, t), percent_of(number, t)
    if number / 100 <= 1:  # as a fraction too
        problem = t._("{param} is a share: {value} would mean {percent}%; write {share} or "
                      "{value}%.", param=name, value=written, percent=meant,
                      share=setting_number(number / 100, t))  # fmt: skip
    else:
        problem = t._("{param} is a share: {value} would mean {percent}%; write {value}%.",
                      param=name, value=written, percent=meant)  # fmt: skip
    if number <= high:
        problem += " " + t._("If you do mean {percent}%, write {percent}%.", percent=meant)
    raise UsageError(problem, "set")


# A direction in the words /thresholds explains it with, in either language.
_DIRECTION_WORDS = {
    **dict.fromkeys(("вниз", "падение", "drops", "drop"), "down"),
    **dict.fromkeys(("вверх", "рост", "rises", "rise"), "up"),
    **dict.fromkeys(("оба", "обе"), "both"),
}


def _checked(metric: Metric, params: dict[str, detectors.Param], name: str, raw: str,
             t: Translator, *, typed: str) -> str:  # fmt: skip
    """`raw` as the detector takes it (a share's percentage as its fraction); a usage error,
    in the chat's language, unless it is a valid value of `name` (a parameter of `params`),
    repeating the value as `typed`."""
    if name == "method":
        raise UsageError(t._("The detector's method is set in the catalogue (method under "
                             "[metrics.{metric}.detector]), not with /set; /reload reads it "
                             "again.", metric=metric.name), "set")  # fmt: skip
    share = name in SHARE_PARAMS
    value = _share(name, raw, params[name], t) if in_percent(metric, name) else raw
    if name == "direction":  # as /thresholds explains them: "вниз", "drops"
        value = _DIRECTION_WORDS.get(value.lower().replace("ё", "е"), value)
    try:
        params[name].check(metric.name, name, value)
    except ValueError:
        raise _not_valid(name, params[name], typed, t, share=share) from None
    return value


def _not_valid(name: str, param: detectors.Param, typed: str, t: Translator, *,
               share: bool) -> UsageError:  # fmt: skip
    """`typed` is no value of `name`: what its values are."""
    return UsageError(t._("{param} must be {rule}, not {value}.", param=name,
                          rule=rule_text(param, t, share=share),
                          value=quoted(typed, t.lang)), "set")  # fmt: skip


# A combination of settings the detector refuses (its English words, "rule: persist_k must be
# <= persist_m (3), got 5"), said again in the chat's language.
_AT_MOST = re.compile(r"\w+: (?P<param>\w+) must be <= (?P<other>\w+) \((?P<limit>[\d.]+)\), "
                      r"got (?P<value>[\d.]+)")  # fmt: skip


def _refused(reason: str, t: Translator) -> str:
    """The reason as a sentence of the chat's language, ending in a full stop."""
    match = _AT_MOST.fullmatch(reason)
    if match is not None:
        reason = t._("{param} must be at most {other} ({limit}), not {value}",
                     **match.groupdict())  # fmt: skip
    return reason if reason.endswith((".", "!", "?")) else f"{reason}."


def _number(raw: str, lang: str) -> str:
    """A number as the chat writes it (and the bot shows it): in English a thousand is 1,000;
    a decimal written with a comma, as Russian writes it, is 2,5 (also as a percentage:
    12,5%)."""
    if lang == "en" and re.fullmatch(r"[+-]?[1-9]\d{0,2}(?:,\d{3})+%?", raw):
        return raw.replace(",", "")
    return raw.replace(",", ".") if re.fullmatch(r"[+-]?\d+,\d+%?", raw) else raw


# Thousands grouped by a space, as Russian writes them and the bot shows them ("1 000",
# "1 234 567,5", with a no-break space too): one number.
_GROUPED = re.compile(r"(?<![\w.,])([+-]?\d{1,3})((?:\s\d{3})+)(?!\w)")


def _joined(text: str) -> str:
    """`text` with each number whose thousands are grouped by spaces written as one."""
    return _GROUPED.sub(lambda m: m[1] + "".join(m[2].split()), text)


def _set_args(text: str, lang: str, *, numbers: bool = True) -> list[str]:
    """METRIC PARAM VALUE, also written as in the catalogue or `--set`: `views k=4`,
    `views k = 4`; a percentage with a space before its sign (5 %, as Russian sets it) is one
    value, as is a number whose thousands are grouped by spaces (1 000, as the bot writes it
    in Russian); numbers as the chat's language `lang` writes them (`_number`)."""
    args = _joined(re.sub(r"(\d)\s+%", r"\1%", re.sub(r"={2,}", "=", text))).split()

    def number(v: str) -> str:
        return _number(v, lang) if numbers else v

    if len(args) >= 2 and "=" in " ".join(args[1:]):
        name, _, raw = " ".join(args[1:]).partition("=")
        if name.strip() and raw.strip() and "=" not in raw:
            return [args[0], *name.split(), *(number(v) for v in raw.split())]
    return [*args[:2], *(number(v) for v in args[2:])]


async def set_param(
    message: Message, *, command: CommandObject, checks: Monitor, catalogue: Catalogue,
    store: State, settings: Settings, t: Translator,
) -> None:  # fmt: skip
    args = _set_args(command.args or "", t.lang)
    if len(args) < 3:
        raise UsageError(t._("Name the metric, the parameter and its new value."), "set")
    metric = metric_named(catalogue, args[0], "set", t)
    params = checks.params(metric)
    if args[1] != "method":  # the method is refused by _checked, saying where it is set
        param_named(metric, args[1], params, (name for name, _, _ in KNOBS), t)
        if len(args) > 3:  # `/set views k 4 extra`: all three named, and a word too many
            value = next((v for v in args[2:] if v != "="), args[2])  # `k = 4 = 5`: 4
            raise UsageError(t._("/set takes one value, not {values}: send {line}",
                                 values=quoted(" ".join(args[2:]), t.lang),
                                 line=" ".join(["/set", metric.name, args[1], clipped(value)])),
                             "set")  # fmt: skip
    typed = _set_args(command.args or "", t.lang, numbers=False)[2]  # as written: 3,5
    value = _checked(metric, params, args[1], args[2], t, typed=typed)
    user = message.from_user
    level = store.baselines.of_metric(metric.name, checks.clock())
    try:
        result = await checks.set_param(metric, args[1], value, user.id if user else None)
    except ValueError as exc:
        raise UsageError(t._("That combination is refused: {reason}",
                             reason=_refused(str(exc), t)), "set") from None  # fmt: skip
    if result.before == result.after:  # nothing replayed, nor recorded as a change
        shown = shown_value(result.after, t, share=in_percent(metric, result.param))
        await message.answer(t._("{metric} {param} is {value} already: nothing changed.",
                                 metric=titled(metric, t), param=e(args[1]),
                                 value=e(shown)))  # fmt: skip
        return
    if user is not None:
        store.overrides.name_setter(metric.name, result.param, user.full_name)
    share = in_percent(metric, result.param)
    before, after = shown_value(result.before, t, share=share), shown_value(result.after, t,
                                                                              share=share)
    await message.answer(
        f"✅ {titled(metric, t)} {e(result.param)}: {e(before)} → <b>{e(after)}</b>\n"
        + replayed(result, settings.zone, t) + "\n"
        + t._("{reset} to undo, {backtest} for the details.",
              reset=f"/reset {e(metric.name)}", backtest=f"/backtest {e(metric.name)}")
        + _withdrawn(store, metric, level, checks, t)
    )  # fmt: skip


async def reset(
    message: Message, *, command: CommandObject, checks: Monitor, catalogue: Catalogue,
    store: State, t: Translator,
) -> None:  # fmt: skip
    args = (command.args or "").split()
    if len(args) != 1:
        raise UsageError(t._("Name one metric."), "reset")
    metric = metric_named(catalogue, args[0], "reset", t)
    level = store.baselines.of_metric(metric.name, checks.clock())
    removed = checks.reset(metric)
    done = t.ngettext("{n} override removed; the catalogue's settings are in force.",
                      "{n} overrides removed; the catalogue's settings are in force.", removed)
    if not removed:
        done = t._("no override to remove; the catalogue's settings are in force.")
    await message.answer(f"↩️ {titled(metric, t)}: {done}"
                         + _withdrawn(store, metric, level, checks, t))


def _withdrawn(store: State, metric: Metric, level: Baseline | None, checks: Monitor,
               t: Translator) -> str:  # fmt: skip
    """A line saying so when the change withdrew the metric's accepted level ('' if not)."""
    if level is None or store.baselines.of_metric(metric.name, checks.clock()) is not None:
        return ""
    return "\n" + t._("📏 The new normal accepted for {metric} is withdrawn: it stood for the "
                      "detector's own re-base, which this changes. If the level still holds, "
                      "press New normal on its next alert.", metric=titled(metric, t))


async def not_admin(message: Message, t: Translator) -> None:
    await message.answer(t._("Sorry, only admins can change settings or mute alerts. Ask one of "
                             "them, or see /thresholds for what is in force."))  # fmt: skip


def build_refusal() -> Router:
    """A fresh router (a router can join only one dispatcher)."""
    refusal = Router(name="refusal")
    refusal.message.register(not_admin, command_filter(*admin_commands()))
    return refusal
