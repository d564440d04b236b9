"""Writes for the pipeline app: start a run, advance it step by step, approve or reject a waiting step.

A run is advanced by whoever holds its lease (a conditional UPDATE that must change one row), so two workers
never advance the same run at once; a worker that dies mid-step leaves the step `running` and its lease lapses
after PIPELINE_LEASE_SECONDS, then the next sweep resumes that same step (each step is safe to run again).
"""

import logging
import os
import socket
import uuid
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from pipeline import steps as step_functions
from pipeline.models import (
    DONE_STEP_STATUSES,
    OPEN_RUN_STATUSES,
    STEP_ORDER,
    Approval,
    PipelineRun,
    PipelineStep,
    RunStatus,
    StepStatus,
)
from pipeline.notify import notify
from zeke_rft.errors import ApplicationError
from zeke_rft.history import history_set

logger = logging.getLogger(__name__)


def cycle_current() -> str:
    """This ISO week, e.g. 2026-W49: the weekly run's cycle."""
    year, week, _ = timezone.localdate().isocalendar()
    return f"{year}-W{week:02d}"


def _check_step(name: str, field: str) -> str:
    if name and name not in STEP_ORDER:
        raise ValidationError({field: f"must be one of {', '.join(STEP_ORDER)}, got {name!r}"})
    return name


def pipeline_run_start(
    *, modality: str, cycle: str | None = None, until: str = "", user=None
) -> tuple[PipelineRun, bool]:
    """The run of `modality` in `cycle` (default: this week), created with its nine steps if new.
    Safe to call twice and from racing workers: (modality, cycle) is unique."""
    from traces.models import Modality

    if modality not in Modality.values:
        raise ValidationError({"modality": f"must be one of {', '.join(Modality.values)}, got {modality!r}"})
    _check_step(until, "until")
    cycle = (cycle or cycle_current()).strip()
    if not cycle or len(cycle) > 20:
        raise ValidationError({"cycle": "must be 1–20 characters (default: the ISO week)"})
    existing = PipelineRun.objects.filter(modality=modality, cycle=cycle).first()
    if existing is not None:
        return existing, False
    try:
        with transaction.atomic():
            run = PipelineRun(modality=modality, cycle=cycle, until=until, created_by=_user(user))
            history_set(run, user=user, reason="pipeline run started")
            run.save()
            for position, name in enumerate(STEP_ORDER):
                step = PipelineStep(run=run, step=name, position=position)
                history_set(step, user=user, reason="created")
                step.save()
    except IntegrityError:  # another worker created it first
        return PipelineRun.objects.get(modality=modality, cycle=cycle), False
    return run, True


def _user(user):
    return user if getattr(user, "pk", None) else None


def _lease_claim(run_id: int, owner: str) -> bool:
    now = timezone.now()
    free = Q(lease_until__isnull=True) | Q(lease_until__lt=now) | Q(lease_owner=owner)
    lease_until = now + timedelta(seconds=settings.PIPELINE_LEASE_SECONDS)
    claimed = PipelineRun.objects.filter(free, pk=run_id, status__in=OPEN_RUN_STATUSES).update(
        lease_owner=owner, lease_until=lease_until
    )
    return claimed == 1


def _lease_release(run_id: int, owner: str) -> None:
    PipelineRun.objects.filter(pk=run_id, lease_owner=owner).update(lease_owner="", lease_until=None)


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def pipeline_run_advance(*, run_id: int, owner: str | None = None) -> PipelineRun:
    """Run steps in order until one waits (training, the online guard, an approval), the run ends, or the
    `until` step is done. Returns the run; does nothing when another worker holds the lease."""
    owner = owner or worker_name()
    if not _lease_claim(run_id, owner):
        return PipelineRun.objects.get(pk=run_id)
    try:
        while _advance_one(run_id, owner):
            pass
    except Exception:
        _lease_release(run_id, owner)
        raise
    # A worker killed mid-step never gets here: its lease lapses and the next sweep resumes the step.
    _lease_release(run_id, owner)
    return PipelineRun.objects.get(pk=run_id)


def _next_step(run: PipelineRun) -> PipelineStep | None:
    return run.steps.exclude(status__in=DONE_STEP_STATUSES).order_by("position").first()


def _advance_one(run_id: int, owner: str) -> bool:
    """One step; True when the loop should go on to the next."""
    run = PipelineRun.objects.select_related("dataset", "training_run", "policy", "rollout").get(pk=run_id)
    if run.status not in OPEN_RUN_STATUSES:
        return False
    step = _next_step(run)
    if step is None:
        _run_finish(run, RunStatus.SUCCEEDED, reason="")
        return False
    if run.until and STEP_ORDER.index(step.step) > STEP_ORDER.index(run.until):
        _run_finish(run, RunStatus.PAUSED, reason=f"paused after {run.until} (--until); resume to go on")
        return False
    if step.step in settings.PIPELINE_APPROVALS and step.approval != Approval.APPROVED:
        _await_approval(run, step)
        return False
    _lease_claim(run_id, owner)  # renew: each step gets a full lease
    outcome = _execute(run, step)
    return _apply(run, step, outcome)


def _execute(run: PipelineRun, step: PipelineStep) -> step_functions.Outcome:
    from training.backends import BackendUnavailable

    # A plain UPDATE (no history row): a step waiting on training or the guard is retried every sweep.
    step.started_at = step.started_at or timezone.now()
    step.attempts += 1
    PipelineStep.objects.filter(pk=step.pk).update(
        status=StepStatus.RUNNING, started_at=step.started_at, attempts=step.attempts
    )
    PipelineRun.objects.filter(pk=run.pk).update(current_step=step.step, status=RunStatus.RUNNING)
    function = step_functions.STEPS[step.step]
    try:
        if step.step == "promote":
            return function(run, user=step.decided_by, reason=step.decision_reason)
        return function(run)
    except BackendUnavailable as exc:  # transient: the next sweep tries again
        return step_functions.Outcome(StepStatus.WAITING, f"backend unavailable, will retry: {exc}")
    except (ApplicationError, ValidationError) as exc:
        message = exc.message if isinstance(exc, ApplicationError) else "; ".join(exc.messages)
        return step_functions.Outcome(StepStatus.FAILED, message)
    except Exception as exc:
        logger.exception("pipeline run %s step %s crashed", run.pk, step.step)
        return step_functions.Outcome(StepStatus.FAILED, f"{type(exc).__name__}: {exc}")


def _step_save(step: PipelineStep, outcome: step_functions.Outcome) -> None:
    if (step.status, step.detail) == (outcome.status, outcome.detail):  # still waiting, nothing new to audit
        PipelineStep.objects.filter(pk=step.pk).update(status=step.status)
        return
    step.status = outcome.status
    step.detail = outcome.detail
    step.output = outcome.output or step.output
    step.record = outcome.record or step.record
    if outcome.status in DONE_STEP_STATUSES:
        step.finished_at = timezone.now()
    history_set(step, reason=f"{outcome.status}: {outcome.detail}"[:100])
    step.save()


def _apply(run: PipelineRun, step: PipelineStep, outcome: step_functions.Outcome) -> bool:
    _step_save(step, outcome)
    if outcome.status == StepStatus.WAITING:
        PipelineRun.objects.filter(pk=run.pk).update(status=RunStatus.WAITING)
        return False
    if outcome.status == StepStatus.FAILED:
        _run_finish(run, RunStatus.FAILED, reason=f"{step.step}: {outcome.detail}")
        return False
    if outcome.stop:
        _run_finish(run, RunStatus.STOPPED, reason=outcome.stop)
        return False
    return True


def _run_finish(run: PipelineRun, status: str, *, reason: str, user=None) -> None:
    """End (or pause) the run; the steps not reached are skipped (not for a pause)."""
    with transaction.atomic():
        run = PipelineRun.objects.select_for_update().get(pk=run.pk)
        if status != RunStatus.PAUSED:
            for step in run.steps.exclude(status__in=DONE_STEP_STATUSES):
                step.status = StepStatus.SKIPPED
                history_set(step, user=user, reason=f"run {status}")
                step.save()
            run.finished_at = timezone.now()
        run.status = status
        run.stop_reason = reason
        history_set(run, user=user, reason=f"{status}: {reason}"[:100])
        run.save()


def _await_approval(run: PipelineRun, step: PipelineStep) -> None:
    if step.approval == Approval.WAITING:  # asked already (and notified): keep waiting quietly
        PipelineRun.objects.filter(pk=run.pk).update(status=RunStatus.WAITING, current_step=step.step)
        return
    step.status, step.approval = StepStatus.WAITING, Approval.WAITING
    step.detail = f"waiting for approval ({step.step} is in PIPELINE_APPROVALS)"
    history_set(step, reason="waiting for approval")
    step.save()
    PipelineRun.objects.filter(pk=run.pk).update(status=RunStatus.WAITING, current_step=step.step)
    notify(
        kind="approval_waiting",
        subject=f"Pipeline {run.modality} {run.cycle}: {step.step} waits for approval",
        body=f"Run {run.pk} ({run.modality}, {run.cycle}) waits for a person to approve the {step.step} step.",
        link=f"/pipeline/#run-{run.pk}",
        payload={"run": run.pk, "step": step.step},
    )


def pipeline_step_decide(*, step: PipelineStep, approve: bool, reason: str, user) -> PipelineStep:
    """Approve or reject a step waiting for approval (audited: who, when, why). Approval queues the run to go
    on (on commit); rejection stops the run with the reason."""
    if not user.has_perm("pipeline.approve_pipelinestep"):
        raise ApplicationError("you lack the permission to approve pipeline steps", status=403)
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": "say why you approve or reject this step"})
    with transaction.atomic():
        step = PipelineStep.objects.select_for_update().select_related("run").get(pk=step.pk)
        if step.approval != Approval.WAITING:
            raise ApplicationError(f"the {step.step} step is not waiting for approval ({step.approval or 'none'})")
        step.approval = Approval.APPROVED if approve else Approval.REJECTED
        step.decided_by, step.decided_at, step.decision_reason = user, timezone.now(), reason
        if not approve:
            step.status, step.finished_at = StepStatus.REJECTED, timezone.now()
        verb = "approved" if approve else "rejected"
        history_set(step, user=user, reason=f"{verb}: {reason}"[:100])
        step.save()
        if approve:
            PipelineRun.objects.filter(pk=step.run_id).update(status=RunStatus.RUNNING)
            transaction.on_commit(lambda: _queue_advance(step.run_id))
        else:
            _run_finish(step.run, RunStatus.STOPPED, reason=f"{step.step} rejected by {user}: {reason}", user=user)
    return step


def _queue_advance(run_id: int) -> None:
    from pipeline.tasks import advance_pipeline_run

    advance_pipeline_run.delay(run_id)


def pipeline_run_resume(*, run: PipelineRun, until: str = "", user=None) -> PipelineRun:
    """Go on with a paused run, or retry a failed one from its failed step (the skipped steps after it too)."""
    _check_step(until, "until")
    with transaction.atomic():
        run = PipelineRun.objects.select_for_update().get(pk=run.pk)
        if run.status in (RunStatus.SUCCEEDED, RunStatus.STOPPED):
            raise ApplicationError(f"pipeline run {run.pk} is {run.status}: {run.stop_reason or 'done'}")
        if run.status == RunStatus.FAILED:
            for step in run.steps.filter(status__in=[StepStatus.FAILED, StepStatus.SKIPPED]):
                step.status, step.finished_at = StepStatus.PENDING, None
                history_set(step, user=user, reason="retried")
                step.save()
        if run.status in (RunStatus.PAUSED, RunStatus.FAILED):
            run.status, run.stop_reason, run.finished_at = RunStatus.RUNNING, "", None
        run.until = until
        history_set(run, user=user, reason=f"resumed{f' until {until}' if until else ''}")
        run.save()
    return run


def candidates_register_trained() -> int:
    """A candidate policy for every succeeded training run without one (runs started by hand with
    start_training; the pipeline's own runs register theirs in the train step). Safe to run twice."""
    from training.models import TrainingRun, TrainingStatus

    runs = TrainingRun.objects.filter(status=TrainingStatus.SUCCEEDED, policies__isnull=True).exclude(
        fine_tuned_model=""
    )
    registered = 0
    for training in runs.select_related("dataset"):
        step_functions.candidate_register(training=training)
        registered += 1
    return registered
