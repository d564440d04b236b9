"""The privacy app's public functions: what traces, labeling and training call.

- `trace_scrubbed_copy(trace=...)` / `traces_scrubbed_copies(traces=...)`: the scrubbed copy of every field
  of a trace (a dict of field name → value), with PII counts; the nightly filter's one walk.
- `reviewer_texts_scrub(texts=...)`: what a reviewer typed (correction, corrected tool calls, rationale,
  safety notes, a skip reason), secrets redacted and PII scrubbed before it is stored. Placeholders already
  in the text (copied from the scrubbed trace) are kept and new ones are numbered after them.
- `secrets_redact_fields` (privacy.secrets): secrets in every field, key and tool name, at ingestion.
"""

from __future__ import annotations

from privacy.pii_placeholders import PLACEHOLDER_RE, PlaceholderMap, ScrubResult
from privacy.secrets import secrets_redact_fields


def traces_scrubbed_copies(*, traces: list[dict]) -> list[ScrubResult]:
    """Scrubbed copies of many traces at once (one NLP pass over their distinct strings)."""
    from privacy.scrubbing import get_scrubber

    return get_scrubber().scrub_traces(traces)


def trace_scrubbed_copy(*, trace: dict) -> ScrubResult:
    """The scrubbed copy of every field of one trace (`ScrubResult.fields`) and what was found."""
    return traces_scrubbed_copies(traces=[trace])[0]


def reviewer_texts_scrub(*, texts: dict) -> dict:
    """`texts` (field name → str, or a list of tool calls under "corrected_tool_calls"), secrets and PII removed.

    Empty values are returned as they are (no model is loaded for a form with nothing typed).
    """
    present = {name: value for name, value in texts.items() if value not in (None, "", [], {})}
    if not present:
        return dict(texts)
    redacted, _count = secrets_redact_fields(present)
    trace = {("tool_calls" if name == "corrected_tool_calls" else name): value for name, value in redacted.items()}
    from privacy.scrubbing import get_scrubber

    result = get_scrubber().scrub_traces([trace], mappings=[_placeholder_map_after(trace)])[0]
    scrubbed = {("corrected_tool_calls" if name == "tool_calls" else name): v for name, v in result.fields.items()}
    return {**texts, **scrubbed}


def _placeholder_map_after(value) -> PlaceholderMap:
    """A placeholder map whose numbers start after the placeholders already in `value` (<PERSON_2> → 3)."""
    import json

    mapping = PlaceholderMap()
    for match in PLACEHOLDER_RE.finditer(json.dumps(value, ensure_ascii=False)):
        entity_type, number = match.group(1), int(match.group(2))
        mapping.per_type[entity_type] = max(mapping.per_type.get(entity_type, 0), number)
    return mapping
