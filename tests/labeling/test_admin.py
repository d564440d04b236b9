import csv
import io
import json

import pytest

from labeling import services
from labeling.models import RewardEvent, Rubric, ScoreCard
from tests.labeling.conftest import SCORES


@pytest.fixture
def admin_client_logged(client, django_user_model):
    admin = django_user_model.objects.create_superuser(username="admin", password="x", email="a@example.com")
    client.force_login(admin)
    return client, admin


@pytest.fixture
def scored(traces_factory, reviewer):
    traces = traces_factory(2)
    return [services.scorecard_submit(trace=trace, reviewer=reviewer, **SCORES) for trace in traces]


@pytest.mark.parametrize("model", ["rubric", "labelqueue", "labeltask", "scorecard", "preference", "rewardevent"])
def test_every_labeling_changelist_loads(admin_client_logged, scored, model):
    client, _ = admin_client_logged
    assert client.get(f"/admin/labeling/{model}/").status_code == 200


def test_a_score_card_shows_its_history_in_admin(admin_client_logged, scored):
    client, _ = admin_client_logged
    response = client.get(f"/admin/labeling/scorecard/{scored[0].pk}/history/")
    assert response.status_code == 200 and "scored" in response.content.decode()


def test_editing_the_rubric_in_admin_bumps_the_version_with_history(admin_client_logged):
    client, admin = admin_client_logged
    rubric = services.rubric_active()
    dimensions = json.loads(json.dumps(rubric.dimensions))
    dimensions["success"]["anchors"]["5"] = "Done, and Nate did not have to check."
    response = client.post(
        f"/admin/labeling/rubric/{rubric.pk}/change/",
        {"name": rubric.name, "active": "on", "dimensions": json.dumps(dimensions)},
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    rubric.refresh_from_db()
    assert rubric.version == 2
    assert rubric.dimensions["success"]["anchors"]["5"].startswith("Done, and Nate")
    latest = rubric.history.latest()
    assert (latest.history_user, latest.history_change_reason) == (admin, "edited in admin")


def test_a_rubric_saved_without_changes_keeps_its_version(admin_client_logged):
    client, _ = admin_client_logged
    rubric = services.rubric_active()
    client.post(
        f"/admin/labeling/rubric/{rubric.pk}/change/",
        {"name": rubric.name, "active": "on", "dimensions": json.dumps(rubric.dimensions)},
    )
    assert Rubric.objects.get(pk=rubric.pk).version == 1


def _export(client, model, ids):
    response = client.post(f"/admin/labeling/{model}/", {"action": "export_csv", "_selected_action": ids})
    assert response.status_code == 200 and response["Content-Type"] == "text/csv"
    return list(csv.DictReader(io.StringIO(response.content.decode())))


def test_score_cards_export_as_csv(admin_client_logged, scored):
    client, _ = admin_client_logged
    rows = _export(client, "scorecard", [card.pk for card in scored])
    assert len(rows) == 2 and {row["success"] for row in rows} == {"4"}
    assert "corrected_tool_calls" in rows[0] and "reviewer_id" in rows[0]


def test_reward_events_export_as_csv(admin_client_logged, scored):
    client, _ = admin_client_logged
    rows = _export(client, "rewardevent", list(RewardEvent.objects.values_list("pk", flat=True)))
    assert len(rows) == 2 and all(row["source"] == "human" for row in rows)
    assert float(rows[0]["reward"]) == services.reward_from_scores(success=4, helpfulness=3, tone_alignment=5, safety=5)


def test_score_cards_are_read_only_in_admin(admin_client_logged, scored):
    client, _ = admin_client_logged
    client.post(f"/admin/labeling/scorecard/{scored[0].pk}/change/", {"success": 1})
    assert ScoreCard.objects.get(pk=scored[0].pk).success == 4


def test_a_rubric_with_a_missing_anchor_is_a_form_error_in_admin(admin_client_logged):
    client, _ = admin_client_logged
    rubric = services.rubric_active()
    dimensions = json.loads(json.dumps(rubric.dimensions))
    del dimensions["safety"]["anchors"]["3"]
    response = client.post(
        f"/admin/labeling/rubric/{rubric.pk}/change/",
        {"name": rubric.name, "active": "on", "dimensions": json.dumps(dimensions)},
    )
    assert response.status_code == 200
    assert "safety: anchors must have keys 1–5" in response.content.decode()
    assert Rubric.objects.get(pk=rubric.pk).version == 1


def test_creating_a_rubric_in_admin_goes_through_the_service_with_history(admin_client_logged):
    client, admin = admin_client_logged
    dimensions = services.rubric_active().dimensions
    response = client.post(
        "/admin/labeling/rubric/add/", {"name": "Voice rubric", "active": "", "dimensions": json.dumps(dimensions)}
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    rubric = Rubric.objects.get(name="Voice rubric")
    assert rubric.version == 1 and rubric.active is False
    assert (rubric.history.get().history_user, rubric.history.get().history_change_reason) == (
        admin,
        "created in admin",
    )


def test_a_task_state_cannot_be_changed_in_admin_but_its_reviewer_can(admin_client_logged, traces_factory):
    from labeling.models import LabelTask, TaskStatus

    client, admin = admin_client_logged
    trace = traces_factory(1)[0]
    services.label_tasks_add(trace_ids=[trace.pk], reason="stratified")
    task = LabelTask.objects.get()
    response = client.post(
        f"/admin/labeling/labeltask/{task.pk}/change/",
        {"position": 7, "reviewer": admin.pk, "status": TaskStatus.DONE, "completed_by": admin.pk},
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    task.refresh_from_db()
    assert (task.position, task.reviewer, task.status, task.completed_by) == (7, admin, TaskStatus.PENDING, None)
    assert task.history.latest().history_user == admin
    assert client.get("/admin/labeling/labeltask/add/").status_code == 403


def test_reward_events_are_read_only_in_admin(admin_client_logged, scored):
    client, _ = admin_client_logged
    event = RewardEvent.objects.first()
    client.post(f"/admin/labeling/rewardevent/{event.pk}/change/", {"reward": "0.99", "source": "human"})
    assert RewardEvent.objects.get(pk=event.pk).reward == event.reward
    assert client.post(f"/admin/labeling/rewardevent/{event.pk}/delete/", {"post": "yes"}).status_code == 403
    assert client.get("/admin/labeling/rewardevent/add/").status_code == 403
    assert RewardEvent.objects.filter(pk=event.pk).exists()


def test_preferences_are_read_only_in_admin(admin_client_logged, reviewer):
    from labeling.models import Preference

    client, _ = admin_client_logged
    preference, _ = services.preference_import(prompt="p", chosen="good", rejected="bad")
    client.post(f"/admin/labeling/preference/{preference.pk}/change/", {"choice": "b", "prompt": "p"})
    assert Preference.objects.get(pk=preference.pk).choice == "a"
    assert client.get("/admin/labeling/preference/add/").status_code == 403


def test_the_csv_export_quotes_text_a_spreadsheet_would_run_as_a_formula(admin_client_logged, traces_factory, reviewer):
    client, _ = admin_client_logged
    trace = traces_factory(1)[0]
    card = services.scorecard_submit(trace=trace, reviewer=reviewer, rationale='=HYPERLINK("http://x")', **SCORES)
    rows = _export(client, "scorecard", [card.pk])
    assert rows[0]["rationale"] == '\'=HYPERLINK("http://x")' and rows[0]["success"] == "4"
