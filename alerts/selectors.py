"""Reads of the alerts app: heartbeats, stale jobs, recent notifications."""

from datetime import timedelta

from celery.schedules import crontab
from django.conf import settings
from django.db.models import QuerySet
from django.utils import timezone

from alerts.models import JobHeartbeat, Notification


def job_stale_after(name: str) -> timedelta:
    """How long a job may go without a success: JOB_STALE_MINUTES's `name=minutes` if given,
    else 3 intervals for a periodic job (monitors every 5 min → 15 min), 26 h for a daily
    crontab, 7 days + 2 h for a weekly one."""
    override = settings.JOB_STALE_MINUTES.get(name)
    if override:
        return timedelta(minutes=override)
    schedule = settings.CELERY_BEAT_SCHEDULE.get(name, {}).get("schedule")
    if isinstance(schedule, timedelta):
        return 3 * schedule
    if isinstance(schedule, int | float):
        return timedelta(seconds=3 * schedule)
    if isinstance(schedule, crontab) and len(schedule.day_of_week) < 7:
        return timedelta(days=7, hours=2)
    return timedelta(hours=26)


def job_heartbeats() -> list[dict]:
    """One row per scheduled job (every CELERY_BEAT_SCHEDULE entry, plus any other heartbeat seen)."""
    beats = {beat.name: beat for beat in JobHeartbeat.objects.all()}
    names = sorted(set(settings.CELERY_BEAT_SCHEDULE) | set(beats))
    rows = []
    for name in names:
        beat = beats.get(name)
        rows.append(
            {
                "name": name,
                "task": settings.CELERY_BEAT_SCHEDULE.get(name, {}).get("task") or (beat.task if beat else ""),
                "stale_after_minutes": round(job_stale_after(name).total_seconds() / 60, 1),
                "last_started_at": beat.last_started_at if beat else None,
                "last_succeeded_at": beat.last_succeeded_at if beat else None,
                "last_failed_at": beat.last_failed_at if beat else None,
                "last_error": beat.last_error if beat else "",
                "consecutive_failures": beat.consecutive_failures if beat else 0,
            }
        )
    return rows


def _beat_seen_since() -> object | None:
    """When the scheduler was first seen running (the oldest heartbeat start), or None."""
    first = JobHeartbeat.objects.exclude(last_started_at=None).order_by("last_started_at").first()
    return first.last_started_at if first else None


def stale_jobs(*, now=None) -> list[dict]:
    """Jobs whose last success is older than their threshold.

    A job that never succeeded counts from when beat was first seen running (its oldest
    heartbeat): with no heartbeat at all (a dev machine without beat) nothing is stale, and once
    beat runs, a job that should have succeeded since and has not is reported.
    """
    now = now or timezone.now()
    beat_seen = _beat_seen_since()
    stale = []
    for row in job_heartbeats():
        since = row["last_succeeded_at"] or beat_seen
        if since is None or row["name"] not in settings.CELERY_BEAT_SCHEDULE:
            continue
        late = now - since - job_stale_after(row["name"])
        if late > timedelta(0):
            stale.append({**row, "late_by_minutes": round(late.total_seconds() / 60, 1)})
    return stale


def notifications_recent(*, limit: int = 50) -> QuerySet:
    return Notification.objects.order_by("-created_at")[:limit]
