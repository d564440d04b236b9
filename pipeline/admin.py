from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from simple_history.admin import SimpleHistoryAdmin

from pipeline.models import PipelineRun, PipelineStep
from pipeline.services import pipeline_step_decide
from zeke_rft.errors import ApplicationError


class PipelineStepInline(admin.TabularInline):
    model = PipelineStep
    extra = 0
    can_delete = False
    fields = ["step", "status", "approval", "detail", "record", "started_at", "finished_at", "decided_by"]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(PipelineRun)
class PipelineRunAdmin(SimpleHistoryAdmin):
    """Runs are written by the pipeline services only: no add, no delete, no edits."""

    list_display = ["pk", "modality", "cycle", "status", "current_step", "stop_reason", "created_at"]
    list_filter = ["modality", "status"]
    inlines = [PipelineStepInline]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


def _decide(modeladmin, request, queryset, *, approve: bool):
    if not request.user.has_perm("pipeline.approve_pipelinestep"):
        modeladmin.message_user(request, "You lack the permission to approve pipeline steps.", messages.ERROR)
        return
    reason = f"{'approved' if approve else 'rejected'} in admin by {request.user.get_username()}"
    for step in queryset:
        try:
            pipeline_step_decide(step=step, approve=approve, reason=reason, user=request.user)
        except (ApplicationError, ValidationError) as exc:
            modeladmin.message_user(request, f"{step}: {getattr(exc, 'message', exc)}", messages.ERROR)
        else:
            modeladmin.message_user(request, f"{step}: {'approved' if approve else 'rejected'}.", messages.SUCCESS)


@admin.action(description="Approve selected waiting steps", permissions=["approve"])
def approve_steps(modeladmin, request, queryset):
    _decide(modeladmin, request, queryset, approve=True)


@admin.action(description="Reject selected waiting steps", permissions=["approve"])
def reject_steps(modeladmin, request, queryset):
    _decide(modeladmin, request, queryset, approve=False)


@admin.register(PipelineStep)
class PipelineStepAdmin(SimpleHistoryAdmin):
    list_display = ["run", "step", "status", "approval", "detail", "decided_by", "decided_at"]
    list_filter = ["approval", "status", "step"]
    actions = [approve_steps, reject_steps]

    def has_approve_permission(self, request):
        return request.user.has_perm("pipeline.approve_pipelinestep")

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False
