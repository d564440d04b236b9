"""Writes for the rollout app: policies and the rollout state machine.

candidate ─start_shadow─▶ shadow ─start_canary (gate)─▶ canary ─promote─▶ active
                               └──────────── rollback ◀──────────┘   (active can be rolled back too)

Each step is one transaction that locks the rollout and its policies (select_for_update),
writes history with the acting user and reason, and refuses an invalid transition with a 409.
Smoke tests run before the transaction of every start and promotion.
"""

import secrets

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from rollout.models import Policy, PolicyStatus, Rollout, RolloutState
from zeke_rft.errors import ApplicationError
from zeke_rft.history import history_set

RUNNING_STATES = (RolloutState.SHADOW, RolloutState.CANARY)


def policy_lineage(*, training_run) -> dict:
    """What a trained candidate records about its making (shown in the policy history diff)."""
    if training_run is None:
        return {}
    config = {key: value for key, value in (training_run.config or {}).items() if key != "grader"}
    grader = (training_run.config or {}).get("grader") or {}
    return {
        "training_run": training_run.pk,
        "base_model": training_run.base_model,
        "dataset_sha256": training_run.dataset.sha256,
        "dataset_stage": training_run.dataset.stage,
        "reward_model_version": training_run.reward_model_version,
        "training_config_hash": training_run.config_hash,
        "training_config": config,
        "grader": {"type": grader.get("type"), "calculate_output": grader.get("calculate_output")},
    }


# Where one model is served, not how it behaves: a candidate never inherits these from its parent.
SERVING_KEYS = ("base_url", "served_model_name", "base_model", "adapter", "method", "artifact")


def _inherited_config(parent) -> dict:
    config = parent.config if parent is not None else {}
    return {key: value for key, value in config.items() if key not in SERVING_KEYS}


@transaction.atomic
def policy_register_candidate(
    *, model_id: str, modality: str, training_run=None, user=None, parent=None, config: dict | None = None
) -> Policy:
    """Register a fine-tuned model as a candidate policy. Safe to call twice: one row per (model_id, modality).
    The candidate inherits its parent's config (system prompt version, temperature, ...) overlaid by `config`,
    what agents need to call this model (a self-served model's `base_url`, its artifact); a parent's serving
    keys are not inherited. It records its lineage."""
    existing = Policy.objects.select_for_update().filter(model_id=model_id, modality=modality).first()
    if existing is not None:
        return existing
    if parent is None:
        parent = Policy.objects.filter(modality=modality, status=PolicyStatus.ACTIVE).first()
    policy = Policy(
        model_id=model_id,
        modality=modality,
        training_run=training_run,
        parent=parent,
        status=PolicyStatus.CANDIDATE,
        config=_inherited_config(parent) | (config or {}),
        lineage=policy_lineage(training_run=training_run),
    )
    history_set(policy, user=user, reason=f"candidate from training run {getattr(training_run, 'pk', None)}")
    policy.save()
    return policy


@transaction.atomic
def policy_bootstrap_active(*, model_id: str, modality: str, config: dict | None = None, user=None) -> Policy:
    """Make `model_id` the active policy of a modality that has none (first baseline); 409 if one is active."""
    current = Policy.objects.select_for_update().filter(modality=modality, status=PolicyStatus.ACTIVE).first()
    if current is not None:
        if current.model_id == model_id:
            return current
        raise ApplicationError(
            f"{current.model_id} is already active for {modality}: change it through a rollout, not by hand"
        )
    policy, _ = Policy.objects.get_or_create(model_id=model_id, modality=modality, defaults={"config": config or {}})
    policy.status = PolicyStatus.ACTIVE
    history_set(policy, user=user, reason="first active policy (baseline)")
    policy.save()
    return policy


def _why(reason: str) -> str:
    """simple-history keeps the change reason in a 100-character column."""
    return reason[:100]


def _set_status(policy: Policy, status: str, *, user, reason: str) -> None:
    policy.status = status
    history_set(policy, user=user, reason=_why(reason))
    policy.save()


def _locked(rollout: Rollout) -> Rollout:
    return Rollout.objects.select_for_update().get(pk=rollout.pk)


def _policies_locked(rollout: Rollout) -> tuple[Policy, Policy | None]:
    ids = [rollout.candidate_id] + ([rollout.baseline_id] if rollout.baseline_id else [])
    policies = {p.pk: p for p in Policy.objects.select_for_update().filter(pk__in=ids)}
    return policies[rollout.candidate_id], policies.get(rollout.baseline_id)


def _smoke(policy: Policy) -> dict:
    from rollout.smoke import smoke_run

    return smoke_run(policy=policy)


def _record_experiment(policy: Policy, *, user=None, **fields) -> None:
    if policy.training_run_id is None:
        return
    from training.services import experiment_record_rollout

    experiment_record_rollout(run=policy.training_run, user=user, **fields)


def rollout_start_shadow(*, candidate: Policy, user=None, reason: str = "") -> Rollout:
    """Start shadowing the active policy of the candidate's modality with `candidate`."""
    if candidate.status != PolicyStatus.CANDIDATE:
        raise ApplicationError(f"{candidate.model_id} is {candidate.status}, not a candidate: cannot start a shadow")
    smoke = _smoke(candidate)
    with transaction.atomic():
        candidate = Policy.objects.select_for_update().get(pk=candidate.pk)
        if candidate.status != PolicyStatus.CANDIDATE:
            raise ApplicationError(
                f"{candidate.model_id} is {candidate.status}, not a candidate: cannot start a shadow"
            )
        running = Rollout.objects.filter(modality=candidate.modality, state__in=RUNNING_STATES).first()
        if running is not None:
            raise ApplicationError(
                f"rollout {running.pk} ({running.candidate.model_id}, {running.state}) is already running for "
                f"{candidate.modality}: promote or roll it back first"
            )
        baseline = Policy.objects.filter(modality=candidate.modality, status=PolicyStatus.ACTIVE).first()
        if baseline is None:
            raise ApplicationError(f"no active policy for {candidate.modality} to compare the candidate with")
        rollout = Rollout(
            modality=candidate.modality,
            candidate=candidate,
            baseline=baseline,
            state=RolloutState.SHADOW,
            traffic_percent=0.0,
            salt=secrets.token_hex(8),
            gate={"smoke": {"shadow": smoke}},
        )
        history_set(rollout, user=user, reason=_why(reason or "shadow started"))
        try:
            with transaction.atomic():
                rollout.save()
        except IntegrityError:
            raise ApplicationError(f"another rollout started for {candidate.modality} at the same time") from None
        _set_status(candidate, PolicyStatus.SHADOW, user=user, reason=f"shadow in rollout {rollout.pk}")
        _record_experiment(candidate, user=user, started_at=rollout.started_at)
    return rollout


def _check_percent(percent: float) -> float:
    try:
        percent = float(percent)
    except (TypeError, ValueError):
        raise ValidationError({"percent": f"must be a number, got {percent!r}"}) from None
    if not 0 < percent <= settings.ROLLOUT_CANARY_MAX_PERCENT:
        raise ValidationError({"percent": f"must be in (0, {settings.ROLLOUT_CANARY_MAX_PERCENT:g}], got {percent:g}"})
    return percent


def rollout_start_canary(*, rollout: Rollout, percent: float | None = None, user=None, reason: str = "") -> Rollout:
    """Send `percent` of conversations to the candidate — only if the offline gate passes (also ramps a canary)."""
    from rollout.gate import gate_evaluate, gate_record

    percent = _check_percent(settings.ROLLOUT_CANARY_PERCENT if percent is None else percent)
    if rollout.state not in RUNNING_STATES:
        raise ApplicationError(f"rollout {rollout.pk} is {rollout.state}: only a shadow or canary can go to canary")
    gate = gate_evaluate(policy=rollout.candidate, baseline=rollout.baseline)
    gate_record(policy=rollout.candidate, gate=gate, user=user)
    if not gate["passed"]:
        with transaction.atomic():
            locked = _locked(rollout)
            locked.gate = {**locked.gate, **gate}
            history_set(locked, user=user, reason=_why("gate failed"))
            locked.save()
        raise ApplicationError(
            f"gate failed for {rollout.candidate.model_id}: {'; '.join(gate['reasons'])}", extra={"gate": gate}
        )
    smoke = _smoke(rollout.candidate)
    with transaction.atomic():
        rollout = _locked(rollout)
        if rollout.state not in RUNNING_STATES:
            raise ApplicationError(f"rollout {rollout.pk} is {rollout.state}: only a shadow or canary can go to canary")
        candidate, _ = _policies_locked(rollout)
        previous = rollout.state
        rollout.state = RolloutState.CANARY
        rollout.traffic_percent = percent
        rollout.gate = {**gate, "smoke": {**rollout.gate.get("smoke", {}), "canary": smoke}}
        history_set(rollout, user=user, reason=_why(reason or f"canary at {percent:g}% (from {previous})"))
        rollout.save()
        if candidate.status != PolicyStatus.CANARY:
            _set_status(candidate, PolicyStatus.CANARY, user=user, reason=f"canary in rollout {rollout.pk}")
    return rollout


def _promotion_allowed(rollout: Rollout, *, user, reason: str, override: bool) -> dict:
    """The promotion rule's decision; not ready → 409 with every reason, unless overridden by a user
    holding rollout.override_promotion who says why (audited on the rollout and notified)."""
    from rollout.guard import rollout_promotion_decision

    decision = rollout_promotion_decision(rollout=rollout)
    if decision["ready"]:
        return decision
    if not override:
        _record_refusal(rollout, decision, user=user)
        raise ApplicationError(
            "not enough evidence to promote: " + "; ".join(decision["reasons"]),
            extra={"reasons": decision["reasons"], "numbers": decision["numbers"]},
        )
    if not (reason or "").strip():
        raise ValidationError({"reason": "an override of the promotion rule needs a reason"})
    if user is None or not user.has_perm("rollout.override_promotion"):
        raise ApplicationError(
            "overriding the promotion rule needs the rollout.override_promotion permission", status=403
        )
    return {**decision, "override": {"by": user.get_username(), "reason": reason, "at": timezone.now().isoformat()}}


def _record_refusal(rollout: Rollout, decision: dict, *, user) -> None:
    """A refused promotion is recorded too (rollout and experiment), so the registry shows why."""
    with transaction.atomic():
        locked = _locked(rollout)
        locked.gate = {**locked.gate, "promotion": decision}
        history_set(locked, user=user, reason=_why("promotion refused: " + "; ".join(decision["reasons"])))
        locked.save()
        _record_experiment(locked.candidate, user=user, promotion=decision)


def _notify_override(rollout: Rollout, decision: dict) -> None:
    from alerts.services import notification_send

    override = decision["override"]
    notification_send(
        kind="promotion_override",
        subject=f"{rollout.candidate.model_id} promoted by {override['by']} without the evidence the rule asks",
        body=f"Reason given: {override['reason']}\nRule said: " + "; ".join(decision["reasons"]),
        link="/rollouts/",
        payload={"rollout_id": rollout.pk, "numbers": decision["numbers"]},
    )


def rollout_promote(*, rollout: Rollout, user=None, reason: str = "", override: bool = False) -> Rollout:
    """Make the canary candidate the active policy; the baseline retires.

    Only when rollout.guard.rollout_promotion_decision says ready, or with `override` (permission
    rollout.override_promotion and a reason). The decision and its numbers are recorded on the
    rollout (gate["promotion"]) and the experiment either way they go."""
    if rollout.state != RolloutState.CANARY:
        raise ApplicationError(f"rollout {rollout.pk} is {rollout.state}: only a canary can be promoted")
    decision = _promotion_allowed(rollout, user=user, reason=reason, override=override)
    smoke = _smoke(rollout.candidate)
    with transaction.atomic():
        rollout = _locked(rollout)
        if rollout.state != RolloutState.CANARY:
            raise ApplicationError(f"rollout {rollout.pk} is {rollout.state}: only a canary can be promoted")
        candidate, baseline = _policies_locked(rollout)
        if baseline is not None and baseline.status == PolicyStatus.ACTIVE:
            # The single-active constraint needs the old policy out before the new one is in.
            _set_status(baseline, PolicyStatus.RETIRED, user=user, reason=f"replaced by {candidate.model_id}")
        _set_status(candidate, PolicyStatus.ACTIVE, user=user, reason=f"promoted in rollout {rollout.pk}")
        rollout.state = RolloutState.ACTIVE
        rollout.traffic_percent = 100.0
        rollout.ended_at = timezone.now()
        smoke_steps = {**rollout.gate.get("smoke", {}), "promote": smoke}
        rollout.gate = {**rollout.gate, "smoke": smoke_steps, "promotion": decision}
        why = f"promotion override: {reason}" if decision.get("override") else (reason or "promoted to active")
        history_set(rollout, user=user, reason=_why(why))
        rollout.save()
        _record_experiment(candidate, user=user, ended_at=rollout.ended_at, promotion=decision)
        if decision.get("override"):
            _notify_override(rollout, decision)
    return rollout


@transaction.atomic
def rollout_rollback(*, rollout: Rollout, reason: str, user=None, automatic: bool = False) -> Rollout:
    """One action: rollout rolled back, candidate rolled back, baseline active again, traces quarantined,
    experiment told — all in one transaction, so a failure anywhere leaves everything as it was."""
    from traces.services import traces_quarantine

    if not (reason or "").strip():
        raise ValidationError({"reason": "say why the rollout is rolled back"})
    rollout = _locked(rollout)
    if rollout.state == RolloutState.ROLLED_BACK:
        raise ApplicationError(f"rollout {rollout.pk} is already rolled back ({rollout.rollback_reason})")
    if rollout.state == RolloutState.ACTIVE:
        running = Rollout.objects.filter(modality=rollout.modality, state__in=RUNNING_STATES).exclude(pk=rollout.pk)
        if running.exists():
            raise ApplicationError(
                f"rollout {running.first().pk} is running for {rollout.modality}: roll that back first"
            )
    candidate, baseline = _policies_locked(rollout)
    rollout.state = RolloutState.ROLLED_BACK
    rollout.traffic_percent = 0.0
    rollout.ended_at = timezone.now()
    rollout.rollback_reason = reason
    rollout.rolled_back_by = user if getattr(user, "pk", None) else None
    rollout.automatic_rollback = automatic
    _set_status(candidate, PolicyStatus.ROLLED_BACK, user=user, reason=f"rolled back in rollout {rollout.pk}")
    if baseline is not None and baseline.status != PolicyStatus.ACTIVE:
        _set_status(baseline, PolicyStatus.ACTIVE, user=user, reason=f"restored by rollback of rollout {rollout.pk}")
    # Agents tag traces with the model id or the policy's id: quarantine both spellings.
    note = f"rollout {rollout.pk} rolled back: {reason}"[:300]
    quarantined = traces_quarantine(policy_id=candidate.model_id, reason=note, user=user)
    quarantined += traces_quarantine(policy_id=str(candidate.pk), reason=note, user=user)
    rollout.gate = {**rollout.gate, "quarantined_traces": quarantined}
    history_set(rollout, user=user, reason=_why(f"{'automatic ' if automatic else ''}rollback: {reason}"))
    rollout.save()
    _record_experiment(candidate, user=user, ended_at=rollout.ended_at, rollback_reason=reason)
    _notify_rollback(rollout, candidate, baseline, automatic=automatic, user=user)
    return rollout


def _notify_rollback(rollout: Rollout, candidate: Policy, baseline: Policy | None, *, automatic: bool, user) -> None:
    from alerts.services import notification_send

    who = "automatically" if automatic else f"by {getattr(user, 'username', None) or 'an operator'}"
    notification_send(
        kind="rollback",
        subject=f"{candidate.model_id} rolled back {who} ({rollout.modality})",
        body=f"{rollout.rollback_reason}\n\nNow serving: {baseline.model_id if baseline else 'no policy'}",
        link="/rollouts/",
        payload={"rollout_id": rollout.pk, "candidate": candidate.model_id, "automatic": automatic},
    )


@transaction.atomic
def policy_release_traces(*, policy: Policy, user=None) -> int:
    """A reviewer releases a rolled-back policy's quarantined traces back to training (both id spellings)."""
    from traces.services import traces_release

    released = traces_release(policy_id=policy.model_id, user=user)
    released += traces_release(policy_id=str(policy.pk), user=user)
    return released
