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


_TEXT_COLUMNS = ("user_message", "final_response", "scrubbed_user_message", "scrubbed_final_response")
_JSON_COLUMNS = (
    "context", "tool_calls", "extra", "selected_tools", "flags",
    "scrubbed_context", "scrubbed_tool_calls", "scrubbed_fields",
)  # fmt: skip


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
