"""Disagreement sampling: shadow replies that differ most from the baseline reply to the same
message go to the labeling queue as A/B preference items.

Pairs are traces of one rollout with the same conversation_id and scrubbed user message, one
arm "shadow"/"candidate" and one "baseline", both scrubbed by the nightly filter. They are
ranked by |reward(candidate) − reward(baseline)| under the active reward model; with no active
reward model, by text dissimilarity (1 − difflib ratio) — recorded as the `scored_by` value.
"""

from difflib import SequenceMatcher

from django.conf import settings

from rollout.models import Rollout
from traces.models import Trace, TraceArm


def _pairs(rollout: Rollout) -> list[tuple[Trace, Trace]]:
    traces = Trace.objects.filter(rollout_id=rollout.pk, scrubbed_at__isnull=False, quarantined=False).order_by("pk")
    baseline, candidates = {}, []
    for trace in traces:
        key = (trace.conversation_id, trace.scrubbed_user_message)
        if trace.arm == TraceArm.BASELINE:
            baseline.setdefault(key, trace)
        elif trace.arm in (TraceArm.SHADOW, TraceArm.CANDIDATE):
            candidates.append((key, trace))
    return [(baseline[key], trace) for key, trace in candidates if key in baseline]


def _side(trace: Trace) -> dict:
    return {
        "policy_id": trace.policy_id,
        "response": trace.scrubbed_final_response,
        "tool_calls": trace.scrubbed_tool_calls or [],
    }


def disagreements_sample(*, rollout: Rollout, limit: int | None = None) -> dict:
    """Queue the `limit` most different pairs (baseline trace id → A/B pair); returns what was done."""
    from labeling.services import label_tasks_add
    from rollout.evaluation import reward_scores
    from traces.selectors import trace_scrubbed_view

    limit = settings.ROLLOUT_DISAGREEMENT_SAMPLES if limit is None else limit
    pairs = _pairs(rollout)
    if not pairs:
        return {"pairs": 0, "added": 0, "scored_by": None}
    items = [trace_scrubbed_view(t) for pair in pairs for t in pair]
    scores, note = reward_scores(items)
    if scores is not None:
        gaps = [abs(scores[2 * i + 1] - scores[2 * i]) for i in range(len(pairs))]
        scored_by, minimum = "reward_model", settings.ROLLOUT_DISAGREEMENT_MIN_GAP
    else:
        gaps = [
            1 - SequenceMatcher(None, base.scrubbed_final_response, cand.scrubbed_final_response).ratio()
            for base, cand in pairs
        ]
        scored_by, minimum = f"text_dissimilarity ({note})", 0.0
    ranked = sorted(zip(gaps, pairs, strict=True), key=lambda item: -item[0])
    chosen = [(gap, pair) for gap, pair in ranked if gap > minimum][:limit]
    trace_ids = [base.pk for _, (base, _) in chosen]
    # A/B order alternates by trace id so reviewers cannot learn which side is the candidate.
    pair_map = {
        base.pk: ({"a": _side(base), "b": _side(cand)} if base.pk % 2 else {"a": _side(cand), "b": _side(base)})
        for _, (base, cand) in chosen
    }
    added = (
        label_tasks_add(trace_ids=trace_ids, reason="disagreement", kind="preference", pairs=pair_map) if chosen else 0
    )
    return {"pairs": len(pairs), "added": added, "scored_by": scored_by, "gaps": [round(g, 4) for g, _ in chosen]}
