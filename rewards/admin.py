from django.contrib import admin, messages
from simple_history.admin import SimpleHistoryAdmin

from rewards.models import AgreementCheck, RewardModel
from rewards.selectors import reward_model_alerts
from rewards.services import reward_model_promote, reward_model_retire
from zeke_rft.errors import ApplicationError


@admin.register(RewardModel)
class RewardModelAdmin(SimpleHistoryAdmin):
    list_display = ("version", "status", "created_at", "spearman", "pairwise_accuracy", "status_reason")
    list_filter = ("status",)
    search_fields = ("version", "training_data_hash")
    actions = ("promote_selected", "retire_selected")
    readonly_fields = [f.name for f in RewardModel._meta.fields]

    def has_add_permission(self, request):
        return False  # versions come from training, never by hand

    @admin.display(description="Spearman")
    def spearman(self, obj):
        return (obj.metrics or {}).get("overall", {}).get("spearman")

    @admin.display(description="Pairwise acc.")
    def pairwise_accuracy(self, obj):
        return (obj.metrics or {}).get("overall", {}).get("pairwise_accuracy")

    def changelist_view(self, request, extra_context=None):
        for alert in reward_model_alerts():
            self.message_user(request, alert["message"], level=messages.WARNING)
        return super().changelist_view(request, extra_context)

    @admin.action(description="Promote the selected version (retires the active one)", permissions=["change"])
    def promote_selected(self, request, queryset):
        if queryset.count() != 1:
            self.message_user(request, "Select exactly one version to promote.", level=messages.ERROR)
            return
        reward_model = queryset.get()
        try:
            reward_model_promote(
                reward_model=reward_model, user=request.user, reason=f"promoted in admin by {request.user}"
            )
        except ApplicationError as exc:
            self.message_user(request, exc.message, level=messages.ERROR)
            return
        self.message_user(request, f"{reward_model.version} is now the active reward model.")

    @admin.action(description="Retire the selected versions", permissions=["change"])
    def retire_selected(self, request, queryset):
        for reward_model in queryset:
            reward_model_retire(
                reward_model=reward_model, user=request.user, reason=f"retired in admin by {request.user}"
            )
        self.message_user(request, f"Retired {queryset.count()} version(s).")


@admin.register(AgreementCheck)
class AgreementCheckAdmin(admin.ModelAdmin):
    list_display = ("reward_model", "window_start", "window_end", "n", "spearman", "mae", "threshold", "alert")
    list_filter = ("alert", "reward_model")
    readonly_fields = [f.name for f in AgreementCheck._meta.fields]

    def has_add_permission(self, request):
        return False
