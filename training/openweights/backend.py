"""TRLBackend: the RFTBackend protocol over TRLJob rows; the training itself runs in the `training` queue's
worker (training.tasks.run_trl_job → training.openweights.runner). No torch here."""

import importlib.util
import uuid

from django.conf import settings
from django.db import transaction

from training import graders
from training.backends import BackendRejected
from training.models import TrainingStatus, TRLJob
from zeke_rft.errors import ApplicationError
from zeke_rft.hashing import sha256_bytes
from zeke_rft.storage import get_storage

REQUIRED_MODULES = ("torch", "transformers", "trl", "peft", "datasets", "accelerate")
LOCAL_TYPES = ("string_check", "text_similarity", "python", "score_model", "multi")


def trl_missing_modules() -> list[str]:
    """The training extra's modules that are not installed (found without importing them: torch is slow)."""
    return [name for name in REQUIRED_MODULES if importlib.util.find_spec(name) is None]


def trl_require_extra() -> None:
    missing = trl_missing_modules()
    if missing:
        raise ApplicationError(
            f"the trl training backend needs the training extra ({', '.join(missing)} not installed): "
            "run `make install-train` (requirements-train.txt)",
            status=503,
        )


def _check_grader(grader: dict) -> None:
    kind = grader.get("type")
    if kind not in LOCAL_TYPES:
        raise graders.GraderError(f"grader type {kind!r} cannot run in the trl backend")
    if kind == "python":
        source = grader.get("source") or ""
        compile(source, f"<grader {grader.get('name')}>", "exec")
        if "def grade(" not in source:
            raise graders.GraderError(f"python grader {grader.get('name')!r} has no grade(sample, item)")
    if kind == "text_similarity" and grader.get("evaluation_metric") not in graders.SIMILARITY_METRICS:
        raise graders.GraderError(f"text_similarity metric {grader.get('evaluation_metric')!r} cannot run here")
    if kind == "multi":
        parts = grader.get("graders")
        if not isinstance(parts, dict) or not parts:
            raise graders.GraderError("a multi grader's graders must be a dict of name → grader")
        for part in parts.values():
            if part.get("type") == "multi":
                raise graders.GraderError("multi graders cannot be nested")
            _check_grader(part)
        graders.formula_evaluate(grader.get("calculate_output") or "", {name: 0.5 for name in parts})


def _job_dict(job: TRLJob) -> dict:
    return {
        "id": job.job_id,
        "object": "fine_tuning.job",
        "status": job.status,
        "model": job.spec.get("model"),
        "fine_tuned_model": job.fine_tuned_model or None,
        "error": job.error or None,
        "metadata": job.metadata,
        "policy_config": job.artifact.get("policy_config") if job.artifact else None,
        "created_at": int(job.created_at.timestamp()),
    }


class TRLBackend:
    """GRPO (default) or DPO with TRL on open weights; jobs are TRLJob rows, run by a Celery task on `training`."""

    name = "trl"

    def __init__(self):
        trl_require_extra()

    def _job(self, job_id: str) -> TRLJob:
        job = TRLJob.objects.filter(job_id=job_id).first()
        if job is None:
            raise BackendRejected(f"no trl job {job_id!r}", status=404)
        return job

    def validate_grader(self, grader: dict) -> None:
        try:
            _check_grader(grader)
        except (graders.GraderError, SyntaxError) as exc:
            raise BackendRejected(f"grader validation: Invalid grader: {exc}", status=400) from exc

    def upload(self, *, filename: str, data: bytes) -> str:
        """Content-addressed copy in storage; the key is the file id."""
        key = f"trl/files/{sha256_bytes(data)}-{filename}"
        storage = get_storage()
        if not storage.exists(key):
            storage.write_bytes(key, data)
        return key

    def create_job(self, *, model, training_file, validation_file, method, suffix, metadata, seed) -> dict:
        """Record the job and queue its training on commit (so the caller stores the job id first)."""
        from training.tasks import run_trl_job

        spec = {"model": model, "training_file": training_file, "validation_file": validation_file}
        spec.update(method=method, suffix=suffix, seed=seed)
        run_id = metadata.get("zeke_run_id")
        job = TRLJob.objects.create(
            job_id=f"trljob-{uuid.uuid4().hex[:24]}",
            run_id=int(run_id) if str(run_id or "").isdigit() else None,
            spec=spec,
            metadata=metadata,
        )
        limits = {
            "time_limit": settings.TRL_TIME_LIMIT_SECONDS,
            "soft_time_limit": settings.TRL_TIME_LIMIT_SECONDS - 60,
        }
        transaction.on_commit(lambda: run_trl_job.apply_async(args=[job.job_id], **limits))
        return _job_dict(job)

    def find_job(self, *, metadata: dict) -> dict | None:
        for job in TRLJob.objects.filter(metadata__zeke_run_id=metadata.get("zeke_run_id")).order_by("-created_at"):
            if all(job.metadata.get(key) == value for key, value in metadata.items()):
                return _job_dict(job)
        return None

    def retrieve(self, job_id: str) -> dict:
        return _job_dict(self._job(job_id))

    def events(self, job_id: str) -> list[dict]:
        return list(self._job(job_id).events)

    def checkpoints(self, job_id: str) -> list[dict]:
        return list(self._job(job_id).checkpoints)

    def _control(self, job_id: str, *, allowed: tuple, control: str, status: str) -> dict:
        """Write the request the trainer callback reads between steps (only from an allowed status)."""
        changed = TRLJob.objects.filter(job_id=job_id, status__in=allowed).update(control=control, status=status)
        job = self._job(job_id)
        if not changed:
            raise BackendRejected(f"trl job {job_id} is {job.status}", status=400)
        return _job_dict(job)

    def cancel(self, job_id: str) -> dict:
        active = (TrainingStatus.QUEUED, TrainingStatus.RUNNING, TrainingStatus.PAUSED)
        return self._control(job_id, allowed=active, control="cancel", status=TrainingStatus.CANCELLED)

    def pause(self, job_id: str) -> dict:
        return self._control(job_id, allowed=(TrainingStatus.RUNNING,), control="pause", status=TrainingStatus.PAUSED)

    def resume(self, job_id: str) -> dict:
        return self._control(job_id, allowed=(TrainingStatus.PAUSED,), control="", status=TrainingStatus.RUNNING)
