"""Settings read once at start-up from the environment and `.env`; bad values fail clearly."""

from __future__ import annotations

import os
import re
from datetime import timedelta
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict

from bot import setting_values
from bot.setting_values import Duration, Ids, Interval, posix_language, posix_list
from queries.catalogue import link_problem

__all__ = ["LOG_LEVELS", "Settings", "SettingsError", "default_embedded_path", "load_settings",
           "token_elsewhere"]

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


# Telegram's stand-ins for senders it does not name: none is a person to make an admin.
MIN_TIMEOUT = 0.1  # CLICKHOUSE_TIMEOUT, seconds: less is never an answer
STAND_INS = {
    1087968824: "GroupAnonymousBot as the sender of anyone writing anonymously in a group",
    136817688: "Channel_Bot as the sender of anyone writing on behalf of a channel",
    777000: "its service account as the sender of channel posts forwarded to a discussion group",
}
# What each URL setting looks like, for the message that refuses a malformed one.
URL_EXAMPLES = {
    "clickhouse_url": "http://localhost:8123",
    "telegram_api_url": "https://api.telegram.org",
    "dashboard_url": "https://grafana.example.com/d/feed",
    "alert_webhook_url": "https://hooks.example.com/alerts",
    "webhook_url": "https://bot.example.com/telegram",
}


class SettingsError(Exception):
    """A setting has a value we cannot use; str() is one plain sentence per bad variable."""


def default_embedded_path() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "metric-alertbot" / "demo"


# What each number among the settings must be: the message for a value out of its range, and
# for one that is not a number at all.
NUMBERS = {
    "clickhouse_timeout": "must be a number of seconds from 0.1 to 3600 (e.g. 60)",
    "resolve_after": "must be a number of checks from 1 to 96 (e.g. 2)",
    "http_port": "must be a port from 1 to 65535, or 0 for no HTTP server",
}


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_file=".env",
        env_file_encoding="utf-8-sig",  # a byte-order mark (Notepad) is no part of a name
        extra="ignore",
        case_sensitive=False,
        # A copied .env.example has empty lines like EMBEDDED_PATH=: they mean "the default".
        env_ignore_empty=True,
    )

    @classmethod
    def settings_customise_sources(  # pydantic-settings' own signature
        cls, settings_cls: type[BaseSettings], init_settings: Any, env_settings: Any,
        dotenv_settings: Any, file_secret_settings: Any,
    ) -> tuple[Any, ...]:  # fmt: skip
        """.env's values as written (`setting_values.LiteralDotEnv`)."""
        dotenv = setting_values.LiteralDotEnv(settings_cls)
        return init_settings, env_settings, dotenv, file_secret_settings

    bot_token: SecretStr | None = None
    telegram_api_url: str = "https://api.telegram.org"
    clickhouse_url: str | None = None
    clickhouse_user: str = "default"
    clickhouse_password: SecretStr = SecretStr("")
    clickhouse_database: str = "simulator"
    clickhouse_timeout: float = 60.0
    admin_ids: Ids = ()
    alert_chat_ids: Ids = ()
    check_interval: Interval = timedelta(minutes=15)
    data_delay: setting_values.Delay = timedelta(minutes=2)
    late_data_grace: Duration = timedelta(minutes=45)
    repeat_interval: Duration = timedelta(hours=4)
    resolve_after: int = 2
    state_path: Path = Path("alertbot.sqlite3")
    dashboard_url: str | None = None
    timezone: str = "UTC"
    language: Literal["en", "ru"] = "en"  # what the bot says where a chat chose nothing
    embedded_path: Path = default_embedded_path()
    catalogue_path: Path | None = None
    alert_webhook_url: str | None = None
    alert_webhook_secret: SecretStr | None = None
    log_level: str = "INFO"
    log_format: str = "text"
    http_host: str = "127.0.0.1"
    http_port: int = 9321
    webhook_url: str | None = None
    webhook_secret: SecretStr | None = None

    @field_validator(
        "clickhouse_url", "telegram_api_url", "dashboard_url", "alert_webhook_url", "webhook_url",
        mode="before",
    )
    @classmethod
    def _url(cls, value: Any, info: ValidationInfo) -> Any:
        if value is None or (isinstance(value, str) and not value.strip()):
            return None
        text = str(value).strip()
        example = URL_EXAMPLES.get(info.field_name or "", "https://example.com")
        parts = setting_values.url_parts(text, example)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"is not an http(s) URL: expected e.g. {example}")
        try:
            _ = parts.port
        except ValueError:
            raise ValueError("has a port that is not a number") from None
        problem = setting_values.query_problem(text) if info.field_name == "clickhouse_url" \
            else None  # fmt: skip
        if problem is not None:
            raise ValueError(problem)
        return text

    @field_validator("dashboard_url")
    @classmethod
    def _placeholders(cls, value: str | None) -> str | None:
        """Only {metric} and {slice} are filled in: another {name} went out as typed."""
        problem = None if value is None else link_problem(value)
        if problem:
            raise ValueError(problem)
        return value

    @field_validator("clickhouse_user", "clickhouse_password", "bot_token", mode="before")
    @classmethod
    def _printable(cls, value: Any) -> Any:  # no HTTP header carries them: a request failed
        if isinstance(value, str) and any(ord(c) < 32 or ord(c) == 127 for c in value):
            raise ValueError("has a control character (a line break kept from a file saved "
                             "with Windows line ends?): remove it")  # fmt: skip
        return value

    @field_validator("state_path", "embedded_path", "catalogue_path")
    @classmethod
    def _home(cls, value: Path | None) -> Path | None:  # "~/x" is the home's x, as in a shell
        return value.expanduser() if value is not None else None

    @field_validator("embedded_path")
    @classmethod
    def _folder(cls, value: Path) -> Path:  # after _home: "~/" is expanded
        if value.exists() and not value.is_dir():
            raise ValueError("is a file, not a folder: name a folder for the demo database")
        return value

    @field_validator("clickhouse_database")
    @classmethod
    def _database(cls, value: str) -> str:
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", value):
            raise ValueError("is not a database name: use Latin letters, digits and _ (for a "
                             "database named otherwise, make one so named holding views of its "
                             "tables)")  # fmt: skip
        return value

    @field_validator("admin_ids")
    @classmethod
    def _people(cls, value: tuple[int, ...]) -> tuple[int, ...]:
        for user in value:
            if user in STAND_INS:
                raise ValueError(
                    f"has {user}, which is not a person: Telegram names {STAND_INS[user]}, so "
                    "every one of them would be an admin. Send /start to the bot in a private "
                    "chat for your own id")
        return value

    @field_validator("resolve_after")
    @classmethod
    def _resolve_after(cls, value: int) -> int:
        if not 1 <= value <= 96:
            raise ValueError(NUMBERS["resolve_after"])
        return value

    @field_validator("clickhouse_timeout")
    @classmethod
    def _timeout(cls, value: float) -> float:
        if not MIN_TIMEOUT <= value <= 3600:
            raise ValueError(NUMBERS["clickhouse_timeout"])
        return value

    @field_validator("log_level", mode="before")
    @classmethod
    def _log_level(cls, value: Any) -> str:
        text = str(value).strip().upper()
        if text not in LOG_LEVELS:
            raise ValueError(f"is not a log level: use one of {', '.join(LOG_LEVELS)}")
        return text

    @field_validator("log_format", mode="before")
    @classmethod
    def _log_format(cls, value: Any) -> str:
        text = str(value).strip().lower()
        if text not in ("text", "json"):
            raise ValueError("must be text or json")
        return text

    @field_validator("language", mode="before")
    @classmethod
    def _language(cls, value: Any) -> str:
        text = str(value).strip().lower()
        if posix_list(text):
            return posix_language(text)
        if text not in ("en", "ru"):
            raise ValueError("is not a language the bot speaks: use en or ru")
        return text

    @field_validator("http_port")
    @classmethod
    def _port(cls, value: int) -> int:
        if not 0 <= value <= 65535:
            raise ValueError(NUMBERS["http_port"])
        return value

    @field_validator("webhook_secret")
    @classmethod
    def _webhook_secret(cls, value: SecretStr | None) -> SecretStr | None:
        # Telegram's own rule for secret_token: 1-256 characters A-Z, a-z, 0-9, _ and -.
        text = None if value is None else value.get_secret_value()
        if text is not None and not re.fullmatch(r"[A-Za-z0-9_-]{1,256}", text):
            raise ValueError("must be 1 to 256 characters: letters, digits, _ and -")
        return value

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError("is not a time zone: use an IANA name, e.g. Europe/Moscow") from None
        return value

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def secrets(self) -> list[str]:
        """The values no log or message may show."""
        held = (self.bot_token, self.clickhouse_password, self.alert_webhook_secret,
                self.webhook_secret)  # fmt: skip
        return [s.get_secret_value() for s in held if s is not None and s.get_secret_value()]


def token_elsewhere() -> str:
    """Where BOT_TOKEN is not set: ' (TELEGRAM_BOT_TOKEN is set, but the token is read from
    BOT_TOKEN)' for a variable of the environment or .env whose name holds TOKEN (a misspelt
    or borrowed name), else ''. Names only: a value is never read out."""
    from dotenv import dotenv_values

    path = Path(".env")
    names = list(os.environ)
    if path.is_file():
        names += [str(k) for k in dotenv_values(path, encoding="utf-8-sig")]
    near = sorted({n for n in names if "TOKEN" in n.upper() and n.upper() != "BOT_TOKEN"})
    if not near:
        return ""
    return f" ({', '.join(near)} {'is' if len(near) == 1 else 'are'} set, but the token is read " \
        "from BOT_TOKEN)"


_SECRET = {"bot_token", "clickhouse_password", "alert_webhook_secret", "webhook_secret"}


def _describe(error: Any) -> str:
    name = str(error["loc"][0]).upper() if error.get("loc") else "A setting"
    message = re.sub(r"^Value error, ", "", str(error.get("msg", "is invalid")))
    if error.get("type") in ("float_parsing", "int_parsing"):
        field = str(error["loc"][0]) if error.get("loc") else ""
        message = "is not a number" + (f": it {NUMBERS[field]}" if field in NUMBERS else "")
    elif not re.match(r"^(is|has|must) ", message):
        message = f"is invalid: {message}"
    # Secrets are never echoed back, not even when wrong.
    given = "" if name.lower() in _SECRET else f"={error.get('input')!r}"
    if name.lower().endswith("_url") and isinstance(error.get("input"), str):
        given = f"={setting_values.shown_url(error['input'])!r}"  # nor a URL's password
    return f"{name}{given} {message}"


def _check_dotenv() -> None:
    """SettingsError unless .env (where there is one) is UTF-8 text: the reader would stop on
    its first bad byte with a traceback."""
    path = Path(".env")
    try:
        data = path.read_bytes() if path.is_file() else b""
    except OSError as exc:
        raise SettingsError(f".env cannot be read ({exc.strerror}): fix its permissions") from None
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise SettingsError(f".env is not UTF-8 text (byte 0x{data[exc.start]:02x} on line "
                            f"{line}): save it as UTF-8") from None  # fmt: skip
    if b"\x00" in data:
        line = data[: data.index(b"\x00")].count(b"\n") + 1
        raise SettingsError(f".env holds a NUL byte on line {line}: save it as plain text")


def load_settings(**overrides: Any) -> Settings:
    """Settings from env and .env (plus overrides); SettingsError names each bad variable."""
    _check_dotenv()
    shell = os.environ.get("LANGUAGE", "")
    if "language" not in overrides and posix_list(shell.strip().lower()):
        # The desktop's gettext list in the shell does not beat the bot's own .env.
        chosen = setting_values.dotenv_language()
        if chosen is not None:
            overrides = {**overrides, "language": chosen}
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        raise SettingsError("; ".join(_describe(e) for e in exc.errors())) from None
