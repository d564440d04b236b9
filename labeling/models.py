from django.conf import settings
from django.db import models
from django.db.models import Q
from simple_history.models import HistoricalRecords

from traces.models import TaskCategory

DIMENSIONS = ("success", "helpfulness", "tone_alignment", "safety")


class Rubric(models.Model):
    """The scoring rubric as data. `dimensions` maps each of DIMENSIONS to
    {"label": str, "question": str, "anchors": {"1": str, ..., "5": str}}.
    `version` goes up by one on every edit (see labeling.services.rubric_update)."""

    name = models.CharField(max_length=100, unique=True, default="ZEKE rubric")
    version = models.PositiveIntegerField(default=1)
    dimensions = models.JSONField()
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    history = HistoricalRecords()

    class Meta:
        ordering = ["-active", "name"]

    def __str__(self):
        return f"{self.name} v{self.version}"


class LabelQueue(models.Model):
    """The day's queue of items to label; one per day (its idempotency key)."""

    day = models.DateField(unique=True)
    size = models.PositiveIntegerField()
    created_at = models.DateTimeField(auto_now_add=True)
    built_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    stats = models.JSONField(default=dict, blank=True, help_text="per category / reason counts")

    class Meta:
        ordering = ["-day"]

    def __str__(self):
        return f"Queue {self.day}"


class TaskKind(models.TextChoices):
    SCORE = "score", "Score card"
    PREFERENCE = "preference", "A/B preference"


class TaskReason(models.TextChoices):
    UNCERTAIN = "uncertain", "Reward model unsure"
    DISAGREEMENT = "disagreement", "Candidate and baseline disagree"
    FAILURE = "failure", "Fresh failure"
    SPOT_CHECK = "spot_check", "Reward model spot check"
    STRATIFIED = "stratified", "Stratified sample"
    OVERLAP = "overlap", "Second reviewer (agreement)"


class TaskStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    DONE = "done", "Done"
    SKIPPED = "skipped", "Skipped"


class LabelTask(models.Model):
    """One item in a day's queue for one reviewer (unassigned = anyone in the reviewers group)."""

    queue = models.ForeignKey(LabelQueue, on_delete=models.CASCADE, related_name="tasks")
    trace = models.ForeignKey("traces.Trace", on_delete=models.CASCADE, related_name="label_tasks")
    kind = models.CharField(max_length=12, choices=TaskKind.choices, default=TaskKind.SCORE)
    reason = models.CharField(max_length=15, choices=TaskReason.choices, default=TaskReason.STRATIFIED)
    reviewer = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="label_tasks"
    )
    position = models.PositiveIntegerField(default=0)
    priority = models.FloatField(default=0.0)
    # For A/B items: {"a": {"policy_id", "response", "tool_calls"}, "b": {...}} (scrubbed text only).
    pair = models.JSONField(null=True, blank=True)
    # Blind A/B: drawn at random when the item is made and kept, so the reviewer's "A" is pair["b"] when set.
    sides_swapped = models.BooleanField(default=False)
    status = models.CharField(max_length=10, choices=TaskStatus.choices, default=TaskStatus.PENDING)
    skip_reason = models.CharField(max_length=300, blank=True, default="")
    opened_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    completed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    history = HistoricalRecords()

    class Meta:
        ordering = ["queue", "position", "id"]
        permissions = [("review_labeltask", "Can review items in the review panel")]
        constraints = [
            models.UniqueConstraint(
                fields=["queue", "trace", "kind", "reviewer"], name="labeltask_unique_per_reviewer"
            ),
        ]
        indexes = [models.Index(fields=["queue", "status", "position"], name="labeltask_queue_status")]

    def __str__(self):
        return f"{self.queue.day} #{self.position} {self.kind} trace {self.trace_id}"


class ScoreCard(models.Model):
    """A reviewer's rubric scores for one trace; at most one per (trace, reviewer)."""

    trace = models.ForeignKey("traces.Trace", on_delete=models.CASCADE, related_name="score_cards")
    reviewer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="score_cards")
    task = models.ForeignKey(LabelTask, null=True, blank=True, on_delete=models.SET_NULL, related_name="score_cards")
    rubric = models.ForeignKey(Rubric, on_delete=models.PROTECT)
    rubric_version = models.PositiveIntegerField()
    success = models.PositiveSmallIntegerField()
    helpfulness = models.PositiveSmallIntegerField()
    tone_alignment = models.PositiveSmallIntegerField()
    safety = models.PositiveSmallIntegerField()
    task_category = models.CharField(max_length=20, choices=TaskCategory.choices)
    complexity = models.PositiveSmallIntegerField(default=1)
    safety_notes = models.TextField(blank=True, default="")
    correction = models.TextField(blank=True, default="", help_text="The preferred response, if different")
    # [{"name": str, "args": dict}] — the correct tool calls, when the reviewer corrects tool use.
    corrected_tool_calls = models.JSONField(null=True, blank=True)
    rationale = models.TextField(blank=True, default="")
    seconds_spent = models.FloatField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    history = HistoricalRecords()

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["trace", "reviewer"], name="scorecard_unique_trace_reviewer"),
            *[
                models.CheckConstraint(condition=Q(**{f"{d}__gte": 1, f"{d}__lte": 5}), name=f"scorecard_{d}_1_to_5")
                for d in DIMENSIONS
            ],
            models.CheckConstraint(
                condition=Q(complexity__gte=1, complexity__lte=3), name="scorecard_complexity_1_to_3"
            ),
        ]

    def __str__(self):
        return f"ScoreCard trace {self.trace_id} by {self.reviewer_id}"


class PreferenceChoice(models.TextChoices):
    A = "a", "A"
    B = "b", "B"
    TIE = "tie", "Tie"


class PreferenceSource(models.TextChoices):
    HUMAN = "human", "Reviewer"
    IMPORT = "import", "Imported"


class Preference(models.Model):
    """Two responses (or trajectories) to the same prompt and which one is preferred, and why."""

    trace = models.ForeignKey(
        "traces.Trace", null=True, blank=True, on_delete=models.CASCADE, related_name="preferences"
    )
    task = models.ForeignKey(LabelTask, null=True, blank=True, on_delete=models.SET_NULL, related_name="preferences")
    reviewer = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT)
    source = models.CharField(max_length=10, choices=PreferenceSource.choices, default=PreferenceSource.HUMAN)
    prompt = models.TextField()
    response_a = models.TextField()
    response_b = models.TextField()
    trajectory_a = models.JSONField(null=True, blank=True)
    trajectory_b = models.JSONField(null=True, blank=True)
    policy_a = models.CharField(max_length=200, blank=True, default="")
    policy_b = models.CharField(max_length=200, blank=True, default="")
    choice = models.CharField(max_length=4, choices=PreferenceChoice.choices)
    rationale = models.TextField(blank=True, default="")
    task_category = models.CharField(max_length=20, choices=TaskCategory.choices, default=TaskCategory.OTHER)
    import_key = models.CharField(max_length=64, blank=True, default="", help_text="sha256 of an imported pair")
    created_at = models.DateTimeField(auto_now_add=True)

    history = HistoricalRecords()

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["task", "reviewer"], condition=Q(task__isnull=False), name="preference_unique_task_reviewer"
            ),
            models.UniqueConstraint(
                fields=["import_key"], condition=~Q(import_key=""), name="preference_unique_import_key"
            ),
        ]

    def __str__(self):
        return f"Preference {self.pk}: {self.choice}"


class RewardSource(models.TextChoices):
    HUMAN = "human", "Human score card"
    MODEL = "model", "Reward model"
    RULE = "rule", "Rule"
    AGENT = "agent", "Agent (posted with the trace)"


class RewardEvent(models.Model):
    """The reward_events table: a reward in [0, 1] for a trace and where it came from."""

    trace = models.ForeignKey("traces.Trace", on_delete=models.CASCADE, related_name="reward_events")
    reward = models.FloatField()
    source = models.CharField(max_length=10, choices=RewardSource.choices)
    score_card = models.OneToOneField(
        ScoreCard, null=True, blank=True, on_delete=models.CASCADE, related_name="reward_event"
    )
    # The rewards app's RewardModel.version (a string, so labeling does not depend on rewards).
    reward_model_version = models.CharField(max_length=50, blank=True, default="")
    uncertainty = models.FloatField(null=True, blank=True, help_text="Model's uncertainty, for queue priority")
    rule = models.CharField(max_length=50, blank=True, default="")
    # For source=agent: what the agent says the reward came from ("thumbs_up", "task_completed", ...).
    agent_source = models.CharField(max_length=50, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "reward_events"
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(condition=Q(reward__gte=0.0, reward__lte=1.0), name="reward_event_in_unit_range"),
            models.UniqueConstraint(
                fields=["trace", "reward_model_version"],
                condition=Q(source="model"),
                name="reward_event_unique_model_score",
            ),
            # One agent reward per trace: the first one posted stands (a retry cannot change it).
            models.UniqueConstraint(
                fields=["trace"], condition=Q(source="agent"), name="reward_event_unique_agent_reward"
            ),
        ]
        indexes = [
            models.Index(fields=["trace", "source"], name="reward_event_trace_source"),
            # The queue build asks for the newest model version and its least certain traces.
            models.Index(fields=["source", "created_at"], name="reward_event_source_time"),
            models.Index(
                fields=["reward_model_version", "uncertainty"],
                condition=Q(source="model"),
                name="reward_event_model_uncertainty",
            ),
        ]

    def __str__(self):
        return f"{self.source} reward {self.reward:.3f} for trace {self.trace_id}"
