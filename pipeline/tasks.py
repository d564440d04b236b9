"""Celery tasks for the pipeline: thin wrappers over pipeline.services, safe to run twice."""

import logging

from celery import shared_task
from django.utils import timezone

from pipeline import services
from pipeline.models import OPEN_RUN_STATUSES, PipelineRun

logger = logging.getLogger(__name__)


@shared_task(name="pipeline.tasks.advance_pipeline_run")
def advance_pipeline_run(run_id: int) -> str:
    """Queued by pipeline_weekly, the sweeper and an approval. Safe to run twice: the run's lease lets one
    worker advance it; a second call finds the lease taken (or the steps done) and returns."""
    return services.pipeline_run_advance(run_id=run_id).status


@shared_task(name="pipeline.tasks.pipeline_weekly")
def pipeline_weekly() -> list[int]:
    """Beat (Sundays 06:00, after the reward model's weekly retrain and the nightly scoring): this week's run for
    each modality that has rewarded traces. Twice in a week ⇒ the same runs ((modality, cycle) is unique)."""
    from training.services import dataset_modalities_with_rewards

    ids = []
    for modality in dataset_modalities_with_rewards():
        run, _created = services.pipeline_run_start(modality=modality)
        advance_pipeline_run.delay(run.pk)
        ids.append(run.pk)
    return ids


@shared_task(name="pipeline.tasks.advance_pipeline_runs")
def advance_pipeline_runs() -> int:
    """Beat sweeper (every 5 minutes): one advance task per open run whose lease is free or lapsed (a run
    waiting on training or the online guard, approved, or left by a worker that died). Also registers
    candidates for training runs started by hand."""
    services.candidates_register_trained()
    now = timezone.now()
    open_runs = PipelineRun.objects.filter(status__in=OPEN_RUN_STATUSES)
    free = open_runs.filter(lease_until__isnull=True) | open_runs.filter(lease_until__lt=now)
    ids = list(free.values_list("pk", flat=True))
    for run_id in ids:
        try:
            advance_pipeline_run.delay(run_id)
        except Exception:  # with eager Celery a run's error surfaces here: one bad run must not stop the sweep
            logger.exception("advancing pipeline run %s failed", run_id)
    return len(ids)
