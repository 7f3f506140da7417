"""metric-alertbot from Airflow (README, "Run from a scheduler"): `alertbot check --notify` every
15 minutes, the way the pipeline it replaces ran. Copy into the DAGs folder of a worker that has
alertbot installed (`pip install -c constraints.txt .`) and its settings in the environment below
or in an EnvironmentFile/.env.

No catch-up: a check always looks at now, so replaying missed intervals would only repeat it.
One active run: two runs on the same state file cannot both hold its lock (the second exits 2).
No retries: a message Telegram did not take stays in the outbox and the next run sends it; a
failed check (exit 1, the source did not answer) is simply run again 15 minutes later.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from airflow import DAG
from airflow.operators.bash import BashOperator

with DAG(
    dag_id="metric_alertbot",
    description="Anomaly alerts for product metrics in ClickHouse, delivered to Telegram",
    schedule=timedelta(minutes=15),
    start_date=datetime(2026, 1, 1, tzinfo=UTC),
    catchup=False,
    max_active_runs=1,
    default_args={"retries": 0},
    tags=["alerts"],
) as dag:
    BashOperator(
        task_id="check_and_notify",
        bash_command="alertbot check --notify --json",
        # Settings as in .env.example; the token and passwords belong in an Airflow
        # connection or a secrets backend, not in this file.
        env={
            "STATE_PATH": "/var/lib/alertbot/alertbot.sqlite3",
            "CLICKHOUSE_URL": "http://clickhouse:8123",
            "CLICKHOUSE_DATABASE": "simulator",
            "ALERT_CHAT_IDS": "-1001234567890",
            "TIMEZONE": "Europe/Moscow",
        },
        append_env=True,  # and BOT_TOKEN, CLICKHOUSE_PASSWORD from the worker's environment
        execution_timeout=timedelta(minutes=10),
        retries=0,
    )
