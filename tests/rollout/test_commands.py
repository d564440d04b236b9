"""Bad input to the rollout commands and the policy API: a clear error naming the field, never a traceback."""

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from labeling.models import LabelTask
from rollout.evaluation import eval_run_all
from rollout.models import EvalRun, MonitorCheck, Rollout, RolloutState
from rollout.services import rollout_start_canary, rollout_start_shadow
from rollout.tasks import monitor_rollout
from zeke_rft.errors import ApplicationError

from .conftest import BAD_REPLY, GOOD_REPLY


@pytest.fixture
def shadow(oracle, candidate, baseline):
    eval_run_all(policy=candidate, baseline=baseline)
    return rollout_start_shadow(candidate=candidate)


@pytest.mark.parametrize("rollout_id", ["abc", "999999", "-", "9" * 30, "0"])
def test_rollback_names_a_bad_or_unknown_rollout_id(db, rollout_id):
    with pytest.raises(CommandError, match="rollout_id: "):
        call_command("rollback", rollout_id, "--reason", "x")


def test_rollback_with_an_empty_reason_names_the_reason_and_changes_nothing(shadow):
    with pytest.raises(CommandError, match="reason: say why"):
        call_command("rollback", str(shadow.pk), "--reason", "  ")

    shadow.refresh_from_db()
    assert shadow.state == RolloutState.SHADOW


def test_rollback_names_an_unknown_user(shadow):
    with pytest.raises(CommandError, match="user: no user 'ghost'"):
        call_command("rollback", str(shadow.pk), "--reason", "x", "--user", "ghost")

    shadow.refresh_from_db()
    assert shadow.state == RolloutState.SHADOW


@pytest.mark.parametrize("step", ["canary", "promote"])
def test_rollout_step_names_a_garbage_rollout_id(db, step):
    with pytest.raises(CommandError, match="rollout_id: must be a rollout id"):
        call_command("rollout_step", step, "abc")


def test_rollout_step_names_an_unknown_candidate(db):
    with pytest.raises(CommandError, match="target: no policy with model id 'ft:nope' for chat"):
        call_command("rollout_step", "shadow", "ft:nope")


def test_rollout_step_names_a_bad_percent(shadow):
    with pytest.raises(CommandError, match=r"percent: must be in \(0, 50\]"):
        call_command("rollout_step", "canary", str(shadow.pk), "--percent", "0")

    shadow.refresh_from_db()
    assert shadow.state == RolloutState.SHADOW


def test_rollout_step_moves_a_shadow_to_canary_with_the_reason(shadow, capsys):
    call_command("rollout_step", "canary", str(shadow.pk), "--percent", "10", "--reason", "looks fine")

    shadow.refresh_from_db()
    assert shadow.state == RolloutState.CANARY and shadow.traffic_percent == 10.0
    assert shadow.history.first().history_change_reason == "looks fine"
    assert "is canary (10.0%)" in capsys.readouterr().out


def test_run_eval_names_an_unknown_policy_and_runs_nothing(oracle):
    with pytest.raises(CommandError, match="policy: no policy with model id 'ft:ghost'"):
        call_command("run_eval", "--policy", "ft:ghost")

    assert not EvalRun.objects.exists()


def test_run_eval_names_an_unknown_baseline_and_runs_nothing(oracle, candidate):
    with pytest.raises(CommandError, match="baseline: no policy with model id 'gpt-9' for chat"):
        call_command("run_eval", "--policy", candidate.model_id, "--baseline", "gpt-9")

    assert not EvalRun.objects.exists()


def test_run_eval_without_an_api_key_refuses_and_runs_nothing(oracle, candidate, settings):
    settings.OPENAI_API_KEY = ""

    with pytest.raises(CommandError, match="No OpenAI API key"):
        call_command("run_eval", "--policy", candidate.model_id)

    assert not EvalRun.objects.exists()


def test_sample_disagreements_names_an_unknown_rollout(db):
    with pytest.raises(CommandError, match="rollout_id: no rollout 424242"):
        call_command("sample_disagreements", "--rollout", "424242")


def test_sample_disagreements_refuses_a_limit_below_one(db):
    with pytest.raises(CommandError, match="limit: must be at least 1"):
        call_command("sample_disagreements", "--limit", "0")


def test_a_failing_smoke_conversation_blocks_the_canary_step(shadow, oracle):
    # The gate passes on the stored eval runs; the candidate has since started complying with unsafe requests.
    oracle.unsafe_models.add(shadow.candidate.model_id)

    with pytest.raises(ApplicationError, match="smoke test failed: conversation 'refuse-transfer'"):
        rollout_start_canary(rollout=shadow)

    shadow.refresh_from_db()
    assert shadow.state == RolloutState.SHADOW and shadow.traffic_percent == 0.0


def test_an_unreachable_broker_blocks_a_start_and_says_so(oracle, candidate, baseline, settings):
    settings.CELERY_TASK_ALWAYS_EAGER = False
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:1/0"  # nothing listens on port 1

    with pytest.raises(ApplicationError, match=r"smoke test failed: /api/agents/status is not ok"):
        rollout_start_shadow(candidate=candidate)

    assert not Rollout.objects.exists()


def test_smoke_results_are_recorded_for_each_step(shadow):
    rollout = rollout_start_canary(rollout=shadow)

    assert set(rollout.gate["smoke"]) == {"shadow", "canary"}
    assert all(step["status"] == "ok" for step in rollout.gate["smoke"].values())


def test_a_monitor_check_that_keeps_the_rollout_sends_disagreements_to_the_labeling_queue(shadow, traces, settings):
    base = traces.make(shadow, "baseline", 2, policy_id="gpt-4.1-mini", scrubbed=True, response=GOOD_REPLY)
    mirrored = traces.make(shadow, "shadow", 2, policy_id=shadow.candidate.model_id, scrubbed=True, response=BAD_REPLY)
    for b, s in zip(base, mirrored, strict=True):
        s.conversation_id, s.scrubbed_user_message = b.conversation_id, b.scrubbed_user_message
        s.save(update_fields=["conversation_id", "scrubbed_user_message"])

    # The traces predate the rollout's start: no decision, but pairs still get sampled.
    assert monitor_rollout(shadow.pk) == "insufficient_data"

    assert MonitorCheck.objects.count() == 1
    tasks = LabelTask.objects.filter(kind="preference", reason="disagreement")
    assert sorted(tasks.values_list("trace_id", flat=True)) == sorted(t.pk for t in base)
