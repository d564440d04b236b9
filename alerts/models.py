"""Notifications sent to people and heartbeats of scheduled jobs.

alerts sits below every app: anything may record a notification or a heartbeat,
alerts imports no other app.
"""

from django.db import models


class NotificationKind(models.TextChoices):
    ROLLBACK = "rollback", "Automatic rollback"
    POLICY_ANOMALY = "policy_anomaly", "Active-policy anomaly"
    GATE_FAILED = "gate_failed", "Offline gate failed"
    TRAINING_FAILED = "training_failed", "Training run failed"
    AGREEMENT_ALERT = "agreement_alert", "Reward-model agreement alert"
    JOB_FAILED = "job_failed", "Scheduled job failed"
    JOB_LATE = "job_late", "Scheduled job late"
    APPROVAL_WAITING = "approval_waiting", "Approval waiting"
    MONITOR_FAILED = "monitor_failed", "Online monitor failed"
    PROMOTION_OVERRIDE = "promotion_override", "Promotion rule overridden"


class NotificationStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    DELIVERED = "delivered", "Delivered"
    FAILED = "failed", "Failed (gave up)"
    NO_CHANNEL = "no_channel", "Recorded (no channel configured)"


class Notification(models.Model):
    """What was said, when, to which channels, and whether it arrived (with every attempt counted)."""

    kind = models.CharField(max_length=30, choices=NotificationKind.choices)
    subject = models.CharField(max_length=300)
    body = models.TextField(blank=True, default="")
    link = models.CharField(max_length=500, blank=True, default="")
    payload = models.JSONField(default=dict, blank=True)
    # Same kind + key within NOTIFY_DEDUPE_MINUTES → the first notification only.
    dedupe_key = models.CharField(max_length=300, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    status = models.CharField(max_length=12, choices=NotificationStatus.choices, default=NotificationStatus.PENDING)
    # channel → {"ok": bool, "at": iso time, "error": str}; a delivered channel is never sent again.
    channels = models.JSONField(default=dict, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True, db_index=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True, default="")

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["kind", "dedupe_key", "created_at"], name="notification_dedupe_idx")]

    def __str__(self):
        return f"{self.kind}: {self.subject} ({self.status})"


class JobHeartbeat(models.Model):
    """Last start, success and failure of one scheduled job (named as in CELERY_BEAT_SCHEDULE)."""

    name = models.CharField(max_length=200, unique=True)
    task = models.CharField(max_length=200, blank=True, default="")
    last_started_at = models.DateTimeField(null=True, blank=True)
    last_succeeded_at = models.DateTimeField(null=True, blank=True)
    last_failed_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True, default="")
    last_duration_seconds = models.FloatField(null=True, blank=True)
    runs = models.PositiveIntegerField(default=0)
    failures = models.PositiveIntegerField(default=0)
    consecutive_failures = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name
