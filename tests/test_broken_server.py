"""A ClickHouse URL that answers badly: a proxy's 502, an HTML page, a cut-off body. Each ends
in a clear SourceError (retried only when it is transient), and `alertbot check` exits 2."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiohttp import web

from queries.errors import SourceMisconfigured, SourceSilent, SourceUnavailable
from queries.sources import ClickHouseSource

HITS: dict[str, int] = {}
SEEN: dict[str, str] = {}  # the headers of the last request to /headers/
ASKED: dict[str, str] = {}  # the URL parameters of the last request to /streamed/
NGINX_502 = ("<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
             "<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx/1.18.0</center>\r\n"
             "</body>\r\n</html>\r\n")
APACHE_500 = ('<!DOCTYPE HTML PUBLIC "-//IETF//DTD HTML 2.0//EN">\n<html><head>\n<title>500 '
              "Internal Server Error</title>\n</head><body>\n<h1>Internal Server Error</h1>\n"
              "<p>The server encountered an internal error.</p>\n</body></html>\n")


async def answer(request: web.Request) -> web.StreamResponse:  # noqa: PLR0912 - one per mode
    mode = request.match_info["mode"]
    HITS[mode] = HITS.get(mode, 0) + 1
    await request.read()
    if mode == "gateway":
        return web.Response(status=502, text="<html><h1>502 Bad Gateway</h1></html>")
    if mode == "html":
        return web.Response(status=200, text="<html>\n<body>Welcome to nginx!</body>\n</html>")
    if mode in ("echo", "echo-gateway"):  # a debug page that shows the request's headers
        said = {k: v for k, v in request.headers.items()
                if k.lower() in ("authorization", "x-clickhouse-user", "x-clickhouse-key")}
        shown = " ".join(f"{k}={v}" for k, v in said.items())
        head = "502 Bad Gateway " if mode == "echo-gateway" else ""  # transient: retried, logged
        return web.Response(status=502 if mode == "echo-gateway" else 500,
                            text=f"<html>{head}{shown}</html>", content_type="text/html")
    if mode == "echo-cut":  # the key at the point where a quoted page is cut short
        key = request.headers.get("X-ClickHouse-Key", "")
        page = f"<html>502 Bad Gateway {'.' * 85} key={key}</html>"
        return web.Response(status=502, text=page, content_type="text/html")
    if mode == "nginx":  # nginx's own page, as it comes, on several lines
        return web.Response(status=502, text=NGINX_502, content_type="text/html")
    if mode == "headers":  # what the request carried, kept for the test to read
        SEEN.update(request.headers)
        return web.Response(status=404, text="Not Found")
    if mode == "apache500":  # a proxy's (or a web server's) 500, without a ClickHouse code
        return web.Response(status=500, text=APACHE_500, content_type="text/html")
    if mode == "hang":
        await asyncio.sleep(3)
    if mode == "slow":  # a query slower than the timeout, on a server that answers a SELECT 1
        if (await request.read()).strip() == b"SELECT 1":
            return web.Response(status=200, text="1\n")
        await asyncio.sleep(3)
    if mode == "login":  # a proxy with a login of its own (nginx auth_basic)
        return web.Response(status=401, text="<html><head><title>401 Authorization Required"
                            "</title></head><body>nginx</body></html>", content_type="text/html")
    if mode == "empty":  # a proxy's 200 with nothing in it
        return web.Response(status=200, text="")
    if mode == "cut":
        return web.Response(status=200, text="name\tvalue\nString\tUInt8\nabc\t1\nde")
    if mode == "streamed":  # ClickHouse's error met halfway, after the rows it had sent
        ASKED.update(request.query)
        return web.Response(status=200, text="name\nString\nabc\nCode: 241, e.displayText() = "
                            "DB::Exception: Memory limit (for query) exceeded: would use 9.31 "
                            "GiB, e.what() = DB::Exception\n")  # fmt: skip
    return web.Response(status=404, text="Not Found")


@pytest.fixture(scope="module")
def broken_server() -> Iterator[str]:
    """An aiohttp server on 127.0.0.1 that misbehaves in the way its path names."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    loop = asyncio.new_event_loop()
    app = web.Application()
    app.router.add_route("*", "/{mode}/", answer)
    runner = web.AppRunner(app, shutdown_timeout=0.5)  # a hung answer is not waited for at the end
    loop.run_until_complete(runner.setup())
    site = web.SockSite(runner, sock)
    loop.run_until_complete(site.start())
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{port}"
    asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(timeout=5)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(timeout=5)
    loop.close()


@pytest.mark.parametrize(("retries", "tries"), [(3, 3), (0, 1)])
async def test_proxy_errors_are_retried_then_unavailable(
    broken_server: str, retries: int, tries: int
) -> None:
    """A 502 from a proxy is transient: retried with backoff, then SourceUnavailable; with no
    retries it is tried once and says why it failed (it ended in "AssertionError:
    unreachable")."""
    source = ClickHouseSource(f"{broken_server}/gateway/", retries=retries, backoff=0.01)
    before = HITS.get("gateway", 0)
    try:
        with pytest.raises(SourceUnavailable, match="proxy in front of it"):
            await source.query("SELECT 1")
    finally:
        await source.close()
    assert HITS["gateway"] - before == tries


async def test_a_proxy_page_is_said_by_its_title_not_as_markup(broken_server: str) -> None:
    """nginx's 502 page comes on several lines: the chat, /status and the log said only "a
    proxy in front of it answered '<html>'" (its first line), and a page on one line was
    quoted as markup ('<html><head><title>502 ...'), escaped into a wall of &lt; in the chat.
    Now the page's title says what the proxy said."""
    source = ClickHouseSource(f"{broken_server}/nginx/", retries=1, backoff=0.01)
    try:
        with pytest.raises(SourceUnavailable) as caught:
            await source.query("SELECT 1")
    finally:
        await source.close()
    assert str(caught.value).endswith("a proxy in front of it answered '502 Bad Gateway'"), (
        caught.value)


async def _failed(server: str, mode: str, error: type[Exception], retries: int) -> tuple[str, int]:
    """What a query to the `mode` path raised (it must be `error`), and how often it was tried."""
    source = ClickHouseSource(f"{server}/{mode}/", retries=retries, backoff=0.01)
    before = HITS.get(mode, 0)
    try:
        with pytest.raises(error) as caught:
            await source.query("SELECT name, value FROM t")
    finally:
        await source.close()
    return str(caught.value), HITS[mode] - before


async def test_a_proxy_s_own_login_points_at_the_credentials(broken_server: str) -> None:
    """A proxy that asks for credentials of its own answers 401 with an HTML page: that was
    "the server did not answer like ClickHouse ('<html><head><title>401...'); is CLICKHOUSE_URL
    the HTTP interface...", pointing away from the credentials. Now it names them, not retried."""
    said, tries = await _failed(broken_server, "login", SourceMisconfigured, retries=3)
    assert said.endswith(
        ": a proxy in front of it refused the request ('401 Authorization Required'); check "
        "CLICKHOUSE_USER and CLICKHOUSE_PASSWORD, or the proxy's own access rules"), said
    assert tries == 1


async def test_an_empty_answer_is_retried_then_unavailable(broken_server: str) -> None:
    """A 200 with an empty body (ClickHouse sends its header of names and types even for no
    rows): the check crashed on aiochclient's "async generator raised StopAsyncIteration",
    `alertbot check` with a traceback and exit 1, the bot with no word to its chats. It is
    passing, as a proxy's 502: retried, then SourceUnavailable saying what came."""
    said, tries = await _failed(broken_server, "empty", SourceUnavailable, retries=2)
    assert said.endswith("sent an empty answer (is a proxy in front of it?)"), said
    assert tries == 2


async def test_a_proxy_s_500_page_is_retried_then_unavailable(broken_server: str) -> None:
    """A 500 page with no ClickHouse code in it (a proxy's, or a web server's in front) is as
    passing as its 502: retried, then SourceUnavailable (exit 1, tried again next check). It was
    taken for a server that is not ClickHouse: exit 2, never retried, and the chats were told
    to check CLICKHOUSE_URL."""
    source = ClickHouseSource(f"{broken_server}/apache500/", retries=3, backoff=0.01)
    before = HITS.get("apache500", 0)
    try:
        with pytest.raises(SourceUnavailable) as caught:
            await source.query("SELECT 1")
    finally:
        await source.close()
    assert str(caught.value).endswith("answered '500 Internal Server Error'"), caught.value
    assert HITS["apache500"] - before == 3


@pytest.mark.parametrize("mode", ["html", "cut", "elsewhere"])
async def test_answers_that_are_not_clickhouse_name_the_setting(
    broken_server: str, mode: str
) -> None:
    """An HTML page, a cut-off body or a 404: not retried, and the message points at the URL."""
    source = ClickHouseSource(f"{broken_server}/{mode}/", retries=3, backoff=0.01)
    before = HITS.get(mode, 0)
    try:
        with pytest.raises(SourceMisconfigured, match="CLICKHOUSE_URL"):
            await source.query("SELECT name, value FROM t")
    finally:
        await source.close()
    assert HITS.get(mode, 0) - before == 1


async def test_an_error_after_the_rows_is_the_server_s_not_one_more_row(
    broken_server: str,
) -> None:
    """A server (or a proxy) that streams the rows though asked to hold them until the query
    ends (`wait_end_of_query`): the error it wrote after them was read as one more row, here
    a name. It is the server's error: a memory limit, passing, so retried, then unavailable."""
    source = ClickHouseSource(f"{broken_server}/streamed/", retries=3, backoff=0.01)
    before = HITS.get("streamed", 0)
    try:
        with pytest.raises(SourceUnavailable, match=r"overloaded or timed out \(Memory limit"):
            await source.query("SELECT name FROM t")
    finally:
        await source.close()
    assert HITS["streamed"] - before == 3
    assert ASKED.get("wait_end_of_query") == "1", ASKED


def _cli_check(url: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """`alertbot check` against `url`, in a bare environment."""
    return subprocess.run(
        [sys.executable, "-m", "bot", "check"],
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "CLICKHOUSE_URL": url,
             "STATE_PATH": str(tmp_path / "s.db")},
        capture_output=True, text=True, timeout=120, check=False, cwd=tmp_path,
    )  # fmt: skip


def test_cli_exits_2_on_a_server_that_is_not_clickhouse(broken_server: str, tmp_path) -> None:
    """`alertbot check` against a web server that is not ClickHouse: one sentence, exit 2."""
    done = _cli_check(f"{broken_server}/html/", tmp_path)
    assert done.returncode == 2, done.stderr
    assert "did not answer like ClickHouse" in done.stderr or "not ClickHouse's" in done.stderr
    assert "Traceback" not in done.stderr


def test_cli_exits_1_on_a_server_that_answers_nothing(broken_server: str, tmp_path) -> None:
    """`alertbot check` against a proxy that answers 200 with an empty body: it stopped with a
    traceback ("async generator raised StopAsyncIteration"); now one sentence and exit 1, as
    for any source that fails for now (a scheduler tries again)."""
    done = _cli_check(f"{broken_server}/empty/", tmp_path)
    assert done.returncode == 1, done.stderr
    assert "sent an empty answer (is a proxy in front of it?)" in done.stderr, done.stderr
    assert "Traceback" not in done.stderr and "StopAsyncIteration" not in done.stderr


@pytest.mark.parametrize("mode", ["echo", "echo-gateway"])
async def test_an_error_page_that_echoes_the_credentials_never_passes_them_on(
    broken_server: str, mode: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A server that answers with the request's headers (X-ClickHouse-Key, or the Basic
    authorization of a URL's user:password) gives an error whose text, which reaches the chat,
    /status and the logs, holds none of the credentials in any of their forms."""
    import base64

    host = broken_server.removeprefix("http://")
    cases = [
        (ClickHouseSource(f"{broken_server}/{mode}/", user="bob", password="PW secret/777",
                          retries=2, backoff=0.01), "PW secret/777", "bob"),
        (ClickHouseSource(f"http://ann:S3cr%40t@{host}/{mode}/", retries=2, backoff=0.01),
         "S3cr@t", "ann"),
    ]  # fmt: skip
    for source, password, user in cases:
        try:
            with pytest.raises((SourceMisconfigured, SourceUnavailable)) as caught:
                await source.query("SELECT 1")
        finally:
            await source.close()
        text = str(caught.value) + caplog.text
        forms = [password, "PW%20secret%2F777", "S3cr%40t",
                 base64.b64encode(f"{user}:{password}".encode()).decode()]  # fmt: skip
        assert "***" in str(caught.value), text
        assert not [f for f in forms if f in text], text


@pytest.mark.parametrize("password", ["s3cr3t-pass", "back\\slash'quote"])
async def test_no_part_of_the_password_survives_an_error_page_cut_short_or_quoted(
    broken_server: str, password: str, caplog: pytest.LogCaptureFixture
) -> None:
    """An error page that echoes the password where the quoted page is cut (120 characters)
    showed its first characters ('key=s3cr3'), and a password with a backslash or a quote
    was shown whole, escaped by the quoting ('back\\\\slash'): the credentials were taken out
    of the text after it was cut and quoted. Now they go before, in every form."""
    source = ClickHouseSource(f"{broken_server}/echo-cut/", password=password, retries=2,
                              backoff=0.01)  # fmt: skip
    try:
        with pytest.raises(SourceUnavailable) as caught:
            await source.query("SELECT 1")
    finally:
        await source.close()
    text = str(caught.value) + caplog.text
    assert "key=***" in str(caught.value), text
    assert not [password[:n] for n in range(4, len(password) + 1)
                if password[:n] in text or repr(password[:n])[1:-1] in text], text


async def test_a_server_that_never_answers_says_how_many_times_it_was_waited_for(
    broken_server: str,
) -> None:
    """A timeout retried says how many waits there were ("within 0.3 s, 2 times"), not only
    the one wait's length after seconds of retries."""
    source = ClickHouseSource(f"{broken_server}/hang/", retries=2, backoff=0.01, timeout=0.3)
    try:
        with pytest.raises(SourceUnavailable) as caught:
            await source.query("SELECT 1")
    finally:
        await source.close()
    assert str(caught.value).endswith("did not answer within 0.3 s, 2 times"), caught.value


async def test_a_query_too_slow_for_a_server_that_answers_says_to_raise_the_timeout(
    broken_server: str,
) -> None:
    """A query that gets no answer in time, while the server answers a SELECT 1, is slower
    than CLICKHOUSE_TIMEOUT: said with the setting to raise, not only the waits."""
    source = ClickHouseSource(f"{broken_server}/slow/", retries=2, backoff=0.01, timeout=0.3)
    try:
        with pytest.raises(SourceUnavailable) as caught:
            await source.query("SELECT count() FROM big")
    finally:
        await source.close()
    assert not isinstance(caught.value, SourceSilent)
    assert str(caught.value).endswith(
        "did not answer within 0.3 s, 2 times, yet answers a SELECT 1: this query takes longer "
        "than CLICKHOUSE_TIMEOUT allows, so raise it"), caught.value


@pytest.mark.parametrize(("given", "user", "password"), [
    ({}, "ann", "S3cr@t"),  # the URL's own
    ({"user": "bob", "password": "pw2"}, "bob", "pw2"),  # CLICKHOUSE_USER/PASSWORD win
])  # fmt: skip
async def test_a_url_s_credentials_go_as_the_others_do_never_twice(
    broken_server: str, given: dict[str, str], user: str, password: str
) -> None:
    """CLICKHOUSE_URL=http://ann:S3cr%40t@host sent Basic authorization made of them and the
    X-ClickHouse-User header (default) beside it, which ClickHouse refuses ("not allowed to
    use X-ClickHouse HTTP headers and other authentication methods simultaneously"). Now the
    URL's user and password travel in the headers alone, and the URL goes without them."""
    host = broken_server.removeprefix("http://")
    source = ClickHouseSource(f"http://ann:S3cr%40t@{host}/headers/", retries=1,
                              backoff=0.01, **given)  # type: ignore[arg-type]  # fmt: skip
    SEEN.clear()
    try:
        with pytest.raises(SourceMisconfigured):
            await source.query("SELECT 1")
    finally:
        await source.close()
    assert "Authorization" not in SEEN, SEEN
    assert SEEN.get("X-ClickHouse-User") == user and SEEN.get("X-ClickHouse-Key") == password
    assert source.describe().endswith(f"{host}/headers/")  # the message names no password



async def test_https_to_a_plain_http_port_says_to_use_http_and_is_not_retried(
    broken_server: str,
) -> None:
    """https:// to a port that speaks plain HTTP (ClickHouse's 8123) fails the TLS handshake
    every time: said as a setting to fix, at once, not 'is the server running?' three times
    and exit 1 (try again later)."""
    url = broken_server.replace("http://", "https://") + "/html/"
    source = ClickHouseSource(url, retries=3, backoff=0.01)
    before = HITS.get("html", 0)
    try:
        with pytest.raises(SourceMisconfigured, match=r"TLS.*http://127\.0\.0\.1:\d+/html/"):
            await source.query("SELECT 1")
    finally:
        await source.close()
    assert HITS.get("html", 0) == before  # no request got through the failed handshakes
