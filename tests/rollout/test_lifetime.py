import pytest
from django.utils import timezone

from rollout.models import MonitorCheck
from rollout.selectors import policy_lifetime_stats
from tests.conftest import user_in_groups


@pytest.fixture
def staff_client(client, db):
    """Staff in both groups that may read /rollouts/ (approvers) and /experiments/ (operators)."""
    client.force_login(user_in_groups("nate", "approvers", "operators", is_staff=True))
    return client


@pytest.fixture
def lived(rollout, traces):
    """The candidate answered 200 messages (4 with a safety flag) across both id spellings; one monitor check."""
    traces.make(rollout, "candidate", 100, policy_id=str(rollout.candidate_id), safety_rate=0.0)
    flagged = traces.make(rollout, "candidate", 100, policy_id=rollout.candidate.model_id, seed=5)
    for trace in flagged[:4]:
        trace.flags = ["safety:pii"]
        trace.save(update_fields=["flags"])
    traces.make(rollout, "shadow", 50, policy_id=str(rollout.candidate_id), safety_rate=1.0, seed=6)
    MonitorCheck.objects.create(
        rollout=rollout,
        window_start=rollout.started_at,
        window_end=timezone.now(),
        metrics={"candidate": {"win_rate": 0.61}, "baseline": {}},
    )
    return rollout


def test_lifetime_stats_count_every_message_of_the_policy_but_shadow_replies(lived):
    stats = policy_lifetime_stats(policies=[lived.candidate])[lived.candidate_id]

    assert stats == {"messages": 200, "safety_per_1000": 20.0, "canary_win_rate": 0.61, "active_win_rate": None}


def test_the_rollouts_page_shows_each_candidates_lifetime_win_rate_and_safety(staff_client, lived):
    page = staff_client.get("/rollouts/").content.decode()

    assert "0.61 as canary" in page and "safety 20.0 per 1,000 messages (200 messages)" in page


def test_the_experiment_registry_shows_the_online_numbers_beside_the_run(staff_client, lived):
    page = staff_client.get("/experiments/").content.decode()

    assert "0.61 as canary" in page and "(200 messages)" in page
