"""Each intent of a plan in words: the text (HTML), whether it carries the chart, its buttons
and what it is about (for channels that take structure). Pure; every value escaped, every
text within Telegram's limits."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd

from bot.core.buttons import Button, alert_buttons, digest_buttons
from bot.core.formatting import fmt_value, metric_title
from bot.core.i18n import Translator, translator
from bot.core.incidents import Incident
from bot.core.plan import Digest, Notice, NoticeKind, Open, Remind, Resolve
from bot.core.problems import problem_of
from bot.core.reasons import source_text
from bot.core.report import SeriesResult
from bot.core.text import CAPTION_LIMIT, cut_html, rendered_length
from bot.core.wording import alert_caption, digest_text, duration_text, e, since_text
from queries.catalogue import Metric

# How far before an incident opened its total's range is looked at for the level it followed
# then: the alerted bucket and the one before (a check runs after its bucket ends).
LOOK_BACK = timedelta(hours=1)

__all__ = ["Draft", "Style", "render_digest", "render_notice", "render_open", "render_remind",
           "render_resolve"]  # fmt: skip


@dataclass(frozen=True)
class Style:
    """What the wording needs from the settings and the catalogue, and the language it speaks
    (English when no translator is given)."""

    zone: ZoneInfo
    step: timedelta
    dashboard: str | None = None
    source: str = "the source"  # how the source is named to people
    t: Translator = field(default_factory=translator)

    def speaking(self, lang: str | None) -> Style:
        """The same style in another language ('en', 'ru'; None or unknown: English)."""
        return replace(self, t=translator(lang))


@dataclass(frozen=True)
class Draft:
    text: str  # HTML; a caption (<= 1024 rendered) when with_chart
    with_chart: bool = False
    buttons: tuple[tuple[Button, ...], ...] = ()
    meta: dict[str, Any] = field(default_factory=dict)


def _meta(event: str, incident: Incident | None, **extra: object) -> dict[str, Any]:
    out: dict[str, Any] = {"event": event, **extra}
    if incident is not None:
        out.update(incident_id=incident.id, metric=incident.metric)
    return out


def render_open(intent: Open, incident: Incident, style: Style) -> Draft:
    """The alert: chart, caption, buttons. `incident` is the saved one (it has ids)."""
    assert incident.id is not None
    caption = alert_caption(intent.head, intent.related, zone=style.zone, step=style.step,
                            dashboard=style.dashboard, t=style.t)  # fmt: skip
    return Draft(
        caption,
        with_chart=True,
        buttons=alert_buttons(incident.id, incident.alert_id, t=style.t),
        meta=_meta("alert", incident, slice=intent.head.slice.label(),
                   value=intent.head.verdict.value, expected=intent.head.verdict.expected),
    )  # fmt: skip


def render_digest(intent: Digest, incidents: dict[str, Incident], style: Style, *,
                  digest_id: int) -> Draft:  # fmt: skip
    """Many metrics at once: one message, the chart of the worst, and buttons that act on
    every incident listed (`digest_id`: the digest's own id in the state)."""
    groups = [(o.head, list(o.related)) for o in intent.opens]
    text = digest_text(groups, zone=style.zone, t=style.t)
    ids = [incidents[o.incident.metric].id for o in intent.opens]
    return Draft(
        text,
        with_chart=rendered_length(text) <= CAPTION_LIMIT,
        buttons=digest_buttons(digest_id, t=style.t),
        meta=_meta("alert", None, metrics=[o.incident.metric for o in intent.opens],
                   digest_id=digest_id, incident_ids=ids),
    )


def render_remind(intent: Remind, incident: Incident, now: datetime, style: Style) -> Draft:
    t = style.t
    v = intent.head.verdict
    metric = intent.head.metric
    off = incident.since or incident.opened_at  # as the alert said it
    text = t._(
        "⏰ <b>{title}</b> still off since {time} ({duration}): {value} vs expected {expected}",
        title=e(metric_title(metric, t)), time=since_text(off, now, style.zone),
        duration=duration_text(now - off, t),
        value=e(fmt_value(metric, v.value, t)), expected=e(fmt_value(metric, v.expected, t)),
    )  # fmt: skip
    return Draft(text, meta=_meta("reminder", incident))


def render_resolve(intent: Resolve, incident: Incident, now: datetime, title: str | Metric,
                   style: Style | None = None) -> Draft:  # fmt: skip
    """`title`: the metric (its title is said in the style's language) or a title as is."""
    t = style.t if style is not None else translator()
    if not isinstance(title, str):
        title = metric_title(title, t)
    elif intent.total is not None:
        title = metric_title(intent.total.metric, t)
    lasted = duration_text(incident.lasted(now), t)
    total = intent.total
    settled = total is not None and new_level(total, incident.opened_at)
    if settled:
        # Not "back to normal": the metric holds the level it moved to, and the range now
        # follows that level (the detector's own re-base after the change held, or the level
        # accepted in the chat as the new normal).
        text = t._("📏 <b>{title}</b> holds a new level after {duration}: the change lasted, "
                   "and the expected range now follows it", title=e(title),
                   duration=lasted)  # fmt: skip
    else:
        text = t._("✅ <b>{title}</b> back to normal after {duration}", title=e(title),
                   duration=lasted)  # fmt: skip
    if total is not None and total.verdict.value is not None:
        v, metric = total.verdict, total.metric
        text += t._(": {value} (expected {low} – {high})",
                    value=e(fmt_value(metric, v.value, t)), low=e(fmt_value(metric, v.lower, t)),
                    high=e(fmt_value(metric, v.upper, t)))  # fmt: skip
    english = duration_text(incident.lasted(now))  # the webhook's field stays English
    return Draft(text, meta=_meta("resolved", incident, lasted=english))


def new_level(result: SeriesResult, since: datetime) -> bool:
    """Whether the result's range at its bucket follows a level the series moved to during
    the incident opened at `since`: the detector's own re-base after the change held (half of
    `rebase_hours`), or a level accepted in the chat (the band's basis says "rebased" or
    "accepted"), where the range did not yet follow it when the incident began. An incident
    on top of a level followed for days before it (the seasonal median catches up slowly) is
    back to normal when it ends."""
    band = result.band
    if "basis" not in band.columns:
        return False
    basis = band["basis"]
    bucket = result.verdict.bucket
    if not _follows(basis.get(bucket)):
        return False
    during = basis[(basis.index >= pd.Timestamp(since) - LOOK_BACK) & (basis.index <= bucket)]
    known = [_follows(b) for b in during if isinstance(b, str)]
    return not all(known)


def _follows(basis: object) -> bool:
    return isinstance(basis, str) and bool({"rebased", "accepted"} & set(basis.split(", ")))


def render_notice(intent: Notice, style: Style) -> Draft:
    t = style.t
    source = e(source_text(style.source, t))
    table, metric = e(intent.table or ""), e(intent.metric or "")
    if intent.kind is NoticeKind.SOURCE_DOWN:
        details = problem_of(style.source, intent.details, t)  # the source named once
        text = t._("⚠️ Cannot read {source}: {details}\nThose metrics are unknown until it is "
                   "back; no alert is raised or resolved meanwhile.", source=source,
                   details=e(details[:600]))  # fmt: skip
    elif intent.kind is NoticeKind.SOURCE_BACK:
        text = t._("✅ {source} can be read again; checks are normal.", source=source)
    elif intent.kind is NoticeKind.LATE and intent.late is not None:
        late = intent.late
        bucket = f"{late.bucket.tz_convert(style.zone):%H:%M}"
        if late.latest:
            newest = f"{pd.Timestamp(late.latest).tz_convert(style.zone):%H:%M:%S}"
            text = t._("⏳ Data in <code>{table}</code> is late: the {time} interval is incomplete "
                       "(the newest event is from {newest}). Its metrics are not judged until "
                       "the rows arrive, so a half-filled interval raises no false drop; I will "
                       "say when data is arriving again.", table=table, time=bucket,
                       newest=newest)  # fmt: skip
        else:
            text = t._("⏳ Data in <code>{table}</code> is late: the {time} interval is incomplete "
                       "(no rows yet). Its metrics are not judged until the rows arrive, so a "
                       "half-filled interval raises no false drop; I will say when data is "
                       "arriving again.", table=table, time=bucket)  # fmt: skip
    elif intent.kind is NoticeKind.UNJUDGED:
        text = t._("⚠️ <code>{metric}</code> is not checked: the check fails on it ({error}; "
                   "the details are in the bot's log). Its alerts cannot fire until that is "
                   "mended; the other metrics are checked as usual. I will say when it is "
                   "checked again.", metric=metric, error=e(intent.details[:600]))  # fmt: skip
    elif intent.kind is NoticeKind.UNJUDGED_CLEAR:
        text = t._("✅ <code>{metric}</code> is checked again.", metric=metric)
    else:
        text = t._("✅ Data in <code>{table}</code> is arriving again.", table=table)
    return Draft(cut_html(text, 4000), meta={"event": "notice", "kind": intent.kind.value,
                                               "table": intent.table, "metric": intent.metric})


def render_failure(metric: str, error: BaseException, t: Translator | None = None) -> Draft:
    """Operators hear once that one alert could not be written; the others went out."""
    t = t or translator()
    text = t._("⚠️ An alert for <code>{metric}</code> could not be written ({error}); every "
               "other alert of this check went out. The details are in the bot's log.",
               metric=e(metric), error=e(type(error).__name__))  # fmt: skip
    return Draft(text, meta={"event": "notice", "kind": "render_failed", "metric": metric})
