"""The reward model exported as an OpenAI python grader: stdlib only, weights embedded, within the size limit,
and in agreement with the in-app model on held-out traces."""

import ast
import random

import numpy as np
import pytest

from rewards.evaluation import spearman
from rewards.export import GRADER_MAX_BYTES, reward_model_grader_source, reward_model_python_grader
from rewards.learner import learner_fit, learner_predict
from rewards.synthetic import synthetic_card, synthetic_pair
from tests.fakes.openai_server import grader_problem
from traces.selectors import trace_scrubbed_view
from training.graders import grader_run_local


def _grader_functions(source: str) -> dict:
    namespace = {}
    exec(compile(source, "<reward_model grader>", "exec"), namespace)
    return namespace


@pytest.fixture(scope="module")
def synthetic_model():
    rng = random.Random(11)
    artifact = learner_fit(
        cards=[synthetic_card(rng) for _ in range(300)], pairs=[synthetic_pair(rng) for _ in range(150)]
    )
    held_out = [synthetic_card(rng)["item"] for _ in range(200)]
    return artifact, held_out


def test_the_grader_agrees_with_the_in_app_model_on_held_out_traces(labels):
    from rewards.services import reward_model_predict, reward_model_train

    labels.labeled(60)
    labels.preferences(30)
    reward_model, _ = reward_model_train()
    held_out = [trace_scrubbed_view(trace) for trace in labels.unlabeled(120)]

    grader = reward_model_python_grader(model=reward_model)
    exported = [_grader_functions(grader["source"])["reward_of"](view) for view in held_out]
    in_app = [row["reward"] for row in reward_model_predict(items=held_out, reward_model=reward_model)]

    assert spearman(np.array(exported), np.array(in_app)) >= 0.99


def test_the_grader_source_uses_only_math_and_re_and_fits_the_size_limit(synthetic_model):
    source, pruning = reward_model_grader_source(artifact=synthetic_model[0])

    imported = {
        alias.name for node in ast.walk(ast.parse(source)) if isinstance(node, ast.Import) for alias in node.names
    }
    assert imported == {"math", "re"}
    assert not any(isinstance(node, ast.ImportFrom) for node in ast.walk(ast.parse(source)))
    assert len(source.encode()) <= GRADER_MAX_BYTES and pruning["columns_kept"] == pruning["columns_total"]


def test_a_grader_over_the_limit_is_pruned_to_fit_and_still_agrees(synthetic_model):
    artifact, held_out = synthetic_model
    full, _ = reward_model_grader_source(artifact=artifact)
    limit = len(full.encode()) * 3 // 4

    source, pruning = reward_model_grader_source(artifact=artifact, max_bytes=limit)

    assert len(source.encode()) <= limit and pruning["columns_kept"] < pruning["columns_total"]
    exported = [_grader_functions(source)["reward_of"](item) for item in held_out]
    assert spearman(np.array(exported), learner_predict(artifact, held_out)["reward"]) >= 0.99


def test_a_preference_only_model_exports_too(synthetic_model):
    rng = random.Random(2)
    artifact = learner_fit(cards=[], pairs=[synthetic_pair(rng) for _ in range(150)])
    held_out = synthetic_model[1]

    source, _ = reward_model_grader_source(artifact=artifact)

    exported = [_grader_functions(source)["reward_of"](item) for item in held_out]
    assert spearman(np.array(exported), learner_predict(artifact, held_out)["reward"]) >= 0.99


def test_the_grader_runs_as_the_provider_would_on_a_sample_and_an_item(synthetic_model):
    source, _ = reward_model_grader_source(artifact=synthetic_model[0])
    grader = {"type": "python", "name": "reward_model", "source": source}
    item = {"messages": [{"role": "developer", "content": "x"}, {"role": "user", "content": "Move my 3pm"}]}
    good = {"output_text": "Moved your 3pm to 4pm and told Ana.", "output_json": None, "output_tools": []}
    empty = {"output_text": "", "output_json": None, "output_tools": [{"function": {"name": "calendar_move"}}]}

    scores = [grader_run_local(grader=grader, sample=sample, item=item) for sample in (good, empty)]

    assert grader_problem(grader) is None
    assert all(0.0 <= score <= 1.0 for score in scores)


def test_the_rft_job_grader_combines_tool_calls_rubric_and_reward_model_with_config_weights(labels):
    from rewards.services import reward_model_train
    from training.graders import grader_offline
    from training.models import DatasetBuild
    from training.services import training_config_resolve

    labels.labeled(40)
    reward_model, _ = reward_model_train()
    dataset = DatasetBuild.objects.create(sha256="e" * 64, reward_model_version=reward_model.version)

    config = training_config_resolve(dataset=dataset, overrides={"tool_weight": 0.3, "reward_model_weight": 0.25})

    grader = config["grader"]
    assert set(grader["graders"]) == {"tool_calls", "rubric", "reward_model"}
    assert grader["calculate_output"] == "0.3 * tool_calls + 0.45 * rubric + 0.25 * reward_model"
    assert grader_problem(grader) is None
    item = {"messages": [{"role": "user", "content": "Move my 3pm"}], "reference_answer": "Moved.", "rubric": ""}
    sample = {"output_text": "Moved.", "output_json": None, "output_tools": []}
    assert 0.0 <= grader_run_local(grader=grader_offline(grader), sample=sample, item=item) <= 1.0


def test_weights_that_add_up_past_one_are_refused_naming_the_field(labels):
    from django.core.exceptions import ValidationError

    from training.models import DatasetBuild
    from training.services import training_config_resolve

    dataset = DatasetBuild.objects.create(sha256="f" * 64)
    with pytest.raises(ValidationError) as caught:
        training_config_resolve(dataset=dataset, overrides={"tool_weight": 0.9, "reward_model_weight": 0.3})
    assert "config.reward_model_weight" in caught.value.message_dict


def test_without_a_reward_model_the_grader_keeps_tool_calls_and_rubric(db):
    from training.models import DatasetBuild
    from training.services import training_config_resolve

    config = training_config_resolve(dataset=DatasetBuild.objects.create(sha256="9" * 64), overrides=None)

    assert set(config["grader"]["graders"]) == {"tool_calls", "rubric"} and config["reward_model_weight"] == 0.0
    assert config["grader"]["calculate_output"] == "0.4 * tool_calls + 0.6 * rubric"
