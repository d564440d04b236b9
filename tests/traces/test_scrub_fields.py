"""Every text and JSON field of Trace is scrubbed by the nightly filter, or exempt with a reason."""

import json

import pytest
from django.db import models
from django.utils import timezone

from privacy.scrub import traces_scrubbed_copies
from traces.models import Trace
from traces.scrub_fields import EXEMPT_FIELDS, scrubbed_field_names, trace_scrub_input, trace_scrub_output

EMAIL = "wren.okafor@example.net"


def text_fields() -> list[models.Field]:
    return [
        f for f in Trace._meta.concrete_fields if isinstance(f, models.CharField | models.TextField | models.JSONField)
    ]


def test_every_text_and_json_field_is_scrubbed_or_exempt_with_a_reason():
    names = {f.name for f in text_fields()}

    assert names == set(scrubbed_field_names()) | set(EXEMPT_FIELDS)
    assert all(reason.strip() for reason in EXEMPT_FIELDS.values())


def test_no_field_an_agent_writes_is_exempt():
    agent_fields = {"external_id", "conversation_id", "user_message", "context", "selected_tools", "tool_calls",
                    "final_response", "flags", "policy_id", "task_category"}  # fmt: skip

    assert agent_fields <= set(scrubbed_field_names())


@pytest.mark.django_db
def test_a_person_planted_in_every_free_text_field_is_gone_from_the_scrubbed_copy(agent):
    trace = Trace(agent=agent, occurred_at=timezone.now())
    for field in text_fields():
        if field.name in EXEMPT_FIELDS or field.choices:
            continue  # choices hold one of a few fixed words, never free text
        value = {"note": f"write to {EMAIL}", EMAIL: "key"} if isinstance(field, models.JSONField) else f"to {EMAIL}"
        setattr(trace, field.name, [value] if field.get_default() == [] else value)

    (result,) = traces_scrubbed_copies(traces=[trace_scrub_input(trace)])
    stored = trace_scrub_output(result.fields)

    assert EMAIL not in json.dumps(stored)
    assert set(result.fields) == set(scrubbed_field_names())
    assert "<EMAIL_ADDRESS_1>" in stored["scrubbed_fields"]["conversation_id"]
