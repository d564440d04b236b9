from django.contrib import admin, messages
from simple_history.admin import SimpleHistoryAdmin

from rollout.models import (
    EvalCase,
    EvalResult,
    EvalRun,
    EvalSuite,
    MonitorCheck,
    Policy,
    PolicyCheck,
    Rollout,
)
from rollout.services import policy_release_traces, rollout_rollback
from zeke_rft.access import admin_permission
from zeke_rft.admin_confirm import confirm_with_reason


class ReadOnlyAdmin(admin.ModelAdmin):
    """Records written by services (runs, checks, audit records): viewed and listed, never added or deleted."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.action(
    description="Release quarantined traces of selected policies back to training", permissions=["release_quarantine"]
)
def release_traces_action(modeladmin, request, queryset):
    for policy in queryset:
        released = policy_release_traces(policy=policy, user=request.user)
        modeladmin.message_user(request, f"{policy.model_id}: {released} traces released.", messages.SUCCESS)


@admin.register(Policy)
class PolicyAdmin(SimpleHistoryAdmin):
    list_display = ["model_id", "modality", "status", "parent", "training_run", "created_at"]
    list_filter = ["modality", "status"]
    search_fields = ["model_id"]
    # Status changes go through rollouts so history and the single-active rule hold.
    readonly_fields = ["status", "created_at"]
    actions = [release_traces_action]
    has_release_quarantine_permission = admin_permission("rollout.release_quarantine")

    def has_add_permission(self, request):
        return False  # candidates come from training runs (policy_register_candidate)

    def has_delete_permission(self, request, obj=None):
        return False  # rollouts and traces point at policies; history stays


class EvalCaseInline(admin.TabularInline):
    model = EvalCase
    extra = 0
    fields = ["key", "category", "expected"]
    show_change_link = True


@admin.register(EvalSuite)
class EvalSuiteAdmin(admin.ModelAdmin):
    list_display = ["name", "kind", "threshold", "active", "source"]
    inlines = [EvalCaseInline]


@admin.register(EvalCase)
class EvalCaseAdmin(admin.ModelAdmin):
    list_display = ["key", "suite", "category"]
    list_filter = ["suite"]
    search_fields = ["key"]


class EvalResultInline(admin.TabularInline):
    model = EvalResult
    extra = 0
    fields = ["case", "passed", "detail", "latency_ms"]
    readonly_fields = fields
    can_delete = False


@admin.register(EvalRun)
class EvalRunAdmin(ReadOnlyAdmin):
    list_display = ["suite", "policy", "baseline", "status", "passed", "started_at"]
    list_filter = ["suite", "status", "passed"]
    readonly_fields = ["scores", "error"]
    inlines = [EvalResultInline]


@admin.action(description="Roll back selected rollouts (asks for a reason)", permissions=["rollback"])
def rollback_action(modeladmin, request, queryset):
    return confirm_with_reason(
        modeladmin,
        request,
        queryset,
        action="rollback_action",
        title="Roll back",
        explanation="Each rollout is set rolled back, its baseline becomes the active policy again and the "
        "candidate's traces are quarantined.",
        apply=lambda rollout, reason: rollout_rollback(rollout=rollout, reason=reason, user=request.user),
    )


@admin.register(Rollout)
class RolloutAdmin(SimpleHistoryAdmin):
    """Rollouts start and move only through the services (smoke tests, gate, salt): no add, edit or delete here."""

    list_display = [
        "pk",
        "modality",
        "candidate",
        "baseline",
        "state",
        "traffic_percent",
        "started_at",
        "automatic_rollback",
    ]
    list_filter = ["modality", "state"]
    readonly_fields = [
        "state",
        "traffic_percent",
        "salt",
        "gate",
        "started_at",
        "ended_at",
        "rollback_reason",
        "rolled_back_by",
        "automatic_rollback",
    ]
    actions = [rollback_action]
    has_rollback_permission = admin_permission("rollout.rollback_rollout")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(MonitorCheck)
class MonitorCheckAdmin(ReadOnlyAdmin):
    list_display = ["rollout", "checked_at", "decision", "reason"]
    list_filter = ["decision"]
    readonly_fields = ["metrics"]


@admin.register(PolicyCheck)
class PolicyCheckAdmin(ReadOnlyAdmin):
    """Active-policy watches, written by rollout.watch only."""

    list_display = ["policy", "checked_at", "decision", "reason"]
    list_filter = ["decision"]
