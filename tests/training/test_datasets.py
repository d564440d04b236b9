import json

import pytest
from django.core.management import CommandError, call_command

from training import datasets, prompts
from training.models import DatasetBuild, DatasetStatus
from training.services import dataset_build
from zeke_rft.errors import ApplicationError
from zeke_rft.hashing import sha256_bytes
from zeke_rft.storage import get_storage

pytestmark = pytest.mark.django_db

CALL = {
    "name": "calendar_create",
    "args": {"title": "Lunch", "minutes": 45, "remote": False},
    "result": "ok",
    "error": None,
}


def rows(build, name="train"):
    return [json.loads(line) for line in get_storage().read_bytes(build.files[name]["key"]).decode().splitlines()]


def all_rows(build):
    return rows(build, "train") + rows(build, "validation")


def test_it_writes_rft_examples_ending_with_the_user_turn_with_the_refusal_policy(make_trace, rubric):
    make_trace(message="Lunch with Ana at noon?", tool_calls=[CALL], context={"timezone": "Europe/Paris"})
    make_trace(message="What's on today?")
    build, created = dataset_build(stage=1, modality="chat")
    assert created and build.status == DatasetStatus.SUCCEEDED
    examples = all_rows(build)
    assert len(examples) == 2
    for example in examples:
        assert example["messages"][0]["role"] == "developer"
        assert all(marker in example["messages"][0]["content"].lower() for marker in prompts.REFUSAL_POLICY_MARKERS)
        assert example["messages"][-1]["role"] == "user"
        assert set(example) >= {"reference_answer", "expected_tool_calls", "rubric", "reward"}
    lunch = next(e for e in examples if e["messages"][-1]["content"] == "Lunch with Ana at noon?")
    assert lunch["messages"][1] == {"role": "developer", "content": 'Context:\n{"timezone":"Europe/Paris"}'}
    assert lunch["expected_tool_calls"] == [{"name": "calendar_create", "args": CALL["args"]}]
    schema = lunch["tools"][0]["function"]
    assert schema["name"] == "calendar_create"
    assert schema["parameters"]["properties"] == {
        "minutes": {"type": "integer"},
        "remote": {"type": "boolean"},
        "title": {"type": "string"},
    }
    assert "tools" not in next(e for e in examples if e is not lunch)


def test_the_same_inputs_give_the_same_hash_and_return_the_existing_build(make_trace, rubric):
    for i in range(3):
        make_trace(message=f"Remind me {i}")
    first, created_first = dataset_build(stage=1, modality="chat")
    second, created_second = dataset_build(stage=1, modality="chat")
    assert created_first and not created_second
    assert second.pk == first.pk and DatasetBuild.objects.count() == 1
    assert len(first.sha256) == 64


def test_a_new_reward_changes_the_hash(make_trace, rubric):
    make_trace(message="Remind me")
    first, _ = dataset_build(stage=1, modality="chat")
    make_trace(message="Text Ana I'm late")
    second, created = dataset_build(stage=1, modality="chat")
    assert created and second.sha256 != first.sha256


def test_the_manifest_records_stage_counts_reward_model_and_each_files_sha256(make_trace, rubric):
    for i in range(4):
        make_trace(message=f"Task {i}", source="model", version="rm-7", uncertainty=0.05)
    build, _ = dataset_build(stage=1, modality="chat")
    manifest = build.manifest
    assert manifest["stage"] == 1 and manifest["reward_model_version"] == "rm-7" == build.reward_model_version
    assert manifest["counts"]["train"] + manifest["counts"]["validation"] == 4
    assert manifest["filters"]["max_tool_depth"] == 1
    for name, entry in build.files.items():
        data = get_storage().read_bytes(entry["key"])
        assert entry["key"] == f"datasets/{build.sha256}/{name}.jsonl"
        assert sha256_bytes(data) == entry["sha256"] == manifest["files"][name]["sha256"]


def test_it_splits_by_conversation_so_none_is_in_both(make_trace, rubric):
    for conversation in range(30):
        for turn in range(3):
            make_trace(message=f"conv {conversation} turn {turn}", conversation=f"c-{conversation}")
    build, _ = dataset_build(stage=1, modality="chat")
    trace_conversation = {f"conv {c} turn {t}": c for c in range(30) for t in range(3)}
    train = {trace_conversation[e["messages"][-1]["content"]] for e in rows(build, "train")}
    validation = {trace_conversation[e["messages"][-1]["content"]] for e in rows(build, "validation")}
    assert validation and train and not train & validation
    assert build.manifest["splits"]["validation_conversations"] == len(validation)


def test_it_removes_duplicate_prompts_keeping_the_best_reward(make_trace, rubric):
    make_trace(message="Call mom", response="Calling.", reward=0.75)
    make_trace(message="Call mom", response="Calling mom now.", reward=0.95)
    make_trace(message="Call dad")
    build, _ = dataset_build(stage=1, modality="chat")
    examples = all_rows(build)
    assert len(examples) == 2 and build.manifest["counts"]["duplicates_removed"] == 1
    assert (
        next(e for e in examples if e["messages"][-1]["content"] == "Call mom")["reference_answer"]
        == "Calling mom now."
    )


def test_it_respects_the_train_limit(make_trace, rubric, monkeypatch):
    monkeypatch.setattr(datasets, "MAX_TRAIN", 3)
    for i in range(12):
        make_trace(message=f"Task {i}")
    build, _ = dataset_build(stage=1, modality="chat")
    assert build.manifest["counts"]["train"] == 3 == len(rows(build))


def test_it_respects_the_validation_limit_and_counts_what_it_dropped(make_trace, rubric, monkeypatch):
    monkeypatch.setattr(datasets, "MAX_VALIDATION", 2)
    monkeypatch.setattr(datasets, "MAX_TRAIN", 4)
    monkeypatch.setattr(datasets, "_in_validation", lambda conversation_id, percent: conversation_id.endswith("v"))
    for i in range(5):
        make_trace(message=f"Validate {i}", conversation=f"c-{i}-v")
        make_trace(message=f"Train {i}", conversation=f"c-{i}-t")
    build, _ = dataset_build(stage=1, modality="chat")
    counts = build.manifest["counts"]
    assert (counts["train"], counts["validation"]) == (4, 2) == (len(rows(build)), len(rows(build, "validation")))
    assert counts["dropped_over_limit"] == 4
    assert all(e["messages"][-1]["content"].startswith("Validate") for e in rows(build, "validation"))


def test_the_real_limits_are_the_documented_ones():
    assert (datasets.MAX_TRAIN, datasets.MAX_VALIDATION) == (50_000, 1_000)
    assert datasets.build_filters(stage=1, modality="chat")["max_validation"] == 1_000


def test_a_build_fails_when_an_example_lacks_the_refusal_policy(make_trace, rubric, monkeypatch):
    make_trace(message="Pay my rent")
    monkeypatch.setattr(prompts, "developer_prompt", lambda **kwargs: "You are ZEKE. Be helpful.")
    with pytest.raises(ApplicationError, match="refusal policy"):
        dataset_build(stage=1, modality="chat")
    build = DatasetBuild.objects.get()
    assert build.status == DatasetStatus.FAILED and "refusal policy" in build.error
    assert get_storage().list("datasets") == []


def test_quarantined_traces_are_excluded_from_a_build(make_trace, rubric):
    make_trace(message="Fine trace")
    make_trace(message="Trace of a rolled-back policy", quarantined=True)
    build, _ = dataset_build(stage=1, modality="chat")
    assert [e["messages"][-1]["content"] for e in all_rows(build)] == ["Fine trace"]


def test_a_rollback_drops_the_candidates_traces_from_the_next_build_until_they_are_released(make_trace, rubric):
    from rollout.models import Policy, PolicyStatus, Rollout, RolloutState
    from rollout.services import policy_release_traces, rollout_rollback
    from traces.models import Trace

    baseline = Policy.objects.create(model_id="gpt-base", modality="chat", status=PolicyStatus.ACTIVE)
    candidate = Policy.objects.create(model_id="ft:cand", modality="chat", status=PolicyStatus.CANARY)
    rollout = Rollout.objects.create(
        modality="chat", candidate=candidate, baseline=baseline, state=RolloutState.CANARY, traffic_percent=5, salt="s"
    )
    make_trace(message="Baseline reply")
    by_model_id, by_policy_pk = make_trace(message="Canary reply"), make_trace(message="Canary reply 2")
    Trace.objects.filter(pk=by_model_id.pk).update(policy_id="ft:cand")
    Trace.objects.filter(pk=by_policy_pk.pk).update(policy_id=str(candidate.pk))
    before, _ = dataset_build(stage=1, modality="chat")
    assert before.manifest["counts"]["train"] + before.manifest["counts"]["validation"] == 3

    rollout_rollback(rollout=rollout, reason="canary replies were worse")
    after, created = dataset_build(stage=1, modality="chat")
    assert created and after.sha256 != before.sha256
    assert [e["messages"][-1]["content"] for e in all_rows(after)] == ["Baseline reply"]

    policy_release_traces(policy=candidate)
    released, created = dataset_build(stage=1, modality="chat")
    assert not created and released.pk == before.pk


def test_human_reward_comes_before_the_model_score(make_trace, rubric):
    from labeling.models import RewardEvent

    trace = make_trace(message="Summarise my inbox", reward=0.8, source="human")
    RewardEvent.objects.create(trace=trace, reward=0.1, source="model", reward_model_version="rm-1", uncertainty=0.0)
    make_trace(message="Only the model scored this", reward=0.85, source="model", uncertainty=0.01)
    build, _ = dataset_build(stage=1, modality="chat")
    by_prompt = {e["messages"][-1]["content"]: e for e in all_rows(build)}
    assert by_prompt["Summarise my inbox"]["reward"] == 0.8
    assert by_prompt["Summarise my inbox"]["reward_source"] == "human"
    assert by_prompt["Only the model scored this"]["reward_source"] == "model"


def test_the_curriculum_stages_add_multi_step_then_hard_cases(make_trace, correct, rubric):
    make_trace(message="easy one", tool_calls=[CALL])
    make_trace(message="two steps", tool_calls=[CALL, {**CALL, "name": "email_send", "args": {"to": "ana"}}])
    make_trace(message="unsafe", flags=["safety:finance"])
    make_trace(message="low reward", reward=0.3)
    make_trace(message="unsure model", source="model", uncertainty=0.4, reward=0.8)
    corrected = make_trace(message="corrected one", reward=0.2, tool_calls=[CALL])
    correct(
        corrected,
        correction="Booked it for 1pm.",
        corrected_tool_calls=[{"name": "calendar_create", "args": {"title": "Lunch", "minutes": 60}}],
    )

    def prompts_of(stage):
        build, _ = dataset_build(stage=stage, modality="chat")
        return {e["messages"][-1]["content"] for e in all_rows(build)}

    assert prompts_of(1) == {"easy one"}
    assert prompts_of(2) == {"easy one", "two steps"}
    assert prompts_of(3) == {"easy one", "two steps", "unsure model", "corrected one"}


def test_a_reviewer_correction_is_the_reference_answer_and_expected_tool_calls(make_trace, correct, rubric):
    trace = make_trace(message="Move lunch to 1pm", reward=0.3, tool_calls=[CALL])
    correct(
        trace,
        correction="Moved lunch to 1pm.",
        corrected_tool_calls=[{"name": "calendar_move", "args": {"to": "13:00"}}],
    )
    build, _ = dataset_build(stage=3, modality="chat")
    (example,) = all_rows(build)
    assert example["reference_answer"] == "Moved lunch to 1pm."
    assert example["expected_tool_calls"] == [{"name": "calendar_move", "args": {"to": "13:00"}}]
    assert {tool["function"]["name"] for tool in example["tools"]} == {"calendar_create", "calendar_move"}
    assert example["rubric"].startswith("ZEKE rubric test v3")


def test_the_build_also_exports_preference_pairs_and_supervised_jsonl(make_trace, correct, rubric):
    trace = make_trace(message="Reply to Ana", response="ok", reward=0.3)
    correct(trace, correction="Replied to Ana: see you at 7.")
    make_trace(message="Another", tool_calls=[CALL])
    build, _ = dataset_build(stage=3, modality="chat")
    pairs = rows(build, "preferences_train") + rows(build, "preferences_validation")
    assert pairs == [
        {
            "messages": pairs[0]["messages"],
            "chosen": "Replied to Ana: see you at 7.",
            "rejected": "ok",
            "source": "correction",
            "trace_id": trace.pk,
        }
    ]
    supervised = rows(build, "supervised_train") + rows(build, "supervised_validation")
    assert len(supervised) == 2
    assert all(row["messages"][-1]["role"] == "assistant" for row in supervised)
    with_tools = next(row for row in supervised if row["messages"][-1].get("tool_calls"))
    assert with_tools["messages"][-1]["tool_calls"][0]["function"]["name"] == "calendar_create"


def test_build_dataset_command_prints_the_hash_and_refuses_without_data(make_trace, rubric):
    from io import StringIO

    with pytest.raises(CommandError, match="no stage 1 chat examples"):
        call_command("build_dataset", "--stage", "1")
    make_trace(message="Hello")
    out = StringIO()
    call_command("build_dataset", "--stage", "1", "--modality", "chat", stdout=out)
    assert DatasetBuild.objects.get().sha256 in out.getvalue()


def test_the_weekly_task_builds_a_dataset_per_modality(make_trace, rubric):
    from training.tasks import build_dataset_weekly

    make_trace(message="chat one")
    make_trace(message="sms one", modality="sms")
    hashes = build_dataset_weekly()
    assert sorted(DatasetBuild.objects.values_list("modality", flat=True)) == ["chat", "sms"]
    assert build_dataset_weekly() == hashes


def test_a_b_preferences_on_built_traces_become_chosen_rejected_pairs(make_trace, rubric, reviewer):
    from labeling.models import Preference

    trace = make_trace(message="Plan my Saturday")
    Preference.objects.create(
        trace=trace,
        reviewer=reviewer,
        prompt="Plan my Saturday",
        response_a="Gym at 9.",
        response_b="Gym at 9, brunch at 11.",
        choice="b",
    )
    Preference.objects.create(
        trace=trace, reviewer=None, prompt="Plan my Saturday", response_a="x", response_b="y", choice="tie"
    )
    build, _ = dataset_build(stage=1, modality="chat")
    (pair,) = rows(build, "preferences_train") + rows(build, "preferences_validation")
    assert (pair["chosen"], pair["rejected"], pair["source"]) == ("Gym at 9, brunch at 11.", "Gym at 9.", "preference")
    assert pair["messages"][-1] == {"role": "user", "content": "Plan my Saturday"}


def test_a_conversation_that_hashes_to_validation_trains_when_it_is_the_only_one(make_trace, rubric):
    conversation = "conv-28"  # int(sha256("split:conv-28")[:8], 16) % 100 < 10: a validation conversation
    assert datasets._in_validation(conversation, 10)
    make_trace(message="Hi", conversation=conversation)
    build, _ = dataset_build(stage=1, modality="chat")
    assert build.manifest["counts"]["train"] == 1 and build.manifest["counts"]["validation"] == 0
