"""Writes for the traces app. Every state change goes through one function here."""

from django.db import transaction
from django.utils import timezone

from traces.models import Agent, Modality
from traces.tokens import token_generate, token_hash
from zeke_rft.history import history_set


@transaction.atomic
def agent_create(*, name: str, modality: str = Modality.CHAT, user=None) -> tuple[Agent, str]:
    """Create an agent and return it with its token (shown once, stored only as a hash)."""
    from django.core.exceptions import ValidationError

    if modality not in Modality.values:
        raise ValidationError({"modality": f"must be one of {', '.join(Modality.values)}, got {modality!r}"})
    if Agent.objects.filter(name=name).exists():
        raise ValidationError({"name": f"an agent named {name!r} already exists"})
    token = token_generate()
    agent = Agent(name=name, modality=modality, token_hash=token_hash(token), token_prefix=token[:10])
    agent.full_clean(exclude=["token_hash", "token_prefix"])
    history_set(agent, user=user, reason="created")
    agent.save()
    return agent, token


@transaction.atomic
def agent_rotate_token(*, agent: Agent, user=None) -> str:
    """Issue a new token; the old one stops working at once."""
    token = token_generate()
    agent.token_hash = token_hash(token)
    agent.token_prefix = token[:10]
    agent.token_revoked = False
    agent.token_rotated_at = timezone.now()
    history_set(agent, user=user, reason="token rotated")
    agent.save()
    return token


@transaction.atomic
def agent_revoke_token(*, agent: Agent, user=None) -> None:
    agent.token_revoked = True
    history_set(agent, user=user, reason="token revoked")
    agent.save()


@transaction.atomic
def traces_quarantine(*, policy_id: str, reason: str, user=None) -> int:
    """Quarantine every trace answered by `policy_id` (called by rollout on rollback); returns how many."""
    from traces.models import Trace

    return Trace.objects.filter(policy_id=policy_id, quarantined=False).update(
        quarantined=True, quarantine_reason=reason
    )


@transaction.atomic
def traces_release(*, policy_id: str, user=None) -> int:
    """A reviewer releases a rolled-back policy's traces back to training; returns how many."""
    from traces.models import Trace

    return Trace.objects.filter(policy_id=policy_id, quarantined=True).update(quarantined=False, quarantine_reason="")
