"""/thresholds: the settings in force; for one metric, the few knobs people tune first in plain
words with their values and defaults, and every parameter one tap (or `/thresholds METRIC all`)
away."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from zoneinfo import ZoneInfo

from aiogram import F, Router
from aiogram.filters import CommandObject
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message

from bot.chat.errors import UsageError
from bot.chat.guard import command_filter
from bot.chat.naming import metric_named
from bot.chat.reply import answer_press, out_of_date
from bot.core.commands import ALL_WORDS
from bot.core.commands import N_ as _
from bot.core.formatting import day_time, percent_of, setting_number, titled
from bot.core.i18n import Translator
from bot.core.reasons import method_text
from bot.core.text import MESSAGE_LIMIT, quoted, rendered_length
from bot.core.wording import e, split_message
from bot.service.monitor import Monitor
from bot.settings import Settings
from bot.state import Baseline, State
from bot.state.overrides import Override
from detectors import Param
from queries.catalogue import Catalogue, Metric

__all__ = ["KNOBS", "SHARES", "SHARES_PAST_ONE", "SHARE_PARAMS", "build", "full_text",
           "in_percent", "overview_text", "short_text", "shown_value"]

PREFIX = "thr:"

# The knobs people tune first: (parameter, its name in plain words, what it does).
KNOBS: tuple[tuple[str, str, str], ...] = (
    ("k", _("Sensitivity"), _("the expected range is k typical deviations wide on each side: "
                              "a larger k, fewer alerts")),
    ("direction", _("Which moves alert"), _("both, up (rises only) or down (drops only)")),
    ("min_rel_change", _("Smallest change"), _("a difference from the expected value smaller "
                                               "than this share of it never alerts (0.1 = 10%); "
                                               "for a level far from zero, the share is of its "
                                               "usual weekly swing where that is smaller "
                                               "(offset_spans)")),
    ("min_abs_change", _("Smallest change in units"), _("the same floor in the metric's own "
                                                        "units (0: none)")),
    ("persist_k", _("Persistence"), _("how many of the last persist_m buckets must be outside "
                                      "the range before an alert")),
    ("severe", _("Far out alerts at once"), _("one bucket this many half-widths of the range "
                                              "outside alerts without waiting (for 15-minute "
                                              "buckets: more for finer, less for 30-minute "
                                              "and hourly ones)")),
    ("days", _("History"), _("days of history the expected value is built from")),
)
DIRECTIONS = {"both": _("rises and drops"), "up": _("rises only"), "down": _("drops only")}

# Parameters whose value is a share (0.1 = 10%); /set takes them as a percentage too (5%). For
# SHARES a bare number above 1 is refused (min_rel_change 5 meant 5%; 500% is written so).
# SHARES_PAST_ONE's usual values pass 1 (tail, weekly_gain): a bare number is taken as written.
SHARES = frozenset({"min_rel_change", "window_min_rel", "window_min_share", "level_clip",
                    "min_rel_width", "window_first_week"})  # fmt: skip
SHARES_PAST_ONE = frozenset({"tail", "weekly_gain"})
SHARE_PARAMS = SHARES | SHARES_PAST_ONE  # every share: shown as a percentage too


def in_percent(metric: Metric, name: str) -> bool:
    """Whether `name` of `metric` is a share, taken and shown as a percentage too: a share
    parameter, or the smallest change of a metric that is a share (CTR's min_abs_change 0.005
    is half a percentage point: /set ctr min_abs_change 0.5% sets it)."""
    return name in SHARE_PARAMS or (name == "min_abs_change" and metric.percent)


def shown_value(value: object, t: Translator | None = None, *, share: bool = False) -> str:
    """A parameter's value as the chat writes numbers (3,25 in Russian); a share with its
    percentage too: 0.05 (5%)."""
    if not isinstance(value, float):
        return str(value)
    shown = setting_number(value, t)
    return f"{shown} ({percent_of(value, t)}%)" if share else shown


def _who(override: Override) -> str:
    return override.who


def _state(name: str, value: object, param: Param, overrides: Mapping[str, Override], *,
           t: Translator, zone: ZoneInfo) -> str:  # fmt: skip
    if name in overrides:
        o = overrides[name]
        return t._("set by {who} {when}; default {default}", who=e(_who(o)),
                   when=day_time(o.set_at, zone, t),
                   default=e(shown_value(param.default, t)))  # fmt: skip
    if value != param.default:
        return t._("from the catalogue; default {default}",
                   default=e(shown_value(param.default, t)))  # fmt: skip
    return t._("default")


def rule_text(param: Param, t: Translator, *, share: bool = False) -> str:
    """The valid values, with the numbers as the chat writes them (0,5 in Russian); for a
    share, as a percentage too."""
    if param.zone:
        return t._("a time zone's name, such as Europe/Berlin or UTC")
    if param.choices:
        return t._("one of {choices}", choices=", ".join(param.choices))
    low, high = setting_number(param.low or 0.0, t), setting_number(param.high or 0.0, t)
    if share and param.low is not None and param.high is not None:
        return t._("a share from {low} to {high} or a percentage from {low_pct}% to "
                   "{high_pct}%", low=low, high=high, low_pct=percent_of(param.low, t),
                   high_pct=percent_of(param.high, t))  # fmt: skip
    if param.type is int:
        return t._("a whole number from {low} to {high}", low=low, high=high)
    return t._("a number from {low} to {high}", low=low, high=high)


def overview_text(catalogue: Catalogue, checks: Monitor, store: State, t: Translator,
                  zone: ZoneInfo | None = None) -> str:  # fmt: skip
    lines = [t._("<b>Settings in force</b> (for one metric in detail: /thresholds METRIC)")]
    levels = store.baselines.active(checks.clock())
    zone = zone or ZoneInfo("UTC")
    for m in catalogue.metrics.values():
        spec, params = checks.spec(m), checks.params(m)
        parts = [e(method_text(str(spec.get("method", "?")), t))]
        if "k" in params:
            parts.append(f"k = {e(shown_value(spec.get('k', params['k'].default), t))}")
        if "direction" in params:
            way = str(spec.get("direction", params["direction"].default))
            parts.append(e(t._(DIRECTIONS[way]) if way in DIRECTIONS else way))
        # The catalogue's own settings besides those (a guard of 20 events), as they differ
        # from one metric to the next.
        parts += [f"{e(p)} = {e(shown_value(spec.get(p, v), t))}"
                  for p, v in (m.detector or {}).items() if p not in ("method", "k", "direction")]
        changes = [t._("{param} = {value} by {who}", param=e(p), value=e(shown_value(o.value, t)),
                       who=e(_who(o))) for p, o in store.overrides.of(m.name).items()]
        note = (t._("changed: {changes}", changes=", ".join(changes)) if changes
                else t._("catalogue settings"))  # fmt: skip
        if m.name in levels:
            note += "; " + t._("📏 new normal since {since}", since=(
                f"{levels[m.name].since.astimezone(zone):%Y-%m-%d %H:%M}"))  # fmt: skip
        lines.append(f"{titled(m, t)}: {', '.join(parts)} — {note}")
    return "\n".join(lines)


def level_text(level: Baseline, zone: ZoneInfo, t: Translator) -> str:
    """A level accepted in the chat as the metric's new normal, in one line."""
    return t._("📏 New normal: the level since {since}, says {who}; the expected range follows "
               "it until {until}.", since=f"{level.since.astimezone(zone):%Y-%m-%d %H:%M}",
               who=e(level.user_name or "?"),
               until=f"{level.until.astimezone(zone):%Y-%m-%d %H:%M}")  # fmt: skip


def short_text(metric: Metric, spec: Mapping[str, Any], params: Mapping[str, Param],
               overrides: Mapping[str, Override], *, t: Translator,
               zone: ZoneInfo, level: Baseline | None = None) -> str:  # fmt: skip
    lines = [t._("{metric}: what decides an alert", metric=titled(metric, t)), ""]
    for name, label, what in KNOBS:
        if name not in params:
            continue
        param = params[name]
        value = spec.get(name, param.default)
        shown = shown_value(value, t, share=in_percent(metric, name))
        if name == "direction" and value in DIRECTIONS:
            shown = f"{value} ({t._(DIRECTIONS[str(value)])})"
        if name == "persist_k" and "persist_m" in params:
            m_value = spec.get("persist_m", params["persist_m"].default)
            shown = t._("{k} of {m}", k=shown_value(value, t), m=shown_value(m_value, t))
        lines.append(f"• <b>{e(t._(label))}</b> <code>{e(name)}</code> = <b>{e(shown)}</b> "
                     f"({_state(name, value, param, overrides, t=t, zone=zone)}) — {e(t._(what))}")
    others = [p for p in overrides if p not in {k for k, _l, _w in KNOBS}]
    if others:
        lines.append(t._("Also changed: {params}", params=", ".join(
            f"<code>{e(p)}</code> = {e(shown_value(overrides[p].value, t))}" for p in others)))
    if level is not None:
        lines.append(level_text(level, zone, t))
    lines += ["", t._("Change one: {example}; back to the catalogue's: {reset}",
                      example=_example(metric, spec),
                      reset=f"<code>/reset {e(metric.name)}</code>"),
              t.ngettext("All {n} parameter: {command}", "All {n} parameters: {command}",
                         len(params), command=f"<code>/thresholds {e(metric.name)} all</code>")]
    return "\n".join(lines)


def full_text(metric: Metric, spec: Mapping[str, Any], params: Mapping[str, Param],
              overrides: Mapping[str, Override], *, t: Translator,
              zone: ZoneInfo) -> str:  # fmt: skip
    lines = [t.ngettext("{metric}, method {method}: {n} parameter",
                        "{metric}, method {method}: {n} parameters", len(params),
                        metric=titled(metric, t),
                        method=_method(str(spec.get("method", "?")), t))]  # fmt: skip
    for name, param in params.items():
        value = spec.get(name, param.default)
        rule = rule_text(param, t, share=name in SHARE_PARAMS)
        shown = shown_value(value, t, share=in_percent(metric, name))
        lines.append(f"<code>{e(name)}</code> = <b>{e(shown)}</b> "
                     f"({_state(name, value, param, overrides, t=t, zone=zone)}) — "
                     f"{e(t._(param.help))}; {e(rule)}")  # fmt: skip
    lines.append("\n" + t._("Change one: {example}", example=_example(metric, spec)))
    return "\n".join(lines)


def _method(method: str, t: Translator) -> str:
    """The method in the chat's words, as the detector's description names it, with the
    catalogue's key beside it where that differs (the key is what a catalogue is written in)."""
    word = method_text(method, t)
    code = f"<code>{e(method)}</code>"
    return code if word == method else f"{e(word)} ({code})"


def _example(metric: Metric, spec: Mapping[str, Any]) -> str:
    """A /set that changes something: k 4, or 3.5 where k is 4 already."""
    k = "3.5" if spec.get("k") == 4 else "4"
    return f"<code>/set {e(metric.name)} k {k}</code>"


def messages(text: str, limit: int = MESSAGE_LIMIT) -> list[str]:
    """`text` in as few messages as fit, split only between lines (each line is whole: its
    tags open and close on it)."""
    parts: list[list[str]] = [[]]
    used = 0
    for line in text.split("\n"):
        size = rendered_length(line) + 1
        if parts[-1] and used + size > limit:
            parts.append([])
            used = 0
        parts[-1].append(line)
        used += size
    return [piece for part in parts for piece in split_message("\n".join(part).strip("\n"))]


def _all_button(metric: Metric, count: int, t: Translator) -> InlineKeyboardMarkup | None:
    data = PREFIX + metric.name
    if len(data.encode()) > 64:
        return None
    label = t.ngettext("All {n} parameter", "All {n} parameters", count)
    return InlineKeyboardMarkup(inline_keyboard=[[InlineKeyboardButton(text=label,
                                                                        callback_data=data)]])


async def thresholds(
    message: Message, *, command: CommandObject, checks: Monitor, store: State, settings: Settings,
    catalogue: Catalogue, t: Translator,
) -> None:  # fmt: skip
    args = (command.args or "").split()
    if len(args) == 2 and args[1].lower() not in ALL_WORDS:
        raise UsageError(t._("After the metric only all (every parameter), not {word}.",
                             word=quoted(args[1], t.lang)), "thresholds")  # fmt: skip
    if len(args) > 2:
        raise UsageError(t._("One metric at a time; add all for every parameter."), "thresholds")
    if not args or (len(args) == 1 and args[0].lower() in ALL_WORDS
                    and catalogue.find(args[0])[0] is None):  # every metric, as /mute all
        for part in messages(overview_text(catalogue, checks, store, t, settings.zone)):
            await message.answer(part)
        return
    m = metric_named(catalogue, args[0], "thresholds", t)
    spec, params, changed = checks.spec(m), checks.params(m), store.overrides.of(m.name)
    if len(args) == 2:
        for part in messages(full_text(m, spec, params, changed, t=t, zone=settings.zone)):
            await message.answer(part)
        return
    level = store.baselines.of_metric(m.name, checks.clock())
    await message.answer(short_text(m, spec, params, changed, t=t, zone=settings.zone, level=level),
                         reply_markup=_all_button(m, len(params), t))  # fmt: skip


async def all_button(
    query: CallbackQuery, *, checks: Monitor, store: State, settings: Settings,
    catalogue: Catalogue, t: Translator,
) -> None:  # fmt: skip
    m = catalogue.metrics.get((query.data or "").removeprefix(PREFIX))
    if m is None or query.message is None or query.bot is None:
        await answer_press(query, out_of_date(t), show_alert=True)
        return
    await answer_press(query)
    spec, params, changed = checks.spec(m), checks.params(m), store.overrides.of(m.name)
    for part in messages(full_text(m, spec, params, changed, t=t, zone=settings.zone)):
        await query.bot.send_message(query.message.chat.id, part)


def build() -> Router:
    """A fresh router (a router can join only one dispatcher)."""
    router = Router(name="router")
    router.message.register(thresholds, command_filter("thresholds"))
    router.callback_query.register(all_button, F.data.startswith(PREFIX))
    return router
