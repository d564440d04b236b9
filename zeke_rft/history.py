"""Helpers for django-simple-history: who and why on every audited save."""


def history_set(instance, *, user=None, reason: str = "") -> None:
    """Set the history user and change reason for the next save() of `instance`."""
    if user is not None and getattr(user, "pk", None):
        instance._history_user = user
    instance._change_reason = reason


def history_admin_guard_object_ids() -> None:
    """Make every SimpleHistoryAdmin's history page answer 404 for an object id its primary key cannot hold.

    django-simple-history 3.13 looks the id up unchecked, so `/admin/<app>/<model>/abc/history/`
    raised ValueError (a 500) where Django's own change and delete views redirect. Patched once, here,
    rather than in each app's admin, so that admins added later are covered too. Idempotent."""
    from django.contrib.admin.utils import unquote
    from django.core.exceptions import ValidationError
    from django.http import Http404
    from simple_history.admin import SimpleHistoryAdmin

    original = SimpleHistoryAdmin.history_view
    if getattr(original, "guards_object_ids", False):
        return

    def history_view(self, request, object_id, extra_context=None):
        try:
            self.model._meta.pk.to_python(unquote(object_id))
        except (ValidationError, ValueError, TypeError, OverflowError):
            raise Http404(f"{self.model._meta.verbose_name} {object_id[:40]!r} does not exist") from None
        return original(self, request, object_id, extra_context=extra_context)

    history_view.guards_object_ids = True
    SimpleHistoryAdmin.history_view = history_view
