from celery.exceptions import Retry
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from simple_history.admin import SimpleHistoryAdmin

from training import services
from training.models import DatasetBuild, TrainingEvent, TrainingRun, TRLJob
from zeke_rft.access import admin_permission
from zeke_rft.errors import ApplicationError

START, CANCEL, PAUSE = "training.start_trainingrun", "training.cancel_trainingrun", "training.pause_trainingrun"


def _each(modeladmin, request, queryset, action, done: str):
    """Run `action(obj)` per selected row; report successes and each refusal as a message."""
    ok = 0
    for obj in queryset:
        try:
            action(obj)
            ok += 1
        except (ApplicationError, ValidationError, Retry) as exc:
            if isinstance(exc, Retry):  # eager Celery: a transient backend error; the sweeper retries
                text = f"backend unavailable, will retry: {exc.exc}"
            else:
                text = exc.message if isinstance(exc, ApplicationError) else "; ".join(exc.messages)
            modeladmin.message_user(request, f"{obj}: {text}", level=messages.ERROR)
    if ok:
        modeladmin.message_user(request, f"{done}: {ok}", level=messages.SUCCESS)


@admin.register(DatasetBuild)
class DatasetBuildAdmin(SimpleHistoryAdmin):
    list_display = (
        "short_hash",
        "stage",
        "modality",
        "status",
        "stale",
        "reward_model_version",
        "train",
        "validation",
        "created_at",
    )
    list_filter = ("status", "stale", "stage", "modality")
    search_fields = ("sha256",)
    readonly_fields = [f.name for f in DatasetBuild._meta.fields]
    actions = ["start_training", "start_training_trl"]

    @admin.display(description="hash")
    def short_hash(self, obj):
        return obj.sha256[:12]

    def train(self, obj):
        return (obj.manifest.get("counts") or {}).get("train")

    def validation(self, obj):
        return (obj.manifest.get("counts") or {}).get("validation")

    has_start_training_permission = admin_permission(START)

    def has_add_permission(self, request):
        return False  # builds come from build_dataset / the weekly job

    def has_delete_permission(self, request, obj=None):
        return False  # a build's hash names what a run trained on; it stays

    @admin.action(
        description="Start a training run (default config) on the selected builds", permissions=["start_training"]
    )
    def start_training(self, request, queryset):
        _each(
            self,
            request,
            queryset,
            lambda build: services.training_run_create(dataset=build, user=request.user),
            "queued",
        )

    @admin.action(
        description="Start an open-weights training run (TRL, default config) on the selected builds",
        permissions=["start_training"],
    )
    def start_training_trl(self, request, queryset):
        _each(
            self,
            request,
            queryset,
            lambda build: services.training_run_create(dataset=build, backend="trl", user=request.user),
            "queued on the training queue",
        )


class TrainingEventInline(admin.TabularInline):
    model = TrainingEvent
    extra = 0
    can_delete = False
    fields = ("created_at", "level", "type", "message", "data")
    readonly_fields = fields
    ordering = ("-created_at", "-id")

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(TrainingRun)
class TrainingRunAdmin(SimpleHistoryAdmin):
    list_display = ("pk", "dataset", "status", "base_model", "job_id", "fine_tuned_model", "created_at")
    list_filter = ("status", "modality", "backend")
    search_fields = ("job_id", "fine_tuned_model", "dataset__sha256")
    readonly_fields = [f.name for f in TrainingRun._meta.fields]
    inlines = [TrainingEventInline]
    actions = ["submit", "poll", "cancel", "pause", "resume"]

    has_start_permission = admin_permission(START)
    has_cancel_permission = admin_permission(CANCEL)
    has_pause_permission = admin_permission(PAUSE)

    def has_add_permission(self, request):
        return False  # runs come from start_training or the dataset action

    def has_delete_permission(self, request, obj=None):
        return False  # the experiment registry keeps every run

    @admin.action(description="Submit pending runs", permissions=["start"])
    def submit(self, request, queryset):
        from training.tasks import submit_training_run

        _each(self, request, queryset, lambda run: submit_training_run.delay(run.pk), "submission queued")

    @admin.action(description="Poll now", permissions=["change"])
    def poll(self, request, queryset):
        _each(self, request, queryset, lambda run: services.training_run_poll(run_id=run.pk), "polled")

    @admin.action(description="Cancel the job", permissions=["cancel"])
    def cancel(self, request, queryset):
        _each(
            self, request, queryset, lambda run: services.training_run_cancel(run=run, user=request.user), "cancelled"
        )

    @admin.action(description="Pause the job", permissions=["pause"])
    def pause(self, request, queryset):
        _each(self, request, queryset, lambda run: services.training_run_pause(run=run, user=request.user), "paused")

    @admin.action(description="Resume the job", permissions=["pause"])
    def resume(self, request, queryset):
        _each(self, request, queryset, lambda run: services.training_run_resume(run=run, user=request.user), "resumed")


@admin.register(TRLJob)
class TRLJobAdmin(admin.ModelAdmin):
    """The open-weights backend's own job records (read-only: the worker and the run's actions write them)."""

    list_display = ("job_id", "run", "status", "control", "fine_tuned_model", "updated_at")
    list_filter = ("status",)
    search_fields = ("job_id", "fine_tuned_model")
    readonly_fields = [f.name for f in TRLJob._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
