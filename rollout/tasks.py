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


@shared_task(name="rollout.tasks.watch_active_policies")
def watch_active_policies() -> int:
    """Beat, every 15 minutes: queue one watch per modality that has an active policy."""
    from rollout.selectors import policy_active_by_modality

    modalities = sorted(policy_active_by_modality())
    for modality in modalities:
        watch_active_policy.delay(modality)
    return len(modalities)


@shared_task(name="rollout.tasks.watch_active_policy")
def watch_active_policy(modality: str) -> str:
    """Queued by watch_active_policies. Safe to run twice: the second call within the interval does nothing."""
    from rollout.watch import policy_watch

    check = policy_watch(modality=modality)
    return check.decision if check else "skipped"
