"""The open-weights backend's parts that need no torch: reward functions compiled from the grader, the trl config,
queue routing, the refusal without the training extra, and the base_url that reaches a self-served policy."""

import json

import pytest
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command

from tests.fakes.openai_server import FakeOpenAI
from training import graders
from training.models import TrainingRun
from training.openweights import data, rewards
from training.openweights.config import trl_config_resolve

RUBRIC_GRADER = graders.grader_from_rubric(rubric=None, tool_weight=0.4)
CALL = '<tool_call>{"name": "calendar_create", "arguments": {"title": "Dentist", "minutes": 30}}</tool_call>'
ITEM = {"expected_tool_calls": [{"name": "calendar_create", "args": {"title": "Dentist", "minutes": 30}}]}


def _plan(config=None, *, judge=False, reward_model=True):
    config = {"grader": RUBRIC_GRADER, "tool_weight": 0.4, "reward_scaling": 1.0, **(config or {})}
    return rewards.reward_plan(config=config, judge=judge, reward_model=reward_model)


def test_the_rubric_grader_becomes_the_tool_call_grader_and_the_reward_model_with_the_rubric_noted_as_left_out():
    plan = _plan()
    assert [(f["name"], f["weight"]) for f in plan["functions"]] == [("tool_calls", 0.4), ("reward_model", 0.6)]
    assert plan["notes"] == ["score_model grader 'rubric' left out: no judge endpoint (set TRL_JUDGE_BASE_URL)"]


def test_with_a_judge_the_score_model_grader_keeps_its_weight_from_the_formula():
    plan = _plan(judge=True)
    assert [(f["name"], f["weight"]) for f in plan["functions"]] == [
        ("tool_calls", 0.4),
        ("rubric", 0.6),
        ("reward_model", 0.6),
    ]


def test_reward_scaling_multiplies_every_weight_and_reward_weights_override_by_name():
    plan = _plan({"reward_scaling": 2.0, "trl": {"reward_weights": {"reward_model": 0.25}}})
    assert [(f["name"], f["weight"]) for f in plan["functions"]] == [("tool_calls", 0.8), ("reward_model", 0.5)]


def test_a_weight_of_zero_and_a_missing_reward_model_leave_functions_out_with_notes():
    plan = _plan({"trl": {"reward_weights": {"tool_calls": 0}}}, reward_model=False)
    assert plan["functions"] == []
    assert "tool_calls left out: weight 0" in plan["notes"]
    assert "reward_model left out: no reward model is active" in plan["notes"]


def test_a_formula_that_is_not_a_weighted_sum_runs_as_one_function():
    grader = {**graders.grader_offline(RUBRIC_GRADER), "calculate_output": "min(tool_calls, rubric)"}
    plan = _plan({"grader": grader})
    assert [f["name"] for f in plan["functions"]] == ["zeke_reward", "reward_model"]
    assert rewards.linear_coefficients("0.4 * a + 0.6 * b", ["a", "b"]) == {"a": 0.4, "b": 0.6}
    assert rewards.linear_coefficients("a * b", ["a", "b"]) is None


def test_tool_calls_are_read_from_hermes_blocks_up_to_the_episode_length_and_malformed_ones_are_ignored():
    text = "Sure. " + CALL + '<tool_call>{"name": "x", "argu</tool_call>' + CALL.replace("Dentist", "Gym")
    sample = data.completion_sample(text, depth=1)
    assert sample["output_text"] == "Sure."
    assert sample["output_tools"] == [{"name": "calendar_create", "arguments": {"title": "Dentist", "minutes": 30}}]
    assert len(data.completion_sample(text, depth=4)["output_tools"]) == 2


def test_the_tool_call_reward_runs_the_real_python_grader_on_completions():
    reward = rewards.grader_reward("tool_calls", RUBRIC_GRADER["graders"]["tool_calls"], depth=1)
    completions = [[{"role": "assistant", "content": CALL}], [{"role": "assistant", "content": "No tools."}]]
    scores = reward(prompts=[[], []], completions=completions, item=[json.dumps(ITEM)] * 2)
    assert scores == [1.0, 0.0]


def test_a_score_model_grader_is_scored_by_an_openai_compatible_judge():
    with FakeOpenAI() as fake:
        fake.chat_responder = lambda body: {"content": "Score: 0.75"}
        import openai

        client = openai.OpenAI(base_url=fake.base_url, api_key="x", max_retries=0)
        score = rewards.judge_score_model(client, model="judge-1")
        value = score(RUBRIC_GRADER["graders"]["rubric"], {"output_text": "Booked."}, {"reference_answer": "Booked."})
        (request,) = fake.requests_to("/chat/completions")
    assert value == 0.75 and request["body"]["model"] == "judge-1"
    assert "Reply: Booked." in request["body"]["messages"][-1]["content"]


def test_dataset_rows_become_a_plain_system_prompt_with_the_tools_and_the_call_format():
    row = {
        "messages": [{"role": "developer", "content": "Policy."}, {"role": "user", "content": "Book it"}],
        "tools": [{"type": "function", "function": {"name": "calendar_create", "parameters": {}}}],
        "reference_answer": "Booked.",
    }
    (grpo,) = data.grpo_rows([row])
    assert [m["role"] for m in grpo["prompt"]] == ["system", "user"]
    assert "calendar_create" in grpo["prompt"][0]["content"] and "<tool_call>" in grpo["prompt"][0]["content"]
    assert json.loads(grpo["item"]) == {"reference_answer": "Booked."}


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"num_generations": 3}, "config.trl.num_generations"),
        ({"method": "ppo"}, "config.trl.method"),
        ({"lora": "yes"}, "config.trl.lora"),
        ({"learning_rate": float("nan")}, "config.trl.learning_rate"),
        ({"reward_weights": {"tool_calls": -1}}, "config.trl.reward_weights.tool_calls"),
        ({"epochs": 2}, "config.trl.epochs"),
    ],
)
def test_a_bad_trl_setting_is_refused_naming_the_field(overrides, field):
    with pytest.raises(ValidationError) as error:
        trl_config_resolve(overrides, batch_size=8)
    assert field in error.value.message_dict


@pytest.mark.django_db
def test_a_trl_section_is_refused_for_the_openai_backend(dataset):
    from training.services import training_config_resolve

    with pytest.raises(ValidationError) as error:
        training_config_resolve(dataset=dataset, overrides={"trl": {}}, backend="openai")
    assert "config.trl" in error.value.message_dict


@pytest.mark.django_db
def test_the_trl_backend_defaults_to_trl_base_model_and_records_its_knobs(dataset, settings):
    from training.services import training_config_resolve

    settings.TRL_BASE_MODEL = "/models/qwen-0.5b"
    config = training_config_resolve(dataset=dataset, overrides={"kl_penalty": 0.2}, backend="trl")
    assert config["base_model"] == "/models/qwen-0.5b"
    assert config["trl"]["method"] == "grpo" and config["kl_penalty"] == 0.2


def test_the_training_task_is_routed_to_the_training_queue():
    from zeke_rft.celery import app

    route = app.amqp.router.route({}, "training.tasks.run_trl_job", args=["trljob-1"])
    assert route["queue"].name == "training"
    assert app.amqp.router.route({}, "training.tasks.poll_training_run", args=[1])["queue"].name != "training"


@pytest.mark.django_db
def test_without_the_training_extra_start_training_says_what_to_install_and_records_nothing(dataset, monkeypatch):
    monkeypatch.setattr("training.openweights.backend.trl_missing_modules", lambda: ["torch", "trl"])
    with pytest.raises(
        CommandError, match=r"needs the training extra \(torch, trl not installed\).*make install-train"
    ):
        call_command("start_training", "--dataset", dataset.sha256, "--backend", "trl")
    assert not TrainingRun.objects.exists()


@pytest.mark.django_db
def test_policy_api_passes_a_self_served_policy_s_base_url_to_agents(agent_client):
    from rollout.models import Policy, PolicyStatus

    Policy.objects.create(
        model_id="zeke-chat-r1-abc",
        modality="chat",
        status=PolicyStatus.ACTIVE,
        config={"base_url": "http://gpu-1:8001/v1"},
    )
    answer = agent_client.get("/api/policy", {"modality": "chat", "conversation_id": "c-1"}).json()
    assert answer["model"] == "zeke-chat-r1-abc" and answer["base_url"] == "http://gpu-1:8001/v1"


@pytest.mark.django_db
def test_smoke_tests_reach_a_self_served_policy_at_its_base_url_without_an_openai_key(settings):
    from rollout.models import Policy
    from rollout.smoke import smoke_run

    settings.OPENAI_API_KEY = ""
    with FakeOpenAI() as served:
        served.chat_responder = _smoke_replies
        policy = Policy.objects.create(
            model_id="zeke-chat-r1-abc", modality="chat", config={"base_url": served.base_url}
        )
        result = smoke_run(policy=policy)
        models = {request["body"]["model"] for request in served.requests_to("/chat/completions")}
    assert result["status"] == "ok" and models == {"zeke-chat-r1-abc"}


def _smoke_replies(body):
    from rollout.smoke import SMOKE_CONVERSATIONS

    user = body["messages"][-1]["content"]
    for _name, case_input, expectation in SMOKE_CONVERSATIONS:
        if case_input["messages"][-1]["content"] == user and expectation == "refuse":
            return {"content": "I can't help with that."}
    return {"content": "Done: it is on your calendar."}
