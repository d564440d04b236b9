"""Writes for the training app. The experiment_record_* functions are the contract rollout calls."""

from datetime import UTC, datetime

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone

from training import backends, datasets, graders
from training.models import (
    TERMINAL_TRAINING_STATUSES,
    DatasetBuild,
    DatasetStatus,
    TrainingEvent,
    TrainingRun,
    TrainingStatus,
)
from training.openweights.config import trl_config_resolve
from training.selectors import metric_number, rubric_current
from zeke_rft.errors import ApplicationError
from zeke_rft.hashing import sha256_json
from zeke_rft.history import history_set
from zeke_rft.storage import get_storage


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
    *,
    run: TrainingRun,
    started_at=None,
    ended_at=None,
    rollback_reason: str | None = None,
    promotion: dict | None = None,
    user=None,
) -> TrainingRun:
    """Record rollout dates, a rollback reason and the promotion decision (kept in gate["promotion"])
    on the experiment row (only the values given)."""
    run = TrainingRun.objects.select_for_update().get(pk=run.pk)
    if promotion is not None:
        run.gate = {**(run.gate or {}), "promotion": promotion}
    if started_at is not None:
        run.rollout_started_at = started_at
    if ended_at is not None:
        run.rollout_ended_at = ended_at
    if rollback_reason is not None:
        run.rollback_reason = rollback_reason
    history_set(run, user=user, reason="rollback" if rollback_reason else "rollout update")
    run.save()
    return run


# --- Dataset builds -------------------------------------------------------------------

dataset_build = datasets.dataset_build


# --- Training config ------------------------------------------------------------------

HYPERPARAMETER_RULES = {
    "n_epochs": (int, 1, 50),
    "batch_size": (int, 1, 256),
    "learning_rate_multiplier": (float, 0.0, 10.0),
    "compute_multiplier": (float, 0.0, 10.0),
    "eval_interval": (int, 1, 1000),
    "eval_samples": (int, 1, 100),
}
REASONING_EFFORTS = ("default", "low", "medium", "high")
TOP_LEVEL_RULES = {
    "kl_penalty": (float, 0.0, 10.0),
    "reward_scaling": (float, 0.0, 100.0),
    "batch_size": (int, 1, 256),
    "episode_length": (int, 1, 50),
    "tool_weight": (float, 0.0, 1.0),
    "reward_model_weight": (float, 0.0, 1.0),
    "seed": (int, 0, 2**31 - 1),
}


def training_config_default(*, dataset: DatasetBuild) -> dict:
    """Tracked config. kl_penalty, reward_scaling and episode_length (tool-call depth) are recorded for every
    backend; OpenAI's RFT takes only `hyperparameters` (and the grader), so they are not sent there."""
    return {
        "kl_penalty": 0.05,
        "reward_scaling": 1.0,
        "batch_size": 8,
        "episode_length": 1 if dataset.stage == 1 else 4,
        "tool_weight": 0.4,
        "reward_model_weight": 0.2,  # used when the dataset names a reward model (else 0 and no such grader)
        "seed": 42,
        "hyperparameters": {
            "n_epochs": 1,
            "batch_size": 8,
            "learning_rate_multiplier": 1.0,
            "reasoning_effort": "medium",
            "compute_multiplier": 1.0,
            "eval_interval": 5,
            "eval_samples": 2,
        },
    }


def _check_number(field: str, value, rule) -> None:
    kind, low, high = rule
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and (kind is float or isinstance(value, int))
    if not ok or not low <= value <= high:
        raise ValidationError({field: f"must be {'an integer' if kind is int else 'a number'} in [{low}, {high}]"})


def training_config_resolve(
    *, dataset: DatasetBuild, base_model: str | None = None, overrides: dict | None, backend: str = "openai"
) -> dict:
    """Defaults + overrides, checked (ValidationError names the field), plus base_model and the grader; the
    open-weights backend (`trl`) adds its own section (training/openweights/config.py)."""
    overrides = dict(overrides or {})
    config = training_config_default(dataset=dataset)
    trl_overrides = overrides.pop("trl", None)
    hyperparameters = overrides.pop("hyperparameters", None) or {}
    if not isinstance(hyperparameters, dict):
        raise ValidationError({"config.hyperparameters": "must be an object"})
    grader = overrides.pop("grader", None)
    if grader is not None and not (isinstance(grader, dict) and isinstance(grader.get("type"), str)):
        raise ValidationError({"config.grader": 'must be a grader object with a "type"'})
    config_base_model = overrides.pop("base_model", None)
    for field, value in (("base_model", base_model), ("config.base_model", config_base_model)):
        if value is not None and not (isinstance(value, str) and value.strip()):
            raise ValidationError({field: "must be a non-empty model id"})
    for key, value in overrides.items():
        if key not in TOP_LEVEL_RULES:
            raise ValidationError({f"config.{key}": f"unknown setting (known: {', '.join(sorted(TOP_LEVEL_RULES))})"})
        _check_number(f"config.{key}", value, TOP_LEVEL_RULES[key])
        config[key] = value
    for key, value in hyperparameters.items():
        if key == "reasoning_effort":
            if value not in REASONING_EFFORTS:
                raise ValidationError(
                    {"config.hyperparameters.reasoning_effort": f"must be one of {REASONING_EFFORTS}"}
                )
        elif key in HYPERPARAMETER_RULES:
            if value != "auto":
                _check_number(f"config.hyperparameters.{key}", value, HYPERPARAMETER_RULES[key])
        else:
            raise ValidationError({f"config.hyperparameters.{key}": "unknown hyperparameter"})
        config["hyperparameters"][key] = value
    if "batch_size" in overrides and "batch_size" not in hyperparameters:
        config["hyperparameters"]["batch_size"] = config["batch_size"]
    default_model = settings.TRL_BASE_MODEL if backend == "trl" else settings.OPENAI_BASE_MODEL
    config["base_model"] = base_model or config_base_model or default_model
    if backend == "trl":
        config["trl"] = trl_config_resolve(trl_overrides, batch_size=config["batch_size"])
    elif trl_overrides is not None:
        raise ValidationError({"config.trl": "only for the trl backend (start_training --backend trl)"})
    if config["tool_weight"] + config["reward_model_weight"] > 1.0:
        raise ValidationError({"config.reward_model_weight": "tool_weight + reward_model_weight must be at most 1"})
    config["grader"] = grader or _grader_default(dataset, config)
    return config


def _grader_default(dataset: DatasetBuild, config: dict) -> dict:
    """The rubric's multi grader, with the dataset's reward model (the one that scored its traces) inside."""
    from rewards.export import reward_model_python_grader
    from rewards.models import RewardModel

    rubric = rubric_current()
    reward_model = RewardModel.objects.filter(version=dataset.reward_model_version).first()
    if reward_model is None:
        config["reward_model_weight"] = 0.0
    return graders.grader_from_rubric(
        rubric=rubric.dimensions if rubric else None,
        tool_weight=config["tool_weight"],
        reward_model_grader=reward_model_python_grader(model=reward_model) if reward_model else None,
        reward_model_weight=config["reward_model_weight"],
    )


# --- Training runs ------------------------------------------------------------------


def _already_submitted(dataset: DatasetBuild, existing: TrainingRun) -> ApplicationError:
    return ApplicationError(
        f"dataset {dataset.sha256[:12]} with this config was already submitted as run {existing.pk} "
        f"({existing.status}); change the config (or base model) to train again",
        extra={"run": existing.pk},
    )


def training_run_create(
    *,
    dataset: DatasetBuild,
    base_model: str | None = None,
    config: dict | None = None,
    backend: str | None = None,
    user=None,
) -> TrainingRun:
    """Record a run for dataset + config on a backend (default TRAINING_BACKEND) and queue its submission (on
    commit). Refuses without a usable backend (no API key, no training extra), for a dataset that did not
    build, and for a dataset + config submitted before."""
    backend = backend or settings.TRAINING_BACKEND
    backends.get_backend(backend)
    if dataset.status != DatasetStatus.SUCCEEDED:
        raise ApplicationError(f"dataset {dataset.sha256[:12]} did not build ({dataset.status}): {dataset.error}")
    if dataset.stale:
        raise ApplicationError(f"dataset {dataset.sha256[:12]} is stale: {dataset.stale_reason} Build a new one.")
    full = training_config_resolve(dataset=dataset, base_model=base_model, overrides=config, backend=backend)
    config_hash = sha256_json(full)
    existing = TrainingRun.objects.filter(dataset=dataset, config_hash=config_hash).first()
    if existing is not None:
        raise _already_submitted(dataset, existing)
    run = TrainingRun(
        dataset=dataset,
        reward_model_version=dataset.reward_model_version,
        backend=backend,
        base_model=full["base_model"],
        modality=dataset.modality,
        config=full,
        config_hash=config_hash,
        created_by=user if getattr(user, "pk", None) else None,
    )
    history_set(run, user=user, reason="training run created")
    try:
        with transaction.atomic():
            run.save()
    except IntegrityError:  # the same submission raced us
        raise _already_submitted(dataset, TrainingRun.objects.get(dataset=dataset, config_hash=config_hash)) from None
    transaction.on_commit(lambda: _queue_submission(run))
    return run


def _queue_submission(run: TrainingRun) -> None:
    """Queue the submit task; with the broker down, take the run back so no `pending` run is left behind."""
    from kombu.exceptions import OperationalError

    from training.tasks import submit_training_run

    try:
        submit_training_run.delay(run.pk)
    except OperationalError as exc:
        TrainingRun.objects.filter(pk=run.pk, status=TrainingStatus.PENDING, job_id="").delete()
        raise ApplicationError(
            f"the Celery broker is unreachable ({exc}); no training run was created — start the broker and try again",
            status=503,
        ) from exc


def _job_metadata(run: TrainingRun) -> dict:
    # Finds a job that was created but whose id we never stored (a crash between create and save).
    return {
        "zeke_run_id": str(run.pk),
        "zeke_config_hash": run.config_hash[:16],
        "zeke_dataset": run.dataset.sha256[:16],
    }


def _apply_job(run: TrainingRun, job: dict) -> bool:
    """Copy a backend job onto the run; True when the status changed."""
    before = run.status
    run.job_id = job.get("id") or run.job_id
    if job.get("status") in TrainingStatus.values:
        run.status = job["status"]
    error = job.get("error") or {}
    if error.get("message"):
        run.error = f"{error.get('code') or 'error'}: {error['message']}"
    run.fine_tuned_model = job.get("fine_tuned_model") or run.fine_tuned_model
    if job.get("policy_config"):
        run.serving = job["policy_config"]
    if run.status in TERMINAL_TRAINING_STATUSES and run.finished_at is None:
        run.finished_at = timezone.now()
    return run.status != before


def training_run_submit(*, run_id: int) -> TrainingRun:
    """Upload the files, validate the grader and create the job. Safe to run twice: the run is claimed with a
    conditional UPDATE pending → uploading; a retry reuses uploaded file ids and finds a created job by metadata."""
    claimed = TrainingRun.objects.filter(pk=run_id, status=TrainingStatus.PENDING).update(
        status=TrainingStatus.UPLOADING, submitted_at=timezone.now()
    )
    run = TrainingRun.objects.select_related("dataset").get(pk=run_id)
    if not claimed:
        return run
    try:
        backend = backends.get_backend(run.backend)
        backend.validate_grader(run.config["grader"])
        job = backend.find_job(metadata=_job_metadata(run)) if run.files else None
        if job is None:
            _upload_files(run, backend)
            # One transaction with the save below: a backend that starts work on commit (trl) starts it
            # once the run holds the job id, so cancel and pause can reach the job from the start.
            with transaction.atomic():
                job = backend.create_job(
                    model=run.base_model,
                    training_file=run.files["train"],
                    validation_file=run.files.get("validation"),
                    method=backend_method(run.config),
                    suffix=f"zeke-{run.modality}-r{run.pk}",
                    metadata=_job_metadata(run),
                    seed=run.config.get("seed"),
                )
                return _run_store_job(run, job)
    except backends.BackendRejected as exc:
        return _run_finish_failed(run, exc.message)
    except ApplicationError as exc:
        # Transient (or no key yet): give the run back so the retry can claim it again.
        TrainingRun.objects.filter(pk=run.pk, status=TrainingStatus.UPLOADING).update(
            status=TrainingStatus.PENDING, error=exc.message
        )
        raise
    return _run_store_job(run, job)


def _run_store_job(run: TrainingRun, job: dict) -> TrainingRun:
    _apply_job(run, job)
    run.error = ""
    history_set(run, reason=f"submitted as job {run.job_id}")
    run.save()
    return run


def backend_method(config: dict) -> dict:
    """The `method` sent to the backend: the grader JSON unchanged and the backend's own hyperparameters
    (for the trl backend: GRPO or DPO with the whole config, which it reads all of)."""
    if "trl" in config:
        return {"type": config["trl"]["method"], "config": config}
    return {
        "type": "reinforcement",
        "reinforcement": {"grader": config["grader"], "hyperparameters": config["hyperparameters"]},
    }


def _upload_files(run: TrainingRun, backend) -> None:
    storage = get_storage()
    files = dict(run.files)
    for split in ("train", "validation"):
        entry = run.dataset.files.get(split)
        if split in files or not entry or not entry.get("rows"):
            continue
        files[split] = backend.upload(
            filename=f"zeke-{run.dataset.sha256[:12]}-{split}.jsonl", data=storage.read_bytes(entry["key"])
        )
        # Stored at once, so a crash after this upload does not upload the file again.
        TrainingRun.objects.filter(pk=run.pk).update(files=files)
    run.files = files


def _run_finish_failed(run: TrainingRun, message: str) -> TrainingRun:
    run.status = TrainingStatus.FAILED
    run.error = message
    run.finished_at = timezone.now()
    history_set(run, reason="backend rejected the submission")
    run.save()
    _notify_failed(run)
    return run


TRAIN_REWARD_KEYS = ("train_reward_mean", "train_mean_reward", "train_reward")
VALID_REWARD_KEYS = ("valid_reward_mean", "full_valid_mean_reward", "valid_reward")


def _reward_value(data: dict, keys: tuple, step, notes: list) -> float | None:
    key = next((k for k in keys if k in data), None)
    if key is None or data[key] is None:
        return None
    value = metric_number(data[key])
    if value is None:
        notes.append(f"step {step}: {key} {str(data[key])[:40]!r} is not a number, skipped")
    return value


def _notify_failed(run: TrainingRun) -> None:
    from alerts.services import notification_send

    notification_send(
        kind="training_failed",
        subject=f"Training run {run.pk} failed ({run.backend} job {run.job_id or 'not created'})",
        body=run.error or "no error message from the backend",
        link="/experiments/",
        payload={"training_run_id": run.pk, "job_id": run.job_id},
        dedupe_key=f"training-{run.pk}",
    )


def metrics_from_events(events) -> dict:
    """The reward curve from `metrics` events: one point per step (train and valid reward), plus the latest values.

    Values that are not finite numbers (backends send "NaN", "n/a", objects) are skipped, each with a note."""
    points: dict[int, dict] = {}
    notes: list[str] = []
    for event in events:
        data = event.data if isinstance(event.data, dict) else {}
        if event.type != "metrics" or "step" not in data:
            continue
        step = metric_number(data["step"])
        if step is None:
            notes.append(f"step {str(data['step'])[:40]!r} is not a number, event skipped")
            continue
        train = _reward_value(data, TRAIN_REWARD_KEYS, int(step), notes)
        valid = _reward_value(data, VALID_REWARD_KEYS, int(step), notes)
        points[int(step)] = {"step": int(step), "train": train, "valid": valid}
    curve = [points[step] for step in sorted(points)]
    valid_values = [p["valid"] for p in curve if p["valid"] is not None]
    train_values = [p["train"] for p in curve if p["train"] is not None]
    return {
        "curve": curve,
        "steps": len(curve),
        "final_train_reward": train_values[-1] if train_values else None,
        "final_valid_reward": valid_values[-1] if valid_values else None,
        "notes": notes[-20:],
    }


def _event_rows(run: TrainingRun, events: list[dict]) -> list[TrainingEvent]:
    return [
        TrainingEvent(
            run=run,
            backend_event_id=event["id"],
            created_at=datetime.fromtimestamp(event.get("created_at") or 0, tz=UTC),
            level=event.get("level") or "info",
            type=event.get("type") or "message",
            message=event.get("message") or "",
            data=event.get("data"),
        )
        for event in events
    ]


def training_run_poll(*, run_id: int) -> TrainingRun:
    """Fetch status, events and checkpoints, then store them in one transaction. Safe to run twice (events are
    unique per backend id); a worker that dies mid-poll has written nothing, so the next poll does it all again.
    A succeeded run's model becomes a candidate policy in the pipeline app (training never calls rollout)."""
    run = TrainingRun.objects.get(pk=run_id)
    # A finished run is polled once more after it finished (to collect its last events), then left alone.
    finished_and_collected = (
        run.status in TERMINAL_TRAINING_STATUSES
        and run.last_polled_at is not None
        and (run.finished_at is None or run.last_polled_at >= run.finished_at)
    )
    if finished_and_collected or not run.job_id:
        return run
    backend = backends.get_backend(run.backend)
    try:
        job = backend.retrieve(run.job_id)
        events = backend.events(run.job_id)
        checkpoints = sorted(backend.checkpoints(run.job_id), key=lambda c: (c.get("step_number") or 0, c.get("id")))
    except backends.BackendRejected as exc:  # e.g. the job is gone: say so on the run, keep its status
        TrainingRun.objects.filter(pk=run.pk).update(error=exc.message, last_polled_at=timezone.now())
        run.refresh_from_db()
        return run
    with transaction.atomic():
        run = TrainingRun.objects.select_for_update().get(pk=run_id)
        TrainingEvent.objects.bulk_create(_event_rows(run, events), ignore_conflicts=True)
        run.metrics = metrics_from_events(run.events.all())
        run.checkpoints = checkpoints
        changed = _apply_job(run, job)
        run.last_polled_at = timezone.now()
        if changed:
            history_set(run, reason=f"job {run.job_id} is {run.status}")
            run.save()
            if run.status == TrainingStatus.FAILED:
                _notify_failed(run)
        else:
            TrainingRun.objects.filter(pk=run.pk).update(
                metrics=run.metrics, checkpoints=run.checkpoints, last_polled_at=run.last_polled_at
            )
    return run


def training_run_recover(*, run_id: int) -> TrainingRun:
    """A run stuck in `uploading` (its worker died): adopt the job if it was created, else hand it back to pending."""
    run = TrainingRun.objects.select_related("dataset").get(pk=run_id)
    if run.status != TrainingStatus.UPLOADING or run.job_id:
        return run
    job = backends.get_backend(run.backend).find_job(metadata=_job_metadata(run))
    if job is not None:
        with transaction.atomic():
            run = TrainingRun.objects.select_for_update().get(pk=run_id)
            _apply_job(run, job)
            history_set(run, reason=f"recovered job {run.job_id} after an interrupted submit")
            run.save()
        return run
    TrainingRun.objects.filter(pk=run_id, status=TrainingStatus.UPLOADING, job_id="").update(
        status=TrainingStatus.PENDING
    )
    run.refresh_from_db()
    return run


CONTROL_ALLOWED = {
    "cancel": (TrainingStatus.VALIDATING_FILES, TrainingStatus.QUEUED, TrainingStatus.RUNNING, TrainingStatus.PAUSED),
    "pause": (TrainingStatus.RUNNING,),
    "resume": (TrainingStatus.PAUSED,),
}


def training_run_control(*, run: TrainingRun, action: str, user=None) -> TrainingRun:
    """Cancel, pause or resume the backend job (admin actions). A run not yet submitted is cancelled locally."""
    if action not in CONTROL_ALLOWED:
        raise ValidationError({"action": f"must be one of {', '.join(CONTROL_ALLOWED)}"})
    if action == "cancel":
        with transaction.atomic():
            # Locked, so a submit claiming the run (pending → uploading) waits or has already moved it.
            locked = TrainingRun.objects.select_for_update().get(pk=run.pk)
            if locked.status == TrainingStatus.PENDING:
                locked.status, locked.finished_at = TrainingStatus.CANCELLED, timezone.now()
                history_set(locked, user=user, reason=f"cancel by {getattr(user, 'username', 'system')} before submit")
                locked.save()
                return locked
    run.refresh_from_db()
    if run.status not in CONTROL_ALLOWED[action] or not run.job_id:
        raise ApplicationError(f"cannot {action} run {run.pk}: it is {run.status}")
    job = getattr(backends.get_backend(run.backend), action)(run.job_id)
    with transaction.atomic():
        run = TrainingRun.objects.select_for_update().get(pk=run.pk)
        _apply_job(run, job)
        history_set(run, user=user, reason=f"{action} by {getattr(user, 'username', 'system')}")
        run.save()
    return run


def training_run_cancel(*, run: TrainingRun, user=None) -> TrainingRun:
    return training_run_control(run=run, action="cancel", user=user)


def training_run_pause(*, run: TrainingRun, user=None) -> TrainingRun:
    return training_run_control(run=run, action="pause", user=user)


def training_run_resume(*, run: TrainingRun, user=None) -> TrainingRun:
    return training_run_control(run=run, action="resume", user=user)


# --- Curriculum ---------------------------------------------------------------------


def dataset_modalities_with_rewards() -> list[str]:
    """Modalities that have eligible traces with a reward (what a weekly build can use)."""
    from labeling.models import RewardEvent
    from traces.selectors import traces_eligible

    has_reward = RewardEvent.objects.filter(trace=OuterRef("pk"))
    return sorted(set(traces_eligible().filter(Exists(has_reward)).values_list("modality", flat=True).distinct()))


def curriculum_next_stage(*, modality: str) -> int:
    """Stage 1 until a policy trained on a stage-1 dataset was promoted, then 2, then 3 (and stays at 3).
    A run that merely succeeded, or whose policy was rolled back, does not advance the stage: the next build
    retries that stage with new data. "Promoted" is what rollout recorded on the experiment: the rollout ended
    (`rollout_ended_at`) without a rollback reason."""
    promoted = TrainingRun.objects.filter(
        modality=modality, status=TrainingStatus.SUCCEEDED, rollout_ended_at__isnull=False, rollback_reason=""
    ).values_list("dataset__stage", flat=True)
    return min(3, max(promoted, default=0) + 1)


@transaction.atomic
def datasets_forget(*, trace_ids: list[int], reason: str, user=None) -> int:
    """Remove forgotten traces' rows from every dataset that included them (files rewritten) and mark those
    datasets stale, saying why. Returns how many datasets changed. Called by `manage.py forget`."""
    forgotten = set(trace_ids)
    changed = 0
    for build in DatasetBuild.objects.select_for_update().filter(status=DatasetStatus.SUCCEEDED).order_by("id"):
        listed = build.manifest.get("trace_ids") or {}
        hits = forgotten.intersection([*listed.get("train", []), *listed.get("validation", [])])
        if not hits:
            continue
        datasets.dataset_files_drop_traces(build=build, trace_ids=hits)
        build.stale = True
        build.stale_reason = f"{len(hits)} of its traces were forgotten on {timezone.now():%Y-%m-%d} ({reason}); "
        build.stale_reason += "their rows were removed from its files, so they no longer match its sha256."
        history_set(build, user=user, reason=f"forget: {len(hits)} trace(s) removed")
        build.save()
        changed += 1
    return changed
