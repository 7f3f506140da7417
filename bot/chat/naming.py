"""What a command names: a metric, a slice of it, a detector's parameter. Each is found as
people type it, or refused with a usage error that says what to send instead: the closest
name where one is close ("Did you mean k?"), else where the valid ones are listed."""

from __future__ import annotations

import difflib
from collections.abc import Iterable

from bot.chat.errors import UsageError
from bot.core.i18n import Translator
from bot.core.text import clipped, quoted
from queries.catalogue import Catalogue, Metric
from queries.series import Slice

__all__ = ["closest", "did_you_mean", "metric_named", "param_named", "slice_named"]


def closest(typed: str, names: Iterable[str], cutoff: float = 0.6) -> str | None:
    """The name nearest to `typed` in any case ('K' is near k, 'contry' country), as the
    name is written; None when none is near."""
    by_case = {name.lower(): name for name in names}
    found = difflib.get_close_matches(typed.lower(), list(by_case), n=1, cutoff=cutoff)
    return by_case[found[0]] if found else None


def did_you_mean(close: str | None, t: Translator) -> str:
    """' Did you mean X?' in the chat's language ('' when nothing is close)."""
    return " " + t._("Did you mean {name}?", name=close) if close else ""


def metric_named(catalogue: Catalogue, name: str, usage: str, t: Translator) -> Metric:
    """The metric `name` names (Catalogue.find, titles too), or a usage error of command
    `usage` that suggests the closest."""
    found, close = catalogue.find(name, titles=True)
    if found is not None:
        return found
    problem = t._("There is no metric {name}.", name=quoted(name, t.lang, 50))
    problem += did_you_mean(close, t)
    problem += " " + t._("Metrics: {names}", names=", ".join(catalogue.metrics))
    raise UsageError(problem, usage)


def slice_named(text: str, metric: Metric, command: str, t: Translator) -> Slice:
    """'os=iOS', 'iOS' (a value of one of the metric's dims: '?=iOS') or 'total'. A dim the
    metric is not sliced by is answered with the line to send: the closest dim's, or the
    value alone, which finds its slice."""
    raw = text.strip()
    if raw.lower() == "total":
        raw = ""
    elif "=" not in raw and raw:
        raw = f"?={raw}"
    try:
        where = Slice.parse(raw)
    except ValueError:
        raise UsageError(t._("{text} is not a slice: write os=iOS, iOS or total.",
                             text=quoted(raw, t.lang)), command) from None  # fmt: skip
    named = {dim.lower(): dim for dim in metric.slices}  # a dim in any case: OS=iOS
    if where.dim.lower() in named:
        where = Slice(named[where.dim.lower()], where.value)
    if where.dim == "?" or where.is_total or where.dim in metric.slices:
        return where
    line = f"/{command} {metric.name}"
    if not metric.slices:
        raise UsageError(t._("{metric} has no slices: {line} shows its total.",
                             metric=metric.name, line=line), command)  # fmt: skip
    said = t._("{metric} is sliced by {dims}, not {dim}", metric=metric.name,
               dims=", ".join(metric.slices), dim=quoted(where.dim, t.lang, 30))  # fmt: skip
    close, value = closest(where.dim, metric.slices), clipped(where.value, 60)
    if close is not None:
        raise UsageError(said + "." + did_you_mean(f"{line} {close}={value}", t), command)
    raise UsageError(said + ": " + t._("send the value alone, {line}, and I find its slice.",
                                       line=f"{line} {value}"), command)  # fmt: skip


def param_named(metric: Metric, name: str, params: Iterable[str], often: Iterable[str],
                t: Translator) -> str:  # fmt: skip
    """`name` if it is one of the metric's `params`; else a usage error of /set with the
    closest one, the parameters people change `often` and where every one is listed."""
    params = list(params)
    if name in params:
        return name
    problem = t._("{metric} has no parameter {param}.", metric=metric.name,
                  param=quoted(name, t.lang))  # fmt: skip
    problem += did_you_mean(closest(name, params), t)
    listed = [p for p in often if p in params]
    every = f"/thresholds {metric.name} all"
    if listed:
        problem += " " + t._("The ones people change most: {names}; every one: {command}.",
                             names=", ".join(listed), command=every)  # fmt: skip
    else:
        problem += " " + t._("Every one: {command}.", command=every)
    raise UsageError(problem, "set")
