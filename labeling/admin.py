import csv

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.http import HttpResponse
from simple_history.admin import SimpleHistoryAdmin

from labeling import services
from labeling.models import LabelQueue, LabelTask, Preference, RewardEvent, Rubric, ScoreCard


def export_csv(modeladmin, request, queryset):
    """Admin action: the selected rows as CSV (every concrete field; foreign keys as ids)."""
    fields = [field for field in queryset.model._meta.concrete_fields]
    response = HttpResponse(content_type="text/csv")
    response["Content-Disposition"] = f'attachment; filename="{queryset.model._meta.model_name}.csv"'
    writer = csv.writer(response)
    writer.writerow([field.attname for field in fields])
    for row in queryset.values_list(*[field.attname for field in fields]).iterator():
        writer.writerow([_cell(value) for value in row])
    return response


def _cell(value):
    # Text a spreadsheet would run as a formula (reviewer rationales, model responses) is quoted.
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


export_csv.short_description = "Export selected as CSV"
export_csv.allowed_permissions = ("view",)


class NoAddDeleteMixin:
    """Records written by the panel's services (score cards, preferences, reward events, queues):
    no add and no delete in admin, so the audit trail and the reward events stay whole."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class RubricAdminForm(forms.ModelForm):
    class Meta:
        model = Rubric
        fields = ("name", "active", "dimensions")

    def clean_dimensions(self):
        dimensions = self.cleaned_data["dimensions"]
        try:
            services.rubric_validate_dimensions(dimensions)
        except ValidationError as error:
            raise forms.ValidationError(error.message_dict.get("dimensions", error.messages))
        return dimensions


@admin.register(Rubric)
class RubricAdmin(SimpleHistoryAdmin):
    form = RubricAdminForm
    list_display = ("name", "version", "active", "updated_at")
    list_filter = ("active",)
    readonly_fields = ("version", "created_at", "updated_at")
    fields = ("name", "active", "dimensions", "version", "created_at", "updated_at")

    def save_model(self, request, obj, form, change):
        # Every write goes through the services so the version goes up and history names the admin.
        if change:
            services.rubric_update(
                rubric=obj, dimensions=obj.dimensions, active=obj.active, user=request.user, reason="edited in admin"
            )
        else:
            created = services.rubric_create(
                name=obj.name,
                dimensions=obj.dimensions,
                active=obj.active,
                user=request.user,
                reason="created in admin",
            )
            obj.pk, obj.version = created.pk, created.version


class LabelTaskInline(admin.TabularInline):
    model = LabelTask
    extra = 0
    fields = ("position", "trace", "kind", "reason", "reviewer", "priority", "status", "skip_reason", "completed_by")
    readonly_fields = ("trace", "kind", "reason", "priority", "status", "skip_reason", "completed_by")
    raw_id_fields = ("reviewer",)
    show_change_link = True


@admin.register(LabelQueue)
class LabelQueueAdmin(NoAddDeleteMixin, admin.ModelAdmin):
    list_display = ("day", "size", "built_by", "created_at")
    date_hierarchy = "day"
    readonly_fields = ("stats", "created_at")
    inlines = [LabelTaskInline]


@admin.register(LabelTask)
class LabelTaskAdmin(SimpleHistoryAdmin):
    list_display = ("id", "queue", "position", "trace", "kind", "reason", "status", "reviewer", "completed_by")
    list_filter = ("status", "kind", "reason", "queue__day")
    raw_id_fields = ("trace", "reviewer", "completed_by")
    # An admin may reassign an item or move it in the queue; its state changes only through the panel's
    # services (a "done" item without a score card, or a swapped trace, would corrupt the labels).
    readonly_fields = (
        "queue",
        "trace",
        "kind",
        "reason",
        "priority",
        "pair",
        "status",
        "skip_reason",
        "opened_at",
        "completed_at",
        "completed_by",
    )
    actions = [export_csv]

    def has_add_permission(self, request):
        return False  # items come from the daily build and from label_tasks_add


@admin.register(ScoreCard)
class ScoreCardAdmin(NoAddDeleteMixin, SimpleHistoryAdmin):
    list_display = (
        "id",
        "trace",
        "reviewer",
        "success",
        "helpfulness",
        "tone_alignment",
        "safety",
        "task_category",
        "rubric_version",
        "created_at",
    )
    list_filter = ("reviewer", "task_category", "complexity", "rubric_version", "safety", "created_at")
    search_fields = ("rationale", "correction")
    raw_id_fields = ("trace", "task")
    readonly_fields = ("created_at", "updated_at")
    actions = [export_csv]

    def has_change_permission(self, request, obj=None):
        # Reviewers edit their own cards in the panel (scorecard_submit); admin edits would skip the RewardEvent.
        return False if obj is not None else super().has_change_permission(request, obj)


@admin.register(Preference)
class PreferenceAdmin(NoAddDeleteMixin, SimpleHistoryAdmin):
    list_display = (
        "id",
        "trace",
        "reviewer",
        "source",
        "choice",
        "policy_a",
        "policy_b",
        "task_category",
        "created_at",
    )
    list_filter = ("source", "choice", "task_category", "reviewer", "created_at")
    search_fields = ("prompt", "rationale")
    raw_id_fields = ("trace", "task")
    actions = [export_csv]

    def has_change_permission(self, request, obj=None):
        # Read-only like score cards: a choice is changed by its reviewer in the panel, with history.
        return False if obj is not None else super().has_change_permission(request, obj)


@admin.register(RewardEvent)
class RewardEventAdmin(NoAddDeleteMixin, admin.ModelAdmin):
    list_display = (
        "id", "trace", "reward", "source", "reward_model_version", "uncertainty", "rule", "agent_source", "created_at"
    )  # fmt: skip
    list_filter = ("source", "reward_model_version", "created_at")
    raw_id_fields = ("trace", "score_card")
    actions = [export_csv]

    # Reward events have no history of their own: a human reward follows its score card (scorecard_submit)
    # and a model reward its model version, so the admin only reads and exports them.
    def has_change_permission(self, request, obj=None):
        return False if obj is not None else super().has_change_permission(request, obj)
