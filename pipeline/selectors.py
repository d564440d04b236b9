"""Reads for the pipeline app."""

from django.core.exceptions import ValidationError
from django.db.models import Prefetch, QuerySet

from pipeline.models import Approval, PipelineRun, PipelineStep


def pipeline_runs(*, modality: str | None = None, limit: int = 20) -> list[PipelineRun]:
    """Newest runs with their steps and produced records (four queries whatever the number of runs)."""
    runs = PipelineRun.objects.select_related("dataset", "training_run", "policy", "rollout")
    if modality:
        runs = runs.filter(modality=modality)
    steps = PipelineStep.objects.select_related("decided_by").order_by("position")
    return list(runs.prefetch_related(Prefetch("steps", queryset=steps)).order_by("-created_at")[:limit])


def pipeline_runs_by_modality(*, limit: int = 10) -> list[dict]:
    """[{"modality", "runs": [...]}] for /pipeline/, modalities in a fixed order."""
    from traces.models import Modality

    runs = pipeline_runs(limit=limit * len(Modality.values))
    return [
        {"modality": modality, "runs": [run for run in runs if run.modality == modality][:limit]}
        for modality in Modality.values
    ]


def pipeline_run_get(*, run_id, field: str = "run") -> PipelineRun:
    try:
        return PipelineRun.objects.get(pk=int(run_id))
    except (TypeError, ValueError, PipelineRun.DoesNotExist):
        raise ValidationError({field: f"no pipeline run {run_id!r}"}) from None


def steps_waiting_for_approval() -> QuerySet:
    return PipelineStep.objects.filter(approval=Approval.WAITING).select_related("run")
