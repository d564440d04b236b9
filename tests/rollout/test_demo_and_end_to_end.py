"""A candidate from a training run goes gate → shadow → canary → active on demo data; a degraded
one is rolled back automatically by the online monitor, with the reason on /rollouts/."""

import io

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import CommandError

from rollout.demo import demo_load
from rollout.models import EvalSuite, Policy, PolicyStatus, Rollout, RolloutState
from rollout.services import policy_register_candidate
from rollout.tasks import run_online_monitors
from tests.conftest import user_in_groups
from traces.selectors import traces_eligible

from .conftest import Oracle


@pytest.mark.django_db
def test_the_demo_step_makes_one_baseline_per_modality_and_seeds_suites_idempotently():
    demo_load(stdout=io.StringIO())
    out = io.StringIO()
    demo_load(stdout=out)

    assert Policy.objects.filter(status=PolicyStatus.ACTIVE).count() == 3
    assert Policy.objects.get(modality="chat", status="active").model_id == "gpt-4.1-mini"
    assert EvalSuite.objects.count() == 6
    assert "already active for chat" in out.getvalue()


def test_the_demo_step_leaves_a_candidate_alone(db, training_run):
    candidate = policy_register_candidate(model_id="ft:demo", modality="chat", training_run=training_run)
    out = io.StringIO()

    demo_load(stdout=out)

    candidate.refresh_from_db()
    assert candidate.status == PolicyStatus.CANDIDATE
    assert "candidate ft:demo waits for `manage.py run_eval --policy ft:demo`" in out.getvalue()
    assert not Rollout.objects.exists()


def _policy(agent_client, conversation_id):
    return agent_client.get("/api/policy", {"modality": "chat", "conversation_id": conversation_id}).json()


def _through_canary(model_id, training_run, fake_openai):
    candidate = policy_register_candidate(model_id=model_id, modality="chat", training_run=training_run)
    fake_openai.chat_responder = Oracle().load_cases()
    call_command("run_eval", "--policy", model_id, stdout=io.StringIO())
    call_command("rollout_step", "shadow", model_id, stdout=io.StringIO())
    rollout = Rollout.objects.get(candidate=candidate)
    call_command("rollout_step", "canary", str(rollout.pk), "--percent", "10", stdout=io.StringIO())
    rollout.refresh_from_db()
    return candidate, rollout


def test_a_candidate_goes_through_to_active_and_a_degraded_one_is_rolled_back(
    fake_openai, training_run, traces, agent_client, client, settings
):
    settings.ROLLOUT_MONITOR_MIN_INTERVAL_SECONDS = 0
    demo_load(stdout=io.StringIO())
    baseline = Policy.objects.get(modality="chat", status="active")

    # 1. gate → shadow → canary → active
    good, rollout = _through_canary("ft:o4-mini:zeke:good", training_run, fake_openai)
    assert rollout.state == RolloutState.CANARY and rollout.gate["passed"]
    arms = {_policy(agent_client, f"c{i}")["arm"] for i in range(100)}
    assert arms == {"baseline", "candidate"}
    traces.make(rollout, "baseline", 300, policy_id=str(baseline.pk), error_rate=0.05, seed=1, ago_minutes=(0, 0))
    traces.make(rollout, "candidate", 300, policy_id=str(good.pk), error_rate=0.05, seed=2, ago_minutes=(0, 0))
    run_online_monitors()
    assert rollout.monitor_checks.get().decision == "ok"
    # Equal arms are no evidence of improvement: the rule refuses, an operator with the permission overrides.
    with pytest.raises(CommandError, match="not enough evidence to promote"):
        call_command("rollout_step", "promote", str(rollout.pk), stdout=io.StringIO())
    get_user_model().objects.create_superuser("ops", password="pw")
    call_command(
        "rollout_step",
        "promote",
        str(rollout.pk),
        "--override",
        "--user",
        "ops",
        "--reason",
        "demo",
        stdout=io.StringIO(),
    )
    assert _policy(agent_client, "c1") == {
        "model": good.model_id,
        "policy_id": good.pk,
        "rollout_id": None,
        "arm": "baseline",
        "config": good.config,
    }
    training_run.refresh_from_db()
    assert training_run.gate["passed"] and training_run.rollout_ended_at and not training_run.rollback_reason

    # 2. a second candidate passes offline but degrades online → automatic rollback
    bad, rollout = _through_canary("ft:o4-mini:zeke:bad", training_run, fake_openai)
    traces.make(rollout, "baseline", 300, policy_id=str(good.pk), error_rate=0.04, seed=3, ago_minutes=(0, 0))
    degraded = traces.make(rollout, "candidate", 300, policy_id=str(bad.pk), error_rate=0.3, seed=4, ago_minutes=(0, 0))
    run_online_monitors()

    rollout.refresh_from_db()
    assert rollout.state == RolloutState.ROLLED_BACK and rollout.automatic_rollback
    assert "tool_error_rate" in rollout.rollback_reason
    assert _policy(agent_client, "c1")["model"] == good.model_id
    assert not traces_eligible().filter(pk__in=[t.pk for t in degraded]).exists()
    training_run.refresh_from_db()
    assert "tool_error_rate" in training_run.rollback_reason

    client.force_login(user_in_groups("nate", "reviewers"))
    page = client.get("/rollouts/").content.decode()
    assert rollout.rollback_reason in page
    assert "by the online monitor" in page
