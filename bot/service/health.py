"""The bot's HTTP endpoint (aiohttp): /healthz, /metrics (Prometheus text), and in webhook
mode Telegram's updates on the same server.

/healthz answers 200 {"status": "ok", ...} while the last check succeeded within two
CHECK_INTERVALs (plus a minute for the check's own run) and the outbox drains (its oldest
waiting message is younger than two intervals, at least 5 minutes); during the start-up grace
(two intervals) before the first check it answers 200 {"status": "starting"}. Otherwise 503
with {"status": "failing", "reason": ...}: the state file, no check yet, the last check failed
or had source errors, the last success too old, the outbox stuck, Telegram refusing BOT_TOKEN.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from bot.service.ops import Ops

__all__ = ["Health", "HttpServer"]

log = logging.getLogger("alertbot.http")


class Health:
    def __init__(
        self, ops: Ops, interval: timedelta, state_problem: Callable[[], str | None]
    ) -> None:
        self.ops = ops
        self.interval = interval.total_seconds()
        self.state_problem = state_problem
        self.grace = 2 * self.interval  # seconds after start-up before a first check is due
        self.slack = 60.0  # seconds a check may take beyond its two intervals

    def verdict(self) -> tuple[bool, dict[str, Any]]:
        """(healthy, the JSON body)."""
        ops, now = self.ops, self.ops.wall()
        facts: dict[str, Any] = {
            "uptime_seconds": round(now - ops.started, 1),
            "last_success_age_seconds": (
                None if ops.last_ok is None else round(now - ops.last_ok, 1)
            ),
            "outbox_oldest_pending_seconds": round(ops.outbox_age(), 1),
        }
        reason = self._problem(now, facts["outbox_oldest_pending_seconds"])
        if reason is None:
            status = "starting" if ops.last_check is None else "ok"
            return True, {"status": status, **facts}
        return False, {"status": "failing", "reason": reason, **facts}

    def _problem(self, now: float, outbox_age: float) -> str | None:
        ops = self.ops
        problem = self.state_problem()
        if problem is not None:
            return f"state file: {problem}"
        if math.isnan(outbox_age):  # the state file could not be read
            return "state file: cannot be read"
        if ops.token_refused is not None:  # no update nor alert through Telegram until then
            return ops.token_refused
        stuck_after = max(2 * self.interval, 300.0)
        if outbox_age > stuck_after:
            return (f"outbox stuck: the oldest message has waited {outbox_age:.0f} s "
                    f"(limit {stuck_after:.0f} s)")  # fmt: skip
        if ops.last_check is None:
            waited = now - ops.started
            if waited <= self.grace:
                return None
            return f"no check has finished in the {waited:.0f} s since start-up"
        if ops.last_problem is not None:
            return ops.last_problem
        assert ops.last_ok is not None
        age, limit = now - ops.last_ok, 2 * self.interval + self.slack
        if age > limit:
            return f"the last successful check ended {age:.0f} s ago (limit {limit:.0f} s)"
        return None


class HttpServer:
    """/healthz and /metrics on host:port; `routes` adds more (the webhook) to the same app."""

    def __init__(
        self,
        host: str,
        port: int,
        health: Health,
        routes: Callable[[web.Application], None] | None = None,
    ) -> None:
        self.host, self.port = host, port
        self.health = health
        self.app = web.Application()
        self.app.router.add_get("/healthz", self.healthz)
        self.app.router.add_get("/metrics", self.metrics)
        if routes is not None:
            routes(self.app)
        self.runner: web.AppRunner | None = None
        self.bound: tuple[str, int] | None = None  # where it listens (port 0: the one chosen)

    async def start(self) -> None:
        """Listen; OSError (port taken, host unknown) when it cannot."""
        runner = web.AppRunner(self.app, access_log=None, handle_signals=False)
        await runner.setup()
        site = web.TCPSite(runner, self.host, self.port)
        try:
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self.runner = runner
        server = site._server
        sockets = getattr(server, "sockets", None) or []
        self.bound = sockets[0].getsockname()[:2] if sockets else (self.host, self.port)
        log.info("HTTP endpoint on http://%s:%s (/healthz, /metrics)", *self.bound)

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()
            self.runner = None

    async def healthz(self, _: web.Request) -> web.Response:
        healthy, body = self.health.verdict()
        return web.json_response(body, status=200 if healthy else 503)

    async def metrics(self, _: web.Request) -> web.Response:
        body = generate_latest(self.health.ops.registry)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})
