from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.shortcuts import render
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
    RolloutState,
)
from rollout.services import policy_release_traces, rollout_rollback
from zeke_rft.errors import ApplicationError


@admin.action(description="Release quarantined traces of selected policies back to training")
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
class EvalRunAdmin(admin.ModelAdmin):
    list_display = ["suite", "policy", "baseline", "status", "passed", "started_at"]
    list_filter = ["suite", "status", "passed"]
    readonly_fields = ["scores", "error"]
    inlines = [EvalResultInline]


@admin.action(description="Roll back selected rollouts (asks for a reason)")
def rollback_action(modeladmin, request, queryset):
    if request.POST.get("apply"):
        reason = request.POST.get("reason", "")
        for rollout in queryset:
            try:
                rollout_rollback(rollout=rollout, reason=reason, user=request.user)
                modeladmin.message_user(request, f"Rollout {rollout.pk} rolled back.", messages.SUCCESS)
            except (ApplicationError, ValidationError) as exc:
                text = getattr(exc, "message", None) or "; ".join(exc.messages)
                modeladmin.message_user(request, f"Rollout {rollout.pk}: {text}", messages.ERROR)
        return None
    return render(
        request,
        "rollout/admin_rollback.html",
        {"rollouts": queryset, "action": "rollback_action", **modeladmin.admin_site.each_context(request)},
    )


@admin.register(Rollout)
class RolloutAdmin(SimpleHistoryAdmin):
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

    def has_delete_permission(self, request, obj=None):
        return obj is None or obj.state == RolloutState.ROLLED_BACK


@admin.register(MonitorCheck)
class MonitorCheckAdmin(admin.ModelAdmin):
    list_display = ["rollout", "checked_at", "decision", "reason"]
    list_filter = ["decision"]
    readonly_fields = ["metrics"]


@admin.register(PolicyCheck)
class PolicyCheckAdmin(admin.ModelAdmin):
    """Active-policy watches, written by rollout.watch only: view, never add, change or delete."""

    list_display = ["policy", "checked_at", "decision", "reason"]
    list_filter = ["decision"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
