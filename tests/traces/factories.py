"""Posted-trace payloads for the traces tests."""

import itertools

_counter = itertools.count(1)


def trace_payload(**overrides) -> dict:
    """A valid trace as an agent would post it; each call gets a fresh external_id."""
    number = next(_counter)
    payload = {
        "external_id": f"ext-{number}",
        "conversation_id": f"conv-{number % 7}",
        "user_message": "Move my 3pm with Priya to Thursday morning, please.",
        "context": {"timezone": "America/Chicago", "channel": "ios"},
        "selected_tools": ["calendar.search_events", "calendar.update_event"],
        "tool_calls": [
            {
                "name": "calendar.search_events",
                "args": {"query": "Priya", "day": "2026-12-01"},
                "result": {"events": [{"id": "evt_1", "title": "Sync with Priya"}]},
                "error": None,
                "latency_ms": 210,
            },
            {
                "name": "calendar.update_event",
                "args": {"event_id": "evt_1", "start": "2026-12-03T09:30:00-06:00"},
                "result": {"status": "updated"},
                "error": None,
                "latency_ms": 330,
            },
        ],
        "final_response": "Done: your sync with Priya is now Thursday at 9:30 AM.",
        "latency_ms": 1840,
        "flags": [],
        "policy_id": "ft:o4-mini:zeke:v1",
        "task_category": "scheduling",
        "occurred_at": "2026-12-01T15:02:11Z",
    }
    payload.update(overrides)
    return payload
