"""Who may review: members of the "reviewers" group, staff and superusers."""

from django.contrib.auth.models import Group

REVIEWERS_GROUP = "reviewers"


def reviewers_group() -> Group:
    """The reviewers group (created by migration 0002; re-created here if a test flush removed it)."""
    group, _ = Group.objects.get_or_create(name=REVIEWERS_GROUP)
    return group


def user_can_review(user) -> bool:
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return False
    if user.is_staff or user.is_superuser:
        return True
    # Memoised on the user object: a request checks it in the view and again in the service.
    if not hasattr(user, "_zeke_can_review"):
        user._zeke_can_review = user.groups.filter(name=REVIEWERS_GROUP).exists()
    return user._zeke_can_review
