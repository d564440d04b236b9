import random
from datetime import timedelta

import pytest
from django.utils import timezone

from rollout.evaluation import eval_suites_seed
from rollout.models import EvalCase, Policy, PolicyStatus, Rollout, RolloutState
from rollout.seeds import zeke_suites
from rollout.smoke import SMOKE_CONVERSATIONS
from tests.fakes.openai_server import FakeOpenAI
from traces.models import Trace, TraceStatus
from traces.services import agent_create

# Concrete texts for regression cases whose expectation is a pattern.
REGRESSION_TEXT = {
    "timezone": "10am",
    "weekday": "Sunday",
    "uptime": "99.90%",
    "bulk-delete-confirm": "That would erase everything I remember about you. Please confirm and I'll do it.",
    "email-subject": "Moving Friday's sync to Monday",
}
REFUSAL = "I can't help with that — it is against ZEKE's refusal policy. I can suggest a safe alternative."
COMPLIANCE = "Sure, here is how: open the settings page, pick the option you need and confirm."


def _first_allowed(allowed):
    if isinstance(allowed, dict):
        return _arguments(allowed)
    values = allowed if isinstance(allowed, list) else [allowed]
    return next((v for v in values if v != ""), None)


def _arguments(args: dict) -> dict:
    chosen = {}
    for name, allowed in args.items():
        values = allowed if isinstance(allowed, list) else [allowed]
        value = next((v for v in values if v != ""), None)
        if value is None:
            continue  # only "" allowed: leave the optional argument out
        chosen[name] = _arguments(value) if isinstance(value, dict) else value
    return chosen


def _last_user(body: dict) -> str:
    user = next((m for m in reversed(body.get("messages", [])) if m.get("role") == "user"), {})
    return user.get("content") if isinstance(user.get("content"), str) else ""


class Oracle:
    """A chat responder that answers every seeded case correctly, per model, unless told otherwise.

    `unsafe_models`: models that comply with every request (safety regression).
    `wrong_tool_models`: models that answer tool cases in prose instead of calling tools.
    `refusing_models`: models that refuse everything (over-refusal).
    """

    def __init__(self):
        self.answers: dict[str, dict] = {}
        self.unsafe_models: set[str] = set()
        self.wrong_tool_models: set[str] = set()
        self.refusing_models: set[str] = set()
        self.load_smoke()

    def load_smoke(self):
        for _name, case_input, expectation in SMOKE_CONVERSATIONS:
            text = case_input["messages"][-1]["content"]
            if expectation == "refuse":
                self.answers[text] = {"content": REFUSAL, "refuse": True}
            elif expectation == "act":
                self.answers[text] = {
                    "tool_calls": [{"name": "calendar_create_event", "arguments": {"title": "Dentist", "start": "x"}}]
                }
            else:
                self.answers[text] = {"content": "Hi Nate, I'm here."}

    def load_cases(self):
        for case in EvalCase.objects.select_related("suite"):
            text = _last_user({"messages": case.input["messages"]})
            kind, expected = case.suite.kind, case.expected
            if kind == "refusal":
                self.answers[text] = (
                    {"content": REFUSAL, "refuse": True} if expected["should_refuse"] else {"content": COMPLIANCE}
                )
            elif kind == "tool_call":
                calls = [{"name": c["name"], "arguments": _arguments(c["args"])} for c in expected["calls"]]
                self.answers[text] = {"tool_calls": calls} if calls else {"content": "Glad to help — nothing to do."}
            else:
                value = REGRESSION_TEXT.get(case.key, expected.get("value"))
                self.answers[text] = {"content": value if isinstance(value, str) else " ".join(value)}
        return self

    def __call__(self, body: dict) -> dict:
        model = body["model"]
        answer = self.answers.get(_last_user(body), {"content": "Done."})
        if model in self.unsafe_models and answer.get("refuse"):
            return {"content": "Sure, here's how to do that: first, open the account page..."}
        if model in self.refusing_models:
            return {"content": REFUSAL}
        if model in self.wrong_tool_models and answer.get("tool_calls"):
            return {"content": "You could do that yourself in the app."}
        return {key: value for key, value in answer.items() if key != "refuse"}


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def fake_openai(settings, monkeypatch):
    # Without TCP_NODELAY each request waits ~40 ms for a delayed ACK (measured 45 ms → 2.6 ms per request).
    monkeypatch.setattr("tests.fakes.openai_server._Handler.disable_nagle_algorithm", True, raising=False)
    with FakeOpenAI() as fake:
        settings.OPENAI_API_KEY = "test-key"
        settings.OPENAI_BASE_URL = fake.base_url
        settings.OPENAI_AZURE_ENDPOINT = ""
        settings.OPENAI_MAX_RETRIES = 0
        yield fake


@pytest.fixture
def zeke_suites_seeded(db):
    eval_suites_seed(suites=zeke_suites())


@pytest.fixture
def oracle(fake_openai, zeke_suites_seeded):
    responder = Oracle().load_cases()
    fake_openai.chat_responder = responder
    return responder


@pytest.fixture
def baseline(db):
    return Policy.objects.create(
        model_id="gpt-4.1-mini", modality="chat", status=PolicyStatus.ACTIVE, config={"t": 0.3}
    )


@pytest.fixture
def training_run(db):
    from training.models import DatasetBuild, TrainingRun

    dataset = DatasetBuild.objects.create(sha256="d" * 64, manifest={}, files={})
    return TrainingRun.objects.create(dataset=dataset, base_model="o4-mini", config={}, config_hash="c" * 64)


@pytest.fixture
def candidate(baseline, training_run):
    from rollout.services import policy_register_candidate

    policy = policy_register_candidate(model_id="ft:o4-mini:zeke:cand1", modality="chat", training_run=training_run)
    policy.config = {"t": 0.2, "system_prompt_version": "v2"}
    policy.save()
    return policy


@pytest.fixture
def rollout(candidate, baseline):
    """A canary rollout at 10% whose gate passed."""
    return Rollout.objects.create(
        modality="chat",
        candidate=candidate,
        baseline=baseline,
        state=RolloutState.CANARY,
        traffic_percent=10.0,
        salt="fixed-salt",
        gate={"passed": True, "win_rate": 0.62},
    )


class TraceMaker:
    """Traces for one rollout arm, straight through the ORM (as the ingestion API would store them)."""

    def __init__(self, agent):
        self.agent = agent
        self.count = 0

    def make(
        self,
        rollout,
        arm: str,
        n: int,
        *,
        policy_id: str,
        latency=(800, 200),
        error_rate=0.0,
        safety_rate=0.0,
        seed=1,
        conversation_prefix="conv",
        scrubbed=False,
        response="ok",
        ago_minutes=(1, 50),
    ):
        rng = random.Random(seed)
        now = timezone.now()
        rows = []
        for _ in range(n):
            self.count += 1
            failed = rng.random() < error_rate
            flags = ["safety:pii"] if rng.random() < safety_rate else []
            tool_calls = [
                {
                    "name": "calendar_list_events",
                    "args": {},
                    "result": None if failed else "ok",
                    "error": "timeout" if failed else None,
                    "latency_ms": 100,
                }
            ]
            rows.append(
                Trace(
                    agent=self.agent,
                    external_id=f"t-{self.count}",
                    conversation_id=f"{conversation_prefix}-{self.count}",
                    user_message="hello",
                    final_response=response,
                    tool_calls=tool_calls,
                    latency_ms=max(1, int(rng.gauss(*latency))),
                    flags=flags,
                    policy_id=policy_id,
                    rollout_id=rollout.pk,
                    arm=arm,
                    occurred_at=now - timedelta(minutes=rng.randint(*ago_minutes)),
                    status=TraceStatus.ELIGIBLE,
                    scrubbed_user_message="hello" if scrubbed else "",
                    scrubbed_final_response=response if scrubbed else "",
                    scrubbed_tool_calls=tool_calls if scrubbed else None,
                    scrubbed_at=now if scrubbed else None,
                )
            )
        return Trace.objects.bulk_create(rows)


@pytest.fixture
def traces(db):
    agent, _ = agent_create(name="rollout-agent", modality="chat")
    return TraceMaker(agent)


GOOD_REPLY = "All set: I checked your calendar first, picked the slot that fits, and saved the confirmation."
BAD_REPLY = "Error: something went wrong."


@pytest.fixture
def active_reward_model(db, settings):
    """A real reward model trained through rewards.services on synthetic labeled traces."""
    from django.contrib.auth import get_user_model

    from labeling.models import DIMENSIONS, Rubric, ScoreCard
    from rewards.artifacts import artifact_cache_clear
    from rewards.services import reward_model_train
    from rewards.synthetic import synthetic_trace

    artifact_cache_clear()
    agent, _ = agent_create(name="labeled-agent", modality="chat")
    reviewer = get_user_model().objects.create_user("reviewer", password="pw")
    rubric = Rubric.objects.create(
        name="rollout test rubric",
        dimensions={
            d: {"label": d, "question": d, "anchors": {str(i): str(i) for i in range(1, 6)}} for d in DIMENSIONS
        },
    )
    rng = random.Random(5)
    for index in range(80):
        item, scores = synthetic_trace(rng)
        trace = Trace.objects.create(
            agent=agent,
            external_id=f"rm-{index}",
            conversation_id=f"rm-{index}",
            user_message=item["user_message"],
            final_response=item["final_response"],
            tool_calls=item["tool_calls"],
            latency_ms=item["latency_ms"],
            flags=item["flags"],
            task_category=item["task_category"],
            occurred_at=timezone.now() - timedelta(days=1),
            status=TraceStatus.ELIGIBLE,
            scrubbed_user_message=item["user_message"],
            scrubbed_final_response=item["final_response"],
            scrubbed_tool_calls=item["tool_calls"],
            scrubbed_context={},
            scrubbed_at=timezone.now(),
        )
        ScoreCard.objects.create(
            trace=trace,
            reviewer=reviewer,
            rubric=rubric,
            rubric_version=rubric.version,
            task_category=trace.task_category,
            complexity=scores["complexity"],
            **{d: scores[d] for d in DIMENSIONS},
        )
    reward_model, _ = reward_model_train()
    assert reward_model.status == "active"
    yield reward_model
    artifact_cache_clear()


def record_promotion_evidence(rollout, *, hours_ago=72, n=400, win_rate=0.8, safety=(0, 1)):
    """A fresh "ok" monitor check with strong evidence, and the canary started `hours_ago`:
    what rollout.guard reads to call a canary ready."""
    from django.db.models import F

    from rollout.models import MonitorCheck

    # Shift the whole history back, so its order stays as it happened.
    Rollout.history.filter(id=rollout.pk).update(history_date=F("history_date") - timedelta(hours=hours_ago))
    return MonitorCheck.objects.create(
        rollout=rollout,
        window_start=rollout.started_at,
        window_end=timezone.now(),
        decision="ok",
        metrics={
            "candidate": {"n": n, "conversations": n, "safety_flags": safety[0], "win_rate": win_rate},
            "baseline": {"n": n, "conversations": n, "safety_flags": safety[1]},
            "guards": [],
            "win": {"win_rate": win_rate, "scored": [n, n]},
        },
    )
