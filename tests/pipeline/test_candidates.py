"""A trained model becomes a candidate in the pipeline app: it inherits its parent's config and records its
lineage; agents get the config with the flag; the policy history shows both."""

import pytest

from pipeline.services import candidates_register_trained
from rollout.models import Policy, PolicyStatus
from training.models import DatasetBuild, TrainingRun, TrainingStatus

pytestmark = pytest.mark.django_db


@pytest.fixture
def succeeded_run():
    dataset = DatasetBuild.objects.create(sha256="a" * 64, stage=2, manifest={}, files={})
    return TrainingRun.objects.create(
        dataset=dataset,
        base_model="o4-mini-2025-04-16",
        reward_model_version="rm-7",
        config={"kl_penalty": 0.05, "hyperparameters": {"n_epochs": 2}, "grader": {"type": "multi", "source": "x"}},
        config_hash="c" * 64,
        status=TrainingStatus.SUCCEEDED,
        fine_tuned_model="ft:o4-mini:zeke:abc",
    )


@pytest.fixture
def active_parent():
    return Policy.objects.create(
        model_id="gpt-4.1-mini",
        modality="chat",
        status=PolicyStatus.ACTIVE,
        config={"system_prompt_version": "v3", "temperature": 0.3},
    )


def test_a_succeeded_run_started_by_hand_gets_its_candidate_from_the_sweeper_once(succeeded_run, active_parent):
    assert candidates_register_trained() == 1
    assert candidates_register_trained() == 0

    policy = Policy.objects.get(model_id="ft:o4-mini:zeke:abc")
    assert policy.status == PolicyStatus.CANDIDATE and policy.training_run == succeeded_run


def test_a_candidate_inherits_its_parents_config_and_records_its_lineage(succeeded_run, active_parent):
    candidates_register_trained()

    policy = Policy.objects.get(model_id="ft:o4-mini:zeke:abc")
    assert policy.parent == active_parent
    assert policy.config == {"system_prompt_version": "v3", "temperature": 0.3}
    assert policy.lineage["base_model"] == "o4-mini-2025-04-16"
    assert policy.lineage["dataset_sha256"] == "a" * 64 and policy.lineage["dataset_stage"] == 2
    assert policy.lineage["reward_model_version"] == "rm-7"
    assert policy.lineage["training_config"] == {"kl_penalty": 0.05, "hyperparameters": {"n_epochs": 2}}
    assert policy.lineage["training_config_hash"] == "c" * 64


def test_a_run_that_failed_gets_no_candidate(succeeded_run):
    TrainingRun.objects.filter(pk=succeeded_run.pk).update(status=TrainingStatus.FAILED)
    assert candidates_register_trained() == 0 and not Policy.objects.exists()


def test_the_policy_history_shows_the_lineage_and_config_against_the_parent(succeeded_run, active_parent):
    from rollout.selectors import policy_history

    candidates_register_trained()

    (created,) = [row for row in policy_history(modality="chat") if row["model_id"] == "ft:o4-mini:zeke:abc"]
    lineage = {change["key"]: change["new"] for change in created["lineage_changes"]}
    assert lineage["base_model"] == "o4-mini-2025-04-16" and lineage["dataset_sha256"] == "a" * 64
    assert lineage["reward_model_version"] == "rm-7" and lineage["training_config"]["kl_penalty"] == 0.05
    assert created["config_changes"] == []  # inherited unchanged


def test_agents_get_the_policy_config_with_the_model(active_parent, agent_client):
    response = agent_client.get("/api/policy", {"modality": "chat", "conversation_id": "c1"})

    assert response.status_code == 200
    assert response.json()["config"] == {"system_prompt_version": "v3", "temperature": 0.3}


def test_the_rollouts_page_shows_the_lineage_diff(succeeded_run, active_parent, admin_client):
    candidates_register_trained()

    page = admin_client.get("/rollouts/").content.decode()

    assert "lineage.dataset_sha256" in page and "lineage.reward_model_version" in page
