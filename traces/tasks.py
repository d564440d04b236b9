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


@shared_task(name="traces.tasks.run_filters_nightly")
def run_filters_nightly() -> int:
    """Beat, 02:00: filter every pending trace (a rerun finds nothing left to do); returns the FilterRun id."""
    from traces.filtering import filter_run
    from traces.models import FilterRunTrigger

    return filter_run(trigger=FilterRunTrigger.BEAT).pk


@shared_task(name="traces.tasks.purge_raw_text_nightly")
def purge_raw_text_nightly() -> int:
    """Beat, 02:30: empty raw text older than RAW_RETENTION_DAYS (filtering old pending traces first)."""
    from traces.filtering import raw_purge
    from traces.models import FilterRunTrigger

    return raw_purge(trigger=FilterRunTrigger.BEAT).pk
