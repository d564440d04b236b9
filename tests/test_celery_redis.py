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
from datetime import datetime, timedelta
from datetime import time as time_of_day
from pathlib import Path
from urllib.parse import quote

import pytest
from django.db import connection
from django.utils import timezone

from traces.models import PartitionExport, Trace, TraceStatus
from traces.services import agent_create

ROOT = Path(__file__).resolve().parent.parent
REDIS_URL = "redis://127.0.0.1:6379/13"  # a spare database of the local Redis, flushed by this test


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


@pytest.fixture
def producer(redis_broker, monkeypatch):
    """This process sends through the broker instead of running tasks in place.

    The suite runs with CELERY_TASK_ALWAYS_EAGER (the eager tests need it); here, and only
    here, eager is off so `apply_async` publishes to Redis for the worker to run.
    """
    from zeke_rft.celery import app

    monkeypatch.setitem(app.conf, "task_always_eager", False)
    with app.connection_for_write(url=redis_broker) as connection:
        yield connection


def wait_for(condition, worker, log_path, seconds=60):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and worker.poll() is None:
        if condition():
            return
        time.sleep(0.25)
    log = log_path.read_text()
    assert worker.poll() is None, f"the worker exited:\n{log}"
    assert condition(), f"nothing within {seconds} s; worker log:\n{log}"


@pytest.mark.redis
@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_worker_on_the_redis_broker_runs_the_nightly_export_and_the_task_it_queues(
    on_postgres, worker, producer, settings, tmp_path
):
    from traces.tasks import export_partitions_nightly

    yesterday = timezone.localdate() - timedelta(days=1)
    agent, _token = agent_create(name="celery-agent")
    Trace.objects.create(
        agent=agent,
        external_id="celery-1",
        conversation_id="c",
        user_message="raw",
        occurred_at=datetime.combine(yesterday, time_of_day(12), tzinfo=timezone.get_current_timezone()),
        status=TraceStatus.ELIGIBLE,
        scrubbed_user_message="scrubbed",
    )

    # The beat job, sent as beat sends it; in the worker it queues export_partition through Redis in turn.
    export_partitions_nightly.apply_async(connection=producer)

    wait_for(lambda: PartitionExport.objects.filter(day=yesterday).exists(), worker, tmp_path / "worker.log")
    export = PartitionExport.objects.get(day=yesterday)
    assert export.rows == 1
    assert (Path(settings.TRACE_STORAGE_URL) / export.key).exists()
    log = (tmp_path / "worker.log").read_text()
    assert "traces.tasks.export_partitions_nightly" in log and "traces.tasks.export_partition[" in log
