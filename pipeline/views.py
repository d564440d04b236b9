"""/pipeline/: runs per modality with their steps as a timeline; approve or reject a waiting step."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from pipeline.models import PipelineStep
from pipeline.selectors import pipeline_runs_by_modality
from pipeline.services import pipeline_step_decide
from zeke_rft.errors import ApplicationError


def _page(request, *, status: int = 200):
    context = {
        "panels": pipeline_runs_by_modality(),
        "can_approve": request.user.has_perm("pipeline.approve_pipelinestep"),
    }
    return render(request, "pipeline/runs.html", context, status=status)


@login_required
@permission_required("pipeline.view_pipelinerun", raise_exception=True)
def runs(request):
    return _page(request)


@login_required
@permission_required("pipeline.approve_pipelinestep", raise_exception=True)
@require_POST
def decide(request, step_id: int):
    step = get_object_or_404(PipelineStep, pk=step_id)
    approve = request.POST.get("decision") == "approve"
    if request.POST.get("decision") not in ("approve", "reject"):
        messages.error(request, "decision: must be approve or reject")
        return _page(request, status=400)
    try:
        pipeline_step_decide(step=step, approve=approve, reason=request.POST.get("reason", ""), user=request.user)
    except ValidationError as exc:
        messages.error(request, "; ".join(f"{k}: {' '.join(v)}" for k, v in exc.message_dict.items()))
        return _page(request, status=400)
    except ApplicationError as exc:
        messages.error(request, exc.message)
        return _page(request, status=exc.status)
    messages.success(request, f"{step.step} {'approved' if approve else 'rejected'}.")
    return redirect("pipeline:runs")
