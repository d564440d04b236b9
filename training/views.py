"""The experiment registry: /experiments/ (one row per run), a side-by-side compare and a CSV export."""

import csv
import re

from django.http import HttpResponse
from django.shortcuts import get_object_or_404, render

from training import selectors
from training.charts import reward_curve_svg
from training.models import TrainingRun
from zeke_rft.access import permission_required_view

VIEW = "training.view_trainingrun"


def _row(run: TrainingRun) -> dict:
    policies = list(run.policies.all())
    policy = policies[0] if policies else None
    return {
        "run": run,
        "policy": policy,
        "policy_id": policy.model_id if policy else run.fine_tuned_model,
        "curve_svg": reward_curve_svg(selectors.reward_curve(run), width=180, height=60),
    }


@permission_required_view(VIEW)
def experiment_list(request):
    rows = [_row(run) for run in selectors.experiments_list()]
    # Online numbers of each run's policy (rollout reads its own tables; one batch for the page).
    from rollout.selectors import policy_lifetime_stats

    lifetime = policy_lifetime_stats(policies=[row["policy"] for row in rows])
    for row in rows:
        row["lifetime"] = lifetime.get(row["policy"].pk) if row["policy"] else None
    return render(request, "training/experiments.html", {"rows": rows})


@permission_required_view(VIEW)
def experiment_compare(request):
    ids, problems = [], []
    for name in ("a", "b"):
        value = (request.GET.get(name) or "").strip()
        # ASCII digits only ("²".isdigit() is true) and short enough for the id column.
        if re.fullmatch(r"[0-9]{1,18}", value):
            ids.append(int(value))
        else:
            problems.append(f"{name}: give a run id (?a=ID&b=ID), got {value!r}" if value else f"{name}: required")
    if problems:
        rows = [_row(run) for run in selectors.experiments_list()]
        return render(request, "training/experiments.html", {"rows": rows, "error": "; ".join(problems)}, status=400)
    runs = [get_object_or_404(selectors.experiments_list(), pk=pk) for pk in ids]
    columns = [
        {**_row(run), "curve_svg": reward_curve_svg(selectors.reward_curve(run), title=f"run {run.pk}")} for run in runs
    ]
    config_rows = selectors.experiment_config_diff(runs[0], runs[1])
    return render(request, "training/compare.html", {"columns": columns, "config_rows": config_rows})


@permission_required_view(VIEW)
def experiment_export(request):
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="experiments.csv"'
    writer = csv.writer(response)
    writer.writerow(selectors.EXPERIMENT_CSV_COLUMNS)
    writer.writerows(selectors.experiment_csv_rows())
    return response
