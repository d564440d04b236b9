import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from labeling.models import Preference
from rewards.models import RewardModel


def _write_jsonl(path, lines):
    path.write_text("\n".join(line if isinstance(line, str) else json.dumps(line) for line in lines) + "\n")
    return path


PAIRS = [
    {"prompt": "Book a table for two", "chosen": "Done: booked for 7pm and confirmed.", "rejected": "Error."},
    {"prompt": "Text Maya I'm late", "chosen": "Sent Maya: running 10 minutes late.", "rejected": "Sorry, I can't."},
]


@pytest.mark.django_db
def test_it_imports_good_lines_and_names_the_line_and_field_of_bad_ones(tmp_path):
    path = _write_jsonl(
        tmp_path / "pairs.jsonl",
        [
            PAIRS[0],
            {"prompt": "x", "chosen": "y"},
            "{not json",
            {"prompt": "p", "chosen": "", "rejected": "r"},
            PAIRS[1],
        ],
    )
    stdout, stderr = StringIO(), StringIO()

    with pytest.raises(CommandError, match="first at line 2: field 'rejected' is missing"):
        call_command("import_preferences", str(path), stdout=stdout, stderr=stderr)

    assert Preference.objects.count() == 2
    errors = stderr.getvalue()
    assert "pairs.jsonl:2: field 'rejected' is missing" in errors
    assert "pairs.jsonl:3: not valid JSON" in errors
    assert "pairs.jsonl:4: field 'chosen' must be a non-empty string" in errors
    assert "imported 2 new preference(s), 0 already present, 3 bad line(s)" in stdout.getvalue()


@pytest.mark.django_db
def test_it_imports_a_file_once_when_run_twice(tmp_path):
    path = _write_jsonl(tmp_path / "pairs.jsonl", PAIRS)
    call_command("import_preferences", str(path), "--task-category", "scheduling", stdout=StringIO())
    stdout = StringIO()

    call_command("import_preferences", str(path), stdout=stdout)

    assert Preference.objects.count() == 2
    assert set(Preference.objects.values_list("task_category", flat=True)) == {"scheduling"}
    assert "imported 0 new preference(s), 2 already present" in stdout.getvalue()


@pytest.mark.django_db
def test_it_rejects_an_unknown_task_category_on_a_line(tmp_path):
    path = _write_jsonl(tmp_path / "pairs.jsonl", [{**PAIRS[0], "task_category": "cooking"}])

    with pytest.raises(CommandError, match="line 1: field 'task_category' must be one of"):
        call_command("import_preferences", str(path), stdout=StringIO(), stderr=StringIO())


def test_it_trains_and_prints_the_version_and_held_out_metrics(labels):
    labels.labeled(40)
    stdout = StringIO()

    call_command("train_reward_model", stdout=stdout)

    reward_model = RewardModel.objects.get()
    output = stdout.getvalue()
    assert f"trained {reward_model.version} (active)" in output
    assert "spearman" in output and "scheduling" in output


@pytest.mark.django_db
def test_it_explains_why_it_cannot_train():
    with pytest.raises(CommandError, match="not enough labels"):
        call_command("train_reward_model", stdout=StringIO())


def test_it_prints_pairwise_accuracy_on_a_chosen_rejected_file(labels, tmp_path):
    labels.preferences(60)
    call_command("train_reward_model", stdout=StringIO())
    path = _write_jsonl(tmp_path / "eval.jsonl", PAIRS)
    stdout = StringIO()

    call_command("evaluate_reward_model", "--pairs", str(path), stdout=stdout)

    output = stdout.getvalue()
    assert "pairwise accuracy: " in output and "on 2 pairs" in output
    accuracy = float(output.split("pairwise accuracy: ")[1].split()[0])
    assert accuracy == 1.0  # a helpful confirmation beats "Error." / "Sorry, I can't." after 60 synthetic preferences


def test_it_evaluates_the_active_model_on_the_held_out_split(labels):
    labels.labeled(40)
    call_command("train_reward_model", stdout=StringIO())
    stdout = StringIO()

    call_command("evaluate_reward_model", stdout=stdout)

    assert "on the held-out split" in stdout.getvalue()


@pytest.mark.django_db
def test_it_needs_an_active_model_or_a_version_to_evaluate():
    with pytest.raises(CommandError, match="no reward model is active"):
        call_command("evaluate_reward_model", stdout=StringIO())


def test_it_reports_bad_lines_of_the_pairs_file_and_scores_the_good_ones(labels, tmp_path):
    labels.preferences(60)
    call_command("train_reward_model", stdout=StringIO())
    path = _write_jsonl(tmp_path / "eval.jsonl", [PAIRS[0], {"prompt": "p", "rejected": "r"}])
    stdout, stderr = StringIO(), StringIO()

    call_command("evaluate_reward_model", "--pairs", str(path), stdout=stdout, stderr=stderr)

    assert "eval.jsonl:2: field 'chosen' is missing (skipped)" in stderr.getvalue()
    assert "on 1 pairs" in stdout.getvalue()


@pytest.mark.django_db
def test_it_names_lines_that_are_not_utf8_and_imports_the_rest(tmp_path):
    path = tmp_path / "pairs.jsonl"
    path.write_bytes(json.dumps(PAIRS[0]).encode() + b"\n" + b'{"prompt": "\xff\xfe"}\n')
    stderr = StringIO()

    with pytest.raises(CommandError, match="first at line 2: not valid UTF-8"):
        call_command("import_preferences", str(path), stdout=StringIO(), stderr=stderr)

    assert Preference.objects.count() == 1


@pytest.mark.django_db
def test_it_names_text_the_database_cannot_store_instead_of_failing(tmp_path):
    # JSON escapes for a NUL and a lone surrogate: PostgreSQL refuses the first, UTF-8 the second.
    path = _write_jsonl(
        tmp_path / "pairs.jsonl",
        [
            '{"prompt": "p", "chosen": "a\\u0000b", "rejected": "r"}',
            '{"prompt": "p\\ud800", "chosen": "c", "rejected": "r"}',
        ],
    )
    stderr = StringIO()

    with pytest.raises(CommandError, match="2 bad line"):
        call_command("import_preferences", str(path), stdout=StringIO(), stderr=stderr)

    assert "pairs.jsonl:1: field 'chosen' must not contain NUL characters" in stderr.getvalue()
    assert "pairs.jsonl:2: field 'prompt' must not contain unpaired surrogates" in stderr.getvalue()
    assert not Preference.objects.exists()


@pytest.mark.django_db
def test_it_names_json_nested_too_deep_to_parse(tmp_path):
    path = _write_jsonl(tmp_path / "pairs.jsonl", ["[" * 100_000, PAIRS[0]])
    stderr = StringIO()

    with pytest.raises(CommandError, match="first at line 1: not valid JSON"):
        call_command("import_preferences", str(path), stdout=StringIO(), stderr=stderr)

    assert Preference.objects.count() == 1


@pytest.mark.django_db
def test_it_refuses_a_missing_preferences_file(tmp_path):
    with pytest.raises(CommandError, match="no such file"):
        call_command("import_preferences", str(tmp_path / "nope.jsonl"), stdout=StringIO())


def test_it_refuses_a_missing_pairs_file(labels, tmp_path):
    labels.labeled(30)
    call_command("train_reward_model", stdout=StringIO())

    with pytest.raises(CommandError, match="--pairs: no such file"):
        call_command("evaluate_reward_model", "--pairs", str(tmp_path / "nope.jsonl"), stdout=StringIO())


def test_it_refuses_a_pairs_file_without_one_valid_pair(labels, tmp_path):
    labels.labeled(30)
    call_command("train_reward_model", stdout=StringIO())
    path = _write_jsonl(tmp_path / "eval.jsonl", ["{oops", {"prompt": "p", "chosen": "c"}])
    stderr = StringIO()

    with pytest.raises(CommandError, match="no valid prompt/chosen/rejected line"):
        call_command("evaluate_reward_model", "--pairs", str(path), stdout=StringIO(), stderr=stderr)

    assert "eval.jsonl:1: not valid JSON" in stderr.getvalue()


@pytest.mark.django_db
def test_it_refuses_an_unknown_model_version():
    with pytest.raises(CommandError, match="--model: no reward model 'rm-nope'"):
        call_command("evaluate_reward_model", "--model", "rm-nope", stdout=StringIO())


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("option", "value", "message"),
    [("--members", "0", "--members: must be an integer ≥ 1"), ("--seed", "-1", "--seed: must be an integer ≥ 0")],
)
def test_it_refuses_a_bad_hyperparameter_before_training(option, value, message):
    with pytest.raises(CommandError, match=message):
        call_command("train_reward_model", option, value, stdout=StringIO())

    assert not RewardModel.objects.exists()


def test_score_traces_scores_the_unlabeled_traces_once(labels):
    from io import StringIO

    from django.core.management import call_command

    from rewards.services import reward_model_train

    labels.labeled(40)
    labels.unlabeled(7)
    reward_model, _ = reward_model_train()
    first, second = StringIO(), StringIO()

    call_command("score_traces", stdout=first)
    call_command("score_traces", stdout=second)

    assert first.getvalue().strip() == f"7 traces scored by reward model {reward_model.version}"
    assert second.getvalue().startswith("0 traces scored")


def test_recalibrate_reports_agreement_and_queues_spot_checks(labels, settings):
    from io import StringIO

    from django.core.management import call_command

    from rewards.services import reward_model_train, traces_score

    settings.REWARD_SPOT_CHECK_SIZE = 3
    labels.labeled(40)
    labels.unlabeled(5)
    reward_model_train()
    traces_score()
    out = StringIO()

    call_command("recalibrate_reward_model", stdout=out)

    assert out.getvalue().startswith("agreement: Spearman None on 0 traces")
    assert "3 spot checks queued" in out.getvalue()
