"""Who may review: users with the permission labeling.review_labeltask (the seeded "reviewers" and "admins"
groups have it; superusers have every permission)."""

from django.contrib.auth.models import Group

REVIEWERS_GROUP = "reviewers"
REVIEW_PERMISSION = "labeling.review_labeltask"


def reviewers_group() -> Group:
    """The reviewers group with its permissions (seeded by migration; re-seeded here if a test flush removed it)."""
    from zeke_rft.access import groups_seed

    groups_seed(names=[REVIEWERS_GROUP])
    return Group.objects.get(name=REVIEWERS_GROUP)


def user_can_review(user) -> bool:
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return False
    # Memoised on the user object: a request checks it in the view and again in the service.
    if not hasattr(user, "_zeke_can_review"):
        user._zeke_can_review = user.has_perm(REVIEW_PERMISSION)
    return user._zeke_can_review
