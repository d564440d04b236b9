"""/rollouts/: per modality the active policy, the running rollout, monitor charts and policy history."""

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from rollout.charts import svg_line_chart
from rollout.errors import validation_text
from rollout.models import Rollout
from rollout.selectors import dashboard_modalities
from rollout.services import rollout_rollback
from zeke_rft.access import permission_required_view
from zeke_rft.errors import ApplicationError


def _charts(checks) -> dict:
    def series(arm, metric):
        return [(c.checked_at, (c.metrics.get(arm) or {}).get(metric)) for c in checks]

    return {
        "win_rate": svg_line_chart(
            {"candidate win-rate": series("candidate", "win_rate")},
            title="Win-rate vs baseline",
            reference=0.5,
            y_range=(0.0, 1.0),
            y_title="win-rate",
            reference_label="0.5: no better than the baseline",
        ),
        "safety": svg_line_chart(
            {"baseline": series("baseline", "safety_per_1000"), "candidate": series("candidate", "safety_per_1000")},
            title="Safety incidents per 1,000 messages",
            y_title="per 1,000",
        ),
    }


def _dashboard(request, *, status: int = 200):
    panels = dashboard_modalities()
    for panel in panels:
        panel["charts"] = _charts(panel["checks"])
    return render(request, "rollout/dashboard.html", {"panels": panels}, status=status)


@permission_required_view("rollout.view_rollout")
def dashboard(request):
    return _dashboard(request)


@permission_required_view("rollout.rollback_rollout")
@require_POST
def rollback(request, rollout_id: int):
    rollout = get_object_or_404(Rollout, pk=rollout_id)
    if request.POST.get("reason", "").strip() and request.POST.get("confirm") != "yes":
        messages.error(request, "confirm: tick the box to confirm the rollback.")
        return _dashboard(request, status=400)
    try:
        rollout_rollback(rollout=rollout, reason=request.POST.get("reason", ""), user=request.user)
    except ValidationError as exc:
        messages.error(request, validation_text(exc))
        return _dashboard(request, status=400)
    except ApplicationError as exc:
        messages.error(request, exc.message)
        return _dashboard(request, status=exc.status)
    messages.success(request, f"Rollout {rollout.pk} rolled back; the previous policy is active again.")
    return redirect("rollout:dashboard")
