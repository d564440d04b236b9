"""Runs one TRL job inside the `training` queue's worker: loads the base model, optionally warms it up with
SFT, trains GRPO or DPO, records the trainer's log as job events, stores checkpoints and the final model or
adapter with sha256, and honours cancel and pause between steps. Imports torch: only the task imports this.
"""

import logging
import shutil
import time
from pathlib import Path

import torch
from django.conf import settings
from transformers import AutoModelForCausalLM, AutoTokenizer, TrainerCallback

from training.models import TrainingStatus, TRLJob
from training.openweights import data
from training.openweights.artifacts import directory_store
from zeke_rft.errors import ApplicationError
from zeke_rft.storage import get_storage

logger = logging.getLogger(__name__)
ACTIVE = (TrainingStatus.RUNNING, TrainingStatus.PAUSED)


class JobRecorder:
    """Appends events and checkpoints to the job row (only the worker writes these columns)."""

    def __init__(self, job: TRLJob):
        self.job = job
        self.events = list(job.events)
        self.checkpoints = list(job.checkpoints)

    def event(self, message: str, *, type: str = "message", level: str = "info", data: dict | None = None):
        event_id = f"{self.job.job_id}-{len(self.events) + 1:06d}"
        self.events.append(
            {"id": event_id, "object": "fine_tuning.job.event", "created_at": int(time.time()), "level": level}
            | {"type": type, "message": message, "data": data}
        )
        TRLJob.objects.filter(pk=self.job.pk).update(events=self.events)

    def checkpoint(self, step: int, path: Path, metrics: dict) -> None:
        stored = directory_store(path, key=f"trl/{self.job.job_id}/checkpoint-{step}.tar")
        self.checkpoints.append(
            {"object": "fine_tuning.job.checkpoint", "id": f"{self.job.job_id}-ckpt-{step}", "step_number": step}
            | {"fine_tuned_model_checkpoint": stored["key"], "sha256": stored["sha256"], "bytes": stored["bytes"]}
            | {"metrics": metrics, "created_at": int(time.time())}
        )
        TRLJob.objects.filter(pk=self.job.pk).update(checkpoints=self.checkpoints)


def job_control(job: TRLJob) -> str:
    return TRLJob.objects.filter(pk=job.pk).values_list("control", flat=True).first() or ""


def log_metrics(logs: dict, method: str) -> dict:
    """The trainer's log as a metrics event's data: the reward (GRPO: the weighted reward; DPO: the share of
    pairs where chosen beats rejected), KL, loss and each reward function's mean."""
    reward_key = "rewards/accuracies" if method == "dpo" else "reward"
    metrics = {"train_reward_mean": logs.get(reward_key), "kl": logs.get("kl"), "loss": logs.get("loss")}
    metrics |= {key: value for key, value in logs.items() if key.startswith("rewards/") or key == "entropy"}
    return {key: float(value) for key, value in metrics.items() if isinstance(value, (int, float))}


class JobCallback(TrainerCallback):
    """Metrics to events, checkpoints to storage, and the job's control (cancel, pause) read after each step."""

    def __init__(self, job: TRLJob, recorder: JobRecorder, *, method: str, phase: str = "train"):
        self.job, self.recorder, self.method, self.phase = job, recorder, method, phase
        self.cancelled = False
        self.last_metrics: dict = {}

    def on_log(self, args, state, control, logs=None, **kwargs):
        if not logs or "train_runtime" in logs:
            return
        self.last_metrics = log_metrics(logs, self.method)
        step = (
            {"step": state.global_step}
            if self.phase == "train"
            else {"phase": self.phase, "sft_step": state.global_step}
        )
        self.recorder.event(f"{self.phase} step {state.global_step}", type="metrics", data=step | self.last_metrics)

    def on_save(self, args, state, control, **kwargs):
        path = Path(args.output_dir) / f"checkpoint-{state.global_step}"
        if self.phase == "train" and path.is_dir() and not self.cancelled:
            self.recorder.checkpoint(state.global_step, path, self.last_metrics)

    def on_step_end(self, args, state, control, **kwargs):
        request = job_control(self.job)
        if request == "pause":
            request = self._wait_while_paused(state.global_step)
        if request == "cancel":
            self.cancelled = control.should_training_stop = True
            self.recorder.event(f"cancel honoured after {self.phase} step {state.global_step}")

    def _wait_while_paused(self, step: int) -> str:
        self.recorder.event(f"paused after {self.phase} step {step}")
        request = "pause"
        while request == "pause":
            time.sleep(settings.TRL_CONTROL_POLL_SECONDS)
            request = job_control(self.job)
        if request != "cancel":
            self.recorder.event(f"resumed at {self.phase} step {step}")
        return request


def trl_job_run(*, job_id: str, callbacks=()) -> TRLJob:
    """Claim a queued job (queued → running: safe to run twice) and train it; the outcome is on the job.
    `callbacks` are extra TrainerCallbacks (tests use one to act between steps)."""
    claimed = TRLJob.objects.filter(job_id=job_id, status=TrainingStatus.QUEUED).update(status=TrainingStatus.RUNNING)
    job = TRLJob.objects.select_related("run__dataset").get(job_id=job_id)
    if not claimed:
        return job
    recorder = JobRecorder(job)
    output_dir = Path(settings.TRL_OUTPUT_DIR) / job.job_id
    try:
        _train(job, recorder, output_dir, list(callbacks))
    except Exception as exc:
        logger.exception("trl job %s failed", job.job_id)
        message = f"{type(exc).__name__}: {getattr(exc, 'message', None) or exc}"[:2000]
        recorder.event(f"failed: {message}", level="error")
        TRLJob.objects.filter(pk=job.pk, status__in=ACTIVE).update(
            status=TrainingStatus.FAILED, error={"code": type(exc).__name__, "message": message}
        )
    finally:
        shutil.rmtree(output_dir, ignore_errors=True)
    job.refresh_from_db()
    return job


def _train(job: TRLJob, recorder: JobRecorder, output_dir: Path, callbacks: list) -> None:
    from training.openweights import trainers

    config = job.spec["method"]["config"]
    method = config["trl"]["method"]
    if settings.TRL_TORCH_THREADS:
        torch.set_num_threads(settings.TRL_TORCH_THREADS)
    tokenizer, model = _load(job.spec["model"])
    recorder.event(f"{method} on {job.spec['model']} ({'LoRA' if config['trl']['lora'] else 'full'} fine-tune)")
    if config["trl"]["sft_warm_start_steps"]:
        model = trainers.sft_warm_start(job, config, model, tokenizer, output_dir / "sft", recorder, callbacks)
        if job_control(job) == "cancel":
            return
    build = trainers.grpo_trainer if method == "grpo" else trainers.dpo_trainer
    trainer = build(job, config, model, tokenizer, output_dir, recorder)
    callback = JobCallback(job, recorder, method=method)
    for extra in [callback, *callbacks]:
        trainer.add_callback(extra)
    trainer.train()
    if callback.cancelled or job_control(job) == "cancel":
        return
    _finish(job, trainer, tokenizer, config, output_dir / "final", recorder)


def _load(model_id: str):
    tokenizer = AutoTokenizer.from_pretrained(model_id)
    tokenizer.padding_side = "left"
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    if not tokenizer.chat_template:
        raise ApplicationError(f"base model {model_id} has no chat template: use an instruct/chat model")
    return tokenizer, AutoModelForCausalLM.from_pretrained(model_id)


def _finish(job: TRLJob, trainer, tokenizer, config: dict, final: Path, recorder: JobRecorder) -> None:
    """Store the final model (or adapter) with sha256 and mark the job succeeded, unless it was cancelled."""
    trainer.save_model(str(final))
    tokenizer.save_pretrained(str(final))
    stored = directory_store(final, key=f"trl/{job.job_id}/final.tar")
    name = f"{job.spec.get('suffix') or 'zeke'}-{job.job_id[-8:]}"
    policy_config = {
        "base_url": settings.TRL_SERVE_BASE_URL,
        "served_model_name": name,
        "base_model": job.spec["model"],
        "adapter": bool(config["trl"]["lora"]),
        "method": config["trl"]["method"],
        "artifact": stored,
    }
    done = (
        TRLJob.objects.filter(pk=job.pk, status__in=ACTIVE)
        .exclude(control="cancel")
        .update(
            status=TrainingStatus.SUCCEEDED, fine_tuned_model=name, artifact=stored | {"policy_config": policy_config}
        )
    )
    if done:
        recorder.event(f"succeeded: {name}, artifact {stored['key']} sha256 {stored['sha256']}")


def dataset_rows(job: TRLJob, name: str) -> list[dict]:
    """Rows of one of the run's dataset files (train comes from the uploaded copy the job names)."""
    storage = get_storage()
    if name == "train":
        return data.jsonl_rows(storage.read_bytes(job.spec["training_file"]))
    entry = (job.run.dataset.files if job.run else {}).get(name) or {}
    return data.jsonl_rows(storage.read_bytes(entry["key"])) if entry.get("rows") else []
