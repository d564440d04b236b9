"""Writes for the traces app. Every state change goes through one function here."""

from django.db import transaction
from django.utils import timezone

from traces.models import Agent, Modality, Trace, TraceStatus
from traces.secrets import secrets_redact_fields
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


# --- Ingestion ----------------------------------------------------------------

REDACTED_FIELDS = ("user_message", "final_response", "context", "tool_calls")


def _trace_build(*, agent: Agent, data: dict) -> tuple[Trace, int]:
    """An unsaved Trace from checked input, its text secret-redacted; and how many secrets were replaced."""
    redacted, secrets_found = secrets_redact_fields({name: data[name] for name in REDACTED_FIELDS})
    trace = Trace(
        agent=agent,
        modality=agent.modality,
        external_id=data["external_id"],
        conversation_id=data["conversation_id"],
        user_message=redacted["user_message"],
        context=redacted["context"],
        selected_tools=data["selected_tools"],
        tool_calls=redacted["tool_calls"],
        final_response=redacted["final_response"],
        latency_ms=data["latency_ms"],
        flags=data["flags"],
        policy_id=data["policy_id"],
        rollout_id=data["rollout_id"],
        arm=data["arm"],
        task_category=data["task_category"],
        occurred_at=data["occurred_at"],
        secrets_redacted=secrets_found,
        status=TraceStatus.RECEIVED,
    )
    return trace, secrets_found


def traces_ingest(*, agent: Agent, traces: list[dict]) -> list[dict]:
    """Store checked traces for `agent` (secrets redacted first); answer each with its status and trace id.

    `external_id` is the idempotency key per agent: a trace already stored (earlier,
    earlier in this batch, or by a request racing this one) is not stored again and
    answers "duplicate" with the existing id. The unique constraint decides races:
    the insert skips conflicting rows, and ids are read back by external_id, so
    every answer for one external_id carries the same id. A trace whose insert a
    racing request won may still answer "accepted"; it is stored exactly once.
    """
    first_by_external_id: dict[str, int] = {}
    for index, data in enumerate(traces):
        first_by_external_id.setdefault(data["external_id"], index)
    stored_ids = _trace_ids_by_external_id(agent=agent, external_ids=list(first_by_external_id))
    new_traces, secrets_by_external_id = [], {}
    for external_id, index in first_by_external_id.items():
        if external_id not in stored_ids:
            trace, secrets_found = _trace_build(agent=agent, data=traces[index])
            new_traces.append(trace)
            secrets_by_external_id[external_id] = secrets_found
    if new_traces:
        Trace.objects.bulk_create(new_traces, ignore_conflicts=True)
        stored_ids.update(_trace_ids_by_external_id(agent=agent, external_ids=list(secrets_by_external_id)))
    results = []
    for index, data in enumerate(traces):
        external_id = data["external_id"]
        accepted = external_id in secrets_by_external_id and first_by_external_id[external_id] == index
        result = {"status": "accepted" if accepted else "duplicate", "id": stored_ids[external_id]}
        if accepted:
            result["secrets_redacted"] = secrets_by_external_id[external_id]
        results.append(result)
    return results


def _trace_ids_by_external_id(*, agent: Agent, external_ids: list[str]) -> dict[str, int]:
    return dict(
        Trace.objects.filter(agent=agent, external_id__in=external_ids).values_list("external_id", "id").order_by()
    )
