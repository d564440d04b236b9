import pytest
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.management import call_command

from rollout.evaluation import eval_run_all
from rollout.models import Policy, PolicyStatus, Rollout, RolloutState
from rollout.services import rollout_promote, rollout_rollback, rollout_start_canary, rollout_start_shadow
from traces.models import Trace
from traces.selectors import traces_eligible
from zeke_rft.errors import ApplicationError

from .conftest import record_promotion_evidence


@pytest.fixture
def nate(db):
    return get_user_model().objects.create_user("nate", password="pw", is_staff=True)


@pytest.fixture
def evaluated(oracle, candidate, baseline):
    eval_run_all(policy=candidate, baseline=baseline)
    return candidate


@pytest.fixture
def canary(evaluated, nate):
    rollout = rollout_start_shadow(candidate=evaluated, user=nate, reason="first look")
    return rollout_start_canary(rollout=rollout, user=nate)


def _statuses(*policies):
    return [Policy.objects.get(pk=p.pk).status for p in policies]


def test_a_candidate_goes_shadow_canary_active_with_history(evaluated, baseline, nate, training_run):
    rollout = rollout_start_shadow(candidate=evaluated, user=nate, reason="first look")
    assert rollout.state == RolloutState.SHADOW and rollout.baseline == baseline
    assert _statuses(evaluated, baseline) == ["shadow", "active"]

    rollout = rollout_start_canary(rollout=rollout, user=nate)
    assert rollout.state == RolloutState.CANARY and rollout.traffic_percent == 5.0
    assert rollout.gate["passed"] is True and rollout.gate["win_rate"] >= 0.5
    assert set(rollout.gate["smoke"]) == {"shadow", "canary"}

    record_promotion_evidence(rollout)
    rollout = rollout_promote(rollout=rollout, user=nate, reason="monitors green for a day")
    assert rollout.state == RolloutState.ACTIVE and rollout.ended_at is not None
    assert _statuses(evaluated, baseline) == ["active", "retired"]

    history = list(rollout.history.order_by("history_date"))
    assert [h.state for h in history] == ["shadow", "canary", "active"]
    assert {h.history_user for h in history} == {nate}
    assert history[-1].history_change_reason == "monitors green for a day"
    training_run.refresh_from_db()
    assert training_run.rollout_started_at and training_run.rollout_ended_at
    assert training_run.gate["passed"] is True


def test_the_gate_blocks_canary_for_a_less_safe_candidate_and_records_why(oracle, candidate, baseline, training_run):
    oracle.unsafe_models.add(candidate.model_id)
    eval_run_all(policy=candidate, baseline=baseline)
    oracle.unsafe_models.clear()  # passes the smoke tests, still fails the offline gate
    rollout = rollout_start_shadow(candidate=candidate)

    with pytest.raises(ApplicationError) as caught:
        rollout_start_canary(rollout=rollout)

    assert caught.value.status == 409
    assert "gate failed" in caught.value.message
    assert "safety worse than baseline: refused 0/9 unsafe prompts, baseline 9/9" in caught.value.message
    assert "zeke-refusal: pass rate" in caught.value.message
    rollout.refresh_from_db()
    assert rollout.state == RolloutState.SHADOW and rollout.gate["passed"] is False
    training_run.refresh_from_db()
    assert training_run.gate["passed"] is False
    assert training_run.gate["safety"]["candidate_refused"] == 0


def test_the_gate_fails_without_eval_runs(oracle, candidate, baseline):
    rollout = rollout_start_shadow(candidate=candidate)

    with pytest.raises(ApplicationError, match="zeke-tools: no finished eval run"):
        rollout_start_canary(rollout=rollout)


def test_the_gate_fails_when_the_win_rate_is_below_half(oracle, candidate, baseline):
    oracle.wrong_tool_models.add(candidate.model_id)
    eval_run_all(policy=candidate, baseline=baseline)
    oracle.wrong_tool_models.clear()
    rollout = rollout_start_shadow(candidate=candidate)

    with pytest.raises(ApplicationError, match=r"win-rate 0\.\d+ against gpt-4.1-mini below 0.5"):
        rollout_start_canary(rollout=rollout)


@pytest.mark.parametrize(
    ("step", "message"),
    [
        (lambda r: rollout_promote(rollout=r), "only a canary can be promoted"),
        (lambda r: rollout_start_shadow(candidate=r.candidate), "not a candidate"),
    ],
)
def test_invalid_transitions_are_refused_with_409(evaluated, step, message):
    rollout = rollout_start_shadow(candidate=evaluated)

    with pytest.raises(ApplicationError, match=message) as caught:
        step(rollout)

    assert caught.value.status == 409


def test_only_one_rollout_runs_per_modality(evaluated, oracle):
    rollout_start_shadow(candidate=evaluated)
    other = Policy.objects.create(model_id="ft:other", modality="chat")

    with pytest.raises(ApplicationError, match="is already running for chat"):
        rollout_start_shadow(candidate=other)


def test_the_canary_percent_is_validated(evaluated):
    rollout = rollout_start_shadow(candidate=evaluated)

    with pytest.raises(ValidationError) as caught:
        rollout_start_canary(rollout=rollout, percent=80)

    assert "percent" in caught.value.message_dict


def test_a_failing_smoke_conversation_blocks_the_step_and_names_it(oracle, candidate):
    oracle.unsafe_models.add(candidate.model_id)

    with pytest.raises(ApplicationError, match="smoke test failed: conversation 'refuse-transfer'"):
        rollout_start_shadow(candidate=candidate)

    assert not Rollout.objects.exists()
    assert _statuses(candidate) == ["candidate"]


def test_an_unreachable_backend_blocks_promotion(canary, fake_openai):
    fake_openai.fail_next("/chat/completions", status=500, times=5)
    record_promotion_evidence(canary)

    with pytest.raises(ApplicationError, match="conversation 'greeting'.*request failed"):
        rollout_promote(rollout=canary)

    canary.refresh_from_db()
    assert canary.state == RolloutState.CANARY


def _candidate_traces(traces, rollout, n=3):
    return traces.make(rollout, "candidate", n, policy_id=str(rollout.candidate.pk)) + traces.make(
        rollout, "candidate", n, policy_id=rollout.candidate.model_id, seed=2
    )


def test_rollback_restores_the_baseline_and_quarantines_the_candidates_traces(
    canary, baseline, nate, traces, training_run
):
    candidate_traces = _candidate_traces(traces, canary)
    baseline_traces = traces.make(canary, "baseline", 4, policy_id=str(baseline.pk), seed=3)

    rollout = rollout_rollback(rollout=canary, reason="Nate saw odd replies", user=nate)

    assert rollout.state == RolloutState.ROLLED_BACK and rollout.rolled_back_by == nate
    assert rollout.automatic_rollback is False and rollout.gate["quarantined_traces"] == 6
    assert _statuses(canary.candidate, baseline) == ["rolled_back", "active"]
    eligible = set(traces_eligible().values_list("pk", flat=True))
    assert eligible == {t.pk for t in baseline_traces}
    assert not eligible & {t.pk for t in candidate_traces}
    assert Trace.objects.filter(quarantined=True, quarantine_reason__contains="Nate saw odd replies").count() == 6
    training_run.refresh_from_db()
    assert training_run.rollback_reason == "Nate saw odd replies"


def test_rolling_back_a_promoted_candidate_reactivates_the_previous_policy(canary, baseline):
    record_promotion_evidence(canary)
    promoted = rollout_promote(rollout=canary)

    rollout_rollback(rollout=promoted, reason="regressions reported after promotion")

    assert _statuses(canary.candidate, baseline) == ["rolled_back", "active"]


def test_rollback_is_atomic(canary, baseline, traces, monkeypatch):
    _candidate_traces(traces, canary)

    def broken(**kwargs):
        raise RuntimeError("experiment registry down")

    monkeypatch.setattr("training.services.experiment_record_rollout", broken)
    with pytest.raises(RuntimeError):
        rollout_rollback(rollout=canary, reason="test")

    canary.refresh_from_db()
    assert canary.state == RolloutState.CANARY and canary.rollback_reason == ""
    assert _statuses(canary.candidate, baseline) == ["canary", "active"]
    assert not Trace.objects.filter(quarantined=True).exists()


def test_rollback_needs_a_reason_and_happens_once(canary):
    with pytest.raises(ValidationError, match="say why"):
        rollout_rollback(rollout=canary, reason=" ")
    rollout_rollback(rollout=canary, reason="first")

    with pytest.raises(ApplicationError, match="already rolled back"):
        rollout_rollback(rollout=canary, reason="second")


def test_the_rollback_command_rolls_back_and_names_the_active_policy(canary, nate, capsys):
    call_command("rollback", str(canary.pk), "--reason", "manual check failed", "--user", "nate")

    assert f"rollout {canary.pk} rolled back; active policy for chat: gpt-4.1-mini" in capsys.readouterr().out
    canary.refresh_from_db()
    assert canary.rolled_back_by == nate and canary.rollback_reason == "manual check failed"


def test_the_admin_action_asks_for_a_reason_then_rolls_back(canary, nate, client):
    client.force_login(get_user_model().objects.create_superuser("admin", password="pw"))
    url = "/admin/rollout/rollout/"
    data = {"action": "rollback_action", "_selected_action": [canary.pk]}

    page = client.post(url, data)
    assert page.status_code == 200 and b"Reason" in page.content

    client.post(url, {**data, "apply": "1", "reason": "admin button", "confirm": "on"})
    canary.refresh_from_db()
    assert canary.state == RolloutState.ROLLED_BACK and canary.rollback_reason == "admin button"
    assert Policy.objects.get(status=PolicyStatus.ACTIVE).model_id == "gpt-4.1-mini"


def test_commands_turn_refusals_into_a_clear_error(canary):
    from django.core.management.base import CommandError

    rollout_rollback(rollout=canary, reason="first")

    with pytest.raises(CommandError, match="already rolled back"):
        call_command("rollback", str(canary.pk), "--reason", "again")
    with pytest.raises(CommandError, match="only a canary can be promoted"):
        call_command("rollout_step", "promote", str(canary.pk))


def test_a_reviewer_releases_the_quarantined_traces_from_the_admin(canary, traces, client):
    _candidate_traces(traces, canary)
    rollout_rollback(rollout=canary, reason="bad replies")
    assert traces_eligible().count() == 0
    client.force_login(get_user_model().objects.create_superuser("admin", password="pw"))

    client.post(
        "/admin/rollout/policy/", {"action": "release_traces_action", "_selected_action": [canary.candidate_id]}
    )

    assert traces_eligible().count() == 6


def test_a_failed_gate_sends_a_notification(oracle, candidate, baseline):
    from alerts.models import Notification

    rollout = rollout_start_shadow(candidate=candidate)
    with pytest.raises(ApplicationError):
        rollout_start_canary(rollout=rollout)

    notification = Notification.objects.get(kind="gate_failed")
    assert candidate.model_id in notification.subject and "no finished eval run" in notification.body
