from django.conf import settings
from django.db import models
from simple_history.models import HistoricalRecords


class Modality(models.TextChoices):
    CHAT = "chat", "Chat"
    VOICE = "voice", "Voice"
    SMS = "sms", "SMS"


class TaskCategory(models.TextChoices):
    COMMUNICATION = "communication", "Communication"
    SCHEDULING = "scheduling", "Scheduling"
    OPS = "ops", "Ops"
    RESEARCH = "research", "Research"
    MEMORY = "memory", "Memory"
    OTHER = "other", "Other"


class Agent(models.Model):
    """An agent (Conductor or a specialist) that posts traces with its own bearer token."""

    name = models.CharField(max_length=100, unique=True)
    modality = models.CharField(max_length=10, choices=Modality.choices, default=Modality.CHAT)
    active = models.BooleanField(default=True)
    # Only the sha256 of the token is stored; the token itself is shown once.
    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    token_prefix = models.CharField(max_length=12, editable=False, help_text="First characters, to recognise a token")
    token_revoked = models.BooleanField(default=False)
    token_rotated_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    history = HistoricalRecords(excluded_fields=["token_hash"])

    class Meta:
        ordering = ["name"]
        permissions = [
            ("rotate_agent_token", "Can rotate agent tokens"),
            ("revoke_agent_token", "Can revoke agent tokens"),
        ]

    def __str__(self):
        return self.name


class TraceStatus(models.TextChoices):
    RECEIVED = "received", "Received"
    ELIGIBLE = "eligible", "Eligible"
    DROPPED = "dropped", "Dropped"


class TraceArm(models.TextChoices):
    NONE = "", "None"
    BASELINE = "baseline", "Baseline"
    CANDIDATE = "candidate", "Candidate"
    SHADOW = "shadow", "Shadow"


class Trace(models.Model):
    """One interaction as an agent posted it (secrets already redacted), plus its scrubbed copies.

    Raw text fields (user_message, context, tool_calls, final_response) are kept at
    most RAW_RETENTION_DAYS; reviewers, exports, the reward model and datasets read
    only the scrubbed_* copies.
    """

    agent = models.ForeignKey(Agent, on_delete=models.PROTECT, related_name="traces")
    modality = models.CharField(max_length=10, choices=Modality.choices, default=Modality.CHAT)
    external_id = models.CharField(max_length=200)
    conversation_id = models.CharField(max_length=200)
    user_message = models.TextField()
    context = models.JSONField(default=dict, blank=True)
    selected_tools = models.JSONField(default=list, blank=True)
    # Each: {"name", "args", "result", "error", "latency_ms"}
    tool_calls = models.JSONField(default=list, blank=True)
    final_response = models.TextField(blank=True, default="")
    latency_ms = models.PositiveIntegerField(null=True, blank=True)
    # Strings; "timeout", "tool_error", "safety" or "safety:<kind>", ...
    flags = models.JSONField(default=list, blank=True)
    policy_id = models.CharField(max_length=200, blank=True, default="")
    rollout_id = models.PositiveBigIntegerField(null=True, blank=True)
    # Posted fields the schema does not define (secrets redacted like the rest), kept rather than dropped.
    extra = models.JSONField(default=dict, blank=True)
    arm = models.CharField(max_length=10, choices=TraceArm.choices, blank=True, default="")
    task_category = models.CharField(max_length=20, choices=TaskCategory.choices, default=TaskCategory.OTHER)
    occurred_at = models.DateTimeField()
    received_at = models.DateTimeField(auto_now_add=True)
    secrets_redacted = models.PositiveIntegerField(default=0)

    status = models.CharField(max_length=10, choices=TraceStatus.choices, default=TraceStatus.RECEIVED)
    drop_reason = models.CharField(max_length=50, blank=True, default="")
    drop_detail = models.TextField(blank=True, default="")
    filtered_at = models.DateTimeField(null=True, blank=True)
    filter_run = models.ForeignKey("FilterRun", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    dedupe_key = models.CharField(max_length=64, blank=True, default="")

    scrubbed_user_message = models.TextField(blank=True, default="")
    scrubbed_context = models.JSONField(null=True, blank=True)
    scrubbed_tool_calls = models.JSONField(null=True, blank=True)
    scrubbed_final_response = models.TextField(blank=True, default="")
    scrubbed_fields = models.JSONField(
        null=True, blank=True, help_text="scrubbed copies of every other field (metadata, extra JSON) by field name"
    )
    pii_found = models.JSONField(default=dict, blank=True, help_text="entity type → count")
    scrubbed_at = models.DateTimeField(null=True, blank=True)
    raw_purged_at = models.DateTimeField(null=True, blank=True)

    # Set when the policy that answered was rolled back; excluded from training until released.
    quarantined = models.BooleanField(default=False)
    quarantine_reason = models.CharField(max_length=300, blank=True, default="")

    class Meta:
        ordering = ["-occurred_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["agent", "external_id"], name="trace_unique_external_id_per_agent"),
        ]
        indexes = [
            models.Index(fields=["agent", "occurred_at"], name="trace_agent_time"),
            # /api/agents/status: last trace time and 24-hour count per agent.
            models.Index(fields=["agent", "received_at"], name="trace_agent_received"),
            models.Index(fields=["conversation_id", "occurred_at"], name="trace_conversation"),
            models.Index(fields=["status", "occurred_at"], name="trace_status_day"),
            models.Index(fields=["policy_id", "occurred_at"], name="trace_policy_time"),
            models.Index(fields=["dedupe_key"], name="trace_dedupe_key"),
        ]
        permissions = [("view_raw_text", "Can view raw (unscrubbed) trace text")]

    def __str__(self):
        return f"{self.agent_id}:{self.external_id}"

    @property
    def tool_call_depth(self) -> int:
        return len(self.tool_calls or self.scrubbed_tool_calls or [])

    @property
    def has_safety_flag(self) -> bool:
        return any(str(flag).startswith("safety") for flag in self.flags or [])


class FilterRunTrigger(models.TextChoices):
    BEAT = "beat", "Nightly beat"
    COMMAND = "command", "Management command"
    ADMIN = "admin", "Admin"
    API = "api", "API"


class FilterRunStatus(models.TextChoices):
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"


class FilterRun(models.Model):
    """One run of the nightly filter (or a dry run): what triggered it and counts per rule."""

    trigger = models.CharField(max_length=10, choices=FilterRunTrigger.choices)
    triggered_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    day = models.DateField(
        null=True, blank=True, help_text="Only traces that occurred on this day; empty = all pending"
    )
    dry_run = models.BooleanField(default=False)
    status = models.CharField(max_length=10, choices=FilterRunStatus.choices, default=FilterRunStatus.RUNNING)
    processed = models.PositiveIntegerField(default=0)
    eligible = models.PositiveIntegerField(default=0)
    dropped = models.PositiveIntegerField(default=0)
    counts = models.JSONField(default=dict, blank=True, help_text="rule name → traces dropped by it")
    started_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    duration_ms = models.PositiveIntegerField(null=True, blank=True)
    error = models.TextField(blank=True, default="")

    class Meta:
        ordering = ["-started_at"]

    def __str__(self):
        return f"FilterRun #{self.pk} ({self.trigger}{', dry run' if self.dry_run else ''})"


class RawPurge(models.Model):
    """A purge of raw (unscrubbed) text older than RAW_RETENTION_DAYS."""

    cutoff = models.DateTimeField()
    purged = models.PositiveIntegerField(default=0)
    triggered_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    trigger = models.CharField(max_length=10, choices=FilterRunTrigger.choices)
    ran_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-ran_at"]

    def __str__(self):
        return f"RawPurge #{self.pk}: {self.purged} before {self.cutoff:%Y-%m-%d}"


class PartitionExport(models.Model):
    """A daily Parquet partition written to <TRACE_STORAGE_URL>/logs/yyyy-mm-dd/part-0000.parquet."""

    day = models.DateField(unique=True)
    key = models.CharField(max_length=300)
    rows = models.PositiveIntegerField(default=0)
    sha256 = models.CharField(max_length=64)
    exported_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-day"]

    def __str__(self):
        return f"{self.day}: {self.rows} rows"


class OtelPendingSpan(models.Model):
    """A GenAI span that arrived before the agent turn it belongs to (OTLP exporters send child spans first).

    Kept (secrets redacted) until its turn's root span arrives, then folded into that trace and deleted.
    """

    agent = models.ForeignKey(Agent, on_delete=models.CASCADE, related_name="+")
    trace_id = models.CharField(max_length=32)
    span_id = models.CharField(max_length=16)
    span = models.JSONField(help_text="The span's fields (traces.otlp.Span), secrets redacted")
    received_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["agent", "trace_id", "span_id"], name="otel_pending_span_unique"),
        ]
        indexes = [models.Index(fields=["agent", "trace_id"], name="otel_pending_trace")]

    def __str__(self):
        return f"{self.trace_id}:{self.span_id}"


class ForgetRequest(models.Model):
    """A deletion on request (`manage.py forget`): who, when, what kind of selector and how many rows went.

    Holds no deleted content: the selector's value is kept only as its sha256.
    """

    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    requested_by_name = models.CharField(max_length=150, blank=True, default="", help_text="Who ran it")
    requested_at = models.DateTimeField(auto_now_add=True)
    selector = models.CharField(max_length=20, help_text="conversation | external_id | text")
    value_sha256 = models.CharField(max_length=64, help_text="sha256 of the value asked for (not the value)")
    reason = models.CharField(max_length=300, blank=True, default="")
    counts = models.JSONField(default=dict, help_text="kind → rows deleted, partitions rewritten, datasets marked")

    class Meta:
        ordering = ["-requested_at"]

    def __str__(self):
        return f"ForgetRequest #{self.pk} ({self.selector}, {self.counts.get('traces', 0)} traces)"
