from django.conf import settings
from django.db import models
from simple_history.models import HistoricalRecords

from traces.models import Modality


class PolicyStatus(models.TextChoices):
    CANDIDATE = "candidate", "Candidate"
    SHADOW = "shadow", "Shadow"
    CANARY = "canary", "Canary"
    ACTIVE = "active", "Active"
    RETIRED = "retired", "Retired"
    ROLLED_BACK = "rolled_back", "Rolled back"


class Policy(models.Model):
    """A model id agents can be told to use, per modality."""

    model_id = models.CharField(max_length=300)
    modality = models.CharField(max_length=10, choices=Modality.choices, default=Modality.CHAT)
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="children")
    status = models.CharField(max_length=12, choices=PolicyStatus.choices, default=PolicyStatus.CANDIDATE)
    training_run = models.ForeignKey(
        "training.TrainingRun", null=True, blank=True, on_delete=models.SET_NULL, related_name="policies"
    )
    # The configuration agents need to call it (system prompt version, temperature, ...), diffed on the dashboard.
    config = models.JSONField(default=dict, blank=True)
    # Where a trained policy came from: base model, dataset hash, reward-model version, training config.
    lineage = models.JSONField(default=dict, blank=True)
    notes = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)

    history = HistoricalRecords()

    class Meta:
        verbose_name_plural = "policies"
        ordering = ["-created_at"]
        permissions = [("release_quarantine", "Can release a policy's quarantined traces")]
        constraints = [
            models.UniqueConstraint(fields=["model_id", "modality"], name="policy_unique_model_modality"),
            models.UniqueConstraint(
                fields=["modality"], condition=models.Q(status="active"), name="policy_single_active_per_modality"
            ),
        ]

    def __str__(self):
        return f"{self.model_id} ({self.modality}, {self.status})"


class SuiteKind(models.TextChoices):
    REGRESSION = "regression", "Regression"
    TOOL_CALL = "tool_call", "Tool-call correctness"
    REFUSAL = "refusal", "Refusal"


class EvalSuite(models.Model):
    name = models.CharField(max_length=100, unique=True)
    kind = models.CharField(max_length=12, choices=SuiteKind.choices)
    threshold = models.FloatField(help_text="Minimum pass rate (0–1) for the gate")
    description = models.TextField(blank=True, default="")
    source = models.CharField(max_length=300, blank=True, default="", help_text="Where the cases came from (license)")
    active = models.BooleanField(default=True)

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name


class EvalCase(models.Model):
    """One case. `input`: {"messages": [...], "tools": [...]}. `expected` by kind:
    regression {"match": "exact|substring|regex|grader", "value": ..., "grader": {...}};
    tool_call {"calls": [{"name": ..., "args": {param: [allowed values]}}]} ([] = call no tool);
    refusal {"should_refuse": bool}."""

    suite = models.ForeignKey(EvalSuite, on_delete=models.CASCADE, related_name="cases")
    key = models.CharField(max_length=200)
    input = models.JSONField()
    expected = models.JSONField()
    category = models.CharField(max_length=100, blank=True, default="")

    class Meta:
        ordering = ["suite", "key"]
        constraints = [models.UniqueConstraint(fields=["suite", "key"], name="evalcase_unique_key")]

    def __str__(self):
        return f"{self.suite.name}/{self.key}"


class EvalRunStatus(models.TextChoices):
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"


class EvalRun(models.Model):
    suite = models.ForeignKey(EvalSuite, on_delete=models.PROTECT, related_name="runs")
    policy = models.ForeignKey(Policy, on_delete=models.CASCADE, related_name="eval_runs")
    baseline = models.ForeignKey(Policy, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    status = models.CharField(max_length=10, choices=EvalRunStatus.choices, default=EvalRunStatus.RUNNING)
    # pass_rate, refusal_rate, over_refusal_rate, win_rate, cost, ...
    scores = models.JSONField(default=dict, blank=True)
    passed = models.BooleanField(null=True)
    error = models.TextField(blank=True, default="")
    started_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-started_at"]

    def __str__(self):
        return f"{self.suite.name} on {self.policy.model_id}: {self.scores.get('pass_rate')}"


class EvalResult(models.Model):
    run = models.ForeignKey(EvalRun, on_delete=models.CASCADE, related_name="results")
    case = models.ForeignKey(EvalCase, on_delete=models.CASCADE, related_name="+")
    output = models.JSONField(default=dict, blank=True)
    baseline_output = models.JSONField(null=True, blank=True)
    passed = models.BooleanField()
    detail = models.TextField(blank=True, default="")
    latency_ms = models.PositiveIntegerField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["run", "case"], name="evalresult_unique_case")]


class RolloutState(models.TextChoices):
    SHADOW = "shadow", "Shadow"
    CANARY = "canary", "Canary"
    ACTIVE = "active", "Promoted to active"
    ROLLED_BACK = "rolled_back", "Rolled back"


class Rollout(models.Model):
    """Candidate vs baseline for one modality: shadow → canary (traffic %) → active, or rolled back."""

    modality = models.CharField(max_length=10, choices=Modality.choices, default=Modality.CHAT)
    candidate = models.ForeignKey(Policy, on_delete=models.PROTECT, related_name="rollouts_as_candidate")
    baseline = models.ForeignKey(Policy, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    state = models.CharField(max_length=12, choices=RolloutState.choices, default=RolloutState.SHADOW)
    traffic_percent = models.FloatField(default=0.0)
    salt = models.CharField(max_length=32, help_text="Hash salt for sticky arm assignment")
    gate = models.JSONField(default=dict, blank=True)
    started_at = models.DateTimeField(auto_now_add=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    rollback_reason = models.TextField(blank=True, default="")
    rolled_back_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    automatic_rollback = models.BooleanField(default=False)

    history = HistoricalRecords()

    class Meta:
        ordering = ["-started_at"]
        permissions = [
            ("approve_rollout", "Can start, ramp and promote rollouts"),
            ("rollback_rollout", "Can roll back rollouts"),
            ("override_promotion", "Can promote a canary without the evidence the promotion rule asks"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["modality"],
                condition=models.Q(state__in=["shadow", "canary"]),
                name="rollout_single_running_per_modality",
            ),
        ]

    def __str__(self):
        return f"rollout {self.pk} {self.modality}: {self.candidate.model_id} ({self.state})"


class MonitorCheck(models.Model):
    """One online monitor evaluation of a running rollout (every 5 minutes)."""

    rollout = models.ForeignKey(Rollout, on_delete=models.CASCADE, related_name="monitor_checks")
    checked_at = models.DateTimeField(auto_now_add=True)
    window_start = models.DateTimeField()
    window_end = models.DateTimeField()
    # arm → {n, latency_p95, tool_error_rate, safety_per_1000, win_rate}
    metrics = models.JSONField(default=dict)
    decision = models.CharField(max_length=20, default="ok")  # ok | insufficient_data | rollback
    reason = models.TextField(blank=True, default="")

    class Meta:
        ordering = ["-checked_at"]


class PolicyCheck(models.Model):
    """One watch of a modality's active policy (rollout/watch.py): recent windows vs its trailing
    7 days, and, within ROLLOUT_PROMOTION_WATCH_HOURS of its promotion, vs the policy it replaced."""

    policy = models.ForeignKey(Policy, on_delete=models.CASCADE, related_name="checks")
    rollout = models.ForeignKey(Rollout, null=True, blank=True, on_delete=models.SET_NULL, related_name="policy_checks")
    checked_at = models.DateTimeField(auto_now_add=True, db_index=True)
    # comparison name → {"recent": arm metrics, "reference": arm metrics, "guards": [...], "failed": bool}
    metrics = models.JSONField(default=dict)
    decision = models.CharField(max_length=20, default="ok")  # ok | insufficient_data | anomaly | rollback | error
    reason = models.TextField(blank=True, default="")

    class Meta:
        ordering = ["-checked_at"]

    def __str__(self):
        return f"{self.policy.model_id} at {self.checked_at:%Y-%m-%d %H:%M}: {self.decision}"
