"""What `run_grader` scores: a dataset's examples paired with replies worth grading.

- `original`: the reply each trace actually had (scrubbed final response and tool calls), graded against the
  example's reference (the reviewer's correction when there is one) — how good the traffic we train on was;
- `policy`: a policy's replies, sampled now through chat completions on each example's messages and tools —
  how a model does before (or after) training;
- `reference`: the reference against itself (1.0 on text; a sanity check of the grader wiring).
"""

import json

from training.graders import graders_run_local_many

SOURCES = ("original", "policy", "reference")


def sample_from_reference(example: dict) -> dict:
    return {
        "output_text": example.get("reference_answer") or "",
        "output_json": None,
        "output_tools": example.get("expected_tool_calls") or [],
    }


def _samples_original(examples: list[dict]) -> list[dict]:
    from traces.models import Trace
    from traces.selectors import trace_scrubbed_view

    ids = [example.get("trace_id") for example in examples]
    views = {trace.pk: trace_scrubbed_view(trace) for trace in Trace.objects.filter(pk__in=ids)}
    samples = []
    for trace_id in ids:
        view = views.get(trace_id) or {"final_response": "", "tool_calls": []}
        calls = [{"name": c.get("name"), "args": c.get("args") or {}} for c in view["tool_calls"] or []]
        samples.append({"output_text": view["final_response"] or "", "output_json": None, "output_tools": calls})
    return samples


def _sample_policy(client, model: str, example: dict) -> dict:
    kwargs = {"model": model, "messages": example["messages"]}
    if example.get("tools"):
        kwargs["tools"] = example["tools"]
    message = client.chat.completions.create(**kwargs).choices[0].message
    calls = []
    for call in message.tool_calls or []:
        try:
            args = json.loads(call.function.arguments or "{}")
        except json.JSONDecodeError:
            args = {}
        calls.append({"name": call.function.name, "args": args})
    return {"output_text": message.content or "", "output_json": None, "output_tools": calls}


def dataset_samples(*, examples: list[dict], source: str, model: str | None = None) -> list[dict]:
    """One sample per example from `source` (see the module docstring)."""
    if source == "original":
        return _samples_original(examples)
    if source == "policy":
        import openai

        from zeke_rft.errors import ApplicationError
        from zeke_rft.openai_client import openai_client

        client = openai_client()
        try:
            return [_sample_policy(client, model, example) for example in examples]
        except openai.OpenAIError as exc:
            raise ApplicationError(f"sampling {model} failed: {type(exc).__name__}: {str(exc)[:300]}") from exc
    return [sample_from_reference(example) for example in examples]


def dataset_grade(*, examples: list[dict], grader: dict, source: str, model: str | None = None) -> list[float]:
    samples = dataset_samples(examples=examples, source=source, model=model)
    return graders_run_local_many(grader=grader, pairs=list(zip(samples, examples, strict=True)))
