"""Celery tasks of the alerts app (thin: ids in, one service call)."""

from celery import shared_task

from alerts import services
from alerts.models import NotificationKind


@shared_task(name="alerts.tasks.deliver_notification")
def deliver_notification(notification_id: int) -> str:
    """Queued by notification_send after commit. Safe to run twice: an attempt claims the record first."""
    notification = services.notification_deliver(notification_id=notification_id)
    return notification.status if notification else "skipped"


@shared_task(name="alerts.tasks.deliver_pending_notifications")
def deliver_pending_notifications() -> int:
    """Beat, every minute: queue a delivery for each notification whose next attempt is due."""
    ids = services.notifications_due_ids()
    for notification_id in ids:
        deliver_notification.delay(notification_id)
    return len(ids)


@shared_task(name="alerts.tasks.check_job_heartbeats")
def check_job_heartbeats() -> int:
    """Beat, every 5 minutes: a job_late notification per stale job (once per job and missed success)."""
    from alerts.selectors import stale_jobs

    stale = stale_jobs()
    for job in stale:
        last = job["last_succeeded_at"]
        expected = f"expected within {job['stale_after_minutes']} min"
        services.notification_send(
            kind=NotificationKind.JOB_LATE,
            subject=f"Scheduled job {job['name']} is late",
            body=f"last success {last.isoformat() if last else 'never'}; {expected}",
            link="/admin/alerts/jobheartbeat/",
            payload={"job": job["name"], "last_succeeded_at": last.isoformat() if last else None},
            dedupe_key=f"{job['name']}:{last.isoformat() if last else 'never'}",
        )
    return len(stale)
