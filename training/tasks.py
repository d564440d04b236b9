"""Celery tasks for training: thin wrappers over training.services, safe to run twice."""

import logging
from datetime import timedelta

from celery import shared_task
from django.conf import settings
from django.utils import timezone

from training import services
from training.backends import BackendUnavailable
from training.models import TERMINAL_TRAINING_STATUSES, TrainingRun, TrainingStatus
from zeke_rft.errors import ApplicationError

logger = logging.getLogger(__name__)


@shared_task(
    name="training.tasks.submit_training_run",
    autoretry_for=(BackendUnavailable,),
    retry_backoff=30,
    retry_backoff_max=600,
    max_retries=5,
)
def submit_training_run(run_id: int) -> str:
    """Queued by training_run_create (on commit), the admin and the poll sweeper (for lost submissions)."""
    return services.training_run_submit(run_id=run_id).status


@shared_task(
    name="training.tasks.poll_training_run", autoretry_for=(BackendUnavailable,), retry_backoff=30, max_retries=3
)
def poll_training_run(run_id: int) -> str:
    """Queued by poll_training_runs for each run with a job that has not finished."""
    return services.training_run_poll(run_id=run_id).status


@shared_task(name="training.tasks.run_trl_job")
def run_trl_job(job_id: str) -> str:
    """Queued on commit by TRLBackend.create_job; routed to the `training` queue (settings.CELERY_TASK_ROUTES),
    which a worker on a GPU host consumes. Safe to run twice: the job is claimed queued → running."""
    from training.openweights.runner import trl_job_run

    return trl_job_run(job_id=job_id).status


@shared_task(name="training.tasks.recover_training_run")
def recover_training_run(run_id: int) -> str:
    """Queued by poll_training_runs for a run stuck in `uploading` (its worker died mid-submit)."""
    run = services.training_run_recover(run_id=run_id)
    if run.status == TrainingStatus.PENDING:
        submit_training_run.delay(run.pk)
    return run.status


@shared_task(name="training.tasks.poll_training_runs")
def poll_training_runs() -> int:
    """Beat sweeper (settings.CELERY_BEAT_SCHEDULE, every 2 minutes): one task per run to poll or recover."""
    stale = timezone.now() - timedelta(seconds=settings.TRAINING_SUBMIT_STALE_SECONDS)
    queued = 0
    active = TrainingRun.objects.exclude(job_id="").exclude(status__in=TERMINAL_TRAINING_STATUSES)
    finished_unseen = TrainingRun.objects.exclude(job_id="").filter(
        status__in=TERMINAL_TRAINING_STATUSES, last_polled_at=None
    )
    work = [(poll_training_run, run_id) for run_id in active.values_list("pk", flat=True)]
    work += [(poll_training_run, run_id) for run_id in finished_unseen.values_list("pk", flat=True)]
    stuck = TrainingRun.objects.filter(status=TrainingStatus.UPLOADING, job_id="", submitted_at__lt=stale)
    work += [(recover_training_run, run_id) for run_id in stuck.values_list("pk", flat=True)]
    lost = TrainingRun.objects.filter(status=TrainingStatus.PENDING, created_at__lt=stale)
    work += [(submit_training_run, run_id) for run_id in lost.values_list("pk", flat=True)]
    for task, run_id in work:
        try:
            task.delay(run_id)
        except Exception:  # with eager Celery a task's error surfaces here: one bad run must not stop the sweep
            logger.exception("%s failed for run %s", task.name, run_id)
        queued += 1
    return queued


@shared_task(name="training.tasks.build_dataset_weekly")
def build_dataset_weekly() -> list[str]:
    """Beat job (Sundays 05:30): a build per modality at the curriculum stage after the last one that trained."""
    hashes = []
    for modality in services.dataset_modalities_with_rewards():
        stage = services.curriculum_next_stage(modality=modality)
        try:
            build, created = services.dataset_build(stage=stage, modality=modality)
        except ApplicationError as exc:
            logger.warning("weekly dataset build skipped for %s stage %s: %s", modality, stage, exc.message)
            continue
        logger.info(
            "weekly dataset %s for %s stage %s (%s)",
            build.sha256[:12],
            modality,
            stage,
            "new" if created else "unchanged",
        )
        hashes.append(build.sha256)
    return hashes
