"""Celery tasks for the rollout app (thin: ids in, one service call)."""

from celery import shared_task

from rollout.models import Rollout, RolloutState


@shared_task(name="rollout.tasks.run_online_monitors")
def run_online_monitors() -> int:
    """Beat, every 5 minutes: queue one monitor task per running rollout."""
    ids = list(
        Rollout.objects.filter(state__in=[RolloutState.SHADOW, RolloutState.CANARY]).values_list("pk", flat=True)
    )
    for rollout_id in ids:
        monitor_rollout.delay(rollout_id)
    return len(ids)


@shared_task(name="rollout.tasks.monitor_rollout")
def monitor_rollout(rollout_id: int) -> str:
    """Queued by run_online_monitors. One check (rolls back on a failed guard), then disagreement sampling.
    Safe to run twice: the second call within the check interval does nothing."""
    from rollout.disagreements import disagreements_sample
    from rollout.monitors import monitor_check

    check = monitor_check(rollout_id=rollout_id)
    if check is None:
        return "skipped"
    if check.decision != "rollback":
        disagreements_sample(rollout=check.rollout)
    return check.decision
