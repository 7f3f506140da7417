"""What a command is answered from: a check's report, fresh or the last one, or why there is
none (bot.service.monitor makes them; the chat's handlers read them)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from bot.core.report import CheckReport
from queries.errors import SourceUnavailable

__all__ = ["Answer", "SetResult", "SourceNotAnswering"]


class SourceNotAnswering(SourceUnavailable):
    """No check finished within a command's budget, and there is no earlier report to show."""

    def __init__(self, source: str, problem: str, *, misconfigured: bool = False) -> None:
        super().__init__(f"{source} is not answering: {problem}")
        self.source = source
        self.problem = problem
        self.misconfigured = misconfigured  # it answered: something is set up wrong


@dataclass(frozen=True)
class Answer:
    """What a command shows: the current check, or the last one when the source is stuck."""

    report: CheckReport
    checked_at: datetime  # when the check that made `report` finished (the monitor's clock)
    stale: bool  # True: the current check did not finish within the budget
    problem: str = ""  # stale: why it did not (the source's own sentence, or the wait)
    misconfigured: bool = False  # stale: the source answered that it is set up wrong


@dataclass(frozen=True)
class SetResult:
    """What /set did: the value before and after, and the alerts each raises in a replay of
    the last `days`, over `span` (the first bucket replayed, later where the data begins, and
    the end; None where the days hold no data)."""

    metric: str
    param: str
    before: object
    after: object
    alerts_before: int
    alerts_after: int
    days: int
    span: tuple[datetime, datetime] | None = None
