import itertools

import pytest
from django.utils import timezone

from tests.fakes.openai_server import FakeOpenAI

_counter = itertools.count(1)


@pytest.fixture
def make_trace(agent):
    """An eligible, scrubbed trace (optionally with a reward event) created straight through the ORM."""
    from labeling.models import RewardEvent
    from traces.models import Trace, TraceStatus

    def make(
        *,
        message="Book a table for two at 7pm",
        response="Booked Luigi's for two at 7pm.",
        conversation=None,
        tool_calls=None,
        flags=None,
        reward=0.9,
        source="human",
        uncertainty=None,
        version="rm-1",
        context=None,
        modality="chat",
        quarantined=False,
        category="scheduling",
    ):
        n = next(_counter)
        calls = tool_calls if tool_calls is not None else []
        trace = Trace.objects.create(
            agent=agent,
            modality=modality,
            external_id=f"ext-{n}",
            conversation_id=conversation or f"conv-{n}",
            user_message=message,
            final_response=response,
            tool_calls=calls,
            occurred_at=timezone.now(),
            status=TraceStatus.ELIGIBLE,
            flags=flags or [],
            task_category=category,
            scrubbed_user_message=message,
            scrubbed_context=context or {},
            scrubbed_tool_calls=calls,
            scrubbed_final_response=response,
            scrubbed_at=timezone.now(),
            quarantined=quarantined,
            policy_id="gpt-base",
        )
        if reward is not None:
            RewardEvent.objects.create(
                trace=trace,
                reward=reward,
                source=source,
                uncertainty=uncertainty,
                reward_model_version=version if source == "model" else "",
            )
        return trace

    return make


@pytest.fixture
def rubric(db):
    from labeling.models import Rubric
    from labeling.rubric_default import DEFAULT_DIMENSIONS

    return Rubric.objects.create(name="ZEKE rubric test", version=3, dimensions=DEFAULT_DIMENSIONS, active=True)


@pytest.fixture
def reviewer(django_user_model):
    return django_user_model.objects.create_user("reviewer", password="pw")


@pytest.fixture
def correct(reviewer, rubric):
    """A reviewer's score card with a correction (and optionally corrected tool calls) for a trace."""
    from labeling.models import ScoreCard

    def make(trace, *, correction="", corrected_tool_calls=None):
        return ScoreCard.objects.create(
            trace=trace,
            reviewer=reviewer,
            rubric=rubric,
            rubric_version=rubric.version,
            success=2,
            helpfulness=2,
            tone_alignment=3,
            safety=5,
            task_category=trace.task_category,
            correction=correction,
            corrected_tool_calls=corrected_tool_calls,
        )

    return make


@pytest.fixture
def fake_openai(settings):
    with FakeOpenAI() as fake:
        settings.OPENAI_API_KEY = "test-key"
        settings.OPENAI_BASE_URL = fake.base_url
        settings.OPENAI_AZURE_ENDPOINT = ""
        settings.OPENAI_MAX_RETRIES = 2
        yield fake


@pytest.fixture
def dataset(make_trace, rubric):
    """A built stage-2 dataset: six conversations, tool calls in some."""
    from training.services import dataset_build

    for i in range(6):
        make_trace(
            message=f"Schedule meeting {i} with Ana",
            response=f"Meeting {i} is on your calendar.",
            tool_calls=[
                {
                    "name": "calendar_create",
                    "args": {"title": f"Meeting {i}", "minutes": 30},
                    "result": "ok",
                    "error": None,
                }
            ],
        )
    build, _ = dataset_build(stage=2, modality="chat")
    return build


@pytest.fixture
def dataset_with_corrections(make_trace, correct, rubric):
    """A stage-3 dataset whose reviewer corrections give preference pairs (correction over the original reply)."""
    from training.services import dataset_build

    for i in range(4):
        trace = make_trace(message=f"Remind me about invoice {i}", response=f"Ok {i}.", reward=0.3)
        correct(trace, correction=f"I set a reminder for invoice {i} tomorrow at 9:00.")
    build, _ = dataset_build(stage=3, modality="chat")
    return build
