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
    """The only shape of a trace that reviewers, exports, the reward model and datasets may read."""
    return {
        "id": trace.pk,
        "conversation_id": trace.conversation_id,
        "modality": trace.modality,
        "task_category": trace.task_category,
        "user_message": trace.scrubbed_user_message,
        "context": trace.scrubbed_context if trace.scrubbed_context is not None else {},
        "selected_tools": trace.selected_tools,
        "tool_calls": trace.scrubbed_tool_calls if trace.scrubbed_tool_calls is not None else [],
        "final_response": trace.scrubbed_final_response,
        "latency_ms": trace.latency_ms,
        "flags": trace.flags,
        "policy_id": trace.policy_id,
        "arm": trace.arm,
        "occurred_at": trace.occurred_at,
    }
