"""A real Celery worker on the real Redis broker, for tests that must run as production does.

Needs Redis on 127.0.0.1 and a database the worker can share: PostgreSQL (the test
database, with transaction=True so the worker sees committed rows). On SQLite the
test database lives in this process's memory, so such tests skip there; .ci/run runs
them in its PostgreSQL pass. ZEKE_TEST_REDIS_URL picks the Redis database (default 13),
so two checkouts testing on one machine do not flush each other's queues.
"""

import os
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import quote

import pytest
from django.db import connection

ROOT = Path(__file__).resolve().parent.parent
# A spare database of the local Redis, flushed by these fixtures.
REDIS_URL = os.environ.get("ZEKE_TEST_REDIS_URL", "redis://127.0.0.1:6379/13")


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
    # Tasks that services queue themselves (delay_on_commit) use the app's default broker, and Celery prefers
    # the CELERY_BROKER_URL environment variable (set in .ci/run's PostgreSQL pass) to its conf: point both at
    # the worker's broker, with fresh connection pools.
    monkeypatch.setenv("CELERY_BROKER_URL", redis_broker)
    monkeypatch.setitem(app.conf, "broker_url", redis_broker)
    monkeypatch.setattr(app, "_pool", None)
    monkeypatch.setattr(app.amqp, "_producer_pool", None)
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
