"""Helpers for django-simple-history: who and why on every audited save."""


def history_set(instance, *, user=None, reason: str = "") -> None:
    """Set the history user and change reason for the next save() of `instance`."""
    if user is not None and getattr(user, "pk", None):
        instance._history_user = user
    instance._change_reason = reason
