from django.contrib import messages
from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from rewards.evaluation import DOMAINS
from rewards.models import RewardModel
from rewards.plots import DOMAIN_COLORS, scatter_svg
from rewards.selectors import agreement_checks_for, reward_model_active, reward_model_history, reward_models_list
from rewards.services import reward_model_promote, reward_model_retire
from zeke_rft.access import permission_required_view
from zeke_rft.errors import ApplicationError

VIEW = "rewards.view_rewardmodel"


@permission_required_view(VIEW)
def reward_model_list(request):
    return render(
        request,
        "rewards/list.html",
        {"reward_models": reward_models_list(), "active": reward_model_active()},
    )


@permission_required_view(VIEW)
def reward_model_detail(request, version):
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


def _reward_model_status_change(request, version, *, service, done: str, message: str):
    """Promote/retire: a reason and a ticked confirmation are required (400 naming the field otherwise)."""
    reward_model = get_object_or_404(RewardModel, version=version)
    reason = request.POST.get("reason", "").strip()
    problem = _confirmation_problem(request, reason, done)
    if problem is None:
        try:
            service(reward_model=reward_model, user=request.user, reason=reason)
        except ApplicationError as exc:
            problem = (exc.message, exc.status)
        except ValidationError as exc:
            problem = ("; ".join(exc.messages), 400)
    if problem is not None:
        messages.error(request, problem[0])
        response = reward_model_detail.__wrapped__(request, version)
        response.status_code = problem[1]
        return response
    messages.success(request, message)
    return redirect("rewards:detail", version=version)


def _confirmation_problem(request, reason: str, done: str):
    if not reason:
        return (f"reason: say why this version is {done} (kept in its history).", 400)
    if request.POST.get("confirm") != "yes":
        return (f"confirm: tick the box to confirm this version is {done}.", 400)
    return None


@permission_required_view("rewards.promote_rewardmodel")
@require_POST
def reward_model_promote_view(request, version):
    return _reward_model_status_change(
        request,
        version,
        service=reward_model_promote,
        done="promoted",
        message=f"{version} is now the active reward model.",
    )


@permission_required_view("rewards.retire_rewardmodel")
@require_POST
def reward_model_retire_view(request, version):
    return _reward_model_status_change(
        request, version, service=reward_model_retire, done="retired", message=f"{version} is retired."
    )
