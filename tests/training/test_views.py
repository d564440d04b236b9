import csv
import io

import pytest
from django.utils import timezone

from tests.conftest import user_in_groups
from training.models import TrainingRun, TrainingStatus
from training.services import experiment_record_gate, experiment_record_rollout

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client(client, django_user_model):
    client.force_login(user_in_groups("nate", "operators", is_staff=True))
    return client


def make_run(dataset, *, kl=0.05, curve=None, model="", status=TrainingStatus.SUCCEEDED):
    config = {
        "kl_penalty": kl,
        "reward_scaling": 1.0,
        "batch_size": 8,
        "episode_length": 4,
        "hyperparameters": {"n_epochs": 1},
    }
    return TrainingRun.objects.create(
        dataset=dataset,
        reward_model_version="rm-3",
        base_model="o4-mini",
        config=config,
        config_hash=f"hash-{kl}",
        status=status,
        fine_tuned_model=model,
        metrics={
            "curve": curve or [{"step": 1, "train": 0.4, "valid": 0.3}, {"step": 2, "train": 0.6, "valid": None}],
            "final_train_reward": 0.6,
            "final_valid_reward": 0.3,
        },
    )


@pytest.fixture
def two_runs(dataset):
    from rollout.services import policy_register_candidate

    first = make_run(dataset, model="ft:o4-mini:zeke:one")
    policy_register_candidate(model_id=first.fine_tuned_model, modality="chat", training_run=first)
    experiment_record_gate(run=first, gate={"passed": True}, eval_scores={"tool_call": 0.91})
    experiment_record_rollout(
        run=first, started_at=timezone.now(), ended_at=timezone.now(), rollback_reason="safety dropped"
    )
    second = make_run(dataset, kl=0.2, model="")
    return first, second


def test_the_registry_needs_a_login(client):
    response = client.get("/experiments/")
    assert response.status_code == 302 and "/login" in response["Location"]


def test_the_registry_refuses_users_who_are_not_reviewers(client, django_user_model):
    client.force_login(django_user_model.objects.create_user("guest", password="pw"))
    assert client.get("/experiments/").status_code == 403


def test_a_reviewer_may_see_the_registry(client, django_user_model):
    from labeling.access import reviewers_group

    user = django_user_model.objects.create_user("rev", password="pw")
    user.groups.add(reviewers_group())
    client.force_login(user)
    assert client.get("/experiments/").status_code == 200


def test_the_registry_shows_one_row_per_run_with_its_record(staff_client, two_runs, django_assert_max_num_queries):
    first, second = two_runs
    # 9: session, user, the permission check (user + group permissions), then the registry's own reads.
    with django_assert_max_num_queries(9):
        response = staff_client.get("/experiments/")
    html = response.content.decode()
    assert html.count('<tr id="run-') == 2
    assert first.dataset.sha256[:12] in html and "rm-3" in html
    assert "ft:o4-mini:zeke:one" in html and "safety dropped" in html and "tool_call: 0.91" in html
    assert "<svg" in html and "<script" not in html.split("</header>")[1]


def test_the_compare_view_shows_two_runs_side_by_side_with_curves_and_config_diff(staff_client, two_runs):
    first, second = two_runs
    response = staff_client.get(f"/experiments/compare/?a={first.pk}&b={second.pk}")
    html = response.content.decode()
    assert response.status_code == 200
    assert f'id="compare-run-{first.pk}"' in html and f'id="compare-run-{second.pk}"' in html
    assert html.count('class="series-train"') == 2 and html.count('class="series-valid"') == 2
    assert '<tr class="differs" style="background:#fef3c7"><td>kl_penalty</td><td>0.05</td><td>0.2</td></tr>' in html


def test_compare_without_two_runs_is_a_400(staff_client, two_runs):
    response = staff_client.get(f"/experiments/compare/?a={two_runs[0].pk}")
    assert response.status_code == 400 and "b: required" in response.content.decode()


@pytest.mark.parametrize("value", ["abc", "²", "1.5", "-1", "9" * 30])
def test_compare_with_a_garbage_id_is_a_400_naming_the_parameter(staff_client, two_runs, value):
    response = staff_client.get("/experiments/compare/", {"a": two_runs[0].pk, "b": value})
    assert response.status_code == 400 and "b: give a run id" in response.content.decode()


def test_compare_with_an_unknown_run_is_a_404(staff_client, two_runs):
    assert staff_client.get(f"/experiments/compare/?a={two_runs[0].pk}&b=999999").status_code == 404


def test_the_csv_export_has_one_row_per_run(staff_client, two_runs):
    response = staff_client.get("/experiments/export.csv")
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert response["Content-Type"].startswith("text/csv") and len(rows) == 2
    first = next(row for row in rows if row["run"] == str(two_runs[0].pk))
    assert first["policy_id"] == "ft:o4-mini:zeke:one" and first["policy_status"] == "candidate"
    assert first["dataset_sha256"] == two_runs[0].dataset.sha256 and first["rollback_reason"] == "safety dropped"
    assert first["gate_passed"] == "True" and first["final_train_reward"] == "0.6"


def test_the_csv_export_defuses_text_a_spreadsheet_would_run_as_a_formula(staff_client, two_runs):
    experiment_record_rollout(run=two_runs[1], rollback_reason='=HYPERLINK("http://evil","x")')
    rows = list(csv.DictReader(io.StringIO(staff_client.get("/experiments/export.csv").content.decode())))
    second = next(row for row in rows if row["run"] == str(two_runs[1].pk))
    assert second["rollback_reason"] == '\'=HYPERLINK("http://evil","x")'
    assert next(row for row in rows if row["run"] == str(two_runs[0].pk))["rollback_reason"] == "safety dropped"


def test_the_admin_action_queues_a_training_run_for_a_dataset(
    fake_openai, dataset, django_user_model, client, django_capture_on_commit_callbacks
):
    admin = django_user_model.objects.create_superuser("admin", password="pw")
    client.force_login(admin)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            "/admin/training/datasetbuild/", {"action": "start_training", "_selected_action": [dataset.pk]}
        )
    assert response.status_code == 302
    run = TrainingRun.objects.get()
    assert run.job_id and run.created_by == admin


def test_the_admin_pauses_and_resumes_a_run(
    fake_openai, dataset, django_user_model, client, django_capture_on_commit_callbacks
):
    from training.services import training_run_create, training_run_poll

    fake_openai.auto_advance = False
    with django_capture_on_commit_callbacks(execute=True):
        run = training_run_create(dataset=dataset)
    run.refresh_from_db()
    fake_openai.advance_job(run.job_id)
    fake_openai.advance_job(run.job_id)
    training_run_poll(run_id=run.pk)
    client.force_login(django_user_model.objects.create_superuser("admin", password="pw"))
    client.post("/admin/training/trainingrun/", {"action": "pause", "_selected_action": [run.pk]})
    run.refresh_from_db()
    assert run.status == TrainingStatus.PAUSED
    response = client.post(
        "/admin/training/trainingrun/", {"action": "pause", "_selected_action": [run.pk]}, follow=True
    )
    assert "cannot pause" in response.content.decode()
    client.post("/admin/training/trainingrun/", {"action": "resume", "_selected_action": [run.pk]})
    run.refresh_from_db()
    assert run.status == TrainingStatus.RUNNING
    assert client.get(f"/admin/training/trainingrun/{run.pk}/change/").status_code == 200


def test_the_admin_cancels_a_running_job_and_says_so_for_a_finished_one(
    fake_openai, dataset, django_user_model, client, django_capture_on_commit_callbacks
):
    from training.services import training_run_create

    fake_openai.auto_advance = False
    with django_capture_on_commit_callbacks(execute=True):
        run = training_run_create(dataset=dataset)
    run.refresh_from_db()
    admin = django_user_model.objects.create_superuser("admin", password="pw")
    client.force_login(admin)
    client.post("/admin/training/trainingrun/", {"action": "cancel", "_selected_action": [run.pk]})
    run.refresh_from_db()
    assert run.status == TrainingStatus.CANCELLED and fake_openai.jobs[run.job_id]["status"] == "cancelled"
    assert run.history.first().history_user == admin
    response = client.post(
        "/admin/training/trainingrun/", {"action": "cancel", "_selected_action": [run.pk]}, follow=True
    )
    assert f"cannot cancel run {run.pk}: it is cancelled" in response.content.decode()


def test_the_admin_action_without_an_api_key_says_so_and_records_no_run(dataset, django_user_model, client, settings):
    settings.OPENAI_API_KEY = ""
    client.force_login(django_user_model.objects.create_superuser("admin", password="pw"))
    response = client.post(
        "/admin/training/datasetbuild/", {"action": "start_training", "_selected_action": [dataset.pk]}, follow=True
    )
    assert "No OpenAI API key" in response.content.decode() and not TrainingRun.objects.exists()


def test_the_registry_query_count_does_not_grow_with_runs(staff_client, dataset, django_assert_num_queries):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    make_run(dataset, kl=0.01)
    with CaptureQueriesContext(connection) as one_run:
        staff_client.get("/experiments/")
    for kl in (0.02, 0.03, 0.04):
        make_run(dataset, kl=kl)
    with django_assert_num_queries(len(one_run.captured_queries)):
        response = staff_client.get("/experiments/")
    assert response.content.decode().count('<tr id="run-') == 4


ODD_CURVE = [
    {"step": 1, "train": "0.4", "valid": "n/a"},
    {"step": "two", "train": 0.5, "valid": 0.5},
    {"step": 3, "train": {"mean": 0.6}, "valid": "NaN"},
    "not a point",
]


def test_the_registry_and_compare_view_skip_non_numeric_metrics_stored_by_a_backend(staff_client, dataset):
    odd = make_run(dataset, curve=ODD_CURVE)
    plain = make_run(dataset, kl=0.2)
    assert staff_client.get("/experiments/").status_code == 200
    assert staff_client.get(f"/experiments/compare/?a={odd.pk}&b={plain.pk}").status_code == 200


def test_non_numeric_backend_metrics_are_skipped_with_a_note():
    from types import SimpleNamespace

    from training.services import metrics_from_events

    events = [
        SimpleNamespace(type="metrics", data={"step": 1, "train_reward_mean": 0.4, "valid_reward_mean": "n/a"}),
        SimpleNamespace(type="metrics", data={"step": "NaN", "train_reward_mean": 0.9}),
        SimpleNamespace(type="metrics", data={"step": 2, "train_reward_mean": "0.5", "valid_reward_mean": 0.45}),
    ]
    metrics = metrics_from_events(events)
    assert metrics["curve"] == [{"step": 1, "train": 0.4, "valid": None}, {"step": 2, "train": 0.5, "valid": 0.45}]
    assert metrics["notes"] == [
        "step 1: valid_reward_mean 'n/a' is not a number, skipped",
        "step 'NaN' is not a number, event skipped",
    ]
