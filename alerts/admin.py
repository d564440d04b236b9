from django.contrib import admin

from alerts.models import JobHeartbeat, Notification


class ReadOnlyAdmin(admin.ModelAdmin):
    """Written by services only: viewable, never added, changed or deleted by hand."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Notification)
class NotificationAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "kind", "subject", "status", "attempts", "delivered_at"]
    list_filter = ["kind", "status"]
    search_fields = ["subject", "body"]
    date_hierarchy = "created_at"


@admin.register(JobHeartbeat)
class JobHeartbeatAdmin(ReadOnlyAdmin):
    list_display = ["name", "last_started_at", "last_succeeded_at", "last_failed_at", "consecutive_failures"]
    search_fields = ["name", "task"]
