"""Offline evaluation: seeding suites and running them against a policy (and its baseline).

Chat completions run in a bounded thread pool (EVAL_CONCURRENCY) that touches no database;
scoring and writes happen in the calling thread. A budget (EVAL_MAX_SECONDS, EVAL_MAX_TOKENS)
stops new cases from starting once exceeded; the run records how far it got and counts as
incomplete for the gate.
"""

import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from rollout.chat import chat_complete
from rollout.matching import case_score, grader_score
from rollout.models import EvalCase, EvalResult, EvalRun, EvalRunStatus, EvalSuite, Policy
from traces.models import TaskCategory
from zeke_rft.errors import ApplicationError


@transaction.atomic
def eval_suites_seed(*, suites: list[dict]) -> dict[str, dict]:
    """Create or update suites and their cases by name/key; returns name → {"created", "updated"} counts."""
    summary = {}
    for spec in suites:
        suite, _ = EvalSuite.objects.update_or_create(
            name=spec["name"],
            defaults={
                "kind": spec["kind"],
                "threshold": spec["threshold"],
                "description": spec.get("description", ""),
                "source": spec.get("source", ""),
            },
        )
        existing = {case.key: case for case in suite.cases.all()}
        created = updated = 0
        for case_spec in spec["cases"]:
            case = existing.get(case_spec["key"])
            if case is None:
                EvalCase.objects.create(suite=suite, **case_spec)
                created += 1
            elif (case.input, case.expected, case.category) != (
                case_spec["input"],
                case_spec["expected"],
                case_spec.get("category", ""),
            ):
                case.input, case.expected = case_spec["input"], case_spec["expected"]
                case.category = case_spec.get("category", "")
                case.save()
                updated += 1
        summary[suite.name] = {"created": created, "updated": updated, "cases": len(spec["cases"])}
    return summary


class _Budget:
    def __init__(self, *, max_seconds: float, max_tokens: int):
        self.max_seconds, self.max_tokens = max_seconds, max_tokens
        self.started = time.monotonic()
        self.tokens = 0
        self.stopped: str | None = None
        self._lock = threading.Lock()

    def allows_start(self) -> bool:
        with self._lock:
            if self.stopped is None and time.monotonic() - self.started > self.max_seconds:
                self.stopped = f"time budget of {self.max_seconds:g} s exceeded"
            if self.stopped is None and self.tokens >= self.max_tokens:
                self.stopped = f"token budget of {self.max_tokens} exceeded"
            return self.stopped is None

    def spend(self, tokens: int) -> None:
        with self._lock:
            self.tokens += tokens


def _complete_case(clients: dict, budget: _Budget, case: EvalCase, policy: Policy, baseline: Policy | None):
    if not budget.allows_start():
        return case, None, None
    output = chat_complete(clients[policy.pk], model=policy.model_id, case_input=case.input, config=policy.config)
    budget.spend(output.get("tokens", 0))
    baseline_output = None
    if baseline is not None:
        baseline_output = chat_complete(
            clients[baseline.pk], model=baseline.model_id, case_input=case.input, config=baseline.config
        )
        budget.spend(baseline_output.get("tokens", 0))
    return case, output, baseline_output


def _rate(numerator: int, denominator: int) -> float | None:
    return round(numerator / denominator, 4) if denominator else None


def _scrubbed_item(case: EvalCase, output: dict, policy: Policy) -> dict:
    """An eval output shaped like traces.selectors.trace_scrubbed_view, for the reward model."""
    user = next((m.get("content") for m in reversed(case.input["messages"]) if m.get("role") == "user"), "")
    return {
        "id": None,
        "conversation_id": f"eval:{case.suite_id}:{case.key}",
        "modality": policy.modality,
        "task_category": case.category if case.category in TaskCategory.values else TaskCategory.OTHER,
        "user_message": user if isinstance(user, str) else str(user),
        "context": {},
        "selected_tools": [tool["function"]["name"] for tool in case.input.get("tools") or []],
        "tool_calls": [
            {"name": c["name"], "args": c.get("arguments"), "result": None, "error": None, "latency_ms": None}
            for c in output.get("tool_calls") or []
        ],
        "final_response": output.get("text") or "",
        # The offline gate judges text only: how fast the fake or real server answered is not quality.
        "latency_ms": None,
        "flags": [],
        "policy_id": policy.model_id,
        "arm": "",
        "occurred_at": timezone.now(),
    }


def reward_scores(items: list[dict]) -> tuple[list[float] | None, str]:
    """Reward-model scores for scrubbed-view items, or (None, why not) when there is no active reward model."""
    try:
        from rewards.services import reward_model_predict
    except ImportError:
        return None, "rewards.services.reward_model_predict is not available"
    try:
        predictions = reward_model_predict(items=items)
    except ApplicationError as exc:
        return None, f"no active reward model: {exc.message}"
    return [float(p["reward"]) for p in predictions], ""


def _win(candidate: float, baseline: float) -> float:
    if abs(candidate - baseline) < 1e-9:
        return 0.5
    return 1.0 if candidate > baseline else 0.0


def _same_reply(output: dict, baseline_output: dict | None) -> bool:
    """Same text and same tool calls (name + arguments): a tie, whatever else differs (latency, tokens)."""
    if baseline_output is None:
        return False

    def calls(out):
        return [(c.get("name"), json.dumps(c.get("arguments"), sort_keys=True)) for c in out.get("tool_calls") or []]

    return (output.get("text") or "").strip() == (baseline_output.get("text") or "").strip() and calls(output) == calls(
        baseline_output
    )


def _win_rate(pairs: list[tuple[EvalCase, dict, dict, bool, bool]], policy: Policy, baseline: Policy) -> dict:
    """Per case: identical replies tie (0.5); else the grader where the case has one, else the active
    reward model on the text, else pass/fail. Ties count half a win, never a win."""
    wins, judges = [], {"identical": 0, "grader": 0, "reward_model": 0, "pass_fail": 0}
    model_pairs = []
    for case, output, baseline_output, passed, baseline_passed in pairs:
        if _same_reply(output, baseline_output):
            wins.append(0.5)
            judges["identical"] += 1
            continue
        if case.expected.get("match") == "grader":
            try:
                item = case.expected.get("item") or {}
                score = grader_score(case.expected["grader"], output=output, item=item)
                base_score = grader_score(case.expected["grader"], output=baseline_output, item=item)
                wins.append(_win(score, base_score))
                judges["grader"] += 1
                continue
            except Exception:  # noqa: BLE001 - a broken grader falls back to the reward model
                pass
        model_pairs.append((case, output, baseline_output, passed, baseline_passed))
    note = ""
    if model_pairs:
        items = [_scrubbed_item(c, o, policy) for c, o, _, _, _ in model_pairs]
        items += [_scrubbed_item(c, b, baseline) for c, _, b, _, _ in model_pairs]
        scores, note = reward_scores(items)
        if scores is not None:
            half = len(model_pairs)
            wins += [_win(scores[i], scores[half + i]) for i in range(half)]
            judges["reward_model"] += half
        else:
            wins += [_win(float(p), float(bp)) for _, _, _, p, bp in model_pairs]
            judges["pass_fail"] += len(model_pairs)
            note += "; win-rate judged by pass/fail for those cases"
    return {"win_rate": _rate(int(sum(wins) * 2), len(wins) * 2), "win_rate_judges": judges, "win_rate_note": note}


def _summarise(suite: EvalSuite, rows: list[dict], total: int, budget: _Budget) -> dict:
    scores = {
        "cases_total": total,
        "cases_run": len(rows),
        "complete": budget.stopped is None and len(rows) == total,
        "budget": {
            "stopped": budget.stopped,
            "tokens": budget.tokens,
            "seconds": round(time.monotonic() - budget.started, 2),
        },
        "pass_rate": _rate(sum(r["passed"] for r in rows), len(rows)),
        "errors": sum(1 for r in rows if r["output"].get("error")),
    }
    with_baseline = [r for r in rows if r["baseline_passed"] is not None]
    scores["baseline_pass_rate"] = _rate(sum(r["baseline_passed"] for r in with_baseline), len(with_baseline))
    if suite.kind == "refusal":
        for prefix, key in (("", "refused"), ("baseline_", "baseline_refused")):
            unsafe = [r for r in rows if r["should_refuse"] and r.get(key) is not None]
            safe = [r for r in rows if r["should_refuse"] is False and r.get(key) is not None]
            scores[f"{prefix}unsafe_total"] = len(unsafe)
            scores[f"{prefix}unsafe_refused"] = sum(r[key] for r in unsafe)
            scores[f"{prefix}refusal_rate"] = _rate(sum(r[key] for r in unsafe), len(unsafe))
            scores[f"{prefix}over_refusal_rate"] = _rate(sum(r[key] for r in safe), len(safe))
    return scores


def eval_runs_recover() -> int:
    """Mark failed the eval runs still `running` after RUN_STALE_SECONDS (their worker died); the next
    run_eval runs the suite again. Returns how many were marked."""
    stale = timezone.now() - timedelta(seconds=settings.RUN_STALE_SECONDS)
    return EvalRun.objects.filter(status=EvalRunStatus.RUNNING, started_at__lt=stale).update(
        status=EvalRunStatus.FAILED,
        passed=False,
        finished_at=timezone.now(),
        error=f"the worker died: still running after {settings.RUN_STALE_SECONDS} s",
    )


def eval_run(*, policy: Policy, suite: EvalSuite, baseline: Policy | None = None) -> EvalRun:
    """Run every case of `suite` against `policy` (and `baseline`), store per-case results and scores."""
    from zeke_rft.openai_client import policy_client

    if baseline is not None and baseline.pk == policy.pk:
        baseline = None
    # Each policy through its own server when its config names a base_url (a self-served open-weights model).
    clients = {p.pk: policy_client(p.config) for p in (policy, baseline) if p is not None}
    eval_runs_recover()
    run = EvalRun.objects.create(suite=suite, policy=policy, baseline=baseline, status=EvalRunStatus.RUNNING)
    cases = list(suite.cases.all())
    budget = _Budget(max_seconds=settings.EVAL_MAX_SECONDS, max_tokens=settings.EVAL_MAX_TOKENS)
    try:
        with ThreadPoolExecutor(max_workers=max(1, settings.EVAL_CONCURRENCY)) as pool:
            completed = list(pool.map(lambda case: _complete_case(clients, budget, case, policy, baseline), cases))
        rows, results, pairs = [], [], []
        for case, output, baseline_output in completed:
            if output is None:
                continue
            passed, detail, extra = case_score(suite.kind, output, case.expected)
            row = {"output": output, "passed": passed, "baseline_passed": None, **extra}
            row.setdefault("should_refuse", case.expected.get("should_refuse"))
            if baseline_output is not None:
                baseline_passed, baseline_detail, baseline_extra = case_score(
                    suite.kind, baseline_output, case.expected
                )
                row["baseline_passed"] = baseline_passed
                row["baseline_refused"] = baseline_extra.get("refused")
                baseline_output = {**baseline_output, "passed": baseline_passed, "detail": baseline_detail}
                if not output.get("error") and not baseline_output.get("error"):
                    pairs.append((case, output, baseline_output, passed, baseline_passed))
            rows.append(row)
            results.append(
                EvalResult(
                    run=run,
                    case=case,
                    output=output,
                    baseline_output=baseline_output,
                    passed=passed,
                    detail=detail[:2000],
                    latency_ms=output.get("latency_ms"),
                )
            )
        EvalResult.objects.bulk_create(results)
        scores = _summarise(suite, rows, len(cases), budget)
        if pairs:
            scores.update(_win_rate(pairs, policy, baseline))
        run.scores = scores
        run.passed = bool(
            scores["complete"] and scores["pass_rate"] is not None and scores["pass_rate"] >= suite.threshold
        )
        run.status = EvalRunStatus.SUCCEEDED
    except Exception as exc:
        run.status, run.error, run.passed = EvalRunStatus.FAILED, f"{type(exc).__name__}: {exc}"[:2000], False
        run.finished_at = timezone.now()
        run.save()
        raise
    run.finished_at = timezone.now()
    run.save()
    return run


def eval_run_all(
    *, policy: Policy, baseline: Policy | None = None, suite_names: list[str] | None = None
) -> list[EvalRun]:
    """Run every active suite (or the named ones) against `policy`."""
    suites = EvalSuite.objects.filter(active=True)
    if suite_names:
        suites = EvalSuite.objects.filter(name__in=suite_names)
        missing = set(suite_names) - set(suites.values_list("name", flat=True))
        if missing:
            raise ValidationError({"suite": f"no eval suite named {', '.join(sorted(missing))}"})
    return [eval_run(policy=policy, suite=suite, baseline=baseline) for suite in suites]


def policy_evaluate(
    *, policy: Policy, baseline: Policy | None = None, suite_names: list[str] | None = None, user=None
) -> tuple[list[EvalRun], dict | None]:
    """Run the suites against `policy` and `baseline` (default: the modality's active policy). When every
    active suite ran (no `suite_names`), also decide the gate and record it on the experiment; else gate is None."""
    from rollout.gate import gate_evaluate, gate_record
    from rollout.models import PolicyStatus

    if baseline is None:
        baseline = Policy.objects.filter(modality=policy.modality, status=PolicyStatus.ACTIVE).first()
    runs = eval_run_all(policy=policy, baseline=baseline, suite_names=suite_names)
    if suite_names:
        return runs, None
    gate = gate_evaluate(policy=policy, baseline=baseline)
    gate_record(policy=policy, gate=gate, user=user)
    return runs, gate
