"""Writes for the training app. The experiment_record_* functions are the contract rollout calls."""

from django.db import transaction

from training.models import TrainingRun
from zeke_rft.history import history_set


@transaction.atomic
def experiment_record_gate(*, run: TrainingRun, gate: dict, eval_scores: dict, user=None) -> TrainingRun:
    """Record the offline gate decision and its numbers on the experiment row."""
    run = TrainingRun.objects.select_for_update().get(pk=run.pk)
    run.gate = gate
    run.eval_scores = eval_scores
    history_set(run, user=user, reason=f"gate {'passed' if gate.get('passed') else 'failed'}")
    run.save()
    return run


@transaction.atomic
def experiment_record_rollout(
    *, run: TrainingRun, started_at=None, ended_at=None, rollback_reason: str | None = None, user=None
) -> TrainingRun:
    """Record rollout dates and a rollback reason on the experiment row (only the values given)."""
    run = TrainingRun.objects.select_for_update().get(pk=run.pk)
    if started_at is not None:
        run.rollout_started_at = started_at
    if ended_at is not None:
        run.rollout_ended_at = ended_at
    if rollback_reason is not None:
        run.rollback_reason = rollback_reason
    history_set(run, user=user, reason="rollback" if rollback_reason else "rollout update")
    run.save()
    return run
