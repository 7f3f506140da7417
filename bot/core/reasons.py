"""A verdict's reason (the detectors write it in English, for logs and `check --json`) in the
words of an alert, in the chat's language. Pure.

The detectors' reasons are a few fixed shapes ("below the expected range (3 of the last 4
buckets outside)"; "range from the same time on previous days"); each known part is said
again through the translator, in plain words (no "half-widths"). A part of a shape this module
does not know is kept as written, so a new detector reason is never lost, only untranslated.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from bot.core.formatting import localized
from bot.core.i18n import Translator

__all__ = ["METHODS", "detector_text", "method_text", "reason_text", "shift_buckets",
           "source_text"]

Say = Callable[[Translator, re.Match[str]], str]


def _side(t: Translator, side: str) -> str:
    return t._("below") if side == "below" else t._("above")


def _range(t: Translator, m: re.Match[str]) -> str:
    if m["side"] == "below":
        return t._("below the expected range")
    return t._("above the expected range")


def _range_buckets(t: Translator, m: re.Match[str]) -> str:
    n, of = int(m["n"]), int(m["of"])
    if n == of == 1:  # not "for the last 1 interval"
        return t._("below the expected range in the last interval") if m["side"] == "below" \
            else t._("above the expected range in the last interval")  # fmt: skip
    if n == of:
        if m["side"] == "below":
            return t.ngettext("below the expected range for the last {n} interval",
                              "below the expected range for the last {n} intervals in a row",
                              n)  # fmt: skip
        return t.ngettext("above the expected range for the last {n} interval",
                          "above the expected range for the last {n} intervals in a row",
                          n)  # fmt: skip
    # The noun follows `of` ("in 5 of the last 21 intervals"), so its count picks the form.
    if m["side"] == "below":
        return t.ngettext("below the expected range in {k} of the last {n} interval",
                          "below the expected range in {k} of the last {n} intervals", of,
                          k=n)  # fmt: skip
    return t.ngettext("above the expected range in {k} of the last {n} interval",
                      "above the expected range in {k} of the last {n} intervals", of,
                      k=n)  # fmt: skip


def _range_far(t: Translator, m: re.Match[str]) -> str:
    times = localized(m["x"], t)
    if m["side"] == "below":
        return t._("below the expected range, {times} times as far from the expected value as "
                   "usual", times=times)  # fmt: skip
    return t._("above the expected range, {times} times as far from the expected value as usual",
               times=times)  # fmt: skip


def _range_jump(t: Translator, m: re.Match[str]) -> str:
    times, n = localized(m["x"], t), int(m["n"])
    if m["side"] == "below":
        return t.ngettext("below the expected range after a sudden drop, {times} times the "
                          "largest change of the last {n} interval",
                          "below the expected range after a sudden drop, {times} times the "
                          "largest change of the last {n} intervals", n, times=times)  # fmt: skip
    return t.ngettext("above the expected range after a sudden jump, {times} times the largest "
                      "change of the last {n} interval",
                      "above the expected range after a sudden jump, {times} times the largest "
                      "change of the last {n} intervals", n, times=times)  # fmt: skip


def _range_shift(t: Translator, m: re.Match[str]) -> str:
    # Just outside, not far: it fired because it and the intervals before it add up.
    n = int(m["n"])
    if m["side"] == "below":
        return t.ngettext("below the expected range, and the last {n} interval taken together "
                          "shows a lasting drop",
                          "below the expected range, and the last {n} intervals taken together "
                          "show a lasting drop", n)  # fmt: skip
    return t.ngettext("above the expected range, and the last {n} interval taken together shows "
                      "a lasting rise",
                      "above the expected range, and the last {n} intervals taken together show "
                      "a lasting rise", n)  # fmt: skip


def _window(t: Translator, m: re.Match[str]) -> str:
    n = int(m["n"])
    if m["k"]:
        # Right after an incident: the interval itself may be back, the ones before it not.
        k = int(m["k"])
        if m["side"] == "below":
            return t.ngettext("below expected over the last {n} interval taken together, {k} of "
                              "them outside the range",
                              "below expected over the last {n} intervals taken together, {k} of "
                              "them outside the range", n, k=k)  # fmt: skip
        return t.ngettext("above expected over the last {n} interval taken together, {k} of them "
                          "outside the range",
                          "above expected over the last {n} intervals taken together, {k} of them "
                          "outside the range", n, k=k)  # fmt: skip
    if m["side"] == "below":
        return t.ngettext("below expected over the last {n} interval taken together: a lasting "
                          "shift that no single interval shows",
                          "below expected over the last {n} intervals taken together: a lasting "
                          "shift that no single interval shows", n)  # fmt: skip
    return t.ngettext("above expected over the last {n} interval taken together: a lasting shift "
                      "that no single interval shows",
                      "above expected over the last {n} intervals taken together: a lasting shift "
                      "that no single interval shows", n)  # fmt: skip


def _no_data_expected(t: Translator, m: re.Match[str]) -> str:
    return t._("no data, while about {expected} was expected",
               expected=localized(m["exp"], t))  # fmt: skip


def _empty(t: Translator, m: re.Match[str]) -> str:
    return t.ngettext("{table}: no rows in {n} day (is it being filled, and is it the right "
                      "database?)",
                      "{table}: no rows in {n} days (is it being filled, and is it the right "
                      "database?)", int(m["days"]), table=m["table"])  # fmt: skip


def _one_way(t: Translator, m: re.Match[str]) -> str:
    if m["way"] == "down":
        return t._("{side} the range, but this metric alerts on drops only",
                   side=_side(t, m["side"]))  # fmt: skip
    return t._("{side} the range, but this metric alerts on rises only", side=_side(t, m["side"]))


def _too_small(t: Translator, m: re.Match[str]) -> str:
    side = _side(t, m["side"])
    if m["share"] is not None:
        return t._("{side} the range, but the change is too small to matter ({share}% of "
                   "{of}; an alert needs {least}%)", side=side, share=localized(m["share"], t),
                   of=localized(m["of"], t), least=localized(m["least"], t))  # fmt: skip
    if m["change"] is not None:
        return t._("{side} the range, but the change is too small to matter ({change}; an "
                   "alert needs {least})", side=side, change=localized(m["change"], t),
                   least=localized(m["floor"], t))  # fmt: skip
    return t._("{side} the range, but the change is too small to matter", side=side)


def _waiting(t: Translator, m: re.Match[str]) -> str:
    return t._("{side} the range for one interval; an alert needs {k} of {of}",
               side=_side(t, m["side"]), k=m["k"], of=m["of"])  # fmt: skip


SIDE = r"(?P<side>below|above)"
SHAPES: list[tuple[re.Pattern[str], Say]] = [
    (re.compile(rf"{SIDE} the expected range \((?P<n>\d+) of the last (?P<of>\d+) buckets "
                r"outside\)"), _range_buckets),
    (re.compile(rf"{SIDE} the expected range \((?P<x>[\d.]+)x the band's half-width\)"),
     _range_far),
    (re.compile(rf"{SIDE} the expected range \(a sudden move, (?P<x>[\d.]+)x the largest of the "
                r"last (?P<n>\d+) buckets\)"), _range_jump),
    (re.compile(rf"{SIDE} the expected range \(a sustained shift over the last (?P<n>\d+) "
                r"buckets\)"), _range_shift),
    (re.compile(rf"{SIDE} the expected range(?: \(the band has no width there\))?"), _range),
    (re.compile(rf"{SIDE} expected for the last (?P<n>\d+) buckets together"
                r"(?: \(a sustained shift no single bucket shows\)"
                r"| \((?P<k>\d+) of them outside the band\))?"), _window),
    (re.compile(r"no data, while about (?P<exp>[\d,.]+) was expected"), _no_data_expected),
    (re.compile(r"no data for this bucket"), lambda t, m: t._("no data for this interval")),
    (re.compile(r"undefined: its denominator \((?P<column>.+)\) was 0 in this bucket"),
     lambda t, m: t._("undefined: its denominator ({column}) was 0 in this interval",
                      column=m["column"])),
    (re.compile(r"too little history for an expected range"),
     lambda t, m: t._("too little history to know what to expect")),
    (re.compile(r"inside the band"), lambda t, m: t._("within the expected range")),
    (re.compile(rf"{SIDE} the band, but only (?P<way>up|down) moves alert"), _one_way),
    (re.compile(rf"{SIDE} the band, but the change is below the minimum effect"
                r"(?: \((?P<share>[\d.]+)% of (?P<of>[\d,.]+), less than (?P<least>[\d.]+)%\)"
                r"| \((?P<change>[\d,.]+), less than (?P<floor>[\d,.]+)\))?"), _too_small),
    (re.compile(rf"{SIDE} the band for 1 bucket; waiting for (?P<k>\d+) of (?P<of>\d+)"),
     _waiting),
    (re.compile(r"range from previous days, shaped to this weekday by previous weeks"),
     lambda t, m: t._("expected range from previous days, shaped to this weekday by previous "
                      "weeks")),
    (re.compile(r"range from the same time on previous days"),
     lambda t, m: t._("expected range from the same time on previous days")),
    (re.compile(r"range from the same time on the few days of history there are"),
     lambda t, m: t._("expected range from the same time on the few days of history there "
                      "are")),
    (re.compile(r"range from the last hours only \(less than a day of history\)"),
     lambda t, m: t._("expected range from the last hours only (less than a day of "
                      "history)")),
    (re.compile(r"data is late: the newest bucket of (?P<table>.+?) (?:is only partly there|has "
                r"no rows yet|is still filling) \(.*\)"),
     lambda t, m: t._("data is late: the newest interval of {table} is not complete yet",
                      table=m["table"])),
    (re.compile(r"judged once it fills"), lambda t, m: t._("judged once it fills")),
    (re.compile(r"not judged: the check failed on this metric \((?P<error>.*)\)"),
     lambda t, m: t._("not judged: the check failed on this metric ({error})",
                      error=m["error"])),
    (re.compile(r"the bot's log has the details"),
     lambda t, m: t._("the bot's log has the details")),
    (re.compile(r"re-based after a lasting level change"),
     lambda t, m: t._("adjusted after a lasting change of level")),
    (re.compile(r"re-based to the level accepted in the chat as the new normal"),
     lambda t, m: t._("moved to the level accepted in the chat as the new normal")),
]


def _part(text: str, t: Translator) -> str:
    for pattern, say in SHAPES:
        match = pattern.fullmatch(text.strip())
        if match is not None:
            return say(t, match)
    return text.strip()


# Reasons that name something of the catalogue's (a table may be called anything, '; ' and
# all): read whole, before a reason is split into its clauses.
WHOLE: list[tuple[re.Pattern[str], Say]] = [
    (re.compile(r"(?P<table>.+): no rows in (?P<days>\d+) days? \(is it being filled, and is "
                r"it the right database\?\)", re.DOTALL), _empty),
]


def reason_text(reason: str, t: Translator) -> str:
    """`reason` in plain words in `t`'s language (plain text: the caller escapes it)."""
    if not reason:
        return ""
    for pattern, say in WHOLE:
        whole = pattern.fullmatch(reason)
        if whole is not None:
            return say(t, whole)
    out = []
    for clause in reason.split("; "):
        pieces = clause.split(", re-based ")
        said = _part(pieces[0], t)
        for piece in pieces[1:]:
            said += ", " + _part("re-based " + piece, t)
        out.append(said)
    return "; ".join(out)


_SHIFT = re.compile(rf"{SIDE} (?:the expected range \(a sustained shift over the last "
                    r"(?P<over>\d+) buckets\)|expected for the last (?P<n>\d+) buckets together)")


def shift_buckets(reason: str) -> int | None:
    """How many buckets, the checked one the last, a sustained shift the reason speaks of
    spans ("below expected for the last 4 buckets together"; just outside, "a sustained shift
    over the last 3 buckets"): where the shift began, as the alert says "the last 4
    intervals". None for any other reason."""
    match = _SHIFT.match(reason.split("; ", maxsplit=1)[0].strip())
    return None if match is None else int(match["over"] or match["n"])


def _(message: str) -> str:  # gettext's N_: marks a text for the catalogue, translated later
    return message


# A detector method (the catalogue's `method`) in the words people read: its description under
# /metric and /check, /thresholds. One word each, so every text names it alike.
METHODS = {"seasonal": _("seasonal"), "iqr": _("quartiles"), "stl": _("STL"),
           "holt_winters": _("Holt-Winters")}  # fmt: skip


def method_text(method: str, t: Translator) -> str:
    """A detector method's word in `t`'s language ('seasonal': ru 'сезонный'); a method this
    module does not know, as the catalogue names it."""
    word = METHODS.get(method)
    return method if word is None else t._(word)


def _seasonal(t: Translator, m: re.Match[str]) -> str:
    return t.ngettext("{method} (the median of the same time on the last {n} day, k={k})",
                      "{method} (the median of the same time on the last {n} days, k={k})",
                      int(m["n"]), method=method_text("seasonal", t),
                      k=localized(m["k"], t))  # fmt: skip


def _iqr(t: Translator, m: re.Match[str]) -> str:
    return t.ngettext("{method} of the last {n} interval, k={k}",
                      "{method} of the last {n} intervals, k={k}", int(m["n"]),
                      method=method_text("iqr", t), k=localized(m["k"], t))  # fmt: skip


def _stl(t: Translator, m: re.Match[str]) -> str:
    return t.ngettext("{method} (a daily season fitted on {n} day, k={k})",
                      "{method} (a daily season fitted on {n} days, k={k})", int(m["n"]),
                      method=method_text("stl", t), k=localized(m["k"], t))  # fmt: skip


def _holt_winters(t: Translator, m: re.Match[str]) -> str:
    return t.ngettext("{method} fitted on {n} day, k={k}",
                      "{method} fitted on {n} days, k={k}", int(m["n"]),
                      method=method_text("holt_winters", t), k=localized(m["k"], t))  # fmt: skip


K = r"k=(?P<k>[\d.e+-]+)"
DETECTORS: list[tuple[re.Pattern[str], Say]] = [
    (re.compile(rf"seasonal \(median of (?P<n>\d+) days, {K}\)"), _seasonal),
    (re.compile(rf"iqr \(last (?P<n>\d+) buckets, {K}\)"), _iqr),
    (re.compile(rf"stl \(daily season, (?P<n>\d+)-day fits, {K}\)"), _stl),
    (re.compile(rf"holt_winters \((?P<n>\d+)-day fits, {K}\)"), _holt_winters),
]


def detector_text(described: str, t: Translator) -> str:
    """A detector's `describe()` (English, for logs and `check --json`) in `t`'s language;
    a description of a shape this module does not know is kept as written."""
    for pattern, say in DETECTORS:
        match = pattern.fullmatch(described.strip())
        if match is not None:
            return say(t, match)
    return described


def source_text(described: str, t: Translator) -> str:
    """A source's `describe()` (English, for logs) in `t`'s language; another kept as is."""
    if (m := re.fullmatch(r"the embedded database at (?P<path>.+)", described)) is not None:
        return t._("the embedded database at {path}", path=m["path"])
    if (m := re.fullmatch(r"ClickHouse at (?P<url>.+)", described)) is not None:
        return t._("ClickHouse at {url}", url=m["url"])
    return described
