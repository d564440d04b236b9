import pytest

from rollout.models import Rollout, RolloutState
from rollout.routing import arm_bucket


@pytest.mark.parametrize("percent", [5.0, 10.0, 25.0])
def test_the_split_matches_the_percentage_within_one_point_over_10000_conversations(percent):
    share = sum(arm_bucket(salt="s1", conversation_id=f"conv-{i}") < percent for i in range(10_000)) / 100

    assert abs(share - percent) <= 1.0


def test_a_new_salt_reshuffles_the_assignment():
    first = {i for i in range(2000) if arm_bucket(salt="a", conversation_id=str(i)) < 10}
    second = {i for i in range(2000) if arm_bucket(salt="b", conversation_id=str(i)) < 10}

    assert first != second


def test_the_api_answers_the_baseline_when_no_rollout_runs(agent_client, baseline):
    response = agent_client.get("/api/policy", {"modality": "chat", "conversation_id": "c1"})

    assert response.status_code == 200
    assert response.json() == {
        "model": "gpt-4.1-mini",
        "policy_id": baseline.pk,
        "rollout_id": None,
        "arm": "baseline",
        "config": {"t": 0.3},
    }


def test_canary_assignment_is_sticky_and_follows_the_bucket(agent_client, rollout, candidate):
    answers = {}
    for i in range(200):
        answers[i] = agent_client.get("/api/policy", {"modality": "chat", "conversation_id": f"c{i}"}).json()
    again = {
        i: agent_client.get("/api/policy", {"modality": "chat", "conversation_id": f"c{i}"}).json() for i in range(200)
    }

    assert answers == again
    for i, answer in answers.items():
        in_canary = arm_bucket(salt="fixed-salt", conversation_id=f"c{i}") < 10.0
        assert answer["arm"] == ("candidate" if in_canary else "baseline")
        assert answer["model"] == (candidate.model_id if in_canary else "gpt-4.1-mini")
        assert answer["rollout_id"] == rollout.pk
    assert 5 <= sum(a["arm"] == "candidate" for a in answers.values()) <= 40


def test_shadow_mode_answers_the_baseline_and_names_the_shadow_model(agent_client, rollout, candidate, baseline):
    Rollout.objects.filter(pk=rollout.pk).update(state=RolloutState.SHADOW, traffic_percent=0)

    answer = agent_client.get("/api/policy", {"modality": "chat", "conversation_id": "c1"}).json()

    assert answer == {
        "model": baseline.model_id,
        "policy_id": baseline.pk,
        "rollout_id": rollout.pk,
        "arm": "baseline",
        "config": baseline.config,
        "shadow_model": candidate.model_id,
        "shadow_policy_id": candidate.pk,
        "shadow_config": candidate.config,
    }


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"conversation_id": "c1"}, "modality"),
        ({"modality": "chat"}, "conversation_id"),
        ({"modality": "fax", "conversation_id": "c"}, "modality"),
        ({"modality": "chat", "conversation_id": "   "}, "conversation_id"),
        ({"modality": "chat", "conversation_id": "c" * 201}, "conversation_id"),
        ({"modality": "chat\x00", "conversation_id": "c"}, "modality"),
    ],
)
def test_bad_parameters_get_a_400_naming_the_parameter(agent_client, baseline, params, field):
    response = agent_client.get("/api/policy", params)

    assert response.status_code == 400
    assert field in response.json()


def test_a_modality_without_a_policy_gets_a_404_that_says_so(agent_client, baseline):
    response = agent_client.get("/api/policy", {"modality": "voice", "conversation_id": "c1"})

    assert response.status_code == 404
    assert "no active policy for modality 'voice'" in response.json()["detail"]


def test_the_api_needs_an_agent_token(client, baseline):
    response = client.get("/api/policy", {"modality": "chat", "conversation_id": "c1"})

    assert response.status_code in (401, 403)


def test_ramping_the_canary_keeps_every_candidate_conversation_on_the_candidate(agent_client, rollout):
    def arms():
        return {
            i: agent_client.get("/api/policy", {"modality": "chat", "conversation_id": f"c{i}"}).json()["arm"]
            for i in range(120)
        }

    before = arms()
    Rollout.objects.filter(pk=rollout.pk).update(traffic_percent=25.0)
    after = arms()

    on_candidate = {i for i, arm in before.items() if arm == "candidate"}
    assert on_candidate and on_candidate < {i for i, arm in after.items() if arm == "candidate"}


def test_after_a_rollback_every_conversation_gets_the_previous_policy(agent_client, rollout, baseline):
    from rollout.services import rollout_rollback

    rollout_rollback(rollout=rollout, reason="bad canary")

    answers = [
        agent_client.get("/api/policy", {"modality": "chat", "conversation_id": f"c{i}"}).json() for i in range(50)
    ]
    assert all(
        a
        == {
            "model": "gpt-4.1-mini",
            "policy_id": baseline.pk,
            "rollout_id": None,
            "arm": "baseline",
            "config": {"t": 0.3},
        }
        for a in answers
    )


def test_a_canary_conversation_gets_the_candidates_config_with_its_model(agent_client, rollout, candidate, baseline):
    answers = [
        agent_client.get("/api/policy", {"modality": "chat", "conversation_id": f"c{i}"}).json() for i in range(60)
    ]

    assert {a["arm"] for a in answers} == {"baseline", "candidate"}
    for answer in answers:
        expected = candidate.config if answer["arm"] == "candidate" else baseline.config
        assert answer["config"] == expected
