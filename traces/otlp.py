"""OpenTelemetry GenAI spans → traces.

An OTLP export (protobuf or JSON, decoded here into one dict shape: OTLP/JSON's
lowerCamelCase keys, hex ids) holds spans of any number of traces. One agent turn
becomes one trace: an `invoke_agent` span with no `invoke_agent` above it, or else
a `chat` span with no GenAI span above it. Within a turn:

- `gen_ai.conversation.id` (on the turn or any span under it) → conversation_id
  (the OTel trace id when none is given);
- the input and output messages → user_message and final_response: semantic
  conventions v1.37+ (`gen_ai.input.messages` / `gen_ai.output.messages`, JSON
  parts) or the older `gen_ai.prompt` / `gen_ai.completion` (a string, JSON, or
  indexed `gen_ai.prompt.N.role/content` as OpenLLMetry writes them), or the
  v1.28–1.36 events (`gen_ai.user.message`, `gen_ai.choice`); read on the turn span,
  else on the first (input) and last (output) `chat` span under it;
- `execute_tool` spans → tool calls (`gen_ai.tool.name`, `gen_ai.tool.call.arguments`,
  `.result`, `.id`; an error status or `error.type` → the call's error; duration);
- an error status on the turn → flag `error` (`error:<error.type>` when typed),
  a failed tool → flag `tool_error`;
- the model (`gen_ai.response.model`, else `gen_ai.request.model`) → policy_id;
- `external_id` is `otel:<trace id>:<span id>`, so a re-sent export stores nothing twice.
"""

import base64
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime

from django.db import transaction

STATUS_ERROR = 2
TURN_OPERATIONS = ("invoke_agent", "chat")


@dataclass
class Span:
    trace_id: str
    span_id: str
    parent_id: str
    name: str
    start_ns: int
    end_ns: int
    attributes: dict
    status_code: int
    status_message: str
    events: list
    resource: dict
    children: list = field(default_factory=list)

    @property
    def operation(self) -> str:
        return str(self.attributes.get("gen_ai.operation.name") or "")

    @property
    def duration_ms(self) -> int:
        return max(0, (self.end_ns - self.start_ns) // 1_000_000)


@dataclass
class Turn:
    """One agent turn: the trace fields built from it, or why it was not."""

    root: Span
    members: list
    span_count: int  # of this export's spans


# --- decoding ------------------------------------------------------------------


def otlp_decode_protobuf(body: bytes) -> dict:
    """An ExportTraceServiceRequest in protobuf → the OTLP/JSON dict shape (hex ids). Raises ValueError."""
    from google.protobuf.json_format import MessageToDict
    from google.protobuf.message import DecodeError
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    request = ExportTraceServiceRequest()
    try:
        request.ParseFromString(body)
    except DecodeError as exc:
        raise ValueError(f"not an OTLP ExportTraceServiceRequest: {exc}") from None
    data = MessageToDict(request, use_integers_for_enums=True)
    for resource_spans in data.get("resourceSpans", []):
        for scope_spans in resource_spans.get("scopeSpans", []):
            for span in scope_spans.get("spans", []):
                for key in ("traceId", "spanId", "parentSpanId"):
                    if span.get(key):
                        span[key] = base64.b64decode(span[key]).hex()
    return data


def _attribute_value(value: dict):
    if not isinstance(value, dict):
        return None
    if "stringValue" in value:
        return value["stringValue"]
    if "boolValue" in value:
        return bool(value["boolValue"])
    if "intValue" in value:
        return int(value["intValue"])
    if "doubleValue" in value:
        return float(value["doubleValue"])
    if "arrayValue" in value:
        return [_attribute_value(item) for item in (value["arrayValue"] or {}).get("values", [])]
    if "kvlistValue" in value:
        return _attributes((value["kvlistValue"] or {}).get("values", []))
    if "bytesValue" in value:
        return value["bytesValue"]
    return None


def _attributes(items) -> dict:
    if not isinstance(items, list):
        return {}
    return {
        item["key"]: _attribute_value(item.get("value")) for item in items if isinstance(item, dict) and "key" in item
    }


def _span(raw: dict, resource: dict) -> Span:
    status = raw.get("status") or {}
    code = status.get("code", 0)
    return Span(
        trace_id=str(raw.get("traceId") or "").lower(),
        span_id=str(raw.get("spanId") or "").lower(),
        parent_id=str(raw.get("parentSpanId") or "").lower(),
        name=str(raw.get("name") or ""),
        start_ns=int(raw.get("startTimeUnixNano") or 0),
        end_ns=int(raw.get("endTimeUnixNano") or 0),
        attributes=_attributes(raw.get("attributes")),
        status_code=STATUS_ERROR if code in (STATUS_ERROR, "STATUS_CODE_ERROR") else 0,
        status_message=str(status.get("message") or ""),
        events=[
            {"name": e.get("name"), "attributes": _attributes(e.get("attributes"))} for e in raw.get("events") or []
        ],
        resource=resource,
    )


def otlp_spans(data: dict) -> list[Span]:
    """Every span of an export, with its resource's attributes. Raises ValueError on a malformed shape."""
    if not isinstance(data, dict):
        raise ValueError("the body must be an ExportTraceServiceRequest object")
    spans = []
    try:
        for resource_spans in data.get("resourceSpans") or []:
            resource = _attributes((resource_spans.get("resource") or {}).get("attributes"))
            for scope_spans in resource_spans.get("scopeSpans") or []:
                spans.extend(_span(raw, resource) for raw in scope_spans.get("spans") or [])
    except (AttributeError, TypeError, ValueError) as exc:
        raise ValueError(f"malformed resourceSpans: {exc}") from None
    return spans


# --- turns ---------------------------------------------------------------------


def otlp_turns(spans: list[Span], pending: list[Span] = ()) -> tuple[list[Turn], list[Span], int]:
    """(agent turns, GenAI spans to keep until their turn arrives, spans of this export in no turn).

    `pending` are spans kept from earlier exports of the same traces: exporters send a
    child span as soon as it ends, so the turn's root usually comes last. A turn takes
    its subtree and every unclaimed GenAI span of its trace that ran inside its time.
    """
    fresh = {(span.trace_id, span.span_id) for span in spans}
    all_spans = [*spans, *(span for span in pending if (span.trace_id, span.span_id) not in fresh)]
    by_id = {(span.trace_id, span.span_id): span for span in all_spans}
    for span in all_spans:
        parent = by_id.get((span.trace_id, span.parent_id)) if span.parent_id else None
        if parent is not None and parent is not span:
            parent.children.append(span)
    roots = sorted((span for span in all_spans if _is_turn_root(span, by_id)), key=lambda span: span.start_ns)
    claimed: set[tuple] = {_key(root) for root in roots}  # a turn never takes another turn's root
    turns = []
    for root in roots:
        members = [root, *(span for span in _walk(root) if _key(span) not in claimed)]
        members += [span for span in all_spans if _orphan_of(root, span, claimed) and span not in members]
        claimed.update((span.trace_id, span.span_id) for span in members)
        turns.append(Turn(root=root, members=members, span_count=sum(_key(m) in fresh for m in members)))
    left = [span for span in spans if _key(span) not in claimed]
    keep = [span for span in left if span.operation]
    return turns, keep, len(left) - len(keep)


def _key(span: Span) -> tuple:
    return span.trace_id, span.span_id


def _orphan_of(root: Span, span: Span, claimed: set) -> bool:
    return (
        span.trace_id == root.trace_id
        and bool(span.operation)
        and _key(span) not in claimed
        and root.start_ns <= span.start_ns
        and span.end_ns <= root.end_ns
    )


def _ancestors(span: Span, by_id: dict):
    seen = {span.span_id}
    parent = by_id.get((span.trace_id, span.parent_id)) if span.parent_id else None
    while parent is not None and parent.span_id not in seen:  # a malformed export may hold a cycle
        seen.add(parent.span_id)
        yield parent
        parent = by_id.get((parent.trace_id, parent.parent_id)) if parent.parent_id else None


def _is_turn_root(span: Span, by_id: dict) -> bool:
    if span.operation == "invoke_agent":
        return not any(parent.operation == "invoke_agent" for parent in _ancestors(span, by_id))
    if span.operation == "chat":
        # A chat span whose parent has not arrived yet may be a step of an invoke_agent turn still running.
        parent_known = not span.parent_id or (span.trace_id, span.parent_id) in by_id
        return parent_known and not any(parent.operation in TURN_OPERATIONS for parent in _ancestors(span, by_id))
    return False


def _walk(span: Span):
    stack, seen = [span], set()
    while stack:
        current = stack.pop()
        if id(current) in seen:  # parent ids forming a cycle
            continue
        seen.add(id(current))
        yield current
        stack.extend(sorted(current.children, key=lambda child: child.start_ns, reverse=True))


def otlp_span_to_json(span: Span) -> dict:
    return {name: value for name, value in span.__dict__.items() if name != "children"}


def otlp_span_from_json(data: dict) -> Span:
    return Span(**data)


# --- one turn → trace fields ---------------------------------------------------


def otlp_turn_trace(turn: Turn) -> dict:
    """The posted-trace dict for one turn (checked afterwards like any posted trace)."""
    root = turn.root
    spans = sorted(turn.members, key=lambda span: span.start_ns)
    chats = [span for span in spans if span.operation == "chat"]
    tools = [span for span in spans if span.operation == "execute_tool"]
    calls = [_tool_call(span) for span in tools]
    attributes = root.attributes
    flags = []
    if root.status_code == STATUS_ERROR:
        flags.append(f"error:{attributes['error.type']}" if attributes.get("error.type") else "error")
    if any(call["error"] for call in calls):
        flags.append("tool_error")
    model = _first_attribute([root, *chats], "gen_ai.response.model") or _first_attribute(
        [root, *chats], "gen_ai.request.model"
    )
    return {
        "external_id": f"otel:{root.trace_id}:{root.span_id}",
        "conversation_id": _first_attribute(spans, "gen_ai.conversation.id") or root.trace_id,
        "user_message": _input_text(root) or next((text for s in chats if (text := _input_text(s))), ""),
        "final_response": _output_text(root) or next((t for s in reversed(chats) if (t := _output_text(s))), ""),
        "context": _context(root),
        "selected_tools": list(dict.fromkeys(call["name"] for call in calls)),
        "tool_calls": calls,
        "latency_ms": root.duration_ms,
        "flags": flags,
        "policy_id": (model or "")[:200],
        "occurred_at": datetime.fromtimestamp(root.start_ns / 1e9, tz=UTC).isoformat() if root.start_ns else None,
    }


def _first_attribute(spans: list[Span], key: str):
    return next((str(span.attributes[key]) for span in spans if span.attributes.get(key)), None)


def _context(root: Span) -> dict:
    otel = {"trace_id": root.trace_id, "span_id": root.span_id, "span_name": root.name}
    for key in ("service.name", "service.version"):
        if root.resource.get(key):
            otel[key] = root.resource[key]
    for key in ("gen_ai.agent.name", "gen_ai.agent.id", "gen_ai.provider.name", "gen_ai.system"):
        if root.attributes.get(key):
            otel[key] = root.attributes[key]
    context = {"otel": otel}
    if instructions := root.attributes.get("gen_ai.system_instructions"):
        context["system_instructions"] = _maybe_json(instructions)
    return context


def _tool_call(span: Span) -> dict:
    attributes = span.attributes
    error = None
    if span.status_code == STATUS_ERROR or attributes.get("error.type"):
        error = span.status_message or str(attributes.get("error.type") or "error")
    call = {
        "name": str(attributes.get("gen_ai.tool.name") or span.name.removeprefix("execute_tool ").strip() or "tool"),
        "args": _maybe_json(attributes.get("gen_ai.tool.call.arguments", {})),
        "result": _maybe_json(attributes.get("gen_ai.tool.call.result")),
        "error": error,
        "latency_ms": span.duration_ms,
    }
    if attributes.get("gen_ai.tool.call.id"):
        call["id"] = str(attributes["gen_ai.tool.call.id"])
    return call


def _maybe_json(value):
    if isinstance(value, str) and value[:1] in ("{", "["):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def _input_text(span: Span) -> str:
    attributes = span.attributes
    if (messages := _maybe_json(attributes.get("gen_ai.input.messages"))) is not None:
        return _message_text(messages, roles=("user",), last=True)
    if (prompt := attributes.get("gen_ai.prompt")) is not None:
        parsed = _maybe_json(prompt)
        return _message_text(parsed, roles=("user",), last=True) if isinstance(parsed, list) else str(prompt)
    if indexed := _indexed_messages(attributes, "gen_ai.prompt"):
        return _message_text(indexed, roles=("user",), last=True)
    events = [e for e in span.events if e["name"] == "gen_ai.user.message"]
    return _event_text(events[-1]) if events else ""


def _output_text(span: Span) -> str:
    attributes = span.attributes
    if (messages := _maybe_json(attributes.get("gen_ai.output.messages"))) is not None:
        return _message_text(messages, roles=("assistant",), last=False)
    if (completion := attributes.get("gen_ai.completion")) is not None:
        parsed = _maybe_json(completion)
        return _message_text(parsed, roles=("assistant",), last=False) if isinstance(parsed, list) else str(completion)
    if indexed := _indexed_messages(attributes, "gen_ai.completion"):
        return _message_text(indexed, roles=("assistant",), last=False)
    events = [e for e in span.events if e["name"] in ("gen_ai.choice", "gen_ai.assistant.message")]
    return _event_text(events[-1]) if events else ""


def _indexed_messages(attributes: dict, prefix: str) -> list[dict]:
    """OpenLLMetry's `gen_ai.prompt.0.role` / `gen_ai.prompt.0.content` → [{"role", "content"}]."""
    messages: dict[int, dict] = {}
    for key, value in attributes.items():
        parts = key.removeprefix(prefix + ".").split(".", 1)
        if key.startswith(prefix + ".") and len(parts) == 2 and parts[0].isdigit():
            messages.setdefault(int(parts[0]), {})[parts[1]] = value
    return [messages[index] for index in sorted(messages)]


def _message_text(messages, *, roles: tuple, last: bool) -> str:
    """Text of the last (input) or every (output) message with one of `roles`; a bare string is itself."""
    if isinstance(messages, str):
        return messages
    if isinstance(messages, dict):
        messages = [messages]
    if not isinstance(messages, list):
        return ""
    texts = [
        text
        for message in messages
        if isinstance(message, dict) and message.get("role", roles[0]) in roles
        if (text := _parts_text(message))
    ]
    if not texts:
        return ""
    return texts[-1] if last else "\n".join(texts)


def _parts_text(message: dict) -> str:
    if isinstance(message.get("content"), str):
        return message["content"]
    if isinstance(message.get("message"), dict):  # gen_ai.choice events
        return _parts_text(message["message"])
    parts = message.get("parts") or message.get("content") or []
    if not isinstance(parts, list):
        return ""
    return "\n".join(
        str(part.get("content") or part.get("text") or "")
        for part in parts
        if isinstance(part, dict) and part.get("type", "text") == "text"
    ).strip()


def _event_text(event: dict) -> str:
    attributes = event["attributes"]
    for key in ("content", "gen_ai.event.content", "message"):
        if (value := attributes.get(key)) is not None:
            parsed = _maybe_json(value)
            return _parts_text(parsed) if isinstance(parsed, dict) else str(parsed)
    return ""


# --- the export as a whole -----------------------------------------------------


def otlp_export_ingest(*, agent, data: dict) -> dict:
    """Store the agent turns of one OTLP export; answer the OTLP partial-success counts.

    Returns {"rejected_spans", "error_message", "turns": [{"trace_id", "span_id", "status", "id" | "errors"}]}.
    GenAI spans whose turn has not arrived are kept (OtelPendingSpan) and count as accepted;
    other spans outside any turn, and every span of a turn that fails the trace check, are rejected.
    """
    from traces.services import otel_pending_load, otel_pending_save

    spans = otlp_spans(data)
    with transaction.atomic():
        pending = otel_pending_load(agent=agent, trace_ids={span.trace_id for span in spans})
        turns, keep, outside = otlp_turns(spans, pending)
        answers, rejected, reasons = _turns_store(agent=agent, turns=turns)
        consumed = [_key(member) for turn in turns for member in turn.members]
        otel_pending_save(agent=agent, keep=[otlp_span_to_json(span) for span in keep], consumed=consumed)
    if outside:
        reasons.insert(0, f"{outside} span(s) belong to no GenAI agent turn (an invoke_agent span or a root chat span)")
    return {"rejected_spans": rejected + outside, "error_message": "; ".join(reasons)[:2000], "turns": answers}


def _turns_store(*, agent, turns: list[Turn]) -> tuple[list[dict], int, list[str]]:
    from traces.serializers import TraceTooLarge, trace_input_check
    from traces.services import traces_ingest

    valid, answers, reasons, rejected = [], [], [], 0
    for turn in turns:
        answer = {"trace_id": turn.root.trace_id, "span_id": turn.root.span_id}
        try:
            clean, errors, _extra = trace_input_check(otlp_turn_trace(turn))
        except TraceTooLarge as exc:
            clean, errors = {}, {exc.field_name: [str(exc)]}
        if not (turn.root.trace_id and turn.root.span_id):  # the ids are the idempotency key
            errors = {"external_id": ["The span has no traceId or spanId."]}
        if errors:
            rejected += turn.span_count
            answer.update(status="rejected", errors=errors)
            reasons.append(f"span {turn.root.span_id}: " + "; ".join(f"{k}: {v[0]}" for k, v in errors.items()))
        else:
            valid.append((answer, clean))
        answers.append(answer)
    for (answer, _clean), stored in zip(valid, traces_ingest(agent=agent, traces=[c for _a, c in valid]), strict=True):
        answer.update(stored)
    return answers, rejected, reasons
