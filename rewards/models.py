from django.conf import settings
from django.db import models
from simple_history.models import HistoricalRecords


class RewardModelStatus(models.TextChoices):
    CANDIDATE = "candidate", "Candidate"
    ACTIVE = "active", "Active"
    RETIRED = "retired", "Retired"


class RewardModel(models.Model):
    """One trained version of the reward model; at most one is active."""

    version = models.CharField(max_length=50, unique=True)
    algorithm = models.CharField(max_length=200)
    feature_set = models.JSONField(default=dict, blank=True)
    hyperparameters = models.JSONField(default=dict, blank=True)
    training_data_hash = models.CharField(max_length=64)
    training_counts = models.JSONField(default=dict, blank=True)
    metrics = models.JSONField(default=dict, blank=True)
    artifact_key = models.CharField(max_length=300, help_text="Key in the storage layer")
    artifact_sha256 = models.CharField(max_length=64)
    status = models.CharField(max_length=10, choices=RewardModelStatus.choices, default=RewardModelStatus.CANDIDATE)
    status_reason = models.TextField(blank=True, default="")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)

    history = HistoricalRecords()

    class Meta:
        ordering = ["-created_at"]
        permissions = [
            ("promote_rewardmodel", "Can promote reward model versions"),
            ("retire_rewardmodel", "Can retire reward model versions"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["status"], condition=models.Q(status="active"), name="rewardmodel_single_active"
            ),
            # The idempotency key of training: the same data and hyperparameters make one version.
            models.UniqueConstraint(fields=["training_data_hash"], name="rewardmodel_unique_training_data"),
        ]

    def __str__(self):
        return f"{self.version} ({self.status})"


class AgreementCheck(models.Model):
    """Model–human agreement on a spot-check slice; `alert` when it fell below the threshold."""

    reward_model = models.ForeignKey(RewardModel, on_delete=models.CASCADE, related_name="agreement_checks")
    window_start = models.DateField()
    window_end = models.DateField()
    n = models.PositiveIntegerField(default=0)
    spearman = models.FloatField(null=True, blank=True)
    mae = models.FloatField(null=True, blank=True)
    threshold = models.FloatField()
    alert = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["reward_model", "window_end"], name="agreement_unique_per_window"),
        ]

    def __str__(self):
        return f"{self.reward_model.version} {self.window_end}: spearman {self.spearman}"
