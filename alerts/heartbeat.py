"""Heartbeats of scheduled jobs.

`job_heartbeat(name)` is a context manager and a decorator: it records the start, then the
success or the failure (re-raising it) of one run. Every task named in CELERY_BEAT_SCHEDULE
is wrapped automatically through Celery's task signals (`connect_beat_signals`, called when
the app loads), so a job added to the schedule later needs nothing more. A heartbeat that
cannot be written is logged and never breaks the job itself.
"""

import contextlib
import logging
import traceback

from celery import signals
from django.conf import settings

from alerts import services

logger = logging.getLogger(__name__)


def _safely(function, **kwargs) -> None:
    try:
        function(**kwargs)
    except Exception:
        logger.exception("could not record the heartbeat of %s", kwargs.get("name"))


class job_heartbeat(contextlib.ContextDecorator):  # noqa: N801 - used as a function, like contextlib's
    def __init__(self, name: str, task: str = ""):
        self.name, self.task = name, task

    def __enter__(self):
        _safely(services.heartbeat_started, name=self.name, task=self.task)
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc is None:
            _safely(services.heartbeat_succeeded, name=self.name)
        else:
            error = "".join(traceback.format_exception_only(exc_type, exc)).strip()
            _safely(services.heartbeat_failed, name=self.name, error=error)
        return False


def beat_jobs_by_task() -> dict[str, str]:
    """Task name → beat job name, from CELERY_BEAT_SCHEDULE."""
    return {entry["task"]: name for name, entry in settings.CELERY_BEAT_SCHEDULE.items()}


def _job_of(sender) -> str | None:
    return beat_jobs_by_task().get(getattr(sender, "name", None) or "")


def _on_prerun(sender=None, **kwargs):
    job = _job_of(sender)
    if job:
        _safely(services.heartbeat_started, name=job, task=sender.name)


def _on_success(sender=None, **kwargs):
    job = _job_of(sender)
    if job:
        _safely(services.heartbeat_succeeded, name=job)


def _on_failure(sender=None, exception=None, **kwargs):
    job = _job_of(sender)
    if job:
        error = f"{type(exception).__name__}: {exception}"
        _safely(services.heartbeat_failed, name=job, error=error)


def connect_beat_signals() -> None:
    signals.task_prerun.connect(_on_prerun, weak=False, dispatch_uid="alerts_heartbeat_prerun")
    signals.task_success.connect(_on_success, weak=False, dispatch_uid="alerts_heartbeat_success")
    signals.task_failure.connect(_on_failure, weak=False, dispatch_uid="alerts_heartbeat_failure")
