"""The weekly pipeline on SQLite/PostgreSQL with eager Celery and the fake OpenAI server."""

import io

import pytest
from django.contrib.auth.models import Permission
from django.core.management import call_command
from django.core.management.base import CommandError

from pipeline.models import PipelineRun, PipelineStep, RunStatus, StepStatus
from pipeline.services import pipeline_run_advance, pipeline_run_start
from pipeline.tasks import advance_pipeline_runs, pipeline_weekly
from rollout.models import Policy, PolicyStatus, Rollout, RolloutState
from rollout.tasks import run_online_monitors
from tests.rollout.conftest import BAD_REPLY, GOOD_REPLY
from training.models import TrainingRun

from .conftest import FineTunedAre


def _statuses(run):
    return {step.step: step.status for step in run.steps.all()}


def _sweep_until(predicate, times=40):
    for _ in range(times):
        run = PipelineRun.objects.get()
        if predicate(run):
            return run
        advance_pipeline_runs()
    run = PipelineRun.objects.get()
    details = {step.step: step.detail for step in run.steps.all() if step.detail}
    raise AssertionError(f"pipeline never got there: {_statuses(run)} {details}")


def _live_traffic(traces, run, *, candidate_error_rate=0.0):
    """Agents' traffic on both arms (the candidate's replies better by the reward model), then beat's monitors."""
    rollout = Rollout.objects.get(pk=run.rollout_id)
    for arm, reply, error_rate, seed in (
        ("baseline", BAD_REPLY, 0.02, 1),
        ("candidate", GOOD_REPLY, candidate_error_rate, 2),
    ):
        policy_id = str(rollout.baseline_id if arm == "baseline" else rollout.candidate_id)
        traces.make(
            rollout, arm, 250, policy_id=policy_id, response=reply, error_rate=error_rate, seed=seed, ago_minutes=(0, 0)
        )
    run_online_monitors()
    return rollout


def test_a_better_candidate_goes_from_traces_to_active_with_no_command_typed(loop, traces):
    pipeline_weekly()
    run = _sweep_until(lambda run: run.current_step == "monitor")
    assert run.status == RunStatus.WAITING and run.policy.status == PolicyStatus.CANARY

    _live_traffic(traces, run)
    run = _sweep_until(lambda run: run.status != RunStatus.WAITING)

    assert run.status == RunStatus.SUCCEEDED, run.stop_reason
    assert set(_statuses(run).values()) <= {StepStatus.SUCCEEDED, StepStatus.SKIPPED}
    active = Policy.objects.get(modality="chat", status=PolicyStatus.ACTIVE)
    assert active == run.policy and active.training_run == run.training_run == TrainingRun.objects.get()
    assert Rollout.objects.get().state == RolloutState.ACTIVE


def test_the_weekly_job_twice_in_a_week_gives_one_run(loop):
    first = pipeline_weekly()
    second = pipeline_weekly()
    assert first == second and PipelineRun.objects.count() == 1 and TrainingRun.objects.count() == 1


def test_a_worse_candidate_stops_at_the_gate_with_the_reason_on_the_page(loop, admin_client):
    loop.unsafe_models = FineTunedAre()
    pipeline_weekly()
    run = _sweep_until(lambda run: run.status != RunStatus.WAITING)

    assert run.status == RunStatus.FAILED
    assert _statuses(run)["evaluate"] == StepStatus.FAILED and _statuses(run)["shadow"] == StepStatus.SKIPPED
    assert run.stop_reason.startswith("evaluate: gate failed:") and "safety worse than baseline" in run.stop_reason
    assert not Rollout.objects.exists()
    page = admin_client.get("/pipeline/").content.decode()
    assert "safety worse than baseline" in page and f'id="run-{run.pk}"' in page


def test_a_candidate_the_online_guard_rolls_back_ends_the_run_with_the_reason(loop, traces, admin_client):
    pipeline_weekly()
    run = _sweep_until(lambda run: run.current_step == "monitor")
    _live_traffic(traces, run, candidate_error_rate=0.5)

    run = _sweep_until(lambda run: run.status != RunStatus.WAITING)

    assert run.status == RunStatus.FAILED and _statuses(run)["monitor"] == StepStatus.FAILED
    assert "rolled back: online monitor" in run.stop_reason and "tool_error_rate 0.5" in run.stop_reason
    assert Policy.objects.get(status=PolicyStatus.ACTIVE).model_id == "gpt-4.1-mini"
    assert "rolled back: online monitor" in admin_client.get("/pipeline/").content.decode()


def test_nothing_new_ends_the_next_run_without_training_again(loop):
    first, _ = pipeline_run_start(modality="chat", cycle="week-1", until="train")
    pipeline_run_advance(run_id=first.pk)
    _sweep_until(lambda run: run.status == RunStatus.PAUSED)

    second, _ = pipeline_run_start(modality="chat", cycle="week-2")
    second = pipeline_run_advance(run_id=second.pk)

    assert second.status == RunStatus.STOPPED and "was already trained" in second.stop_reason
    assert _statuses(second)["train"] == StepStatus.SKIPPED and TrainingRun.objects.count() == 1


def test_too_few_examples_end_the_run_as_nothing_new(loop):
    loop_settings = loop  # noqa: F841
    from django.conf import settings

    settings.PIPELINE_MIN_EXAMPLES = 1000
    run, _ = pipeline_run_start(modality="chat")
    run = pipeline_run_advance(run_id=run.pk)
    assert run.status == RunStatus.STOPPED and "PIPELINE_MIN_EXAMPLES is 1000" in run.stop_reason
    assert not TrainingRun.objects.exists()


def test_a_worker_that_dies_mid_step_is_resumed_at_that_step_once_its_lease_lapses(loop, monkeypatch):
    from django.utils import timezone

    from pipeline import steps

    real_evaluate = steps.STEPS["evaluate"]

    def killed(run):
        raise SystemExit("worker killed")

    monkeypatch.setitem(steps.STEPS, "evaluate", killed)
    run, _ = pipeline_run_start(modality="chat", until="evaluate")
    with pytest.raises(SystemExit):
        _sweep_until(lambda run: False)
    run.refresh_from_db()
    evaluate = run.steps.get(step="evaluate")
    assert evaluate.status == StepStatus.RUNNING and run.lease_owner  # the dead worker's lease

    monkeypatch.setitem(steps.STEPS, "evaluate", real_evaluate)
    assert advance_pipeline_runs() == 0  # the lease is still held: nobody else touches the run
    PipelineRun.objects.filter(pk=run.pk).update(lease_until=timezone.now() - timezone.timedelta(seconds=1))
    advance_pipeline_runs()

    run.refresh_from_db()
    evaluate.refresh_from_db()
    assert evaluate.status == StepStatus.SUCCEEDED and evaluate.attempts == 2
    assert run.status == RunStatus.PAUSED and _statuses(run)["shadow"] == StepStatus.PENDING


def test_a_run_held_by_another_worker_is_not_advanced(loop):
    from pipeline.services import _lease_claim

    run, _ = pipeline_run_start(modality="chat")
    assert _lease_claim(run.pk, "worker-a")

    run = pipeline_run_advance(run_id=run.pk, owner="worker-b")

    assert set(_statuses(run).values()) == {StepStatus.PENDING}


@pytest.fixture
def approver(django_user_model):
    user = django_user_model.objects.create_user("nate", password="pw")
    user.user_permissions.add(
        Permission.objects.get(codename="approve_pipelinestep"), Permission.objects.get(codename="view_pipelinerun")
    )
    return user


def test_an_approval_step_waits_then_continues_when_approved(
    loop, traces, settings, approver, client, django_capture_on_commit_callbacks
):
    settings.PIPELINE_APPROVALS = ["promote"]
    pipeline_weekly()
    run = _sweep_until(lambda run: run.current_step == "monitor")
    _live_traffic(traces, run)
    run = _sweep_until(lambda run: run.current_step == "promote")
    step = run.steps.get(step="promote")
    assert run.status == RunStatus.WAITING and step.approval == "waiting"
    advance_pipeline_runs()
    assert Rollout.objects.get().state == RolloutState.CANARY  # still waiting for a person

    client.force_login(approver)
    assert "Approve" in client.get("/pipeline/").content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(f"/pipeline/steps/{step.pk}/decide", {"decision": "approve", "reason": "numbers ok"})

    assert response.status_code == 302
    run.refresh_from_db()
    step.refresh_from_db()
    assert run.status == RunStatus.SUCCEEDED and Rollout.objects.get().state == RolloutState.ACTIVE
    assert step.decided_by == approver and step.decision_reason == "numbers ok"
    record = step.history.filter(history_change_reason__startswith="approved").get()
    assert record.history_user == approver


def test_a_rejected_step_stops_the_run_with_who_and_why(loop, settings, approver):
    from pipeline.services import pipeline_step_decide

    settings.PIPELINE_APPROVALS = ["shadow"]
    pipeline_weekly()
    run = _sweep_until(lambda run: run.current_step == "shadow")

    pipeline_step_decide(step=run.steps.get(step="shadow"), approve=False, reason="not this week", user=approver)

    run.refresh_from_db()
    assert run.status == RunStatus.STOPPED and run.stop_reason == "shadow rejected by nate: not this week"
    assert _statuses(run)["shadow"] == StepStatus.REJECTED and not Rollout.objects.exists()


def test_a_user_without_the_permission_cannot_approve(loop, settings, client, django_user_model):
    settings.PIPELINE_APPROVALS = ["score"]
    run, _ = pipeline_run_start(modality="chat")
    pipeline_run_advance(run_id=run.pk)
    step = PipelineStep.objects.get(run=run, step="score")
    staff = django_user_model.objects.create_user("staff", password="pw", is_staff=True)
    client.force_login(staff)

    response = client.post(f"/pipeline/steps/{step.pk}/decide", {"decision": "approve", "reason": "ok"})

    assert response.status_code == 403
    step.refresh_from_db()
    assert step.approval == "waiting"


def test_an_approval_without_a_reason_is_refused_naming_the_field(loop, settings, approver, client):
    settings.PIPELINE_APPROVALS = ["score"]
    run, _ = pipeline_run_start(modality="chat")
    pipeline_run_advance(run_id=run.pk)
    step = PipelineStep.objects.get(run=run, step="score")
    client.force_login(approver)

    response = client.post(f"/pipeline/steps/{step.pk}/decide", {"decision": "approve", "reason": "  "})

    assert response.status_code == 400 and "reason: say why" in response.content.decode()


def test_the_command_prints_each_step_and_pauses_after_until(loop):
    out = io.StringIO()
    call_command("pipeline_run", "--modality", "chat", "--until", "evaluate", stdout=out)

    lines = out.getvalue().splitlines()
    assert lines[1].startswith("score succeeded 24 new traces scored by reward model rm-")
    assert [line.split()[0:2] for line in lines[1:10]] == [
        ["score", "succeeded"],
        ["recalibrate", "succeeded"],
        ["dataset", "succeeded"],
        ["train", "succeeded"],
        ["evaluate", "succeeded"],
        ["shadow", "pending"],
        ["canary", "pending"],
        ["monitor", "pending"],
        ["promote", "pending"],
    ]
    assert lines[-1].startswith("run paused")


def test_the_command_exits_non_zero_when_a_step_failed(loop):
    loop.unsafe_models = FineTunedAre()
    out = io.StringIO()
    with pytest.raises(CommandError, match="failed: evaluate: gate failed"):
        call_command("pipeline_run", "--modality", "chat", stdout=out)
    assert "evaluate failed gate failed:" in out.getvalue()


def test_the_command_resumes_a_paused_run(loop):
    call_command("pipeline_run", "--until", "dataset", stdout=io.StringIO())
    run = PipelineRun.objects.get()
    out = io.StringIO()

    call_command("pipeline_run", "--resume", str(run.pk), "--until", "evaluate", stdout=out)

    assert "\nevaluate succeeded gate passed" in out.getvalue()
    assert PipelineRun.objects.count() == 1


def test_the_command_names_a_bad_resume_id(loop):
    with pytest.raises(CommandError, match="resume: no pipeline run 'x'"):
        call_command("pipeline_run", "--resume", "x", stdout=io.StringIO())
