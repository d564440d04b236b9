from django.contrib import admin, messages
from simple_history.admin import SimpleHistoryAdmin

from rewards.models import AgreementCheck, RewardModel
from rewards.selectors import reward_model_alerts
from rewards.services import reward_model_promote, reward_model_retire
from zeke_rft.access import admin_permission
from zeke_rft.admin_confirm import confirm_with_reason


@admin.register(RewardModel)
class RewardModelAdmin(SimpleHistoryAdmin):
    list_display = ("version", "status", "created_at", "spearman", "pairwise_accuracy", "status_reason")
    list_filter = ("status",)
    search_fields = ("version", "training_data_hash")
    actions = ("promote_selected", "retire_selected")
    readonly_fields = [f.name for f in RewardModel._meta.fields]

    has_promote_permission = admin_permission("rewards.promote_rewardmodel")
    has_retire_permission = admin_permission("rewards.retire_rewardmodel")

    def has_add_permission(self, request):
        return False  # versions come from training, never by hand

    def has_delete_permission(self, request, obj=None):
        return False  # the audit trail of every version stays; retire instead

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

    @admin.action(description="Promote the selected version (retires the active one)", permissions=["promote"])
    def promote_selected(self, request, queryset):
        if queryset.count() != 1:
            self.message_user(request, "Select exactly one version to promote.", level=messages.ERROR)
            return None
        return confirm_with_reason(
            self,
            request,
            queryset,
            action="promote_selected",
            title="Promote reward model",
            explanation="This version becomes the active reward model; the active one is retired.",
            apply=lambda obj, reason: reward_model_promote(reward_model=obj, user=request.user, reason=reason),
        )

    @admin.action(description="Retire the selected versions", permissions=["retire"])
    def retire_selected(self, request, queryset):
        return confirm_with_reason(
            self,
            request,
            queryset,
            action="retire_selected",
            title="Retire reward models",
            explanation="Retired versions score nothing; retiring the active one leaves no active reward model.",
            apply=lambda obj, reason: reward_model_retire(reward_model=obj, user=request.user, reason=reason),
        )


@admin.register(AgreementCheck)
class AgreementCheckAdmin(admin.ModelAdmin):
    list_display = ("reward_model", "window_start", "window_end", "n", "spearman", "mae", "threshold", "alert")
    list_filter = ("alert", "reward_model")
    readonly_fields = [f.name for f in AgreementCheck._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False  # written by the weekly agreement check; the record stays

    def has_change_permission(self, request, obj=None):
        return False
