"""Writes of the alerts app: record a notification, deliver it (webhook + email), record heartbeats."""

import json
import logging
import urllib.error
import urllib.request
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from alerts.models import JobHeartbeat, Notification, NotificationKind, NotificationStatus

logger = logging.getLogger(__name__)


def _channels() -> list[str]:
    channels = []
    if settings.NOTIFY_WEBHOOK_URL:
        channels.append("webhook")
    if settings.NOTIFY_EMAIL_TO:
        channels.append("email")
    return channels


def _recent_duplicate(kind: str, dedupe_key: str) -> Notification | None:
    if not dedupe_key:
        return None
    since = timezone.now() - timedelta(minutes=settings.NOTIFY_DEDUPE_MINUTES)
    return Notification.objects.filter(kind=kind, dedupe_key=dedupe_key, created_at__gte=since).first()


def notification_send(
    *, kind: str, subject: str, body: str, link: str = "", payload: dict | None = None, dedupe_key: str = ""
) -> Notification:
    """Record a notification and queue its delivery once the caller's transaction commits.

    Never raises because a channel is down: delivery runs in `alerts.tasks.deliver_notification`, and
    the sweeper `deliver_pending_notifications` retries with exponential backoff. With no channel
    configured the record is kept with status no_channel. The same kind + `dedupe_key` within
    NOTIFY_DEDUPE_MINUTES returns the first notification and sends nothing new.
    """
    if kind not in NotificationKind.values:
        raise ValidationError(
            {"kind": f"unknown notification kind {kind!r}; one of {', '.join(NotificationKind.values)}"}
        )
    duplicate = _recent_duplicate(kind, dedupe_key)
    if duplicate is not None:
        return duplicate
    channels = _channels()
    notification = Notification.objects.create(
        kind=kind,
        subject=str(subject)[:300],
        body=str(body),
        link=str(link)[:500],
        payload=payload or {},
        dedupe_key=dedupe_key[:300],
        channels={name: {"ok": False} for name in channels},
        status=NotificationStatus.PENDING if channels else NotificationStatus.NO_CHANNEL,
        next_attempt_at=timezone.now() if channels else None,
    )
    logger.warning("notification %s: %s", kind, notification.subject)
    if channels:
        transaction.on_commit(lambda: _queue_delivery(notification.pk))
    return notification


def _queue_delivery(notification_id: int) -> None:
    from alerts.tasks import deliver_notification

    try:
        deliver_notification.delay(notification_id)
    except Exception:  # the broker is down: the sweeper retries from the record
        logger.exception("could not queue delivery of notification %s", notification_id)


def _webhook_body(notification: Notification) -> bytes:
    """Slack-compatible: `text` is what Slack shows; the other keys are for any other receiver."""
    lines = [f"*[ZEKE RFT] {notification.subject}*", notification.body]
    if notification.link:
        lines.append(notification.link)
    message = {
        "text": "\n".join(line for line in lines if line),
        "kind": notification.kind,
        "subject": notification.subject,
        "link": notification.link,
        "payload": notification.payload,
        "notification_id": notification.pk,
        "created_at": notification.created_at.isoformat(),
    }
    return json.dumps(message, default=str).encode()


def _send_webhook(notification: Notification) -> None:
    request = urllib.request.Request(
        settings.NOTIFY_WEBHOOK_URL,
        data=_webhook_body(notification),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=settings.NOTIFY_TIMEOUT_SECONDS) as response:  # noqa: S310
        if not 200 <= response.status < 300:
            raise OSError(f"webhook answered HTTP {response.status}")


def _send_email(notification: Notification) -> None:
    text = "\n\n".join(part for part in (notification.body, notification.link) if part)
    send_mail(
        subject=f"[ZEKE RFT] {notification.subject}",
        message=text,
        from_email=settings.NOTIFY_EMAIL_FROM or None,
        recipient_list=settings.NOTIFY_EMAIL_TO,
    )


SENDERS = {"webhook": _send_webhook, "email": _send_email}


def _claim(notification_id: int, now) -> bool:
    """One attempt at a time: a conditional UPDATE that must change exactly one row."""
    lease = now + timedelta(seconds=4 * settings.NOTIFY_TIMEOUT_SECONDS + 30)
    return bool(
        Notification.objects.filter(pk=notification_id, status=NotificationStatus.PENDING)
        .filter(Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now))
        .update(attempts=F("attempts") + 1, next_attempt_at=lease)
    )


def _attempt_channels(notification: Notification) -> list[str]:
    errors = []
    for name, state in notification.channels.items():
        if state.get("ok") or name not in SENDERS:
            continue
        try:
            SENDERS[name](notification)
            notification.channels[name] = {"ok": True, "at": timezone.now().isoformat()}
        except (OSError, urllib.error.URLError, ValueError) as exc:
            notification.channels[name] = {"ok": False, "at": timezone.now().isoformat(), "error": str(exc)[:500]}
            errors.append(f"{name}: {exc}")
    return errors


def notification_deliver(*, notification_id: int) -> Notification | None:
    """Try every channel not yet delivered; on failure schedule the next attempt with backoff
    (NOTIFY_RETRY_BASE_SECONDS × 2^(attempts−1)) until NOTIFY_MAX_ATTEMPTS, then give up (failed).
    Safe to run twice: an attempt claims the record first; a delivered one is left alone."""
    now = timezone.now()
    if not _claim(notification_id, now):
        return None
    notification = Notification.objects.get(pk=notification_id)
    errors = _attempt_channels(notification)
    if not errors:
        notification.status, notification.delivered_at, notification.next_attempt_at = "delivered", timezone.now(), None
    elif notification.attempts >= settings.NOTIFY_MAX_ATTEMPTS:
        notification.status, notification.next_attempt_at = NotificationStatus.FAILED, None
    else:
        backoff = settings.NOTIFY_RETRY_BASE_SECONDS * 2 ** (notification.attempts - 1)
        notification.next_attempt_at = timezone.now() + timedelta(seconds=backoff)
    notification.last_error = "; ".join(errors)[:5000]
    notification.save(update_fields=["channels", "status", "delivered_at", "next_attempt_at", "last_error"])
    return notification


def notifications_due_ids(*, now=None) -> list[int]:
    now = now or timezone.now()
    return list(
        Notification.objects.filter(status=NotificationStatus.PENDING, next_attempt_at__lte=now)
        .order_by("next_attempt_at")
        .values_list("pk", flat=True)[:500]
    )


# --- heartbeats ---------------------------------------------------------------------------------


def heartbeat_started(*, name: str, task: str = "") -> None:
    now = timezone.now()
    JobHeartbeat.objects.get_or_create(name=name, defaults={"task": task})
    JobHeartbeat.objects.filter(name=name).update(last_started_at=now, runs=F("runs") + 1, task=task or F("task"))


def heartbeat_succeeded(*, name: str) -> None:
    beat = JobHeartbeat.objects.filter(name=name).first()
    now = timezone.now()
    duration = (now - beat.last_started_at).total_seconds() if beat and beat.last_started_at else None
    JobHeartbeat.objects.filter(name=name).update(
        last_succeeded_at=now, last_duration_seconds=duration, consecutive_failures=0
    )


def heartbeat_failed(*, name: str, error: str) -> None:
    """Record the failure and tell people (one notification per job per dedupe window)."""
    now = timezone.now()
    JobHeartbeat.objects.filter(name=name).update(
        last_failed_at=now,
        last_error=error[:5000],
        failures=F("failures") + 1,
        consecutive_failures=F("consecutive_failures") + 1,
    )
    notification_send(
        kind=NotificationKind.JOB_FAILED,
        subject=f"Scheduled job {name} failed",
        body=error[:2000],
        link="/admin/alerts/jobheartbeat/",
        payload={"job": name, "failed_at": now.isoformat()},
        dedupe_key=name,
    )
