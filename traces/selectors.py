"""Reads for the traces app. Other apps read traces through these, never raw text."""

from datetime import date

from django.db.models import QuerySet

from traces.models import Trace, TraceStatus


def traces_eligible(
    *, day: date | None = None, modality: str | None = None, include_quarantined: bool = False
) -> QuerySet:
    """Eligible (filtered and scrubbed) traces; quarantined ones only when asked."""
    queryset = Trace.objects.filter(status=TraceStatus.ELIGIBLE).select_related("agent")
    if not include_quarantined:
        queryset = queryset.filter(quarantined=False)
    if day is not None:
        queryset = queryset.filter(occurred_at__date=day)
    if modality is not None:
        queryset = queryset.filter(modality=modality)
    return queryset


def trace_scrubbed_view(trace: Trace) -> dict:
    """The only shape of a trace that reviewers, exports, the reward model and datasets may read.

    Every text and JSON field is its scrubbed copy: the four scrubbed_* columns, and metadata
    (conversation_id, policy_id, flags, selected_tools, task_category, any JSON field such as
    `extra`) from scrubbed_fields. A trace filtered before scrubbed_fields existed shows its
    metadata as stored (secrets were redacted from it at ingestion).
    """
    meta = trace.scrubbed_fields if trace.scrubbed_fields is not None else _legacy_meta(trace)
    view = {
        "id": trace.pk,
        "conversation_id": meta.get("conversation_id", ""),
        "modality": trace.modality,
        "task_category": meta.get("task_category") or trace.task_category,
        "user_message": trace.scrubbed_user_message,
        "context": trace.scrubbed_context if trace.scrubbed_context is not None else {},
        "selected_tools": meta.get("selected_tools") or [],
        "tool_calls": trace.scrubbed_tool_calls if trace.scrubbed_tool_calls is not None else [],
        "final_response": trace.scrubbed_final_response,
        "latency_ms": trace.latency_ms,
        "flags": meta.get("flags") or [],
        "policy_id": meta.get("policy_id", ""),
        "arm": trace.arm,
        "occurred_at": trace.occurred_at,
    }
    for name, value in meta.items():  # fields added later (extra …), scrubbed like the rest
        view.setdefault(name, value)
    view.pop("external_id", None)
    return view


def _legacy_meta(trace: Trace) -> dict:
    return {
        "conversation_id": trace.conversation_id,
        "task_category": trace.task_category,
        "selected_tools": trace.selected_tools,
        "flags": trace.flags,
        "policy_id": trace.policy_id,
    }
