from rollout.models import Policy, PolicyStatus


def policy_active_by_modality() -> dict[str, dict]:
    """modality → {"model", "policy_id"} of the active policy; empty until a rollout promotes one."""
    return {
        policy.modality: {"model": policy.model_id, "policy_id": policy.pk}
        for policy in Policy.objects.filter(status=PolicyStatus.ACTIVE)
    }
