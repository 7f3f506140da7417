"""Operations found wanting by an attack on the running service: what a reload, a signal at
start-up and a failing or flapping source do, as operators meet them."""

from __future__ import annotations

import shutil
from pathlib import Path

from bot.settings import Settings
from tests.conftest import SourceSpec
from tests.fakebot import FakeTelegram
from tests.test_bot import ADMIN, USER, fake, reply, running, settings_for
from tests.test_ops import app_of

__all__ = ["fake"]  # the fixture, shared with tests/test_bot.py

BUNDLED = Path(__file__).resolve().parents[1] / "queries"
VIEWS_AGAIN = '''
[metrics.views2]
title = "Views again"
kind = "count"
table = "feed_actions"
column = "views"
'''


async def test_commands_read_the_catalogue_a_reload_took(
    fake: FakeTelegram, embedded_spec: SourceSpec, tmp_path: Path
) -> None:
    """A metric added to the catalogue and reloaded (SIGHUP or /reload) is one the chat's
    commands know: polling handed every update the catalogue of the start, so /metric views2
    was "no metric" while the checks alerted on it, and /mute views2 was refused."""
    folder = tmp_path / "catalogue"
    shutil.copytree(BUNDLED, folder, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    toml = folder / "catalogue.toml"
    settings = settings_for(fake.url, embedded_spec, tmp_path / "s.db", http_port=0,
                            catalogue_path=toml)  # fmt: skip

    def read_again() -> Settings:
        return settings_for(fake.url, embedded_spec, tmp_path / "s.db", http_port=0,
                            catalogue_path=toml)  # fmt: skip

    async with running(settings, fake, schedule=False, warm=False) as monitor:
        app = app_of(monitor)
        app.read_settings = read_again
        before = (await reply(fake, "/metric views2", user=USER))[0]
        toml.write_text(toml.read_text() + VIEWS_AGAIN)
        said = await app.reload()  # as SIGHUP does
        after = (await reply(fake, "/metric views2", user=USER))[0]
        muted = (await reply(fake, "/mute views2 1h", user=ADMIN))[0]
        listed = (await reply(fake, "/metrics", user=USER))[0]
    assert "There is no metric" in before, before
    assert "Catalogue reloaded: 7 metrics" in said, said
    assert after.startswith("<b>Views again</b>"), after
    assert "Views again" in muted and "muted" in muted.lower(), muted
    assert "views2" in listed, listed
