from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.core.exceptions import ValidationError
from django.utils import timezone

from alerts.models import Notification
from rollout.guard import rollout_promotion_decision
from rollout.models import MonitorCheck, Rollout, RolloutState
from rollout.monitors import monitor_check
from rollout.services import rollout_promote
from zeke_rft.errors import ApplicationError

from .conftest import BAD_REPLY, GOOD_REPLY, record_promotion_evidence


@pytest.fixture(autouse=True)
def _smoke_passes(oracle):
    """Promotion runs the smoke conversations against the fake server; the oracle answers them."""


@pytest.fixture
def operator(db):
    user = get_user_model().objects.create_user("ops", password="pw", is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="override_promotion"))
    return get_user_model().objects.get(pk=user.pk)


def test_a_canary_without_a_monitor_check_is_not_ready(rollout):
    decision = rollout_promotion_decision(rollout=rollout)

    assert decision["ready"] is False
    assert decision["reasons"][0].startswith("no monitor check yet")


def test_promotion_refuses_a_canary_without_enough_evidence_and_records_why(rollout, training_run):
    record_promotion_evidence(rollout, hours_ago=3, n=20, win_rate=0.55)

    with pytest.raises(ApplicationError) as refused:
        rollout_promote(rollout=rollout)

    reasons = refused.value.extra["reasons"]
    assert any("needs 48 h" in r for r in reasons) and any("needs 50" in r for r in reasons)
    assert any("lower bound" in r and "not above 0.5" in r for r in reasons)
    rollout.refresh_from_db()
    assert rollout.state == RolloutState.CANARY and rollout.gate["promotion"]["ready"] is False
    training_run.refresh_from_db()
    assert training_run.gate["promotion"]["reasons"] == reasons


def test_a_canary_that_is_only_as_good_as_the_baseline_is_not_promoted(rollout):
    record_promotion_evidence(rollout, n=2000, win_rate=0.5)

    decision = rollout_promotion_decision(rollout=rollout)

    assert not decision["ready"] and decision["numbers"]["win_rate_lower"] < 0.5


def test_more_safety_flags_at_the_upper_bound_block_promotion(rollout):
    record_promotion_evidence(rollout, n=400, safety=(20, 2))

    decision = rollout_promotion_decision(rollout=rollout)

    assert any("safety per 1,000 could be worse" in r for r in decision["reasons"])


def test_a_stale_monitor_check_is_not_evidence(rollout):
    check = record_promotion_evidence(rollout)
    MonitorCheck.objects.filter(pk=check.pk).update(checked_at=timezone.now() - timedelta(hours=2))

    assert any("min old" in r for r in rollout_promotion_decision(rollout=rollout)["reasons"])


def test_a_canary_that_improves_is_promoted_on_recorded_live_checks(rollout, traces, active_reward_model, training_run):
    Rollout.history.filter(id=rollout.pk).update(history_date=timezone.now() - timedelta(hours=60))
    Rollout.objects.filter(pk=rollout.pk).update(started_at=timezone.now() - timedelta(hours=60))
    rollout.refresh_from_db()
    traces.make(rollout, "baseline", 250, policy_id="b", response=BAD_REPLY, seed=3)
    traces.make(rollout, "candidate", 250, policy_id="c", response=GOOD_REPLY, seed=4)
    assert monitor_check(rollout_id=rollout.pk).decision == "ok"

    promoted = rollout_promote(rollout=rollout)

    assert promoted.state == RolloutState.ACTIVE
    numbers = promoted.gate["promotion"]["numbers"]
    assert promoted.gate["promotion"]["ready"] and numbers["win_rate_lower"] > 0.5
    assert numbers["conversations"] == 250 and numbers["hours"] >= 48
    training_run.refresh_from_db()
    assert training_run.gate["promotion"]["ready"] is True


def test_an_override_without_the_permission_is_refused(rollout):
    clerk = get_user_model().objects.create_user("clerk", password="pw", is_staff=True)

    with pytest.raises(ApplicationError, match="override_promotion permission") as refused:
        rollout_promote(rollout=rollout, user=clerk, reason="trust me", override=True)

    assert refused.value.status == 403


def test_an_override_needs_a_reason(rollout, operator):
    with pytest.raises(ValidationError) as refused:
        rollout_promote(rollout=rollout, user=operator, reason="  ", override=True)

    assert "reason" in refused.value.message_dict


def test_an_override_with_the_permission_and_a_reason_promotes_and_is_audited(rollout, operator):
    promoted = rollout_promote(
        rollout=rollout, user=operator, reason="holiday traffic, Nate checked replies", override=True
    )

    assert promoted.state == RolloutState.ACTIVE
    override = promoted.gate["promotion"]["override"]
    assert override["by"] == "ops" and override["reason"] == "holiday traffic, Nate checked replies"
    last = promoted.history.order_by("-history_date").first()
    assert last.history_user == operator and last.history_change_reason.startswith("promotion override:")
    assert Notification.objects.filter(kind="promotion_override").count() == 1
