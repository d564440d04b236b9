"""Reads for the training app.

Traces are read only through traces.selectors (traces_eligible excludes quarantined
traces; trace_scrubbed_view is the only text we see). Rewards come from the
reward_events table and reviewer corrections from score cards (labeling's models,
read here as the contracts allow).
"""

import math

from django.core.exceptions import ValidationError
from django.db.models import Exists, OuterRef, Prefetch, QuerySet

from labeling.models import RewardEvent, RewardSource, Rubric, ScoreCard
from traces.selectors import trace_scrubbed_view, traces_eligible
from training.models import DatasetBuild, DatasetStatus, TrainingRun


def reward_model_version_current() -> str:
    """The active reward model's version; else the newest version that scored traces; else ""."""
    from rewards.selectors import reward_model_active

    active = reward_model_active()
    if active is not None:
        return active.version
    latest = RewardEvent.objects.filter(source=RewardSource.MODEL).order_by("-created_at", "-id").first()
    return latest.reward_model_version if latest else ""


def rubric_current() -> Rubric | None:
    return Rubric.objects.filter(active=True).order_by("-updated_at", "-id").first()


def _reward_of(events: list[RewardEvent], reward_model_version: str) -> tuple[float, str, float | None] | None:
    """Human labels first (their mean), then the model score of the given version."""
    human = [event.reward for event in events if event.source == RewardSource.HUMAN]
    if human:
        return sum(human) / len(human), "human", None
    model = [
        event
        for event in events
        if event.source == RewardSource.MODEL and event.reward_model_version == reward_model_version
    ]
    if model:
        event = max(model, key=lambda e: (e.created_at, e.pk))
        return event.reward, "model", event.uncertainty
    return None


def _correction_of(cards: list[ScoreCard]) -> ScoreCard | None:
    corrected = [card for card in cards if card.correction.strip() or card.corrected_tool_calls is not None]
    return max(corrected, key=lambda c: (c.updated_at, c.pk)) if corrected else None


def dataset_candidates(*, modality: str, reward_model_version: str) -> list[dict]:
    """Eligible, non-quarantined traces of a modality that have a reward, with what a build needs:
    {"view": trace_scrubbed_view, "reward", "reward_source", "uncertainty", "correction", "corrected_tool_calls"}."""
    has_reward = RewardEvent.objects.filter(trace=OuterRef("pk"), source__in=[RewardSource.HUMAN, RewardSource.MODEL])
    traces = (
        traces_eligible(modality=modality)
        .filter(Exists(has_reward))
        .prefetch_related(
            Prefetch("reward_events", queryset=RewardEvent.objects.order_by("id")),
            Prefetch("score_cards", queryset=ScoreCard.objects.order_by("id")),
        )
        .order_by("id")
    )
    candidates = []
    for trace in traces:
        reward = _reward_of(list(trace.reward_events.all()), reward_model_version)
        if reward is None:
            continue
        card = _correction_of(list(trace.score_cards.all()))
        candidates.append(
            {
                "view": trace_scrubbed_view(trace),
                "reward": round(reward[0], 6),
                "reward_source": reward[1],
                "uncertainty": reward[2],
                "correction": card.correction.strip() if card else "",
                "corrected_tool_calls": card.corrected_tool_calls if card else None,
            }
        )
    return candidates


def dataset_get(*, sha: str) -> DatasetBuild:
    """A build by its hash or an unambiguous prefix (≥ 6 characters); ValidationError naming `dataset`."""
    sha = (sha or "").strip().lower()
    if len(sha) < 6:
        raise ValidationError({"dataset": "give the dataset hash (at least 6 characters)"})
    matches = list(DatasetBuild.objects.filter(sha256__startswith=sha)[:2])
    if not matches:
        raise ValidationError({"dataset": f"no dataset build with hash {sha}"})
    if len(matches) > 1:
        raise ValidationError({"dataset": f"hash prefix {sha} matches more than one build"})
    return matches[0]


def dataset_latest_succeeded(*, modality: str | None = None) -> DatasetBuild | None:
    queryset = DatasetBuild.objects.filter(status=DatasetStatus.SUCCEEDED)
    if modality:
        queryset = queryset.filter(modality=modality)
    return queryset.order_by("-created_at", "-id").first()


def experiments_list() -> QuerySet:
    """One row per training run for the registry, with its dataset and any policies made from it."""
    return TrainingRun.objects.select_related("dataset").prefetch_related("policies").order_by("-created_at", "-id")


def reward_curve(run: TrainingRun) -> list[dict]:
    """[{"step", "train", "valid"}] from the run's stored metrics (valid may be None)."""
    curve = (run.metrics or {}).get("curve") if isinstance(run.metrics, dict) else None
    points = []
    for point in curve if isinstance(curve, list) else []:
        step = metric_number(point.get("step")) if isinstance(point, dict) else None
        if step is not None:
            points.append({"step": int(step), **{s: metric_number(point.get(s)) for s in ("train", "valid")}})
    return points


def metric_number(value) -> float | None:
    """A finite number from a backend metric (numbers and numeric strings), else None: backends send odd values."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        number = float(value)
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def _config_flat(config: dict, prefix: str = "") -> dict:
    flat = {}
    for key, value in (config or {}).items():
        if key == "grader":
            continue
        if isinstance(value, dict):
            flat.update(_config_flat(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def experiment_config_diff(a: TrainingRun, b: TrainingRun) -> list[dict]:
    """Every config key of two runs (nested keys dotted, the grader left out) with both values."""
    flat_a, flat_b = _config_flat(a.config), _config_flat(b.config)
    return [{"key": key, "a": flat_a.get(key), "b": flat_b.get(key)} for key in sorted(set(flat_a) | set(flat_b))]


EXPERIMENT_CSV_COLUMNS = [
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


def _csv_cell(value):
    # A spreadsheet runs a cell that starts with = + - @ as a formula; free text (a rollback reason) must not.
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def experiment_csv_rows():
    """One list per run, in EXPERIMENT_CSV_COLUMNS order (config as canonical JSON without the grader);
    text that a spreadsheet would run as a formula is prefixed with a quote."""
    for row in _experiment_csv_rows():
        yield [_csv_cell(value) for value in row]


def _experiment_csv_rows():
    from zeke_rft.hashing import canonical_json

    for run in experiments_list():
        policies = list(run.policies.all())
        policy = policies[0] if policies else None
        config = {k: v for k, v in run.config.items() if k != "grader"}
        yield [
            run.pk,
            run.status,
            run.dataset.sha256,
            run.dataset.stage,
            run.modality,
            run.reward_model_version,
            run.base_model,
            run.job_id,
            policy.model_id if policy else run.fine_tuned_model,
            policy.status if policy else "",
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
