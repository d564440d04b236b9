"""Writes for the traces app. Every state change goes through one function here."""

import json

from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.db.models import JSONField
from django.utils import timezone

from privacy.secrets import secrets_may_contain, secrets_redact_fields, secrets_redact_json, secrets_redact_text
from traces.models import Agent, Modality, Trace, TraceStatus
from traces.serializers import ENCODED_JSON
from traces.tokens import token_generate, token_hash
from zeke_rft.history import history_set


@transaction.atomic
def agent_create(*, name: str, modality: str = Modality.CHAT, user=None, reason: str = "created") -> tuple[Agent, str]:
    """Create an agent and return it with its token (shown once, stored only as a hash)."""
    _agent_check(name=name, modality=modality)
    token = token_generate()
    agent = Agent(name=name, modality=modality, token_hash=token_hash(token), token_prefix=token[:10])
    agent.full_clean(exclude=["token_hash", "token_prefix"], validate_unique=False)  # _agent_check names a clash
    history_set(agent, user=user, reason=reason)
    try:
        with transaction.atomic():
            agent.save()
    except IntegrityError:  # another request created the same name between the check and this insert
        raise ValidationError({"name": f"an agent named {name!r} already exists"}) from None
    return agent, token


@transaction.atomic
def agent_update(*, agent: Agent, name: str, modality: str, active: bool, user=None, reason: str = "") -> Agent:
    """Rename, change the modality of, or (de)activate an agent; the history says who, what and why."""
    stored = Agent.objects.select_for_update().get(pk=agent.pk)
    _agent_check(name=name, modality=modality, exclude_pk=stored.pk)
    changes = [
        f"{field} {getattr(stored, field)!r} → {value!r}"
        for field, value in (("name", name), ("modality", modality), ("active", active))
        if getattr(stored, field) != value
    ]
    if not changes:
        return stored
    stored.name, stored.modality, stored.active = name, modality, active
    stored.full_clean(exclude=["token_hash", "token_prefix"])
    history_set(
        stored, user=user, reason="; ".join([*changes, reason.strip()]) if reason.strip() else "; ".join(changes)
    )
    stored.save()
    return stored


def _agent_check(*, name: str, modality: str, exclude_pk: int | None = None) -> None:
    if modality not in Modality.values:
        raise ValidationError({"modality": f"must be one of {', '.join(Modality.values)}, got {modality!r}"})
    if Agent.objects.filter(name=name).exclude(pk=exclude_pk).exists():
        raise ValidationError({"name": f"an agent named {name!r} already exists"})


@transaction.atomic
def agent_rotate_token(*, agent: Agent, user=None, reason: str = "token rotated") -> str:
    """Issue a new token; the old one stops working at once."""
    token = token_generate()
    agent.token_hash = token_hash(token)
    agent.token_prefix = token[:10]
    agent.token_revoked = False
    agent.token_rotated_at = timezone.now()
    history_set(agent, user=user, reason=reason)
    agent.save()
    return token


@transaction.atomic
def agent_revoke_token(*, agent: Agent, user=None, reason: str = "token revoked") -> None:
    """The agent's token stops working at once (401) until an admin rotates it."""
    agent.token_revoked = True
    history_set(agent, user=user, reason=reason)
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

_INPUT_FIELDS = (
    "external_id", "conversation_id", "user_message", "context", "selected_tools", "tool_calls", "final_response",
    "latency_ms", "flags", "policy_id", "rollout_id", "arm", "task_category", "occurred_at", "extra",
)  # fmt: skip


def _redactable(values: dict) -> dict:
    """Every text and JSON value of a trace: secrets are looked for in all of them (keys and tool names too)."""
    return {name: value for name, value in values.items() if isinstance(value, str | list | dict)}


def _trace_values(*, agent: Agent, data: dict) -> tuple[dict, dict, int]:
    """Field values for one checked trace, secrets redacted: (values, JSON already encoded, secrets found).

    `data` may carry the JSON encodings its check made (ENCODED_JSON); a trace with
    no secret trigger anywhere reuses them and costs one pre-check.
    """
    values = {name: data[name] for name in _INPUT_FIELDS if name in data}
    values.setdefault("extra", {})
    encoded = dict(data.get(ENCODED_JSON) or {})
    for name in ("context", "tool_calls", "extra"):
        if name not in encoded and values.get(name):
            encoded[name] = json.dumps(values[name], ensure_ascii=False)
    secrets_found = 0
    redactable = _redactable(values)
    blob = "\n".join(
        value if isinstance(value, str) else encoded.get(name) or json.dumps(value, ensure_ascii=False, default=str)
        for name, value in redactable.items()
    )
    if secrets_may_contain(blob):
        redacted, secrets_found = secrets_redact_fields(redactable)
        if secrets_found:
            changed = {name for name, value in redacted.items() if value != values[name]}
            values.update(redacted)
            encoded = {name: text for name, text in encoded.items() if name not in changed}
    values.update(
        agent_id=agent.pk, modality=agent.modality, secrets_redacted=secrets_found, status=TraceStatus.RECEIVED
    )
    return values, encoded, secrets_found


def _external_id_redacted(data: dict) -> dict:
    """The idempotency key without secrets, before it is used as a key: the same raw id gives the same key."""
    external_id = data["external_id"]
    if not secrets_may_contain(external_id):
        return data
    return {**data, "external_id": secrets_redact_text(external_id)[0]}


def traces_ingest(*, agent: Agent, traces: list[dict]) -> list[dict]:
    """Store checked traces for `agent` (secrets redacted first); answer each with its status and trace id.

    `external_id` is the idempotency key per agent: a trace already stored (earlier,
    earlier in this batch, or by a request racing this one) is not stored again and
    answers "duplicate" with the existing id. The unique constraint decides races:
    the insert skips conflicting rows and ids are read back by external_id, so
    every answer for one external_id carries the same id.
    """
    traces = [_external_id_redacted(data) for data in traces]
    first_by_external_id: dict[str, int] = {}
    for index, data in enumerate(traces):
        first_by_external_id.setdefault(data["external_id"], index)
    # PostgreSQL's insert answers which rows are new (RETURNING), so it needs no read first.
    stored_ids = (
        {}
        if connection.vendor == "postgresql"
        else _trace_ids_by_external_id(agent=agent, external_ids=list(first_by_external_id))
    )
    prepared, secrets_by_external_id = [], {}
    for external_id, index in first_by_external_id.items():
        if external_id not in stored_ids:
            values, encoded, secrets_found = _trace_values(agent=agent, data=traces[index])
            prepared.append((values, encoded))
            secrets_by_external_id[external_id] = secrets_found
    inserted = _traces_insert(agent=agent, prepared=prepared) if prepared else {}
    stored_ids.update(inserted)
    others = [external_id for external_id in secrets_by_external_id if external_id not in inserted]
    if others:  # already stored, or stored by a concurrent request just now
        stored_ids.update(_trace_ids_by_external_id(agent=agent, external_ids=others))
    if missing := set(first_by_external_id).difference(stored_ids):
        # SQLite's INSERT OR IGNORE also skips rows that fail a CHECK (JSON_VALID): the shape check let one through.
        raise RuntimeError(f"traces neither stored nor found after insert: {sorted(missing)[:5]}")
    results = []
    for index, data in enumerate(traces):
        external_id = data["external_id"]
        accepted = external_id in inserted and first_by_external_id[external_id] == index
        result = {"status": "accepted" if accepted else "duplicate", "id": stored_ids[external_id]}
        if accepted:
            result["secrets_redacted"] = secrets_by_external_id[external_id]
        results.append(result)
    return results


def _trace_ids_by_external_id(*, agent: Agent, external_ids: list[str]) -> dict[str, int]:
    return dict(
        Trace.objects.filter(agent=agent, external_id__in=external_ids).values_list("external_id", "id").order_by()
    )


def _traces_insert(*, agent: Agent, prepared: list[tuple[dict, dict]]) -> dict[str, int]:
    """Insert, skipping rows whose (agent, external_id) exists; return external_id → id of those inserted."""
    if connection.vendor == "postgresql":
        return _traces_insert_copy(prepared)
    Trace.objects.bulk_create([Trace(**values) for values, _encoded in prepared], ignore_conflicts=True)
    # No RETURNING for skipped conflicts here: a row another request inserted between our read
    # and this insert counts as ours. It is still stored once, under one id (SQLite serialises
    # writers, so this window is small).
    external_ids = [values["external_id"] for values, _encoded in prepared]
    return _trace_ids_by_external_id(agent=agent, external_ids=external_ids)


_COPY_FIELDS = [field for field in Trace._meta.concrete_fields if not field.primary_key]


def _copy_defaults() -> dict:
    """Column values for what a posted trace does not set: model defaults, and now for auto_now(_add) fields."""
    now = timezone.now()
    defaults = {}
    for field in _COPY_FIELDS:
        value = field.get_default()
        if getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False):
            value = now
        elif isinstance(field, JSONField):
            value = None if value is None else json.dumps(value)
        defaults[field.attname] = value
    return defaults


def _traces_insert_copy(prepared: list[tuple[dict, dict]]) -> dict[str, int]:
    """PostgreSQL: COPY into a temporary table, then one INSERT … ON CONFLICT DO NOTHING RETURNING.

    Django's bulk_create spends most of a 500-trace batch adapting parameters in
    Python; COPY streams the rows, and RETURNING tells exactly which rows were new.
    """
    defaults = _copy_defaults()
    json_fields = {field.attname for field in _COPY_FIELDS if isinstance(field, JSONField)}
    attnames = [field.attname for field in _COPY_FIELDS]
    columns = ", ".join(connection.ops.quote_name(field.column) for field in _COPY_FIELDS)
    with transaction.atomic(), connection.cursor() as cursor:
        # Inside an outer transaction (tests, a caller's atomic) ON COMMIT DROP waits for the outer commit.
        cursor.execute("DROP TABLE IF EXISTS pg_temp.trace_ingest")
        cursor.execute(f"CREATE TEMP TABLE trace_ingest ON COMMIT DROP AS SELECT {columns} FROM traces_trace LIMIT 0")
        with cursor.cursor.copy(f"COPY trace_ingest ({columns}) FROM STDIN") as copy:
            for values, encoded in prepared:
                row = {**defaults, **values, **encoded}
                for name in json_fields.difference(encoded).intersection(values):
                    row[name] = json.dumps(values[name], ensure_ascii=False)
                copy.write_row([row[name] for name in attnames])
        cursor.execute(
            f"INSERT INTO traces_trace ({columns}) SELECT {columns} FROM trace_ingest "
            "ON CONFLICT (agent_id, external_id) DO NOTHING RETURNING external_id, id"
        )
        return dict(cursor.fetchall())


# --- OTLP spans waiting for their turn -------------------------------------------


def otel_pending_load(*, agent: Agent, trace_ids: set[str]) -> list:
    """Spans kept from earlier exports of these traces (traces.otlp.Span objects)."""
    from traces.models import OtelPendingSpan
    from traces.otlp import otlp_span_from_json

    rows = OtelPendingSpan.objects.filter(agent=agent, trace_id__in=trace_ids).order_by("id")
    return [otlp_span_from_json(row.span) for row in rows]


def otel_pending_save(*, agent: Agent, keep: list[dict], consumed: list[tuple[str, str]]) -> None:
    """Keep GenAI spans whose turn has not arrived (secrets redacted first); drop those a turn has taken."""
    from traces.models import OtelPendingSpan

    rows = []
    for span in keep:
        attributes, _found = secrets_redact_json(span["attributes"])
        events, _found = secrets_redact_json(span["events"])
        span = {**span, "attributes": attributes, "events": events}
        rows.append(OtelPendingSpan(agent=agent, trace_id=span["trace_id"], span_id=span["span_id"], span=span))
    OtelPendingSpan.objects.bulk_create(rows, ignore_conflicts=True)
    by_trace: dict[str, list[str]] = {}
    for trace_id, span_id in consumed:
        by_trace.setdefault(trace_id, []).append(span_id)
    for trace_id, span_ids in by_trace.items():
        OtelPendingSpan.objects.filter(agent=agent, trace_id=trace_id, span_id__in=span_ids).delete()


# --- Forgetting on request ------------------------------------------------------


@transaction.atomic
def traces_forget(*, trace_ids: list[int], match_text: str | None = None) -> dict[str, int]:
    """Delete these traces, the OTLP spans still waiting that hold the same conversation or text, and
    rewrite the Parquet partitions that held them. Labeling's rows must be gone first (labels_forget)."""
    from traces.models import OtelPendingSpan, PartitionExport
    from traces.partitions import partition_export

    traces = Trace.objects.filter(pk__in=trace_ids)
    days = {timezone.localtime(when).date() for when in traces.values_list("occurred_at", flat=True)}
    needles = [value.casefold() for value in [match_text, *traces.values_list("conversation_id", flat=True)] if value]
    pending = [
        row.pk
        for row in OtelPendingSpan.objects.all().iterator()
        if any(needle in json.dumps(row.span, ensure_ascii=False).casefold() for needle in needles)
    ]
    counts = {
        "traces": traces.delete()[0],
        "otel_pending_spans": OtelPendingSpan.objects.filter(pk__in=pending).delete()[0],
    }
    exported = PartitionExport.objects.filter(day__in=days).values_list("day", flat=True)
    for day in sorted(exported):
        partition_export(day=day)
    counts["partitions_rewritten"] = len(exported)
    return counts


def forget_request_record(*, selector: str, value: str, counts: dict, reason: str = "", user=None, name: str = ""):
    """Record a deletion (who, when, what kind, how many) without the deleted content."""
    import hashlib

    from traces.models import ForgetRequest

    return ForgetRequest.objects.create(
        requested_by=user if getattr(user, "pk", None) else None,
        requested_by_name=name or getattr(user, "username", "") or "",
        selector=selector,
        value_sha256=hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest(),
        reason=reason[:300],
        counts=counts,
    )
