"""The online guard as production runs it: traces posted through the API stay `received` (the filter
runs at 02:00), a reward model is active, and the beat's monitor task goes through Redis to a real
worker, which rolls the degraded canary back. PostgreSQL + Redis only (the worker shares the test
database); skipped on SQLite, run by .ci/run's PostgreSQL pass."""

import json

import pytest
from django.utils import timezone

from rollout.models import MonitorCheck, Policy, RolloutState
from tests.celery_worker import wait_for
from traces.models import FilterRun, Trace, TraceStatus


def _traces(rollout, arm: str, policy_id: str, n: int, errors: int) -> list[dict]:
    now = timezone.now().isoformat()
    items = []
    for index in range(n):
        failed = index < errors
        items.append(
            {
                "external_id": f"{arm}-{index}",
                "conversation_id": f"{arm}-conv-{index}",
                "user_message": "What is on my calendar tomorrow? My email is maria.lopez@example.com",
                "tool_calls": [
                    {
                        "name": "calendar_list_events",
                        "args": {"day": "tomorrow"},
                        "result": None if failed else {"events": []},
                        "error": "upstream timeout" if failed else None,
                        "latency_ms": 120,
                    }
                ],
                "final_response": "Sorry, I could not reach your calendar." if failed else "Tomorrow is free.",
                "latency_ms": 900 + index,
                "policy_id": policy_id,
                "rollout_id": rollout.pk,
                "arm": arm,
                "occurred_at": now,
            }
        )
    return items


def _post(agent_client, items):
    response = agent_client.post("/api/traces/", data=json.dumps({"traces": items}), content_type="application/json")
    assert response.status_code == 201, response.content


@pytest.mark.redis
@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_degraded_canary_on_received_traffic_is_rolled_back_by_the_beat_task_on_a_real_worker(
    on_postgres, rollout, active_reward_model, agent_client, worker, producer, tmp_path
):
    from rollout.tasks import run_online_monitors

    _post(agent_client, _traces(rollout, "baseline", str(rollout.baseline_id), 100, errors=5))
    _post(agent_client, _traces(rollout, "candidate", str(rollout.candidate_id), 100, errors=40))
    assert Trace.objects.filter(rollout_id=rollout.pk).exclude(status=TraceStatus.RECEIVED).count() == 0

    run_online_monitors.apply_async(connection=producer)  # as beat sends it, every 5 minutes

    # Generous: the worker loads the scrubbing engine (spaCy) for the first check, slow on a loaded machine.
    wait_for(lambda: rollout.monitor_checks.exists(), worker, tmp_path / "worker.log", seconds=600)
    check = MonitorCheck.objects.get(rollout=rollout)
    assert check.decision == "rollback", check.reason
    assert "tool_error_rate" in check.reason
    rollout.refresh_from_db()
    assert rollout.state == RolloutState.ROLLED_BACK and rollout.automatic_rollback
    assert Policy.objects.get(pk=rollout.baseline_id).status == "active"
    assert not FilterRun.objects.exists()
    assert Trace.objects.filter(rollout_id=rollout.pk, status=TraceStatus.RECEIVED).count() == 200
    assert check.metrics["candidate"]["win_rate"] is not None  # scored on text scrubbed at check time
