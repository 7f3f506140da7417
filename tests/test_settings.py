"""Settings: defaults that work with zero configuration, and one plain sentence per bad value
(naming the variable, what was given and what is expected), never echoing a secret."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.settings import SettingsError, load_settings


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    """No .env and no stray variables from the machine running the tests."""
    monkeypatch.chdir(tmp_path)
    for name in ("BOT_TOKEN", "CLICKHOUSE_URL", "CHECK_INTERVAL", "ADMIN_IDS", "TIMEZONE",
                 "CLICKHOUSE_PASSWORD", "DATA_DELAY", "ALERT_CHAT_IDS", "LANGUAGE", "DASHBOARD_URL",
                 "EMBEDDED_PATH", "REPEAT_INTERVAL"):  # fmt: skip
        monkeypatch.delenv(name, raising=False)


def test_zero_configuration_defaults() -> None:
    """With nothing set: embedded demo, 15-minute checks, 2-minute delay, nobody is admin."""
    settings = load_settings()
    assert settings.clickhouse_url is None
    assert settings.check_interval == timedelta(minutes=15)
    assert settings.data_delay == timedelta(minutes=2)
    assert settings.repeat_interval == timedelta(hours=4)
    assert settings.admin_ids == () and settings.alert_chat_ids == ()
    assert settings.telegram_api_url == "https://api.telegram.org"
    assert settings.language == "en"


def test_values_are_parsed_from_env_and_dotenv(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    """Env and .env both count; lists are comma-separated; durations read like 30s or 1h."""
    (tmp_path / ".env").write_text("CHECK_INTERVAL=30s\nADMIN_IDS=1, 22 ,-333\n")
    monkeypatch.setenv("ALERT_CHAT_IDS", "-100123")
    settings = load_settings()
    assert settings.check_interval == timedelta(seconds=30)
    assert settings.admin_ids == (1, 22, -333)
    assert settings.alert_chat_ids == (-100123,)


def test_a_password_in_dotenv_is_taken_as_written(
    monkeypatch: pytest.MonkeyPatch, tmp_path
) -> None:
    """`$` in a password is no variable: python-dotenv expanded ${HOME} even in single quotes,
    and the password reached ClickHouse as "pa/root/x", a wrong one (the same password from
    the environment worked). A value with " #" is written in quotes, as .env.example says."""
    (tmp_path / ".env").write_text("CLICKHOUSE_PASSWORD='pa${HOME}x'\n"
                                   "CLICKHOUSE_USER=\"an $USER\"\nBOT_TOKEN='1:a #b'\n")
    monkeypatch.setenv("HOME", "/root")
    settings = load_settings()
    assert settings.clickhouse_password.get_secret_value() == "pa${HOME}x"
    assert settings.clickhouse_user == "an $USER"
    assert settings.bot_token is not None and settings.bot_token.get_secret_value() == "1:a #b"


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("CHECK_INTERVAL", "soon", "CHECK_INTERVAL='soon' is not a duration"),
        ("DATA_DELAY", "0m", "DATA_DELAY='0m' must be longer than zero"),
        ("ADMIN_IDS", "abc", "ADMIN_IDS='abc' has 'abc', which is not a Telegram id"),
        # Telegram's stand-in for an anonymous sender: every anonymous writer would be an admin.
        ("ADMIN_IDS", "5,1087968824", "has 1087968824, which is not a person: Telegram names "
         "GroupAnonymousBot as the sender of anyone writing anonymously in a group"),
        ("ADMIN_IDS", "136817688", "has 136817688, which is not a person: Telegram names "
         "Channel_Bot"),
        ("CLICKHOUSE_URL", "localhost:8123", "is not an http(s) URL: expected e.g. http://"),
        ("TIMEZONE", "Mars/Olympus", "TIMEZONE='Mars/Olympus' is not a time zone"),
        ("CLICKHOUSE_DATABASE", "a;b", "is not a database name"),
        ("CLICKHOUSE_DATABASE", "аналитика", "is not a database name: use Latin letters, "
                                             "digits and _"),
        ("RESOLVE_AFTER", "0", "RESOLVE_AFTER='0' must be a number of checks from 1 to 96"),
        # Not "between 0 and 3600", which 0 seemed to be.
        ("CLICKHOUSE_TIMEOUT", "0", "CLICKHOUSE_TIMEOUT='0' must be a number of seconds from 0.1 "
         "to 3600 (e.g. 60)"),
        # Not a number at all: said with what the number must be, as a number out of range is.
        ("CLICKHOUSE_TIMEOUT", "abc", "CLICKHOUSE_TIMEOUT='abc' is not a number: it must be a "
         "number of seconds from 0.1 to 3600 (e.g. 60)"),
        ("RESOLVE_AFTER", "two", "RESOLVE_AFTER='two' is not a number: it must be a number of "
         "checks from 1 to 96 (e.g. 2)"),
        ("HTTP_PORT", "x", "HTTP_PORT='x' is not a number: it must be a port from 1 to 65535"),
        ("LANGUAGE", "de", "LANGUAGE='de' is not a language the bot speaks: use en or ru"),
        ("CHECK_INTERVAL", "1s", "CHECK_INTERVAL='1s' must be from 10s to 1d, e.g. 15m"),
        ("CHECK_INTERVAL", "100000w", "CHECK_INTERVAL='100000w' must be from 10s to 1d"),
        ("CHECK_INTERVAL", "25h", "CHECK_INTERVAL='25h' must be from 10s to 1d"),
        ("CHECK_INTERVAL", "-5m", "CHECK_INTERVAL='-5m' must be from 10s to 1d"),
        ("CHECK_INTERVAL", "0m", "CHECK_INTERVAL='0m' must be from 10s to 1d"),
        # Far past a datetime's range, the check cycle's arithmetic overflowed in a traceback.
        ("DATA_DELAY", "999999d", "DATA_DELAY='999999d' must be at most 365d"),
        ("DATA_DELAY", "25h", "DATA_DELAY='25h' must be at most 1d: the check judges the bucket "
         "that ended that long ago"),
        ("REPEAT_INTERVAL", "400d", "REPEAT_INTERVAL='400d' must be at most 365d"),
        # Only {metric} and {slice} are filled in: any other went out to the chat as typed.
        ("DASHBOARD_URL", "https://g.example.com/d/{dashbord}?m={metric}",
         "has {dashbord}, which is not filled in: use {metric} and {slice}"),
    ],
)
def test_bad_values_give_one_plain_sentence(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, expected: str
) -> None:
    """Each bad value is reported with the variable's name and the expected form."""
    monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError) as caught:
        load_settings()
    assert expected in str(caught.value)
    assert "\n" not in str(caught.value)


def test_secrets_are_never_echoed(monkeypatch: pytest.MonkeyPatch) -> None:
    """A bad setting next to a password does not print the password, and repr hides it."""
    monkeypatch.setenv("CLICKHOUSE_PASSWORD", "hunter2-secret")
    monkeypatch.setenv("BOT_TOKEN", "123:ABCsecret")
    settings = load_settings()
    assert "hunter2" not in repr(settings) and "ABCsecret" not in repr(settings)
    assert settings.clickhouse_password.get_secret_value() == "hunter2-secret"


def test_a_copied_env_example_means_defaults(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    """.env.example copied as-is is valid, and its empty lines leave the defaults in place."""
    example = __import__("pathlib").Path(__file__).parents[1] / ".env.example"
    (tmp_path / ".env").write_text(example.read_text())
    settings = load_settings()
    assert settings.bot_token is None and settings.clickhouse_url is None
    assert settings.embedded_path.name == "demo" and settings.catalogue_path is None
    assert settings.check_interval == timedelta(minutes=15)


@pytest.mark.parametrize(
    ("value", "expected"),
    [("en_US:en", "en"), ("ru_RU.UTF-8", "ru"), ("ru_RU:ru", "ru"), ("de_DE:de", "en"),
     ("de_DE:ru", "ru"), ("RU", "ru"), ("en", "en")],
)  # fmt: skip
def test_language_reads_a_posix_list_as_its_first_supported_code(
    monkeypatch: pytest.MonkeyPatch, value: str, expected: str
) -> None:
    """LANGUAGE as a desktop exports it (gettext's list) is read as the first of en/ru it
    names, and as en when it names neither; a plain code is taken as is."""
    monkeypatch.setenv("LANGUAGE", value)
    assert load_settings().language == expected


def test_dotenv_language_beats_the_desktops_list(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    """LANGUAGE=ru in .env wins over the shell's gettext list (en_US:en), which is the
    desktop's setting and not a choice for the bot; a plain shell value still wins."""
    (tmp_path / ".env").write_text("LANGUAGE=ru\n")
    monkeypatch.setenv("LANGUAGE", "en_US:en")
    assert load_settings().language == "ru"
    monkeypatch.setenv("LANGUAGE", "en")
    assert load_settings().language == "en"


def test_check_interval_accepts_its_range_ends(monkeypatch: pytest.MonkeyPatch) -> None:
    """10s and 1d, the ends of the range, are accepted."""
    monkeypatch.setenv("CHECK_INTERVAL", "10s")
    assert load_settings().check_interval == timedelta(seconds=10)
    monkeypatch.setenv("CHECK_INTERVAL", "1d")
    assert load_settings().check_interval == timedelta(days=1)


@pytest.mark.parametrize(("content", "said"), [
    (b"CHECK_INTERVAL=\x00\xff\xfe\n", "is not UTF-8 text (byte 0xff on line 1): save it as UTF-8"),
    (b"TIMEZONE=UTC\nCHECK_INTERVAL=\xd0\n",
     "is not UTF-8 text (byte 0xd0 on line 2): save it as UTF-8"),
    (b"TIMEZONE=UTC\nCHECK_INTERVAL=15m\x00\n",
     "holds a NUL byte on line 2: save it as plain text"),
])  # fmt: skip
def test_a_dotenv_that_is_not_text_gives_one_sentence(tmp_path, content: bytes, said: str) -> None:
    """A .env saved in another encoding (or holding a NUL byte) names the file, the byte and its
    line, and what to do, where the reader stopped with a traceback."""
    (tmp_path / ".env").write_bytes(content)
    with pytest.raises(SettingsError) as caught:
        load_settings()
    assert str(caught.value) == f".env {said}"
    (tmp_path / ".env").write_text("TIMEZONE=Europe/Moscow\nADMIN_IDS=5\n", encoding="utf-8")
    assert load_settings().admin_ids == (5,)


def test_a_path_setting_starting_with_a_tilde_is_in_the_home_folder(
    monkeypatch: pytest.MonkeyPatch, tmp_path
) -> None:
    """STATE_PATH='~/a.sqlite3' (quoted in .env, so no shell expands it) made a folder named
    '~' in the working directory; it means the home folder's file, as in a shell."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("STATE_PATH", "~/a.sqlite3")
    monkeypatch.setenv("EMBEDDED_PATH", "~/demo")
    settings = load_settings()
    assert settings.state_path == tmp_path / "home" / "a.sqlite3"
    assert settings.embedded_path == tmp_path / "home" / "demo"


def test_a_dotenv_saved_with_a_byte_order_mark_keeps_its_first_line(tmp_path) -> None:
    """Windows Notepad starts a UTF-8 file with a byte-order mark: the first line's name then
    began with it and the setting was silently ignored (a CLICKHOUSE_URL there, and the check
    ran on the embedded demo instead)."""
    (tmp_path / ".env").write_bytes(b"\xef\xbb\xbfADMIN_IDS=5\r\nLANGUAGE=ru\r\n")
    settings = load_settings()
    assert settings.admin_ids == (5,) and settings.language == "ru"


@pytest.mark.parametrize(("name", "example"), [
    ("CLICKHOUSE_URL", "http://localhost:8123"), ("TELEGRAM_API_URL", "https://api.telegram.org"),
    ("DASHBOARD_URL", "https://grafana.example.com/d/feed"),
    ("ALERT_WEBHOOK_URL", "https://hooks.example.com/alerts"),
])  # fmt: skip
def test_a_malformed_url_is_shown_what_that_setting_looks_like(
    monkeypatch: pytest.MonkeyPatch, name: str, example: str
) -> None:
    """Each URL setting's refusal gives an example of that setting, not ClickHouse's port for
    all of them."""
    monkeypatch.setenv(name, "ftp://somewhere")
    with pytest.raises(SettingsError) as caught:
        load_settings()
    assert str(caught.value) == (
        f"{name}='ftp://somewhere' is not an http(s) URL: expected e.g. {example}")


def test_dashboard_placeholders_and_the_longest_duration_are_accepted(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """{metric} and {slice} are the placeholders DASHBOARD_URL may hold; 365d is the longest
    duration a setting takes (1d for DATA_DELAY: the bucket a check judges ends that long
    ago)."""
    monkeypatch.setenv("DASHBOARD_URL", "https://g.example.com/d/x?var-m={metric}&var-s={slice}")
    monkeypatch.setenv("REPEAT_INTERVAL", "365d")
    monkeypatch.setenv("DATA_DELAY", "1d")
    settings = load_settings()
    assert settings.dashboard_url == "https://g.example.com/d/x?var-m={metric}&var-s={slice}"
    assert settings.repeat_interval == timedelta(days=365)
    assert settings.data_delay == timedelta(days=1)


def test_an_embedded_path_naming_a_file_is_refused(
    monkeypatch: pytest.MonkeyPatch, tmp_path
) -> None:
    """EMBEDDED_PATH is the demo database's folder: a file there made the first query end in
    a logged traceback (mkdir: file exists); a folder not made yet is fine."""
    (tmp_path / "demo.db").write_text("x")
    monkeypatch.setenv("EMBEDDED_PATH", str(tmp_path / "demo.db"))
    with pytest.raises(SettingsError) as caught:
        load_settings()
    assert "EMBEDDED_PATH=" in str(caught.value)
    assert "is a file, not a folder: name a folder for the demo database" in str(caught.value)
    monkeypatch.setenv("EMBEDDED_PATH", str(tmp_path / "new" / "demo"))
    assert load_settings().embedded_path == tmp_path / "new" / "demo"


@pytest.mark.parametrize("url", ["http://127.0.0.1:8123/?database=x",
                                 "http://ch.local:8123/?max_threads=2&database=x"])  # fmt: skip
def test_a_url_naming_a_database_is_refused_for_clickhouse_database(
    monkeypatch: pytest.MonkeyPatch, url: str
) -> None:
    """`?database=x` in CLICKHOUSE_URL went to the server beside CLICKHOUSE_DATABASE and won
    over it: an 'unknown database' then said to check CLICKHOUSE_DATABASE, which was right."""
    monkeypatch.setenv("CLICKHOUSE_URL", url)
    monkeypatch.setenv("CLICKHOUSE_DATABASE", "shop")
    with pytest.raises(SettingsError) as caught:
        load_settings()
    said = str(caught.value)
    assert said.startswith(f"CLICKHOUSE_URL={url!r} has database=x in its query string")
    assert "set CLICKHOUSE_DATABASE=x" in said and "\n" not in said


def test_a_refused_url_never_echoes_its_password(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLICKHOUSE_URL", "http://bob:hunter2pw@ch.local:8123/?database=x"
                                         "&password=s3cr3tpw")  # fmt: skip
    with pytest.raises(SettingsError) as caught:
        load_settings()
    said = str(caught.value)
    assert "hunter2pw" not in said and "s3cr3tpw" not in said, said
    assert "bob:***@ch.local:8123" in said and "password=***" in said
