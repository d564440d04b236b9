"""Celery through the real Redis broker: a worker subprocess consumes a task and writes a row we then read.

The worker fixtures live in tests/celery_worker.py.

Needs Redis on 127.0.0.1:6379 and a database the worker can share: PostgreSQL
(the test database, with transaction=True so the worker sees committed rows).
On SQLite the test database lives in this process's memory, so it is skipped
there; .ci/run runs it in its PostgreSQL pass.
"""

from datetime import datetime, timedelta
from datetime import time as time_of_day
from pathlib import Path

import pytest
from django.utils import timezone

from tests.celery_worker import wait_for
from traces.models import PartitionExport, Trace, TraceStatus
from traces.services import agent_create


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
