"""Celery tasks of the traces app: thin wrappers over services, safe to run twice."""

from datetime import date, timedelta

from celery import shared_task
from django.utils import timezone


@shared_task(name="traces.tasks.export_partition")
def export_partition(day: str) -> int:
    """Export one day's partition (ISO date); queued by export_partitions_nightly. Rerunning rewrites the same file."""
    from traces.partitions import partition_export

    return partition_export(day=date.fromisoformat(day)).rows


@shared_task(name="traces.tasks.export_partitions_nightly")
def export_partitions_nightly() -> str:
    """Beat, 03:00 (after the 02:00 filter): queue yesterday's partition export."""
    yesterday = (timezone.localdate() - timedelta(days=1)).isoformat()
    export_partition.delay(yesterday)
    return yesterday
