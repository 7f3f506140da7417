# The bot as a container: `docker build -t metric-alertbot .`, then run it with your settings,
#   docker run -d --env-file .env -v alertbot-data:/data metric-alertbot
# (docker-compose.yml runs it beside a demo ClickHouse server). State lives on the /data volume.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /src
# The versions the test suite passes with (constraints.txt), not whatever is newest today.
COPY pyproject.toml README.md constraints.txt ./
COPY bot ./bot
COPY detectors ./detectors
COPY queries ./queries
RUN pip install -c constraints.txt . && rm -rf /src

# An unprivileged user whose home is the state volume (matplotlib and the demo cache write there).
RUN useradd --system --uid 10001 --user-group --home-dir /data --shell /usr/sbin/nologin alertbot \
    && mkdir -p /data && chown alertbot:alertbot /data
VOLUME /data
WORKDIR /data
ENV STATE_PATH=/data/alertbot.sqlite3 \
    EMBEDDED_PATH=/data/demo
USER alertbot

# /healthz answers 200 while checks succeed and the outbox drains, 503 otherwise; the endpoint
# listens on HTTP_HOST:HTTP_PORT, loopback port 9321 by default, which is where this looks.
HEALTHCHECK --interval=30s --timeout=5s --start-period=120s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:9321/healthz', timeout=4)"]

# SIGTERM (docker stop) lets the bot finish what it is sending and exit cleanly.
CMD ["alertbot", "run"]
