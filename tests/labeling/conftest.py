import itertools
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from labeling.access import reviewers_group
from traces.models import TaskCategory, Trace

_counter = itertools.count(1)
RAW_MARKER = "RAW-SECRET-Jane-Doe-555-0100"


def make_trace(agent, *, category=TaskCategory.OTHER, status="eligible", flags=None, arm="", hours_ago=1, **fields):
    n = next(_counter)
    values = {
        "agent": agent,
        "external_id": f"ext-{n}",
        "conversation_id": f"conv-{n}",
        "user_message": f"{RAW_MARKER} please book lunch {n}",
        "final_response": f"{RAW_MARKER} booked {n}",
        "tool_calls": [
            {
                "name": "calendar.create",
                "args": {"who": RAW_MARKER},
                "result": {"ok": True},
                "error": None,
                "latency_ms": 12,
            }
        ],
        "context": {"caller": RAW_MARKER},
        "scrubbed_user_message": f"<PERSON> please book lunch {n}",
        "scrubbed_final_response": f"Booked lunch {n} for <PERSON>.",
        "scrubbed_tool_calls": [
            {
                "name": "calendar.create",
                "args": {"who": "<PERSON>"},
                "result": {"ok": True},
                "error": None,
                "latency_ms": 12,
            }
        ],
        "scrubbed_context": {"caller": "<PERSON>"},
        "scrubbed_at": timezone.now(),
        "task_category": category,
        "status": status,
        "flags": flags or [],
        "arm": arm,
        "occurred_at": timezone.now() - timedelta(hours=hours_ago),
    }
    values.update(fields)
    return Trace.objects.create(**values)


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def traces_factory(agent):
    def factory(count=1, **fields):
        categories = list(TaskCategory.values)
        return [make_trace(agent, **{"category": categories[i % len(categories)], **fields}) for i in range(count)]

    return factory


def _user(username, *, reviewer=True, **extra):
    user = get_user_model().objects.create_user(username=username, password="pw-secret-123", **extra)
    if reviewer:
        user.groups.add(reviewers_group())
    return user


@pytest.fixture
def reviewer(db):
    return _user("nate")


@pytest.fixture
def second_reviewer(db):
    return _user("maria")


@pytest.fixture
def outsider(db):
    return _user("visitor", reviewer=False)


@pytest.fixture
def reviewer_client(client, reviewer):
    client.force_login(reviewer)
    return client


SCORES = {
    "success": 4,
    "helpfulness": 3,
    "tone_alignment": 5,
    "safety": 5,
    "task_category": "scheduling",
    "complexity": 2,
}
