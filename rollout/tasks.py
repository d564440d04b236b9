"""Celery tasks for the rollout app (thin: ids in, one service call)."""

from celery import shared_task

from rollout.selectors import rollouts_running


@shared_task(name="rollout.tasks.run_online_monitors")
def run_online_monitors() -> int:
    """Beat, every 5 minutes: queue one monitor task per running rollout."""
    ids = list(rollouts_running().values_list("pk", flat=True))
    for rollout_id in ids:
        monitor_rollout.delay(rollout_id)
    return len(ids)


@shared_task(name="rollout.tasks.monitor_rollout")
def monitor_rollout(rollout_id: int) -> str:
    """Queued by run_online_monitors. One check (rolls back on a failed guard), then disagreement sampling.
    Safe to run twice: the second call within the check interval does nothing."""
    from rollout.monitors import monitor_run

    return monitor_run(rollout_id=rollout_id)
