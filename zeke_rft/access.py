"""Permission checks shared by every app's views and admin actions (issue 13).

Every custom view and admin action checks a Django permission, never just `is_staff`:
- views: `@permission_required_view("app.codename")` — anonymous users go to the login page,
  signed-in users without the permission get the branded 403;
- admin actions: `@admin.action(permissions=["rotate_token"])` plus, on the ModelAdmin,
  `has_rotate_token_permission = admin_permission("traces.rotate_agent_token")` (Django then hides the
  action and refuses it when posted by hand);
- admin custom views: `admin_view_permission(request, "app.codename")` first thing.
The seeded groups and what each may do are in GROUPS; `groups_seed()` (re)creates them.
"""

from functools import wraps

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied

# name -> permissions ("app_label.model.codename"; the model names the content type the permission hangs on)
_VIEW = [
    "pipeline.pipelinerun.view_pipelinerun",
    "rewards.rewardmodel.view_rewardmodel",
    "training.trainingrun.view_trainingrun",
    "rollout.rollout.view_rollout",
    "rollout.policy.view_policy",
]
_REVIEW = ["labeling.labeltask.review_labeltask", "labeling.scorecard.view_scorecard"]
_ADMIN_READ = [
    "traces.agent.view_agent",
    "traces.trace.view_trace",
    "traces.filterrun.view_filterrun",
    "labeling.labelqueue.view_labelqueue",
    "labeling.labeltask.view_labeltask",
    "labeling.rewardevent.view_rewardevent",
    "labeling.preference.view_preference",
    "labeling.rubric.view_rubric",
    "rewards.agreementcheck.view_agreementcheck",
    "training.datasetbuild.view_datasetbuild",
    "rollout.monitorcheck.view_monitorcheck",
    "rollout.evalrun.view_evalrun",
    "rollout.evalsuite.view_evalsuite",
]
_OPERATE = [
    "traces.agent.add_agent",
    "traces.agent.change_agent",
    "traces.agent.rotate_agent_token",
    "traces.agent.revoke_agent_token",
    "traces.filterrun.change_filterrun",
    "traces.rawpurge.change_rawpurge",
    "training.trainingrun.start_trainingrun",
    "training.trainingrun.cancel_trainingrun",
    "training.trainingrun.pause_trainingrun",
    "training.trainingrun.change_trainingrun",
]
_APPROVE = [
    "rewards.rewardmodel.promote_rewardmodel",
    "rewards.rewardmodel.retire_rewardmodel",
    "rollout.rollout.approve_rollout",
    "rollout.rollout.rollback_rollout",
    "rollout.policy.release_quarantine",
    "rollout.rollout.override_promotion",
    "pipeline.pipelinestep.approve_pipelinestep",
]
_ADMINS_ONLY = ["traces.trace.view_raw_text", "labeling.rubric.change_rubric"]

GROUPS: dict[str, list[str]] = {
    "reviewers": _REVIEW + _VIEW,
    "operators": _VIEW + _ADMIN_READ + _OPERATE,
    "approvers": _VIEW + _ADMIN_READ + _APPROVE,
    "admins": _REVIEW + _VIEW + _ADMIN_READ + _OPERATE + _APPROVE + _ADMINS_ONLY,
}


def groups_seed(*, names=None, group_model=None, permission_model=None, content_type_model=None) -> None:
    """Create the groups and attach their permissions (missing permission rows are created). Idempotent.
    The data migration passes its historical models; everyone else calls it with none."""
    if group_model is None:
        from django.contrib.auth.models import Group, Permission
        from django.contrib.contenttypes.models import ContentType

        group_model, permission_model, content_type_model = Group, Permission, ContentType
    for name, labels in GROUPS.items():
        if names is not None and name not in names:
            continue
        group, _ = group_model.objects.get_or_create(name=name)
        permissions = []
        for label in labels:
            app_label, model, codename = label.split(".")
            content_type, _ = content_type_model.objects.get_or_create(app_label=app_label, model=model)
            permission, _ = permission_model.objects.get_or_create(
                content_type=content_type, codename=codename, defaults={"name": codename.replace("_", " ")[:255]}
            )
            permissions.append(permission)
        group.permissions.add(*permissions)


def user_has(user, perm: str) -> bool:
    return bool(getattr(user, "is_authenticated", False) and user.is_active and user.has_perm(perm))


def permission_required_view(*perms: str):
    """View decorator: login first (redirect), then every permission in `perms` (else 403)."""

    def decorator(view):
        @wraps(view)
        def wrapper(request, *args, **kwargs):
            if not request.user.is_authenticated:
                return redirect_to_login(request.get_full_path())
            if not all(user_has(request.user, perm) for perm in perms):
                raise PermissionDenied(f"You need the permission {' and '.join(perms)}.")
            return view(request, *args, **kwargs)

        wrapper.required_permissions = perms
        return wrapper

    return decorator


def admin_permission(perm: str):
    """A `has_<name>_permission` method for a ModelAdmin, backing `@admin.action(permissions=[name])`."""

    def check(self, request, obj=None):
        return user_has(request.user, perm)

    check.required_permission = perm
    return check


def admin_view_permission(request, perm: str) -> None:
    """First line of an admin custom view (`get_urls`): refuse with 403 without the permission."""
    if not user_has(request.user, perm):
        raise PermissionDenied(f"You need the permission {perm}.")
