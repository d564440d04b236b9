from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from labeling.access import user_can_review
from rewards.evaluation import DOMAINS
from rewards.models import RewardModel
from rewards.plots import DOMAIN_COLORS, scatter_svg
from rewards.selectors import agreement_checks_for, reward_model_active, reward_model_history, reward_models_list
from rewards.services import reward_model_promote, reward_model_retire


def _require_reviewer(request):
    if not user_can_review(request.user):
        raise PermissionDenied("reviewers and staff only")


@login_required
def reward_model_list(request):
    _require_reviewer(request)
    return render(
        request,
        "rewards/list.html",
        {"reward_models": reward_models_list(), "active": reward_model_active()},
    )


@login_required
def reward_model_detail(request, version):
    _require_reviewer(request)
    reward_model = get_object_or_404(reward_models_list(), version=version)
    metrics = reward_model.metrics or {}
    by_domain = metrics.get("by_domain", {})
    context = {
        "reward_model": reward_model,
        "overall": metrics.get("overall", {}),
        "domain_rows": [(domain, by_domain.get(domain, {})) for domain in DOMAINS],
        "dimensions": metrics.get("dimensions", {}),
        "calibration": metrics.get("calibration", {}),
        "comparison": metrics.get("comparison"),
        "scatter": scatter_svg(metrics.get("scatter", [])),
        "legend": [(domain, DOMAIN_COLORS[domain]) for domain in DOMAINS],
        "agreement_checks": agreement_checks_for(reward_model)[:12],
        "history": reward_model_history(reward_model),
    }
    return render(request, "rewards/detail.html", context)


def _require_staff(request):
    if not (request.user.is_active and request.user.is_staff):
        raise PermissionDenied("staff only")


def _reward_model_status_change(request, version, *, service, done: str, message: str):
    _require_staff(request)
    reward_model = get_object_or_404(RewardModel, version=version)
    reason = request.POST.get("reason", "").strip() or f"{done} on the version page by {request.user}"
    service(reward_model=reward_model, user=request.user, reason=reason)
    messages.success(request, message)
    return redirect("rewards:detail", version=version)


@login_required
@require_POST
def reward_model_promote_view(request, version):
    return _reward_model_status_change(
        request,
        version,
        service=reward_model_promote,
        done="promoted",
        message=f"{version} is now the active reward model.",
    )


@login_required
@require_POST
def reward_model_retire_view(request, version):
    return _reward_model_status_change(
        request, version, service=reward_model_retire, done="retired", message=f"{version} is retired."
    )
