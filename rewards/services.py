"""Writes for the rewards app: train, promote, retire, predict, score, spot-check, agreement.

`reward_model_predict` is the contract other apps call (rollout for win-rate,
training for ranking); keep its signature stable.
"""

import logging
import random
from datetime import date, datetime, time, timedelta

import numpy as np
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from labeling.services import label_tasks_add, preference_import, reward_events_record_model
from rewards import evaluation, features, learner
from rewards.artifacts import ArtifactIntegrityError, artifact_load, artifact_write
from rewards.models import AgreementCheck, RewardModel, RewardModelStatus
from rewards.preference_files import preference_lines_parse
from rewards.selectors import (
    model_human_pairs,
    reward_model_active,
    reward_training_examples,
    traces_for_spot_check,
    traces_to_score_items,
)
from zeke_rft.errors import ApplicationError
from zeke_rft.hashing import sha256_json
from zeke_rft.history import history_set

logger = logging.getLogger(__name__)

HISTORY_REASON_MAX = 100  # simple-history's history_change_reason is a varchar(100)


def _audit(instance, *, user=None, reason: str) -> None:
    """history_set with the reason cut to what the history table holds (PostgreSQL refuses longer;
    the full text stays in status_reason)."""
    if len(reason) > HISTORY_REASON_MAX:
        reason = reason[: HISTORY_REASON_MAX - 1] + "…"
    history_set(instance, user=user, reason=reason)


# --- the contract ---------------------------------------------------------------


def reward_model_predict(*, items: list[dict], reward_model: RewardModel | None = None) -> list[dict]:
    """Predicted reward in [0, 1] and uncertainty for items shaped like trace_scrubbed_view
    (missing keys tolerated), with the active model unless one is given."""
    items = list(items)
    bad = next((index for index, item in enumerate(items) if not isinstance(item, dict)), None)
    if bad is not None:
        raise ValidationError({"items": f"item {bad} must be an object shaped like trace_scrubbed_view"})
    reward_model = reward_model or reward_model_active()
    if reward_model is None:
        raise ApplicationError("no reward model is active: train one (manage.py train_reward_model) and promote it")
    predicted = learner.learner_predict(artifact_load(reward_model), items)
    return [
        {"reward": float(reward), "uncertainty": float(uncertainty)}
        for reward, uncertainty in zip(predicted["reward"], predicted["uncertainty"], strict=True)
    ]


# --- training, evaluation, promotion ----------------------------------------------


def _version_for(data_hash: str) -> str:
    return f"rm-{timezone.now():%Y%m%d-%H%M%S}-{data_hash[:8]}"


def _check_enough(examples: dict) -> None:
    cards = len(examples["train_cards"])
    pairs = sum(1 for p in examples["train_pairs"] if p["winner"] in ("a", "b"))
    if cards < settings.REWARD_MIN_SCORE_CARDS and pairs < settings.REWARD_MIN_PREFERENCES:
        raise ApplicationError(
            f"not enough labels to train a reward model: {cards} labeled traces and {pairs} decisive preferences "
            f"in the training split (need {settings.REWARD_MIN_SCORE_CARDS} or {settings.REWARD_MIN_PREFERENCES})",
            extra={"train_cards": cards, "train_pairs": pairs},
        )


def _training_counts(examples: dict) -> dict:
    return {
        "train_cards": len(examples["train_cards"]),
        "test_cards": len(examples["test_cards"]),
        "score_cards": sum(c["n_cards"] for c in examples["train_cards"] + examples["test_cards"]),
        "train_pairs": sum(1 for p in examples["train_pairs"] if p["winner"] in ("a", "b")),
        "test_pairs": sum(1 for p in examples["test_pairs"] if p["winner"] in ("a", "b")),
        "ties_skipped": sum(1 for p in examples["train_pairs"] + examples["test_pairs"] if p["winner"] == "tie"),
    }


def _hyperparameters_checked(hyperparameters: dict) -> dict:
    """The defaults overridden by `hyperparameters`; ValidationError naming an unknown or bad one."""
    unknown = sorted(set(hyperparameters) - set(learner.DEFAULT_HYPERPARAMETERS))
    if unknown:
        raise ValidationError({unknown[0]: "is not a hyperparameter of the reward model"})
    hyper = {**learner.DEFAULT_HYPERPARAMETERS, **hyperparameters}
    for name, low in (("members", 1), ("seed", 0), ("max_iter", 1)):
        if not isinstance(hyper[name], int) or isinstance(hyper[name], bool) or hyper[name] < low:
            raise ValidationError({name: f"must be an integer ≥ {low}, got {hyper[name]!r}"})
    for name in ("ridge_alpha", "bt_C", "pair_temperature", "error_alpha"):
        if not isinstance(hyper[name], (int, float)) or isinstance(hyper[name], bool) or not hyper[name] > 0:
            raise ValidationError({name: f"must be a number > 0, got {hyper[name]!r}"})
    return hyper


def reward_model_train(
    *, user=None, hyperparameters: dict | None = None, promote: bool = True, examples: dict | None = None
) -> tuple[RewardModel, bool]:
    """Train on every label, evaluate on the held-out split, store a candidate and (when
    `promote`) apply the promotion rule. Safe to run twice: the same data and hyperparameters
    give the same training_data_hash, and then the existing version is returned (created=False)."""
    hyper = _hyperparameters_checked(hyperparameters or {})
    examples = examples or reward_training_examples()
    data_hash = sha256_json(
        {"data": examples["data_hash"], "hyperparameters": hyper, "features": features.FEATURE_VERSION}
    )
    existing = RewardModel.objects.filter(training_data_hash=data_hash).first()
    if existing is not None:
        return existing, False
    _check_enough(examples)
    started = timezone.now()
    artifact = learner.learner_fit(cards=examples["train_cards"], pairs=examples["train_pairs"], hyperparameters=hyper)
    fit_seconds = (timezone.now() - started).total_seconds()
    metrics = evaluation.evaluate(artifact, cards=examples["test_cards"], pairs=examples["test_pairs"])
    version = _version_for(data_hash)
    key, sha256 = artifact_write(version=version, artifact=artifact)
    reward_model = RewardModel(
        version=version,
        algorithm=learner.ALGORITHM,
        feature_set=features.FEATURE_SET,
        hyperparameters=hyper,
        training_data_hash=data_hash,
        training_counts={**_training_counts(examples), "fit_seconds": round(fit_seconds, 3)},
        metrics=metrics,
        artifact_key=key,
        artifact_sha256=sha256,
        status=RewardModelStatus.CANDIDATE,
        created_by=user if getattr(user, "pk", None) else None,
    )
    _audit(reward_model, user=user, reason="trained")
    try:
        with transaction.atomic():
            reward_model.save()
    except IntegrityError:
        # Another worker trained on the same data at the same moment.
        return RewardModel.objects.get(training_data_hash=data_hash), False
    if promote:
        reward_model_consider(reward_model=reward_model, user=user, examples=examples)
        reward_model.refresh_from_db()
    return reward_model, True


def reward_model_evaluate(*, reward_model: RewardModel, examples: dict | None = None) -> dict:
    """Metrics of a stored version on the current held-out split."""
    examples = examples or reward_training_examples()
    return evaluation.evaluate(artifact_load(reward_model), cards=examples["test_cards"], pairs=examples["test_pairs"])


def reward_model_consider(*, reward_model: RewardModel, user=None, examples: dict | None = None) -> bool:
    """The promotion rule: promote when no model is active, or when this one beats the active
    one on the same held-out split (its primary metric strictly higher); otherwise it stays a
    candidate and status_reason says why. Returns whether it was promoted."""
    active = reward_model_active()
    if active is not None and active.pk == reward_model.pk:
        return True
    if active is None:
        reward_model_promote(reward_model=reward_model, user=user, reason="no reward model was active")
        return True
    examples = examples or reward_training_examples()
    mine = reward_model_evaluate(reward_model=reward_model, examples=examples)
    metric, my_value = evaluation.primary_metric(mine)
    try:
        their_value = reward_model_evaluate(reward_model=active, examples=examples)["overall"].get(metric)
        problem = ""
    except ArtifactIntegrityError as exc:
        # An active model that cannot be loaded loses to any candidate that can.
        their_value, problem = None, exc.message
    comparison = {"against": active.version, "metric": metric, "candidate": my_value, "active": their_value}
    if problem:
        comparison["active_error"] = problem
    if problem or (my_value is not None and (their_value is None or my_value > their_value)):
        reward_model.metrics = {**reward_model.metrics, "comparison": comparison}
        reward_model_promote(
            reward_model=reward_model,
            user=user,
            reason=f"replaces {active.version}, which cannot be loaded: {problem}"
            if problem
            else f"beats {active.version} on the same split: {metric} {my_value} > {their_value}",
        )
        return True
    with transaction.atomic():
        reward_model = RewardModel.objects.select_for_update().get(pk=reward_model.pk)
        reward_model.metrics = {**reward_model.metrics, "comparison": comparison}
        reward_model.status_reason = (
            f"does not beat active {active.version} on the same split: {metric} {my_value} vs {their_value}"
        )
        _audit(reward_model, user=user, reason="kept as candidate")
        reward_model.save()
    return False


def _status_change(reward_model: RewardModel, *, status: str, reason: str, user, done: str) -> None:
    """Save the new status and its reason, audited as "<done>: <reason>"."""
    reward_model.status = status
    reward_model.status_reason = reason
    _audit(reward_model, user=user, reason=f"{done}: {reason}")
    reward_model.save()


@transaction.atomic
def reward_model_promote(*, reward_model: RewardModel, user=None, reason: str = "promoted") -> RewardModel:
    """Make this version the active one; the previously active version is retired. Audited."""
    locked = RewardModel.objects.select_for_update().get(pk=reward_model.pk)
    if locked.status == RewardModelStatus.ACTIVE:
        return locked
    for previous in RewardModel.objects.select_for_update().filter(status=RewardModelStatus.ACTIVE):
        _status_change(
            previous,
            status=RewardModelStatus.RETIRED,
            reason=f"replaced by {locked.version}",
            user=user,
            done="retired",
        )
    locked.metrics = reward_model.metrics
    _status_change(locked, status=RewardModelStatus.ACTIVE, reason=reason, user=user, done="promoted")
    return locked


@transaction.atomic
def reward_model_retire(*, reward_model: RewardModel, user=None, reason: str = "retired") -> RewardModel:
    """Retire a version (the active one too: then no model is active until one is promoted). Audited."""
    locked = RewardModel.objects.select_for_update().get(pk=reward_model.pk)
    if locked.status == RewardModelStatus.RETIRED:
        return locked
    _status_change(locked, status=RewardModelStatus.RETIRED, reason=reason, user=user, done="retired")
    return locked


# --- scoring -------------------------------------------------------------------


SCORING_BATCH_SIZE = 5000


def traces_score(*, reward_model: RewardModel | None = None, batch_size: int = SCORING_BATCH_SIZE) -> dict:
    """Score every eligible trace without a human label and without an event from this version.
    Writes model RewardEvents (with version and uncertainty). Safe to run twice.

    Reads only the scrubbed columns the model needs as plain rows (keyset pages by id, so
    writing events between pages never skips or repeats a trace)."""
    reward_model = reward_model or reward_model_active()
    if reward_model is None:
        raise ApplicationError("no reward model is active: nothing to score with")
    artifact = artifact_load(reward_model)
    scored = last_id = 0
    while items := traces_to_score_items(version=reward_model.version, after_id=last_id, limit=batch_size):
        last_id = items[-1]["id"]
        predicted = learner.learner_predict(artifact, items)
        rows = [
            {"trace_id": item["id"], "reward": reward, "uncertainty": uncertainty}
            for item, reward, uncertainty in zip(
                items, predicted["reward"].tolist(), predicted["uncertainty"].tolist(), strict=True
            )
        ]
        scored += reward_events_record_model(rows=rows, reward_model_version=reward_model.version)
    return {"reward_model": reward_model.version, "scored": scored}


# --- recalibration -------------------------------------------------------------------


def spot_checks_queue(*, day: date | None = None, size: int | None = None, days: int = 7) -> int:
    """Add a random slice (seeded by the day) of the traces the active model scored in the last
    `days` days and no reviewer labeled to that day's queue, reason spot_check. Safe to run twice."""
    reward_model = reward_model_active()
    if reward_model is None:
        return 0
    day = day or timezone.localdate()
    size = settings.REWARD_SPOT_CHECK_SIZE if size is None else size
    since = timezone.make_aware(datetime.combine(day - timedelta(days=days), time.min))
    candidates = traces_for_spot_check(version=reward_model.version, since=since)
    total = candidates.count()
    positions = random.Random(f"spot-check:{day.isoformat()}").sample(range(total), min(size, total))
    chosen = sorted(candidates[position] for position in positions)
    if not chosen:
        return 0
    return label_tasks_add(trace_ids=chosen, reason="spot_check", day=day)


def agreement_check_run(
    *, reward_model: RewardModel | None = None, window_end: date | None = None, days: int = 7
) -> AgreementCheck | None:
    """Compare model and human rewards on traces that have both (human cards written in the
    window); alert when Spearman < REWARD_AGREEMENT_THRESHOLD with at least
    REWARD_AGREEMENT_MIN_N traces. One check per (model, window_end): re-running updates it."""
    reward_model = reward_model or reward_model_active()
    if reward_model is None:
        return None
    window_end = window_end or timezone.localdate()
    window_start = window_end - timedelta(days=days - 1)
    since = timezone.make_aware(datetime.combine(window_start, time.min))
    until = timezone.make_aware(datetime.combine(window_end + timedelta(days=1), time.min))
    pairs = model_human_pairs(version=reward_model.version, since=since, until=until)
    model_rewards = np.array([p[0] for p in pairs], dtype=float)
    human_rewards = np.array([p[1] for p in pairs], dtype=float)
    rho = evaluation.spearman(model_rewards, human_rewards) if pairs else None
    mae = round(float(np.abs(model_rewards - human_rewards).mean()), 4) if pairs else None
    threshold = settings.REWARD_AGREEMENT_THRESHOLD
    alert = len(pairs) >= settings.REWARD_AGREEMENT_MIN_N and rho is not None and rho < threshold
    check, _ = AgreementCheck.objects.update_or_create(
        reward_model=reward_model,
        window_end=window_end,
        defaults={
            "window_start": window_start,
            "n": len(pairs),
            "spearman": rho,
            "mae": mae,
            "threshold": threshold,
            "alert": alert,
        },
    )
    if alert:
        logger.warning("reward model %s agreement below threshold: %s < %s", reward_model.version, rho, threshold)
        _notify_agreement(check)
    return check


def _notify_agreement(check: AgreementCheck) -> None:
    from alerts.services import notification_send

    version = check.reward_model.version
    notification_send(
        kind="agreement_alert",
        subject=f"Reward model {version} disagrees with reviewers (Spearman {check.spearman:.2f})",
        body=(
            f"Spearman {check.spearman:.3f} < {check.threshold} over {check.n} traces, "
            f"{check.window_start} – {check.window_end}"
        ),
        link=f"/rewards/{version}/",
        payload={"reward_model": version, "spearman": check.spearman, "n": check.n},
        dedupe_key=f"agreement-{version}-{check.window_end}",
    )


def reward_model_recalibrate(*, day: date | None = None) -> dict:
    """The pipeline's `recalibrate` step and `recalibrate_reward_model`: agreement check of the active model
    against reviewers, then this week's spot checks into the queue. Safe to run twice."""
    day = day or timezone.localdate()
    check = agreement_check_run(window_end=day)
    agreement = (
        None if check is None else {"id": check.pk, "n": check.n, "spearman": check.spearman, "alert": check.alert}
    )
    return {"agreement": agreement, "spot_checks": spot_checks_queue(day=day)}


def reward_model_weekly(*, day: date | None = None) -> dict:
    """The weekly job: agreement check and spot checks for the active model, then retrain,
    evaluate and maybe promote. Safe to run twice (same data → same version, no new row)."""
    day = day or timezone.localdate()
    summary = {"day": day.isoformat()}
    check = agreement_check_run(window_end=day)
    summary["agreement"] = None if check is None else {"n": check.n, "spearman": check.spearman, "alert": check.alert}
    summary["spot_checks"] = spot_checks_queue(day=day)
    try:
        reward_model, created = reward_model_train()
    except ApplicationError as exc:
        summary["trained"] = None
        summary["skipped"] = exc.message
        return summary
    summary["trained"] = {"version": reward_model.version, "created": created, "status": reward_model.status}
    return summary


# --- preference files ---------------------------------------------------------------


def preferences_import_lines(*, lines, user=None, task_category: str = "other") -> dict:
    """Import chosen/rejected JSONL lines as Preferences through labeling.services.preference_import.
    Good lines are kept even when others are bad. Safe to run twice (content hash)."""
    good, errors = preference_lines_parse(lines)
    created = existing = 0
    for number, record in good:
        category = record.get("task_category") or task_category
        try:
            _, was_created = preference_import(
                prompt=record["prompt"],
                chosen=record["chosen"],
                rejected=record["rejected"],
                user=user,
                task_category=category,
            )
        except ValidationError as exc:
            errors.append({"line": number, "field": None, "message": "; ".join(exc.messages)})
            continue
        created += was_created
        existing += not was_created
    return {"created": created, "existing": existing, "errors": sorted(errors, key=lambda e: e["line"])}


def pairs_accuracy(*, lines, reward_model: RewardModel | None = None) -> dict:
    """Pairwise accuracy of a model (the active one by default) on chosen/rejected JSONL:
    the share of pairs where P(chosen beats rejected) > 0.5 (0.5 counts half)."""
    reward_model = reward_model or reward_model_active()
    if reward_model is None:
        raise ApplicationError("no reward model is active: pass a version")
    good, errors = preference_lines_parse(lines)
    pairs = [
        {
            "a": {"user_message": r["prompt"], "final_response": r["chosen"], "task_category": r.get("task_category")},
            "b": {
                "user_message": r["prompt"],
                "final_response": r["rejected"],
                "task_category": r.get("task_category"),
            },
            "winner": "a",
            "domain": r.get("task_category") or "other",
        }
        for _, r in good
    ]
    metrics = evaluation.evaluate(artifact_load(reward_model), cards=[], pairs=pairs)
    return {"reward_model": reward_model.version, **metrics["overall"], "errors": errors}
