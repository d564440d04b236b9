import json

import pytest

from training.graders import (
    TOOL_CALLS_GRADER_SOURCE,
    GraderError,
    formula_evaluate,
    grader_from_rubric,
    grader_offline,
    grader_run_local,
)

ITEM = {
    "reference_answer": "Booked Luigi's for two at 7pm.",
    "expected_tool_calls": [{"name": "book_table", "args": {"place": "Luigi's", "people": 2}}],
}


def sample(text="", tools=None):
    return {"output_text": text, "output_json": None, "output_tools": tools or []}


def check(operation, reference="{{item.reference_answer}}"):
    return {
        "type": "string_check",
        "name": "s",
        "input": "{{sample.output_text}}",
        "reference": reference,
        "operation": operation,
    }


def test_string_check_runs_each_operation():
    assert grader_run_local(grader=check("eq"), sample=sample("Booked Luigi's for two at 7pm."), item=ITEM) == 1.0
    assert grader_run_local(grader=check("ne"), sample=sample("no"), item=ITEM) == 1.0
    assert grader_run_local(grader=check("like", "Luigi"), sample=sample("At Luigi's"), item=ITEM) == 1.0
    assert grader_run_local(grader=check("like", "luigi"), sample=sample("At Luigi's"), item=ITEM) == 0.0
    assert grader_run_local(grader=check("ilike", "luigi"), sample=sample("At Luigi's"), item=ITEM) == 1.0


def test_text_similarity_scores_closer_text_higher():
    def score(metric, text):
        grader = {
            "type": "text_similarity",
            "name": "t",
            "input": "{{sample.output_text}}",
            "reference": "{{item.reference_answer}}",
            "evaluation_metric": metric,
        }
        return grader_run_local(grader=grader, sample=sample(text), item=ITEM)

    for metric in ("fuzzy_match", "bleu", "gleu", "rouge_1", "rouge_2", "rouge_l"):
        exact = score(metric, ITEM["reference_answer"])
        close = score(metric, "Booked Luigi's for two people at 7pm.")
        far = score(metric, "I cannot help with that.")
        assert exact == pytest.approx(1.0) and exact >= close > far, metric


def test_an_unsupported_similarity_metric_is_a_clear_error():
    grader = {"type": "text_similarity", "name": "t", "input": "a", "reference": "a", "evaluation_metric": "cosine"}
    with pytest.raises(GraderError, match="cosine"):
        grader_run_local(grader=grader, sample=sample(), item={})


def test_the_tool_call_grader_gives_full_credit_for_the_expected_calls_and_partial_for_wrong_args():
    grader = {"type": "python", "name": "tool_calls", "source": TOOL_CALLS_GRADER_SOURCE}
    api_shape = [
        {
            "type": "function",
            "function": {"name": "book_table", "arguments": json.dumps({"place": "Luigi's", "people": 2})},
        }
    ]
    assert grader_run_local(grader=grader, sample=sample(tools=api_shape), item=ITEM) == 1.0
    wrong_args = [{"name": "book_table", "args": {"place": "Luigi's", "people": 4}}]
    assert grader_run_local(grader=grader, sample=sample(tools=wrong_args), item=ITEM) == 0.75
    assert grader_run_local(grader=grader, sample=sample(tools=[{"name": "email", "args": {}}]), item=ITEM) == 0.0
    assert grader_run_local(grader=grader, sample=sample(), item={"expected_tool_calls": []}) == 1.0


def test_a_python_grader_that_runs_too_long_is_stopped(settings):
    settings.GRADER_PYTHON_TIMEOUT_SECONDS = 0.5
    grader = {"type": "python", "name": "slow", "source": "def grade(sample, item):\n    while True:\n        pass\n"}
    with pytest.raises(GraderError, match="time limit"):
        grader_run_local(grader=grader, sample=sample(), item={})


def test_a_python_grader_that_raises_reports_the_error():
    grader = {"type": "python", "name": "broken", "source": "def grade(sample, item):\n    return 1 / 0\n"}
    with pytest.raises(GraderError, match="ZeroDivisionError"):
        grader_run_local(grader=grader, sample=sample(), item={})


def test_a_python_grader_that_prints_still_returns_its_score():
    source = "def grade(sample, item):\n    print('debugging', sample['output_text'])\n    return 0.25\n"
    grader = {"type": "python", "name": "chatty", "source": source}
    assert grader_run_local(grader=grader, sample=sample(), item={}) == 0.25


def test_a_python_grader_that_returns_nan_is_an_error():
    grader = {"type": "python", "name": "nan", "source": "def grade(sample, item):\n    return float('nan')\n"}
    with pytest.raises(GraderError, match="'nan' returned NaN or infinity"):
        grader_run_local(grader=grader, sample=sample(), item={})


def test_a_multi_grader_combines_its_graders_with_the_formula():
    grader = {
        "type": "multi",
        "name": "m",
        "graders": {"exact": check("eq"), "mentions": check("ilike", "luigi")},
        "calculate_output": "0.25 * exact + 0.75 * max(mentions, 0) / 1",
    }
    assert grader_run_local(grader=grader, sample=sample("luigi?"), item=ITEM) == 0.75


@pytest.mark.parametrize(
    "formula",
    [
        "__import__('os').system('true')",
        "exact ** 2",
        "exact.real",
        "[exact]",
        "unknown + 1",
        "exact / 0",
        "exact if 1 else 0",
    ],
)
def test_the_formula_evaluator_refuses_anything_but_arithmetic_over_grader_names(formula):
    with pytest.raises(GraderError):
        formula_evaluate(formula, {"exact": 1.0})


def test_the_rubric_grader_is_a_multi_of_tool_calls_and_a_score_model():
    from labeling.rubric_default import DEFAULT_DIMENSIONS

    grader = grader_from_rubric(rubric=DEFAULT_DIMENSIONS, tool_weight=0.4, model="grader-model")
    assert grader["type"] == "multi" and set(grader["graders"]) == {"tool_calls", "rubric"}
    assert grader["graders"]["rubric"]["type"] == "score_model"
    assert grader["graders"]["rubric"]["model"] == "grader-model"
    assert DEFAULT_DIMENSIONS["success"]["question"] in grader["graders"]["rubric"]["input"][0]["content"]
    assert grader["calculate_output"] == "0.4 * tool_calls + 0.6 * rubric"
    with pytest.raises(GraderError, match="needs a model"):
        grader_run_local(grader=grader, sample=sample(), item=ITEM)
    offline = grader_offline(grader)
    good = sample(ITEM["reference_answer"], ITEM["expected_tool_calls"])
    assert grader_run_local(grader=offline, sample=good, item=ITEM) == 1.0
    assert grader_run_local(grader=grader, sample=good, item=ITEM, score_model=lambda *args: 0.5) == 0.7


def test_the_batch_runner_gives_the_same_scores_as_one_at_a_time():
    from training.graders import graders_run_local_many

    grader = grader_offline(grader_from_rubric(rubric=None, model="m"))
    pairs = [
        (sample(ITEM["reference_answer"], ITEM["expected_tool_calls"]), ITEM),
        (sample("Sorry, I can't.", []), ITEM),
        (sample("Booked.", [{"name": "book_table", "args": {"place": "Luigi's", "people": 3}}]), ITEM),
    ]
    expected = [grader_run_local(grader=grader, sample=s, item=i) for s, i in pairs]
    assert graders_run_local_many(grader=grader, pairs=pairs) == expected
    assert expected[0] == 1.0 and expected[1] < expected[2] < 1.0


def test_run_grader_reports_the_distribution_of_reference_scores(dataset):
    from io import StringIO

    from django.core.management import call_command

    out = StringIO()
    call_command("run_grader", "--dataset", dataset.sha256[:10], "--replies", "reference", stdout=out)
    report = out.getvalue()
    assert f"dataset {dataset.sha256[:12]} train: {dataset.manifest['counts']['train']} reference answers" in report
    assert "mean 1.000" in report and "[0.9, 1.0]" in report


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "No such file"),
        ("{not json", "Expecting property name"),
        ("[1, 2]", 'must hold a grader object with a "type"'),
        ('{"type": "string_check", "name": "x"}', "grader failed: "),
        ('{"type": "multi", "graders": {"a": {"type": "nope"}}, "calculate_output": "a"}', "grader failed: "),
    ],
)
def test_run_grader_names_a_bad_grader_file(dataset, tmp_path, content, message):
    from django.core.management import CommandError, call_command

    path = tmp_path / "grader.json"
    if content is not None:
        path.write_text(content)
    with pytest.raises(CommandError, match=message):
        call_command("run_grader", "--dataset", dataset.sha256, "--grader", str(path))


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--dataset", "abc"], "at least 6 characters"),
        (["--dataset", "0123456789"], "no dataset build with hash 0123456789"),
        (["--limit", "0"], "--limit must be at least 1"),
    ],
)
def test_run_grader_names_a_bad_dataset_or_limit(dataset, arguments, message):
    from django.core.management import CommandError, call_command

    if "--dataset" not in arguments:
        arguments = ["--dataset", dataset.sha256, *arguments]
    with pytest.raises(CommandError, match=message):
        call_command("run_grader", *arguments)


def test_run_grader_scores_the_original_replies_against_a_reviewers_correction(make_trace, correct, rubric):
    from io import StringIO

    from django.core.management import call_command

    from training.services import dataset_build

    for i in range(12):
        trace = make_trace(message=f"Summarise thread {i}", response="ok")
        if i % 2:
            correct(trace, correction=f"Thread {i}: Ana moved the launch to Friday and needs your sign-off today.")
    build, _ = dataset_build(stage=3, modality="chat")  # stage 3 takes the corrected (hard) cases
    out = StringIO()

    call_command("run_grader", "--dataset", build.sha256, stdout=out)

    report = out.getvalue()
    assert "original replies" in report and "mean 1.000" not in report
    assert "min 1.000" not in report  # the corrected ones score below the ones that stand


def test_run_grader_scores_a_policys_sampled_replies(dataset, fake_openai):
    from io import StringIO

    from django.core.management import call_command

    fake_openai.chat_responder = lambda body: {"content": "I could not do that."}
    out = StringIO()

    call_command("run_grader", "--dataset", dataset.sha256, "--policy", "ft:o4-mini:zeke:x", stdout=out)

    assert "replies of ft:o4-mini:zeke:x" in out.getvalue() and "mean 1.000" not in out.getvalue()
    sampled = fake_openai.requests_to("/chat/completions")
    assert sampled and all(r["body"]["model"] == "ft:o4-mini:zeke:x" for r in sampled)


def test_run_grader_refuses_a_build_that_failed(db):
    from django.core.management import CommandError, call_command

    from training.models import DatasetBuild, DatasetStatus

    DatasetBuild.objects.create(
        sha256="f" * 64, manifest={}, files={}, status=DatasetStatus.FAILED, error="refusal policy missing"
    )
    with pytest.raises(CommandError, match="has no train file .failed: refusal policy missing"):
        call_command("run_grader", "--dataset", "f" * 12)
