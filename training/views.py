"""The experiment registry: /experiments/ (one row per run), a side-by-side compare and a CSV export."""

import csv

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, render

from labeling.access import user_can_review
from training import selectors
from training.charts import reward_curve_svg
from training.models import TrainingRun
from zeke_rft.hashing import canonical_json

CSV_COLUMNS = [
    "run",
    "status",
    "dataset_sha256",
    "stage",
    "modality",
    "reward_model_version",
    "base_model",
    "job_id",
    "policy_id",
    "policy_status",
    "config_hash",
    "config",
    "final_train_reward",
    "final_valid_reward",
    "gate_passed",
    "eval_scores",
    "rollout_started_at",
    "rollout_ended_at",
    "rollback_reason",
    "created_at",
]


def _require_reviewer(request):
    if not user_can_review(request.user):
        raise PermissionDenied("the experiment registry is for staff and reviewers")


def _row(run: TrainingRun) -> dict:
    policies = list(run.policies.all())
    policy = policies[0] if policies else None
    return {
        "run": run,
        "policy": policy,
        "policy_id": policy.model_id if policy else run.fine_tuned_model,
        "curve_svg": reward_curve_svg(selectors.reward_curve(run), width=180, height=60),
    }


@login_required
def experiment_list(request):
    _require_reviewer(request)
    rows = [_row(run) for run in selectors.experiments_list()]
    return render(request, "training/experiments.html", {"rows": rows})


@login_required
def experiment_compare(request):
    _require_reviewer(request)
    ids = [value for value in (request.GET.get("a"), request.GET.get("b")) if value and value.isdigit()]
    if len(ids) != 2:
        return render(
            request,
            "training/experiments.html",
            {"rows": [_row(r) for r in selectors.experiments_list()], "error": "pick two runs to compare"},
            status=400,
        )
    runs = [get_object_or_404(selectors.experiments_list(), pk=pk) for pk in ids]
    keys = sorted({key for run in runs for key in _flat(run.config)} - {"grader"})
    config_rows = [
        {"key": key, "a": _flat(runs[0].config).get(key), "b": _flat(runs[1].config).get(key)} for key in keys
    ]
    columns = [
        {**_row(run), "curve_svg": reward_curve_svg(selectors.reward_curve(run), title=f"run {run.pk}")} for run in runs
    ]
    return render(request, "training/compare.html", {"columns": columns, "config_rows": config_rows})


def _flat(config: dict, prefix: str = "") -> dict:
    flat = {}
    for key, value in (config or {}).items():
        if key == "grader":
            continue
        if isinstance(value, dict):
            flat.update(_flat(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


@login_required
def experiment_export(request):
    _require_reviewer(request)
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="experiments.csv"'
    writer = csv.writer(response)
    writer.writerow(CSV_COLUMNS)
    for run in selectors.experiments_list():
        row = _row(run)
        config = {k: v for k, v in run.config.items() if k != "grader"}
        writer.writerow(
            [
                run.pk,
                run.status,
                run.dataset.sha256,
                run.dataset.stage,
                run.modality,
                run.reward_model_version,
                run.base_model,
                run.job_id,
                row["policy_id"],
                row["policy"].status if row["policy"] else "",
                run.config_hash,
                canonical_json(config),
                run.metrics.get("final_train_reward", ""),
                run.metrics.get("final_valid_reward", ""),
                run.gate.get("passed", "") if run.gate else "",
                canonical_json(run.eval_scores) if run.eval_scores else "",
                run.rollout_started_at.isoformat() if run.rollout_started_at else "",
                run.rollout_ended_at.isoformat() if run.rollout_ended_at else "",
                run.rollback_reason,
                run.created_at.isoformat(),
            ]
        )
    return response
