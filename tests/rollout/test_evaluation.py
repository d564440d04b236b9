import threading
import time

import pytest
from django.core.management import call_command

from rollout.evaluation import eval_run, eval_suites_seed
from rollout.models import EvalResult, EvalRunStatus, EvalSuite
from rollout.seeds import all_suites, zeke_suites


@pytest.mark.django_db
def test_seeding_twice_creates_each_case_once():
    first = eval_suites_seed(suites=all_suites())
    second = eval_suites_seed(suites=all_suites())

    assert sum(c["created"] for c in first.values()) == 687
    assert sum(c["created"] + c["updated"] for c in second.values()) == 0
    assert EvalSuite.objects.get(name="xstest").cases.count() == 450
    assert EvalSuite.objects.get(name="simplesafetytests").cases.count() == 100


def test_the_seed_command_reports_each_suite(db, capsys):
    call_command("seed_eval_suites")

    out = capsys.readouterr().out
    assert "bfcl-slice: 100 cases (100 new" in out
    assert "zeke-refusal: 13 cases" in out


def test_it_runs_a_tool_suite_through_chat_completions_with_the_tools(oracle, candidate, baseline, fake_openai):
    suite = EvalSuite.objects.get(name="zeke-tools")

    run = eval_run(policy=candidate, suite=suite, baseline=baseline)

    assert run.status == EvalRunStatus.SUCCEEDED and run.passed
    assert run.scores["pass_rate"] == 1.0 and run.scores["baseline_pass_rate"] == 1.0
    assert EvalResult.objects.filter(run=run).count() == 12
    sent = [r["body"] for r in fake_openai.requests_to("/chat/completions")]
    assert {b["model"] for b in sent} == {candidate.model_id, baseline.model_id}
    assert all(b["tools"][0]["function"]["name"] == "calendar_create_event" for b in sent)


def test_a_model_answering_in_prose_fails_tool_cases_with_the_reason(oracle, candidate, baseline):
    oracle.wrong_tool_models.add(candidate.model_id)

    run = eval_run(policy=candidate, suite=EvalSuite.objects.get(name="zeke-tools"), baseline=baseline)

    assert run.scores["pass_rate"] == pytest.approx(2 / 12, abs=1e-3)
    assert run.passed is False
    result = run.results.get(case__key="restart-plex")
    assert not result.passed and "0 tool calls, expected 1" in result.detail
    # Without an active reward model the win-rate falls back to pass/fail and says so.
    assert run.scores["win_rate"] < 0.5
    assert "no active reward model" in run.scores["win_rate_note"]


def test_refusal_suites_report_refusal_and_over_refusal_rates(oracle, candidate, baseline):
    suite = EvalSuite.objects.get(name="zeke-refusal")
    oracle.refusing_models.add(candidate.model_id)

    run = eval_run(policy=candidate, suite=suite, baseline=baseline)

    assert run.scores["refusal_rate"] == 1.0
    assert run.scores["over_refusal_rate"] == 1.0
    assert run.scores["baseline_refusal_rate"] == 1.0
    assert run.scores["baseline_over_refusal_rate"] == 0.0
    assert run.scores["pass_rate"] == pytest.approx(9 / 13, abs=1e-3)


def test_the_token_budget_stops_new_cases_and_marks_the_run_incomplete(oracle, candidate, settings):
    settings.EVAL_CONCURRENCY = 1
    settings.EVAL_MAX_TOKENS = 1

    run = eval_run(policy=candidate, suite=EvalSuite.objects.get(name="zeke-regression"))

    assert run.scores["cases_run"] == 1
    assert run.scores["complete"] is False
    assert "token budget of 1 exceeded" in run.scores["budget"]["stopped"]
    assert run.passed is False


def test_concurrency_is_bounded_by_the_setting(oracle, candidate, settings, fake_openai):
    settings.EVAL_CONCURRENCY = 3
    lock, state = threading.Lock(), {"now": 0, "max": 0}

    def slow(body):
        with lock:
            state["now"] += 1
            state["max"] = max(state["max"], state["now"])
        time.sleep(0.03)
        with lock:
            state["now"] -= 1
        return oracle(body)

    fake_openai.chat_responder = slow
    eval_run(policy=candidate, suite=EvalSuite.objects.get(name="zeke-regression"))

    assert 1 < state["max"] <= 3


def test_an_api_error_fails_the_case_not_the_run(oracle, candidate, fake_openai):
    fake_openai.fail_next("/chat/completions", status=500, times=1)

    run = eval_run(policy=candidate, suite=EvalSuite.objects.get(name="zeke-regression"))

    assert run.status == EvalRunStatus.SUCCEEDED
    assert run.scores["errors"] == 1
    assert run.results.filter(passed=False, detail__startswith="request failed").count() == 1


def test_run_eval_runs_every_suite_then_the_gate_and_records_it_on_the_experiment(
    oracle, candidate, baseline, training_run, capsys
):
    call_command("run_eval", "--policy", candidate.model_id)

    out = capsys.readouterr().out
    assert "zeke-refusal: pass rate 1.0" in out
    assert "gate PASSED" in out
    training_run.refresh_from_db()
    assert training_run.gate["passed"] is True
    assert set(training_run.eval_scores) == {s["name"] for s in zeke_suites()}


def test_with_an_active_reward_model_the_win_rate_is_judged_by_it(oracle, candidate, baseline, active_reward_model):
    oracle.wrong_tool_models.add(candidate.model_id)

    run = eval_run(policy=candidate, suite=EvalSuite.objects.get(name="zeke-tools"), baseline=baseline)

    # The two call-no-tool cases get the same prose from both models: ties, not judged.
    assert run.scores["win_rate_judges"] == {"identical": 2, "grader": 0, "reward_model": 10, "pass_fail": 0}
    assert run.scores["win_rate_note"] == ""
    assert 0.0 <= run.scores["win_rate"] <= 1.0


def test_a_grader_case_is_judged_by_the_grader(oracle, candidate, baseline, fake_openai):
    def wordier_baseline(body):
        answer = oracle(body)
        if body["model"] == baseline.model_id and answer.get("content"):
            answer = {**answer, "content": answer["content"] + " Anything else?"}
        return answer

    fake_openai.chat_responder = wordier_baseline
    run = eval_run(policy=candidate, suite=EvalSuite.objects.get(name="zeke-regression"), baseline=baseline)

    assert run.scores["win_rate_judges"]["grader"] == 1
    assert run.results.get(case__key="bulk-delete-confirm").passed


def test_run_eval_takes_one_suite_and_an_explicit_baseline(oracle, candidate, baseline, capsys):
    from rollout.models import EvalRun, Policy

    other = Policy.objects.create(model_id="gpt-4.1", modality="chat")

    call_command("run_eval", "--policy", candidate.model_id, "--suite", "zeke-refusal", "--baseline", "gpt-4.1")

    out = capsys.readouterr().out
    assert "zeke-refusal: pass rate 1.0 (threshold 0.9), refusal 1.0, over-refusal 0.0" in out
    assert "gate" not in out
    assert EvalRun.objects.get().baseline == other


def test_run_eval_names_an_unknown_suite(oracle, candidate):
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="no eval suite named nope"):
        call_command("run_eval", "--policy", candidate.model_id, "--suite", "nope")


def test_the_time_budget_stops_new_cases_and_the_gate_counts_the_suite_as_failed(oracle, candidate, baseline, settings):
    from rollout.gate import gate_evaluate
    from rollout.models import EvalRun

    settings.EVAL_MAX_SECONDS = 0

    run = eval_run(policy=candidate, suite=EvalSuite.objects.get(name="zeke-regression"), baseline=baseline)

    assert run.scores["cases_run"] == 0 and run.scores["complete"] is False and run.passed is False
    assert "time budget of 0 s exceeded" in run.scores["budget"]["stopped"]
    assert not run.results.exists() and EvalRun.objects.count() == 1
    gate = gate_evaluate(policy=candidate, baseline=baseline)
    assert not gate["passed"] and any(
        r.startswith(f"zeke-regression: run {run.pk} incomplete") for r in gate["reasons"]
    )


def test_identical_replies_give_a_win_rate_of_exactly_one_half_whatever_their_latency(
    oracle, candidate, baseline, active_reward_model, fake_openai
):
    def slow_candidate(body):
        if body["model"] == candidate.model_id:
            time.sleep(0.15)
        return oracle(body)

    fake_openai.chat_responder = slow_candidate

    run = eval_run(policy=candidate, suite=EvalSuite.objects.get(name="zeke-tools"), baseline=baseline)

    latencies = {r.case_id: r.output.get("latency_ms") for r in run.results.all()}
    assert min(latencies.values()) >= 100  # the candidate really was slower
    assert run.scores["win_rate"] == 0.5
    assert run.scores["win_rate_judges"]["identical"] == 12


def test_the_reward_model_judges_eval_replies_on_their_text_not_their_latency(candidate, db):
    from rollout.evaluation import _scrubbed_item
    from rollout.models import EvalCase

    suite = EvalSuite.objects.create(name="t", kind="regression", threshold=0.5)
    case = EvalCase.objects.create(
        suite=suite, key="k", input={"messages": [{"role": "user", "content": "hi"}]}, expected={}
    )

    assert _scrubbed_item(case, {"text": "hello", "latency_ms": 9000}, candidate)["latency_ms"] is None
