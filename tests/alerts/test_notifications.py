from datetime import timedelta

import pytest
from django.core import mail
from django.core.exceptions import ValidationError
from django.utils import timezone

from alerts.models import Notification, NotificationStatus
from alerts.services import notification_deliver, notification_send
from alerts.tasks import deliver_pending_notifications

pytestmark = pytest.mark.django_db


def send(**overrides):
    fields = {"kind": "rollback", "subject": "Rolled back ft:zeke-2", "body": "tool errors ×5", "link": "/rollouts/"}
    return notification_send(**{**fields, **overrides})


def test_a_notification_is_posted_to_the_webhook_as_slack_compatible_json(receiver, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        notification = send(payload={"rollout_id": 7})
    assert len(receiver.bodies) == 1
    body = receiver.bodies[0]
    assert "Rolled back ft:zeke-2" in body["text"] and "/rollouts/" in body["text"]
    assert body["kind"] == "rollback" and body["payload"] == {"rollout_id": 7}
    notification.refresh_from_db()
    assert notification.status == NotificationStatus.DELIVERED and notification.attempts == 1


def test_a_notification_is_mailed_to_every_address_in_notify_email_to(email_to, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        notification = send()
    assert [message.to for message in mail.outbox] == [["nate@example.com"]]
    assert mail.outbox[0].subject == "[ZEKE RFT] Rolled back ft:zeke-2"
    notification.refresh_from_db()
    assert notification.channels["email"]["ok"] is True


def test_a_failing_webhook_leaves_the_notification_pending_with_a_later_attempt(receiver, settings):
    receiver.status = 500
    settings.NOTIFY_RETRY_BASE_SECONDS = 60
    notification = send()
    notification_deliver(notification_id=notification.pk)
    notification.refresh_from_db()
    assert notification.status == NotificationStatus.PENDING
    assert notification.attempts == 1 and "500" in notification.last_error
    assert notification.next_attempt_at > timezone.now() + timedelta(seconds=50)


def test_backoff_doubles_with_each_failed_attempt(receiver, settings):
    receiver.status = 503
    settings.NOTIFY_RETRY_BASE_SECONDS = 10
    notification = send()
    waits = []
    for _ in range(3):
        Notification.objects.filter(pk=notification.pk).update(next_attempt_at=timezone.now())
        before = timezone.now()
        notification_deliver(notification_id=notification.pk)
        notification.refresh_from_db()
        waits.append(round((notification.next_attempt_at - before).total_seconds() / 10))
    assert waits == [1, 2, 4]


def test_the_sweeper_retries_a_due_notification_until_it_is_delivered(receiver):
    receiver.status = 500
    notification = send()
    notification_deliver(notification_id=notification.pk)
    receiver.status = 200
    Notification.objects.filter(pk=notification.pk).update(next_attempt_at=timezone.now() - timedelta(seconds=1))
    assert deliver_pending_notifications() == 1
    notification.refresh_from_db()
    assert notification.status == NotificationStatus.DELIVERED and notification.attempts == 2
    assert len(receiver.bodies) == 2


def test_a_notification_not_yet_due_is_not_sent_again(receiver):
    receiver.status = 500
    notification = send()
    notification_deliver(notification_id=notification.pk)
    assert notification_deliver(notification_id=notification.pk) is None
    assert len(receiver.bodies) == 1


def test_delivering_twice_posts_once(receiver):
    notification = send()
    notification_deliver(notification_id=notification.pk)
    notification_deliver(notification_id=notification.pk)
    assert len(receiver.bodies) == 1


def test_a_delivered_channel_is_not_sent_again_when_another_channel_is_retried(receiver, email_to, settings):
    settings.EMAIL_BACKEND = "tests.alerts.failing_mail.Backend"
    notification = send()
    notification_deliver(notification_id=notification.pk)
    Notification.objects.filter(pk=notification.pk).update(next_attempt_at=timezone.now())
    notification_deliver(notification_id=notification.pk)
    notification.refresh_from_db()
    assert len(receiver.bodies) == 1
    assert notification.channels["webhook"]["ok"] is True and notification.channels["email"]["ok"] is False


def test_after_the_last_attempt_the_notification_is_marked_failed(receiver, settings):
    receiver.status = 500
    settings.NOTIFY_MAX_ATTEMPTS = 2
    notification = send()
    for _ in range(2):
        Notification.objects.filter(pk=notification.pk).update(next_attempt_at=timezone.now())
        notification_deliver(notification_id=notification.pk)
    notification.refresh_from_db()
    assert notification.status == NotificationStatus.FAILED and notification.next_attempt_at is None


def test_an_unreachable_webhook_is_recorded_as_an_error_not_raised(settings):
    settings.NOTIFY_WEBHOOK_URL = "http://127.0.0.1:9/nothing-listens-here"
    notification = send()
    notification_deliver(notification_id=notification.pk)
    notification.refresh_from_db()
    assert notification.status == NotificationStatus.PENDING and notification.last_error.startswith("webhook:")


def test_with_no_channel_configured_the_notification_is_still_recorded(settings):
    settings.NOTIFY_WEBHOOK_URL, settings.NOTIFY_EMAIL_TO = "", []
    notification = send()
    assert notification.status == NotificationStatus.NO_CHANNEL
    assert Notification.objects.filter(subject="Rolled back ft:zeke-2").count() == 1


def test_an_unknown_kind_is_refused_naming_the_field():
    with pytest.raises(ValidationError) as error:
        send(kind="birthday")
    assert "kind" in error.value.message_dict


def test_the_same_kind_and_key_within_the_dedupe_window_is_sent_once(receiver):
    first = send(dedupe_key="rollout-7")
    second = send(dedupe_key="rollout-7")
    assert first.pk == second.pk and Notification.objects.count() == 1


def test_odd_text_in_every_field_is_kept_and_delivered(receiver):
    notification = send(subject="ünïcode ✓ " + "x" * 400, body="line\nbreak\ttab \u202e", link="", payload={"n": None})
    notification_deliver(notification_id=notification.pk)
    notification.refresh_from_db()
    assert notification.status == NotificationStatus.DELIVERED and len(notification.subject) == 300
    assert receiver.bodies[0]["payload"] == {"n": None}
