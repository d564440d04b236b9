import random
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from labeling.models import DIMENSIONS, Preference, Rubric, ScoreCard
from rewards.artifacts import artifact_cache_clear
from rewards.synthetic import synthetic_pair, synthetic_trace
from traces.models import Trace, TraceStatus


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    # PBKDF2 costs ~0.3 s per user on these machines; these tests are not about passwords.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _fresh_artifact_cache():
    artifact_cache_clear()
    yield
    artifact_cache_clear()


@pytest.fixture
def reviewer(db):
    return get_user_model().objects.create_user("nate", password="pw")


@pytest.fixture
def rubric(db):
    return Rubric.objects.create(
        name="test rubric",
        dimensions={
            d: {"label": d, "question": d, "anchors": {str(i): str(i) for i in range(1, 6)}} for d in DIMENSIONS
        },
    )


class Labels:
    """Builds eligible traces, score cards and preferences straight through the ORM."""

    def __init__(self, agent, reviewer, rubric):
        self.agent, self.reviewer, self.rubric = agent, reviewer, rubric
        self.rng = random.Random(5)
        self.count = 0

    def trace(self, item: dict, *, days_ago: int = 1) -> Trace:
        self.count += 1
        return Trace.objects.create(
            agent=self.agent,
            external_id=f"t-{self.count}",
            conversation_id=f"c-{self.count}",
            user_message="RAW " + item.get("user_message", ""),
            final_response="RAW " + item.get("final_response", ""),
            tool_calls=item.get("tool_calls", []),
            latency_ms=item.get("latency_ms"),
            flags=item.get("flags", []),
            task_category=item.get("task_category", "other"),
            occurred_at=timezone.now() - timedelta(days=days_ago),
            status=TraceStatus.ELIGIBLE,
            scrubbed_user_message=item.get("user_message", ""),
            scrubbed_final_response=item.get("final_response", ""),
            scrubbed_tool_calls=item.get("tool_calls", []),
            scrubbed_context={},
            scrubbed_at=timezone.now(),
        )

    def card(self, trace: Trace, scores: dict, *, reviewer=None) -> ScoreCard:
        return ScoreCard.objects.create(
            trace=trace,
            reviewer=reviewer or self.reviewer,
            rubric=self.rubric,
            rubric_version=self.rubric.version,
            task_category=trace.task_category,
            **{d: scores[d] for d in DIMENSIONS},
            complexity=scores.get("complexity", 1),
        )

    def labeled(self, n: int) -> list[Trace]:
        traces = []
        for _ in range(n):
            item, scores = synthetic_trace(self.rng)
            trace = self.trace(item)
            self.card(trace, scores)
            traces.append(trace)
        return traces

    def unlabeled(self, n: int) -> list[Trace]:
        return [self.trace(synthetic_trace(self.rng)[0]) for _ in range(n)]

    def preferences(self, n: int) -> list[Preference]:
        rows = []
        for index in range(n):
            pair = synthetic_pair(self.rng)
            rows.append(
                Preference.objects.create(
                    reviewer=self.reviewer,
                    prompt=pair["a"]["user_message"],
                    response_a=pair["a"]["final_response"],
                    response_b=pair["b"]["final_response"],
                    trajectory_a=pair["a"]["tool_calls"],
                    trajectory_b=pair["b"]["tool_calls"],
                    choice=pair["winner"],
                    task_category=pair["domain"],
                    source="import",
                    import_key=f"synthetic-{self.count}-{index}",
                )
            )
        return rows


@pytest.fixture
def labels(agent, reviewer, rubric):
    return Labels(agent, reviewer, rubric)
