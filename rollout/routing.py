"""Sticky arm assignment: bucket = sha256(salt:conversation_id) mapped to [0, 100)."""

import hashlib

from django.core.exceptions import ValidationError

from rollout.models import Policy, PolicyStatus, Rollout, RolloutState
from traces.models import Modality, Trace
from zeke_rft.errors import ApplicationError

CONVERSATION_ID_MAX_LENGTH = Trace._meta.get_field("conversation_id").max_length


def arm_bucket(*, salt: str, conversation_id: str) -> float:
    """A stable number in [0, 100) for a conversation within one rollout (new salt = new assignment)."""
    digest = hashlib.sha256(f"{salt}:{conversation_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 * 100


def policy_route(*, modality: str, conversation_id: str) -> dict:
    """Which model answers this conversation: {model, policy_id, rollout_id, arm, config}
    (+ shadow_model, shadow_policy_id, shadow_config in shadow mode)."""
    if modality not in Modality.values:
        raise ValidationError({"modality": f"must be one of {', '.join(Modality.values)}, got {modality!r}"})
    if len(conversation_id) > CONVERSATION_ID_MAX_LENGTH:
        # The same limit as traces.Trace.conversation_id: an id the agent could not tag its traces with.
        raise ValidationError(
            {"conversation_id": f"at most {CONVERSATION_ID_MAX_LENGTH} characters, got {len(conversation_id)}"}
        )
    rollout = (
        Rollout.objects.filter(modality=modality, state__in=[RolloutState.SHADOW, RolloutState.CANARY])
        .select_related("candidate", "baseline")
        .first()
    )
    if rollout is not None and rollout.baseline is not None:
        baseline = rollout.baseline
    else:
        baseline = Policy.objects.filter(modality=modality, status=PolicyStatus.ACTIVE).first()
    if baseline is None:
        raise ApplicationError(
            f"no active policy for modality {modality!r}: promote one (admin → Policies) before agents ask",
            status=404,
        )
    answer = {
        "model": baseline.model_id,
        "policy_id": baseline.pk,
        "rollout_id": None,
        "arm": "baseline",
        "config": baseline.config,
    }
    answer |= _served_by(baseline)
    if rollout is None:
        return answer
    answer["rollout_id"] = rollout.pk
    if rollout.state == RolloutState.SHADOW:
        answer["shadow_model"] = rollout.candidate.model_id
        answer["shadow_policy_id"] = rollout.candidate.pk
        answer["shadow_config"] = rollout.candidate.config
        answer |= _served_by(rollout.candidate, prefix="shadow_")
    elif arm_bucket(salt=rollout.salt, conversation_id=conversation_id) < rollout.traffic_percent:
        answer.pop("base_url", None)
        answer.update(
            model=rollout.candidate.model_id,
            policy_id=rollout.candidate.pk,
            arm="candidate",
            config=rollout.candidate.config,
        )
        answer |= _served_by(rollout.candidate)
    return answer


def _served_by(policy: Policy, *, prefix: str = "") -> dict:
    """`base_url` of the OpenAI-compatible server of a self-served policy (absent: the agent's usual endpoint)."""
    base_url = (policy.config or {}).get("base_url")
    return {f"{prefix}base_url": base_url} if base_url else {}
