from django.conf import settings
from django.db import models
from simple_history.models import HistoricalRecords

from traces.models import Modality


class DatasetStatus(models.TextChoices):
    BUILDING = "building", "Building"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"


class DatasetBuild(models.Model):
    """A versioned RFT dataset: manifest (filters, reward model version, stage, counts,
    splits, per-file sha256) and the content hash that names it."""

    sha256 = models.CharField(max_length=64, unique=True, help_text="Content hash of the manifest; names the build")
    stage = models.PositiveSmallIntegerField(default=1)
    modality = models.CharField(max_length=10, choices=Modality.choices, default=Modality.CHAT)
    reward_model_version = models.CharField(max_length=50, blank=True, default="")
    manifest = models.JSONField(default=dict)
    # name → {"key": storage key, "sha256": str, "rows": int}
    files = models.JSONField(default=dict)
    status = models.CharField(max_length=10, choices=DatasetStatus.choices, default=DatasetStatus.SUCCEEDED)
    error = models.TextField(blank=True, default="")
    # Set when traces it included were forgotten (manage.py forget): their rows left its files; rebuild before use.
    stale = models.BooleanField(default=False)
    stale_reason = models.TextField(blank=True, default="")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)

    history = HistoricalRecords()

    class Meta:
        ordering = ["-created_at"]

    def __str__(self):
        stale = ", stale" if self.stale else ""
        return f"dataset {self.sha256[:12]} (stage {self.stage}, {self.modality}{stale})"


class TrainingStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    UPLOADING = "uploading", "Uploading files"
    VALIDATING_FILES = "validating_files", "Validating files"
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    PAUSED = "paused", "Paused"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


TERMINAL_TRAINING_STATUSES = (TrainingStatus.SUCCEEDED, TrainingStatus.FAILED, TrainingStatus.CANCELLED)


class TrainingRun(models.Model):
    """One RFT job: dataset + config submitted to a backend; also the experiment registry row."""

    dataset = models.ForeignKey(DatasetBuild, on_delete=models.PROTECT, related_name="training_runs")
    reward_model_version = models.CharField(max_length=50, blank=True, default="")
    backend = models.CharField(max_length=30, default="openai")
    base_model = models.CharField(max_length=200)
    modality = models.CharField(max_length=10, choices=Modality.choices, default=Modality.CHAT)
    # base_model, kl_penalty, reward_scaling, batch_size, episode_length, hyperparameters{...}, grader{...}
    config = models.JSONField(default=dict)
    config_hash = models.CharField(max_length=64)
    files = models.JSONField(default=dict, blank=True, help_text="backend file ids by split")
    job_id = models.CharField(max_length=200, blank=True, default="")
    status = models.CharField(max_length=20, choices=TrainingStatus.choices, default=TrainingStatus.PENDING)
    error = models.TextField(blank=True, default="")
    metrics = models.JSONField(default=dict, blank=True, help_text="latest metrics and per-step reward curve")
    checkpoints = models.JSONField(default=list, blank=True)
    fine_tuned_model = models.CharField(max_length=300, blank=True, default="")
    serving = models.JSONField(
        default=dict, blank=True, help_text="how a self-hosted backend's model is served (base_url, artifact)"
    )
    # Written by the rollout stage through training.services.
    gate = models.JSONField(default=dict, blank=True, help_text="offline gate decision and numbers")
    eval_scores = models.JSONField(default=dict, blank=True)
    rollout_started_at = models.DateTimeField(null=True, blank=True)
    rollout_ended_at = models.DateTimeField(null=True, blank=True)
    rollback_reason = models.TextField(blank=True, default="")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)
    submitted_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    last_polled_at = models.DateTimeField(null=True, blank=True)

    history = HistoricalRecords()

    class Meta:
        ordering = ["-created_at"]
        permissions = [
            ("start_trainingrun", "Can start (submit) training runs"),
            ("cancel_trainingrun", "Can cancel training runs"),
            ("pause_trainingrun", "Can pause and resume training runs"),
        ]
        constraints = [
            # The same dataset + config is never submitted twice.
            models.UniqueConstraint(fields=["dataset", "config_hash"], name="trainingrun_unique_dataset_config"),
        ]

    def __str__(self):
        return f"run {self.pk} on {self.dataset.sha256[:12]} ({self.status})"


class TrainingEvent(models.Model):
    """An event the backend reported for a job (messages and per-step metrics)."""

    run = models.ForeignKey(TrainingRun, on_delete=models.CASCADE, related_name="events")
    backend_event_id = models.CharField(max_length=200)
    created_at = models.DateTimeField()
    level = models.CharField(max_length=20, blank=True, default="info")
    type = models.CharField(max_length=20, blank=True, default="message")
    message = models.TextField(blank=True, default="")
    data = models.JSONField(null=True, blank=True)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["run", "backend_event_id"], name="trainingevent_unique_backend_id"),
        ]

    def __str__(self):
        return f"{self.run_id}: {self.message[:50]}"


class TRLJob(models.Model):
    """A job of the open-weights backend (training.openweights): what OpenAI keeps on its side for its jobs.

    The worker on the `training` queue writes status, events and checkpoints; the admin's cancel/pause/resume
    write `control`, which a trainer callback reads between steps. They write different columns.
    """

    job_id = models.CharField(max_length=64, unique=True)
    run = models.ForeignKey(TrainingRun, null=True, blank=True, on_delete=models.SET_NULL, related_name="trl_jobs")
    # model, training_file, validation_file, method, suffix, metadata, seed (what create_job received)
    spec = models.JSONField(default=dict)
    metadata = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=20, choices=TrainingStatus.choices, default=TrainingStatus.QUEUED)
    control = models.CharField(max_length=10, blank=True, default="", help_text="pause | cancel, read between steps")
    events = models.JSONField(default=list, blank=True)
    checkpoints = models.JSONField(default=list, blank=True)
    fine_tuned_model = models.CharField(max_length=300, blank=True, default="")
    # {"key", "sha256", "bytes", "lora", "base_model", "base_url"}: the final model or adapter in storage
    artifact = models.JSONField(default=dict, blank=True)
    error = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "TRL job"

    def __str__(self):
        return f"{self.job_id} ({self.status})"
