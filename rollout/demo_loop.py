"""Demo of the whole loop (issue 13), run last by `manage.py load_demo`: a training job against the bundled
fake OpenAI server (tests/fakes/openai_server.py, started in a thread for the length of this step), the
candidate it makes in a shadow rollout with online monitor checks (so /rollouts/ has charts), and pending
blind A/B items in today's queue. Idempotent: once a demo rollout exists it only reports it."""

import random
from contextlib import contextmanager

from django.conf import settings
from django.utils import timezone

from rollout.models import Policy, PolicyStatus, Rollout
from zeke_rft.errors import ApplicationError

DEMO_AGENT = "zeke-demo"
MONITOR_BATCHES = (120, 120, 120)  # traces per arm before each check: insufficient data, then two ok checks


@contextmanager
def _fake_openai():
    from tests.fakes.openai_server import FakeOpenAI

    saved = {name: getattr(settings, name) for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "OPENAI_AZURE_ENDPOINT")}
    with FakeOpenAI() as fake:
        settings.OPENAI_API_KEY, settings.OPENAI_BASE_URL, settings.OPENAI_AZURE_ENDPOINT = (
            "fake-demo",
            fake.base_url,
            "",
        )
        try:
            yield fake
        finally:
            for name, value in saved.items():
                setattr(settings, name, value)


def demo_load(*, stdout) -> None:
    existing = Rollout.objects.order_by("-started_at").first()
    if existing is not None:
        stdout.write(f"loop demo: rollout {existing.pk} ({existing.state}) already there — see /rollouts/")
        return
    try:
        with _fake_openai():
            run = _training_run(stdout)
            policy = run.policies.first() if run else None
            rollout = _shadow(policy, stdout) if policy else None
    except (ApplicationError, ImportError) as exc:
        stdout.write(f"loop demo: stopped — {getattr(exc, 'message', exc)}")
        return
    if rollout is not None:
        _monitor_data(rollout, stdout)
        _ab_items(rollout, stdout)


def _training_run(stdout):
    from training.models import DatasetBuild, DatasetStatus, TrainingStatus
    from training.services import training_run_create, training_run_poll, training_run_submit

    build = DatasetBuild.objects.filter(status=DatasetStatus.SUCCEEDED).order_by("created_at").first()
    if build is None:
        stdout.write("loop demo: no dataset build — run the training demo first (manage.py build_dataset)")
        return None
    run = training_run_create(dataset=build)
    training_run_submit(run_id=run.pk)  # already done when Celery runs eagerly; safe to run twice
    for _ in range(60):
        run = training_run_poll(run_id=run.pk)
        if run.status in (TrainingStatus.SUCCEEDED, TrainingStatus.FAILED, TrainingStatus.CANCELLED):
            break
    stdout.write(
        f"loop demo: training run {run.pk} on dataset {build.sha256[:12]} {run.status} ({run.fine_tuned_model})"
    )
    return run if run.status == TrainingStatus.SUCCEEDED else None


def _shadow(policy: Policy, stdout):
    from rollout.services import rollout_start_shadow

    if policy.status != PolicyStatus.CANDIDATE:
        return None
    rollout = rollout_start_shadow(candidate=policy, reason="demo: the loop end to end (smoke tests passed)")
    stdout.write(f"loop demo: shadow rollout {rollout.pk}: {policy.model_id} vs {rollout.baseline.model_id}")
    return rollout


def _monitor_data(rollout: Rollout, stdout) -> None:
    """Baseline and shadow replies tagged with the rollout, then a monitor check after each batch."""
    from rollout.monitors import monitor_check

    rng = random.Random(13)
    decisions = []
    for batch, size in enumerate(MONITOR_BATCHES):
        _post_pairs(rollout, size=size, batch=batch, rng=rng)
        check = monitor_check(rollout_id=rollout.pk, force=True)
        decisions.append(check.decision if check else "skipped")
    stdout.write(f"loop demo: monitor checks {', '.join(decisions)} — charts on /rollouts/")


def _post_pairs(rollout: Rollout, *, size: int, batch: int, rng: random.Random) -> None:
    from traces.models import Agent
    from traces.serializers import trace_input_check
    from traces.services import agent_create, traces_ingest

    agent = Agent.objects.filter(name=DEMO_AGENT).first() or agent_create(name=DEMO_AGENT)[0]
    now = timezone.now()
    rows = []
    for n in range(size):
        conversation = f"demo-loop-{batch}-{n:03d}"
        for arm, policy in (("baseline", rollout.baseline), ("shadow", rollout.candidate)):
            rows.append(_pair_trace(conversation, arm, policy, rollout, now, rng))
    checked = [trace_input_check(row)[0] for row in rows]
    traces_ingest(agent=agent, traces=checked)


def _pair_trace(conversation: str, arm: str, policy: Policy, rollout: Rollout, when, rng) -> dict:
    failed = rng.random() < (0.04 if arm == "baseline" else 0.03)
    return {
        "external_id": f"{conversation}-{arm}",
        "conversation_id": conversation,
        "user_message": rng.choice(["Move my 3pm to Thursday", "What's on tomorrow?", "Remind me to call Priya"]),
        "tool_calls": [
            {
                "name": "calendar_list_events",
                "args": {},
                "result": None if failed else {"events": 2},
                "error": "timeout" if failed else None,
                "latency_ms": rng.randint(80, 400),
            }
        ],
        "final_response": "Done, it's moved." if arm == "baseline" else "Done: moved to Thursday 3pm, invite updated.",
        "latency_ms": rng.randint(600, 1500),
        "flags": ["shadow"] if arm == "shadow" else [],
        "policy_id": str(policy.pk),
        "rollout_id": rollout.pk,
        "arm": arm,
        "task_category": "scheduling",
        "occurred_at": when.isoformat(),
    }


def _ab_items(rollout: Rollout, stdout) -> None:
    """Pending blind A/B items: eligible demo traces, the baseline's reply against the candidate's."""
    from labeling.services import label_tasks_add
    from traces.selectors import trace_scrubbed_view, traces_eligible

    traces = list(traces_eligible().order_by("-occurred_at")[:4])
    pairs = {}
    for trace in traces:
        view = trace_scrubbed_view(trace)
        pairs[trace.pk] = {
            "a": {"policy_id": rollout.baseline.model_id, "response": view["final_response"], "tool_calls": []},
            "b": {
                "policy_id": rollout.candidate.model_id,
                "response": f"{view['final_response']} Anything else I should move?",
                "tool_calls": view["tool_calls"],
            },
        }
    added = label_tasks_add(trace_ids=list(pairs), reason="disagreement", kind="preference", pairs=pairs)
    stdout.write(f"loop demo: {added} blind A/B items pending in today's queue (press n in the panel)")
