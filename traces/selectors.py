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


_TEXT_COLUMNS = ("user_message", "final_response", "scrubbed_user_message", "scrubbed_final_response")
_JSON_COLUMNS = ("context", "tool_calls", "extra", "scrubbed_context", "scrubbed_tool_calls", "selected_tools")


def traces_matching(*, conversation_id: str | None = None, external_id: str | None = None, text: str | None = None):
    """Ids of the traces a forget request names: a conversation, an external id (any agent), or every trace
    holding `text` anywhere (case-insensitive; raw and scrubbed text, JSON fields included)."""
    if conversation_id is not None:
        return list(Trace.objects.filter(conversation_id=conversation_id).values_list("id", flat=True))
    if external_id is not None:
        return list(Trace.objects.filter(external_id=external_id).values_list("id", flat=True))
    needle = text.casefold()
    found = []
    # JSON columns hold the value escaped (quotes, non-ASCII, per database), so every row is read and
    # checked in Python: forgetting is rare and must not miss a copy.
    columns = ["id", "conversation_id", "external_id", *_TEXT_COLUMNS, *_JSON_COLUMNS]
    for row in Trace.objects.values_list(*columns).order_by("id").iterator(chunk_size=2000):
        if needle in _strings(row[1:]):
            found.append(row[0])
    return found


def _strings(values) -> str:
    """Every string, key and number inside `values`, one per line, case-folded."""
    strings = []
    stack = list(values)
    while stack:
        value = stack.pop()
        if isinstance(value, str):
            strings.append(value)
        elif isinstance(value, dict):
            stack.extend(value.keys())
            stack.extend(value.values())
        elif isinstance(value, list):
            stack.extend(value)
        elif value is not None:
            strings.append(str(value))
    return "\n".join(strings).casefold()
