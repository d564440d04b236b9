"""The weekly loop as records: one PipelineRun per modality and cycle, one PipelineStep per stage."""

from django.conf import settings
from django.db import models
from simple_history.models import HistoricalRecords

from traces.models import Modality


class Step(models.TextChoices):
    SCORE = "score", "Score traces"
    RECALIBRATE = "recalibrate", "Recalibrate reward model"
    DATASET = "dataset", "Build dataset"
    TRAIN = "train", "Train"
    EVALUATE = "evaluate", "Evaluate (offline gate)"
    SHADOW = "shadow", "Shadow"
    CANARY = "canary", "Canary"
    MONITOR = "monitor", "Monitor"
    PROMOTE = "promote", "Promote"


STEP_ORDER = [choice.value for choice in Step]


class RunStatus(models.TextChoices):
    RUNNING = "running", "Running"
    WAITING = "waiting", "Waiting"  # for training, the online guard or a person's approval
    PAUSED = "paused", "Paused (--until)"
    SUCCEEDED = "succeeded", "Succeeded"
    STOPPED = "stopped", "Stopped"  # ended early without a failure: nothing new, or rejected
    FAILED = "failed", "Failed"


OPEN_RUN_STATUSES = (RunStatus.RUNNING, RunStatus.WAITING)


class StepStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    RUNNING = "running", "Running"
    WAITING = "waiting", "Waiting"
    SUCCEEDED = "succeeded", "Succeeded"
    SKIPPED = "skipped", "Skipped"
    FAILED = "failed", "Failed"
    REJECTED = "rejected", "Rejected"


DONE_STEP_STATUSES = (StepStatus.SUCCEEDED, StepStatus.SKIPPED, StepStatus.FAILED, StepStatus.REJECTED)


class Approval(models.TextChoices):
    NOT_NEEDED = "", "Not needed"
    WAITING = "waiting", "Waiting for approval"
    APPROVED = "approved", "Approved"
    REJECTED = "rejected", "Rejected"


class PipelineRun(models.Model):
    """score → recalibrate → dataset → train → evaluate → shadow → canary → monitor → promote, for one
    modality in one cycle (ISO week). (modality, cycle) is unique: the idempotency key of the weekly job."""

    modality = models.CharField(max_length=10, choices=Modality.choices, default=Modality.CHAT)
    cycle = models.CharField(max_length=20, help_text="ISO week, e.g. 2026-W49")
    status = models.CharField(max_length=10, choices=RunStatus.choices, default=RunStatus.RUNNING)
    current_step = models.CharField(max_length=12, choices=Step.choices, blank=True, default="")
    until = models.CharField(max_length=12, choices=Step.choices, blank=True, default="")
    stop_reason = models.TextField(blank=True, default="")
    # The records the steps produced (each written by its own app's services).
    dataset = models.ForeignKey("training.DatasetBuild", null=True, blank=True, on_delete=models.SET_NULL)
    training_run = models.ForeignKey("training.TrainingRun", null=True, blank=True, on_delete=models.SET_NULL)
    policy = models.ForeignKey("rollout.Policy", null=True, blank=True, on_delete=models.SET_NULL)
    rollout = models.ForeignKey("rollout.Rollout", null=True, blank=True, on_delete=models.SET_NULL)
    # The worker advancing the run holds a lease; a worker that died lets it lapse and another resumes.
    lease_owner = models.CharField(max_length=100, blank=True, default="")
    lease_until = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    history = HistoricalRecords()

    class Meta:
        ordering = ["-created_at"]
        constraints = [models.UniqueConstraint(fields=["modality", "cycle"], name="pipelinerun_unique_cycle")]

    def __str__(self):
        return f"pipeline {self.pk} {self.modality} {self.cycle} ({self.status})"


class PipelineStep(models.Model):
    run = models.ForeignKey(PipelineRun, on_delete=models.CASCADE, related_name="steps")
    step = models.CharField(max_length=12, choices=Step.choices)
    position = models.PositiveSmallIntegerField()
    status = models.CharField(max_length=10, choices=StepStatus.choices, default=StepStatus.PENDING)
    detail = models.TextField(blank=True, default="")
    output = models.JSONField(default=dict, blank=True)
    record = models.CharField(max_length=200, blank=True, default="", help_text="What the step produced")
    attempts = models.PositiveIntegerField(default=0)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    approval = models.CharField(max_length=10, choices=Approval.choices, blank=True, default="")
    decided_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    decided_at = models.DateTimeField(null=True, blank=True)
    decision_reason = models.TextField(blank=True, default="")

    history = HistoricalRecords()

    class Meta:
        ordering = ["run", "position"]
        constraints = [models.UniqueConstraint(fields=["run", "step"], name="pipelinestep_unique_step")]
        permissions = [("approve_pipelinestep", "Can approve or reject a pipeline step waiting for a person")]

    def __str__(self):
        return f"{self.run.modality} {self.run.cycle} {self.step} ({self.status})"
