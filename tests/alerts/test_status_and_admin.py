from datetime import timedelta

import pytest
from django.utils import timezone

from alerts.models import JobHeartbeat, Notification

pytestmark = pytest.mark.django_db


def test_status_reports_stale_jobs_as_degraded_with_names_and_times(admin_client):
    last = timezone.now() - timedelta(hours=30)
    JobHeartbeat.objects.create(name="run-filters-nightly", last_started_at=last, last_succeeded_at=last)
    JobHeartbeat.objects.create(name="run-online-monitors", last_started_at=last, last_succeeded_at=timezone.now())
    body = admin_client.get("/api/agents/status").json()
    assert body["status"] == "degraded"
    stale = {job["name"]: job for job in body["jobs"]["stale"]}
    assert "run-filters-nightly" in stale and "run-online-monitors" not in stale
    assert stale["run-filters-nightly"]["last_succeeded_at"].startswith(last.date().isoformat())
    assert stale["run-filters-nightly"]["stale_after_minutes"] == 26 * 60


def test_status_is_ok_when_every_job_is_on_time(admin_client):
    assert admin_client.get("/api/agents/status").json()["status"] == "ok"


@pytest.mark.parametrize("model", ["notification", "jobheartbeat"])
def test_alerts_admin_is_read_only(admin_client, model):
    assert admin_client.get(f"/admin/alerts/{model}/add/").status_code == 403


def test_a_notification_can_be_viewed_in_admin_but_not_deleted(admin_client):
    notification = Notification.objects.create(kind="rollback", subject="s")
    assert admin_client.get(f"/admin/alerts/notification/{notification.pk}/change/").status_code == 200
    assert (
        admin_client.post(f"/admin/alerts/notification/{notification.pk}/delete/", {"post": "yes"}).status_code == 403
    )
    assert Notification.objects.filter(pk=notification.pk).exists()


def test_a_staff_user_without_the_view_permission_cannot_see_notifications(client, django_user_model):
    user = django_user_model.objects.create_user("clerk", password="pw", is_staff=True)
    client.force_login(user)
    assert client.get("/admin/alerts/notification/").status_code == 403
