"""Writes for the rollout app. The first functions are the contract training calls."""

from django.db import transaction

from rollout.models import Policy, PolicyStatus
from zeke_rft.history import history_set


@transaction.atomic
def policy_register_candidate(*, model_id: str, modality: str, training_run=None, user=None, parent=None) -> Policy:
    """Register a fine-tuned model as a candidate policy. Safe to call twice: one row per (model_id, modality)."""
    existing = Policy.objects.select_for_update().filter(model_id=model_id, modality=modality).first()
    if existing is not None:
        return existing
    if parent is None:
        parent = Policy.objects.filter(modality=modality, status=PolicyStatus.ACTIVE).first()
    policy = Policy(
        model_id=model_id, modality=modality, training_run=training_run, parent=parent, status=PolicyStatus.CANDIDATE
    )
    history_set(policy, user=user, reason=f"candidate from training run {getattr(training_run, 'pk', None)}")
    policy.save()
    return policy
