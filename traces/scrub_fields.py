"""Which of a trace's fields are scrubbed: every text and JSON field an agent sends, found by type.

A field added to Trace later (a JSON `extra`, say) is walked and scrubbed without a change here;
only fields that no agent writes are listed as exempt, each with its reason (the test in
tests/traces/test_scrub_fields.py fails when a text field is neither walked nor exempt).
"""

from django.db import models

from traces.models import Trace

# Text fields that no agent writes, or that hold scrubbed output already.
EXEMPT_FIELDS = {
    "status": "a TraceStatus choice the filter sets",
    "drop_reason": "a rule name the filter sets",
    "drop_detail": "written by the filter from scrubbed text and masked excerpts",
    "dedupe_key": "sha256 of the scrubbed prompt and response",
    "scrubbed_user_message": "scrubbed output",
    "scrubbed_context": "scrubbed output",
    "scrubbed_tool_calls": "scrubbed output",
    "scrubbed_final_response": "scrubbed output",
    "scrubbed_fields": "scrubbed output",
    "pii_found": "entity type → count, written by the filter",
    "quarantine_reason": "written by staff on rollback",
}
CORE_FIELDS = ("user_message", "context", "tool_calls", "final_response")  # kept in the scrubbed_* columns
_TEXT_TYPES = (models.CharField, models.TextField, models.JSONField)


def scrubbed_field_names() -> list[str]:
    """Trace's text and JSON fields an agent writes: what the nightly filter scrubs."""
    return [
        field.name
        for field in Trace._meta.concrete_fields
        if isinstance(field, _TEXT_TYPES) and field.name not in EXEMPT_FIELDS
    ]


def trace_scrub_input(trace: Trace) -> dict:
    """Every scrubbed field of `trace` by name, raw (secrets already redacted at ingestion)."""
    return {name: getattr(trace, name) for name in scrubbed_field_names()}


def trace_scrub_output(scrubbed: dict) -> dict:
    """The model's columns for a scrubbed copy: the four scrubbed_* columns and scrubbed_fields."""
    return {
        "scrubbed_user_message": scrubbed.get("user_message") or "",
        "scrubbed_context": scrubbed.get("context") if scrubbed.get("context") is not None else {},
        "scrubbed_tool_calls": scrubbed.get("tool_calls") if scrubbed.get("tool_calls") is not None else [],
        "scrubbed_final_response": scrubbed.get("final_response") or "",
        "scrubbed_fields": {name: value for name, value in scrubbed.items() if name not in CORE_FIELDS},
    }
