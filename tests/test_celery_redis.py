"""Celery through the real Redis broker: a worker subprocess consumes a task and writes a row we then read.

Needs Redis on 127.0.0.1:6379 and a database the worker can share: PostgreSQL
(the test database, with transaction=True so the worker sees committed rows).
On SQLite the test database lives in this process's memory, so it is skipped
there; .ci/run runs it in its PostgreSQL pass.
"""

import os
import subprocess
import sys
import time
from datetime import UTC, date, datetime
from pathlib import Path
from urllib.parse import quote

import pytest
from django.db import connection

from traces.models import PartitionExport, Trace, TraceStatus
from traces.services import agent_create

ROOT = Path(__file__).resolve().parent.parent
REDIS_URL = "redis://127.0.0.1:6379/13"  # a spare database of the local Redis, flushed by this test
DAY = date(2026, 11, 29)


@pytest.fixture
def redis_broker():
    import redis

    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1)
    try:
        client.ping()
    except redis.exceptions.ConnectionError:
        pytest.skip("no Redis on 127.0.0.1:6379")
    client.flushdb()
    yield REDIS_URL
    client.flushdb()


def database_url() -> str:
    db = connection.settings_dict
    credentials = quote(db["USER"]) + (f":{quote(db['PASSWORD'])}" if db["PASSWORD"] else "")
    return f"postgres://{credentials}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


@pytest.fixture
def worker(redis_broker, tmp_path, settings):
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "zeke_rft.settings",
        "DATABASE_URL": database_url(),
        "CELERY_BROKER_URL": redis_broker,
        "CELERY_TASK_ALWAYS_EAGER": "false",
        "TRACE_STORAGE_URL": settings.TRACE_STORAGE_URL,
    }
    log = (tmp_path / "worker.log").open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "zeke_rft", "worker", "--pool=solo", "-c", "1", "-l", "info"]
        + ["--without-mingle", "--without-gossip", "--without-heartbeat"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    yield process
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    log.close()


@pytest.mark.redis
@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_worker_on_the_redis_broker_runs_the_partition_export(on_postgres, worker, settings, tmp_path):
    from zeke_rft.celery import app

    agent, _token = agent_create(name="celery-agent")
    Trace.objects.create(
        agent=agent,
        external_id="celery-1",
        conversation_id="c",
        user_message="raw",
        occurred_at=datetime(2026, 11, 29, 12, tzinfo=UTC),
        status=TraceStatus.ELIGIBLE,
        scrubbed_user_message="scrubbed",
    )

    with app.connection_for_write(url=REDIS_URL) as broker:
        app.send_task("traces.tasks.export_partition", args=[DAY.isoformat()], connection=broker)

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and worker.poll() is None:
        if PartitionExport.objects.filter(day=DAY).exists():
            break
        time.sleep(0.25)
    log = (tmp_path / "worker.log").read_text()
    assert worker.poll() is None, f"the worker exited:\n{log}"
    export = PartitionExport.objects.filter(day=DAY).first()
    assert export is not None, f"no export within 60 s; worker log:\n{log}"
    assert export.rows == 1
    assert (Path(settings.TRACE_STORAGE_URL) / export.key).exists()
    assert "traces.tasks.export_partition" in log and "succeeded" in log
