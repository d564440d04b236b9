"""The run's grader compiled into TRL reward functions `f(prompts, completions, item, **kwargs) -> list[float]`.

A `multi` grader whose formula is linear (as the rubric grader's `0.4 * tool_calls + 0.6 * rubric`) becomes
one reward function per sub-grader with the formula's coefficients as weights, so TRL logs each one; any
other formula runs whole as one function. score_model graders go to an OpenAI-compatible judge
(TRL_JUDGE_BASE_URL) or are left out with a note. The active reward model is one more function. Weights:
config.trl.reward_weights overrides by name, and reward_scaling multiplies them all. No torch here.
"""

import json
import re

from django.conf import settings

from training import graders
from training.openweights.data import completion_sample, completion_text

REWARD_MODEL = "reward_model"


def linear_coefficients(formula: str, names: list[str]) -> dict[str, float] | None:
    """The coefficients of a formula that is a weighted sum of the names, else None (min/max/products...)."""

    def at(values):
        return graders.formula_evaluate(formula, values)

    try:
        if abs(at({name: 0.0 for name in names})) > 1e-9:
            return None
        coefficients = {name: at({other: float(other == name) for other in names}) for name in names}
        for probe in ({n: 0.25 + 0.5 * i for i, n in enumerate(names)}, {n: 3.0 - i for i, n in enumerate(names)}):
            if abs(at(probe) - sum(coefficients[n] * probe[n] for n in names)) > 1e-6:
                return None
    except graders.GraderError:
        return None
    return coefficients


def _grader_parts(grader: dict) -> list[tuple[str, dict, float]]:
    """(name, grader, base weight) for each function the grader becomes."""
    name = str(grader.get("name") or grader.get("type"))
    if grader.get("type") != "multi":
        return [(name, grader, 1.0)]
    parts = grader.get("graders") or {}
    coefficients = linear_coefficients(grader.get("calculate_output") or "", list(parts))
    if coefficients is None:
        return [(name, grader, 1.0)]
    return [(part, parts[part], coefficients[part]) for part in parts]


def _needs_judge(grader: dict) -> bool:
    if grader.get("type") == "multi":
        return any(sub.get("type") == "score_model" for sub in (grader.get("graders") or {}).values())
    return grader.get("type") == "score_model"


def reward_plan(*, config: dict, judge: bool, reward_model: bool) -> dict:
    """Which reward functions a run trains on and their weights, with a note for everything left out."""
    overrides = (config.get("trl") or {}).get("reward_weights") or {}
    scaling = float(config.get("reward_scaling", 1.0))
    functions, notes = [], []
    parts = _grader_parts(config["grader"])
    parts.append((REWARD_MODEL, None, round(1.0 - float(config.get("tool_weight", 0.4)), 6)))
    for name, grader, weight in parts:
        weight = float(overrides.get(name, weight))
        if grader is None and not reward_model:
            notes.append("reward_model left out: no reward model is active")
        elif grader is not None and _needs_judge(grader) and not judge:
            notes.append(f"score_model grader {name!r} left out: no judge endpoint (set TRL_JUDGE_BASE_URL)")
        elif weight == 0:
            notes.append(f"{name} left out: weight 0")
        else:
            functions.append({"name": name, "grader": grader, "weight": round(weight * scaling, 6)})
    return {"functions": functions, "notes": notes}


def judge_score_model(client, *, model: str = ""):
    """A score_model runner for graders.grader_run_local: the grader's messages to an OpenAI-compatible judge,
    the first number of its reply clamped to the grader's range."""

    def score(grader: dict, sample: dict, item: dict) -> float:
        messages = [
            {
                "role": m.get("role", "user"),
                "content": graders.render_template(m.get("content", ""), sample=sample, item=item),
            }
            for m in grader.get("input") or []
        ]
        response = client.chat.completions.create(model=model or grader.get("model"), messages=messages)
        match = re.search(r"-?\d+(?:\.\d+)?", response.choices[0].message.content or "")
        low, high = (grader.get("range") or [0, 1])[:2]
        return min(float(high), max(float(low), float(match[0]))) if match else float(low)

    return score


def judge_client():
    """The judge's client (TRL_JUDGE_BASE_URL), or None when there is no judge."""
    if not settings.TRL_JUDGE_BASE_URL:
        return None
    import openai

    return openai.OpenAI(
        base_url=settings.TRL_JUDGE_BASE_URL,
        api_key=settings.TRL_JUDGE_API_KEY or "none",
        max_retries=settings.OPENAI_MAX_RETRIES,
        timeout=settings.OPENAI_TIMEOUT_SECONDS,
    )


def _samples(completions, item, depth: int) -> list[tuple[dict, dict]]:
    return [
        (completion_sample(completion_text(c), depth=depth), json.loads(i))
        for c, i in zip(completions, item, strict=True)
    ]


def grader_reward(name: str, grader: dict, *, depth: int, score_model=None):
    """A reward function scoring completions with a grader through the local runner (python graders batched)."""

    def reward(prompts, completions, item, **kwargs):
        pairs = _samples(completions, item, depth)
        try:
            return graders.graders_run_local_many(grader=grader, pairs=pairs, score_model=score_model)
        except graders.GraderError:
            # One odd completion must not cost the batch: score them one by one, a failure scoring 0.
            return [_score_or_zero(grader, sample, item_, score_model) for sample, item_ in pairs]

    reward.__name__ = name
    return reward


def _score_or_zero(grader, sample, item, score_model) -> float:
    try:
        return graders.grader_run_local(grader=grader, sample=sample, item=item, score_model=score_model)
    except graders.GraderError:
        return 0.0


def _trace_like(prompt, sample: dict, item: dict) -> dict:
    """A completion shaped like traces.selectors.trace_scrubbed_view, for the reward model."""
    messages = prompt if isinstance(prompt, list) else [{"role": "user", "content": str(prompt)}]
    user = next((m.get("content") for m in reversed(messages) if m.get("role") == "user"), "")
    calls = [
        {"name": c["name"], "args": c["arguments"], "result": None, "error": None, "latency_ms": 0}
        for c in sample["output_tools"]
    ]
    return {
        "user_message": user,
        "final_response": sample["output_text"],
        "tool_calls": calls,
        "flags": [],
        "task_category": item.get("task_category") or "other",
        "context": {},
        "latency_ms": 0,
    }


def reward_model_reward(reward_model, *, depth: int):
    """A reward function scoring completions with the in-app reward model (rewards.services.reward_model_predict)."""
    from rewards.services import reward_model_predict

    def reward(prompts, completions, item, **kwargs):
        pairs = _samples(completions, item, depth)
        items = [_trace_like(prompt, sample, item_) for prompt, (sample, item_) in zip(prompts, pairs, strict=True)]
        return [row["reward"] for row in reward_model_predict(items=items, reward_model=reward_model)]

    reward.__name__ = REWARD_MODEL
    return reward


def reward_functions(plan: dict, *, depth: int, reward_model=None, score_model=None) -> tuple[list, list[float]]:
    """The plan's callables and weights, in order, for GRPOTrainer(reward_funcs=…, args.reward_weights=…)."""
    functions = [
        reward_model_reward(reward_model, depth=depth)
        if entry["grader"] is None
        else grader_reward(entry["name"], entry["grader"], depth=depth, score_model=score_model)
        for entry in plan["functions"]
    ]
    return functions, [entry["weight"] for entry in plan["functions"]]
