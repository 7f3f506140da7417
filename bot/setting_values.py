"""The kinds of value settings take (durations, check intervals, Telegram ids, a desktop's
LANGUAGE list), each parsed into a plain sentence when it is wrong."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated, Any
from urllib.parse import SplitResult, parse_qs, urlsplit, urlunsplit

from pydantic import BeforeValidator
from pydantic_settings import DotEnvSettingsSource, NoDecode

from queries.catalogue import parse_duration

__all__ = [
    "Delay",
    "Duration",
    "Ids",
    "Interval",
    "LiteralDotEnv",
    "dotenv_language",
    "posix_language",
    "posix_list",
    "query_problem",
    "shown_url",
    "url_parts",
]

MAX_DURATION = timedelta(days=365)


def _duration(value: Any) -> timedelta:
    if isinstance(value, timedelta):
        return value
    try:
        result = parse_duration(str(value))
    except ValueError:
        raise ValueError(
            "is not a duration: use a number followed by s, m, h, d or w, e.g. 15m or 4h"
        ) from None
    if result <= timedelta(0):
        raise ValueError("must be longer than zero, e.g. 15m")
    return result


def _bounded(value: Any) -> timedelta:
    result = _duration(value)
    if result > MAX_DURATION:  # a typo: times this far back or ahead overflow a datetime
        raise ValueError("must be at most 365d")
    return result


MAX_DELAY = timedelta(days=1)


def _delay(value: Any) -> timedelta:
    """DATA_DELAY: the check judges the bucket that ended this long ago. A year (365d) judged
    nothing ever, every series "before the data's start", and said nothing of why."""
    result = _bounded(value)
    if result > MAX_DELAY:
        raise ValueError("must be at most 1d: the check judges the bucket that ended that long "
                         "ago, e.g. 2m (or 1h for data loaded hourly)")  # fmt: skip
    return result


MIN_INTERVAL, MAX_INTERVAL = timedelta(seconds=10), timedelta(days=1)


def _interval(value: Any) -> timedelta:
    """How often the bot checks: 10s to 1d (faster floods the source; slower is no monitor)."""
    text = str(value).strip()
    if isinstance(value, timedelta):
        result = value
    elif text.startswith("-") or re.match(r"^0+(\.0*)?\s*[a-z]*$", text, re.IGNORECASE):
        result = timedelta(0)  # "-5m", "0m": out of the range, as 1s is, not a non-duration
    else:
        result = _duration(value)
    if not MIN_INTERVAL <= result <= MAX_INTERVAL:
        raise ValueError("must be from 10s to 1d, e.g. 15m")
    return result


def _ids(value: Any) -> tuple[int, ...]:
    if isinstance(value, list | tuple):
        return tuple(int(v) for v in value)
    text = str(value or "").strip()
    if not text:
        return ()
    out = []
    for raw in text.split(","):
        part = raw.strip()
        # Telegram's ids fit 52 bits; the state file's integers 64: a longer number is a typo.
        if not re.fullmatch(r"-?\d{1,16}", part):
            raise ValueError(
                f"has {part!r}, which is not a Telegram id: expected comma-separated numbers, "
                "e.g. 12345,-100987"
            )
        if int(part) == 0:  # every Telegram user and chat has an id other than 0
            raise ValueError("has 0, which is not a Telegram id: expected comma-separated "
                             "numbers, e.g. 12345,-100987")  # fmt: skip
        out.append(int(part))
    return tuple(out)


Duration = Annotated[timedelta, NoDecode, BeforeValidator(_bounded)]
Delay = Annotated[timedelta, NoDecode, BeforeValidator(_delay)]
Ids = Annotated[tuple[int, ...], NoDecode, BeforeValidator(_ids)]
Interval = Annotated[timedelta, NoDecode, BeforeValidator(_interval)]


def posix_list(text: str) -> bool:
    """LANGUAGE as GNU gettext reads it (a desktop exports `en_US:en`, `ru_RU.UTF-8`): a list
    or a locale name, not a plain code someone chose for the bot."""
    return bool(re.search(r"[:_.@]", text))


def posix_language(text: str) -> str:
    """The first of en/ru a POSIX list names (ru_RU:ru -> ru); en when it names neither: it is
    the desktop's setting, not a choice for the bot."""
    for part in text.split(":"):
        code = re.split(r"[_.@]", part.strip().lower(), maxsplit=1)[0]
        if code in ("en", "ru"):
            return code
    return "en"


def query_problem(url: str) -> str | None:
    """What CLICKHOUSE_URL's query string must not hold, said (None: nothing). A database
    there wins over CLICKHOUSE_DATABASE, unsaid; a user or password there is a second form of
    credentials beside the client's, which ClickHouse refuses ("a password is required ...
    not allowed to use X-ClickHouse HTTP headers and other authentication methods")."""
    asked = parse_qs(urlsplit(url).query, keep_blank_values=True)
    if "database" in asked:
        database = asked["database"][0]
        return (f"has database={database} in its query string: the database is "
                f"CLICKHOUSE_DATABASE's to name; remove it from the URL and set "
                f"CLICKHOUSE_DATABASE={database}")  # fmt: skip
    for key, setting in (("user", "CLICKHOUSE_USER"), ("password", "CLICKHOUSE_PASSWORD")):
        if key in asked:
            return (f"has {key}= in its query string: ClickHouse refuses credentials given two "
                    f"ways; remove it from the URL and set {setting}")  # fmt: skip
    return None


def url_parts(url: str, example: str) -> SplitResult:
    """`url` split, or a ValueError that says how to write one (an unclosed [ of an IPv6
    address, which urlsplit refuses)."""
    try:
        return urlsplit(url)
    except ValueError:
        raise ValueError(f"is not a URL that can be read (an IPv6 address goes in brackets, "
                         f"http://[::1]:8123): expected e.g. {example}") from None


def shown_url(url: str) -> str:
    """`url` as a message may show it: the password of its user:password@ and of a
    `password=` in its query string as ***, also in a URL too broken to parse (an unclosed
    `[` of an IPv6 address: the message that says so must not be the one to leak it)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        masked = re.sub(r"^([^:/?#]*://[^:/?#@]*):[^@/?#]*@", r"\1:***@", url)
        return re.sub(r"([?&]password=)[^&#]*", r"\1***", masked)
    netloc = parts.netloc
    if parts.password is not None:
        user, _, host = netloc.rpartition("@")
        netloc = f"{user.partition(':')[0]}:***@{host}"
    query = re.sub(r"(^|&)(password=)[^&]*", r"\1\2***", parts.query)
    return urlunsplit(parts._replace(netloc=netloc, query=query))


class LiteralDotEnv(DotEnvSettingsSource):
    """.env read with its values as written: python-dotenv expands `${HOME}` even inside
    single quotes, so `CLICKHOUSE_PASSWORD='pa${HOME}x'` reached ClickHouse as "pa/homex"
    and failed as a wrong password (a password of the environment worked)."""

    def _read_env_file(self, file_path: Any) -> Any:
        from dotenv import dotenv_values
        from pydantic_settings.sources.utils import parse_env_vars

        values = dotenv_values(file_path, encoding=self.env_file_encoding or "utf8",
                               interpolate=False)  # fmt: skip
        return parse_env_vars(values, self.case_sensitive, self.env_ignore_empty,
                              self.env_parse_none_str)  # fmt: skip


def dotenv_language() -> str | None:
    """LANGUAGE as the .env file sets it (None: it does not)."""
    from pathlib import Path

    from dotenv import dotenv_values

    path = Path(".env")
    if not path.is_file():
        return None
    values = dotenv_values(path, encoding="utf-8-sig", interpolate=False)
    return {k.upper(): v for k, v in values.items()}.get("LANGUAGE") or None
