"""Shapes of the ingestion API: what one posted trace may hold, and what each item answers.

One table (TRACE_FIELDS, TOOL_CALL_FIELDS) describes a posted trace. It drives
both `trace_input_check`, the fast per-item check the API runs (DRF's
serializers cost ~0.5 ms a trace, more than the rest of ingestion together), and
the DRF serializers below, which exist for the OpenAPI schema. Shape only:
types, required fields, lengths, choices. The service redacts and stores.
"""

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime

from django.conf import settings
from django.utils import timezone
from rest_framework import serializers

from traces.models import TaskCategory, TraceArm
from traces.seed_schema import seed_normalize


@dataclass(frozen=True)
class FieldSpec:
    kind: str  # str | int | unit_float | object | json | str_list | tool_calls | choice | datetime
    required: bool = False
    default: object = None
    max_length: int | None = None
    choices: tuple = ()
    nullable: bool = False
    allow_blank: bool = True
    help_text: str = ""
    extra: dict = field(default_factory=dict)


MAX_INT = 2**31 - 1

TOOL_CALL_FIELDS = {
    "name": FieldSpec("str", required=True, max_length=200, allow_blank=False),
    "args": FieldSpec("json", default=dict, help_text="The arguments the agent passed (any JSON)."),
    "result": FieldSpec("json", nullable=True, help_text="What the tool returned (any JSON)."),
    "error": FieldSpec("str", nullable=True, help_text="Set when the call failed."),
    "latency_ms": FieldSpec("int", nullable=True),
}

TRACE_FIELDS = {
    "external_id": FieldSpec(
        "str", required=True, max_length=200, allow_blank=False, help_text="The agent's id for it: idempotency key."
    ),
    "conversation_id": FieldSpec("str", required=True, max_length=200, allow_blank=False),
    "user_message": FieldSpec("str", required=True, allow_blank=False),
    "context": FieldSpec("object", default=dict),
    "selected_tools": FieldSpec("str_list", default=list, max_length=200),
    "tool_calls": FieldSpec("tool_calls", default=list, help_text="[{name, args, result, error, latency_ms}]"),
    "final_response": FieldSpec("str", default=""),
    "latency_ms": FieldSpec("int", nullable=True),
    "flags": FieldSpec(
        "str_list",
        default=list,
        max_length=100,
        help_text='e.g. ["timeout", "safety:pii"]; or the seed\'s object {"safety": true | "reason", "quality": "low"}',
        extra={"schema": "json"},
    ),
    "policy_id": FieldSpec("str", default="", max_length=200, help_text="The model id that answered."),
    "task_category": FieldSpec("choice", default=TaskCategory.OTHER, choices=tuple(TaskCategory.values)),
    "occurred_at": FieldSpec("datetime", help_text="ISO 8601; no offset means UTC; defaults to receipt time."),
    "rollout_id": FieldSpec("int", nullable=True),
    "arm": FieldSpec("choice", default="", choices=tuple(TraceArm.values)),
    "reward": FieldSpec(
        "unit_float", nullable=True, help_text="The agent's own reward in [0, 1] (e.g. 1 for a thumbs up)."
    ),
    "reward_source": FieldSpec(
        "str", default="", max_length=50, help_text='Where the reward came from, e.g. "thumbs_up".'
    ),
}

# The seed's names (traces/seed_schema.py), mapped onto the fields above before the check; for the schema.
SEED_FIELDS = {
    "tool_args": FieldSpec("json", help_text="The seed's shape: an array parallel to selected_tools, or {tool: args}."),
    "tool_results": FieldSpec("json", help_text="Parallel to selected_tools, or {tool: result}."),
    "latency": FieldSpec("number", nullable=True, help_text="The seed's name for latency_ms (milliseconds)."),
}

# Text fields longer than INGEST_MAX_FIELD_CHARS are refused with 413; JSON fields by their encoded length.
TRACE_TEXT_FIELDS = ("user_message", "final_response")
TRACE_JSON_FIELDS = ("context", "selected_tools", "tool_calls")


# Key under which trace_input_check hands the service the JSON it already encoded (context, selected_tools,
# tool_calls) so a clean trace is not encoded twice.
ENCODED_JSON = "_encoded_json"


class TraceTooLarge(Exception):
    """A field of a trace is over INGEST_MAX_FIELD_CHARS."""

    def __init__(self, field_name: str, size: int, limit: int):
        super().__init__(f"{field_name} is {size:,} characters; the limit is {limit:,} (INGEST_MAX_FIELD_CHARS).")
        self.field_name = field_name


def _json_type(value) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def _check_value(spec: FieldSpec, value):
    """Return (clean value, error message or None) for one field."""
    if value is None:
        return (None, None) if spec.nullable else (None, "May not be null.")
    kind = spec.kind
    if kind in ("str", "choice"):
        if not isinstance(value, str):
            return None, f"Must be a string, got {_json_type(value)}."
        if kind == "choice" and value not in spec.choices:
            return None, f"{value!r} is not one of: {', '.join(repr(c) for c in spec.choices)}."
        if not spec.allow_blank and not value.strip():
            return None, "May not be blank."
        if spec.max_length is not None and len(value) > spec.max_length:
            return None, f"At most {spec.max_length} characters (got {len(value)})."
        return value, _unstorable(value)
    if kind == "int":
        if isinstance(value, bool) or not isinstance(value, int):
            return None, f"Must be an integer, got {_json_type(value)}."
        if not 0 <= value <= MAX_INT:
            return None, f"Must be between 0 and {MAX_INT}."
        return value, None
    if kind == "unit_float":
        if isinstance(value, bool) or not isinstance(value, int | float):
            return None, f"Must be a number between 0 and 1, got {_json_type(value)}."
        if not 0 <= value <= 1:
            return None, f"Must be between 0 and 1, got {value}."
        return float(value), None
    if kind == "object":
        return (value, None) if isinstance(value, dict) else (None, f"Must be a JSON object, got {_json_type(value)}.")
    if kind == "json":
        return value, None
    if kind == "str_list":
        if not isinstance(value, list):
            return None, f"Must be an array of strings, got {_json_type(value)}."
        for index, item in enumerate(value):
            if not isinstance(item, str):
                return None, f"Item {index} must be a string, got {_json_type(item)}."
            if len(item) > spec.max_length:
                return None, f"Item {index} is longer than {spec.max_length} characters."
            if error := _unstorable(item):
                return None, f"Item {index}: {error}"
        return value, None
    if kind == "datetime":
        return _check_datetime(value)
    if kind == "tool_calls":
        return _check_tool_calls(value)
    raise AssertionError(f"unknown field kind {kind}")


def _check_datetime(value):
    if not isinstance(value, str):
        return None, f"Must be an ISO 8601 date-time string, got {_json_type(value)}."
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None, f"{value!r} is not an ISO 8601 date-time (e.g. 2026-12-01T09:30:00Z)."
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    try:
        # Stored in UTC: 9999-12-31T23:00-05:00 parses but is past the largest date-time there is.
        parsed.astimezone(UTC)
    except OverflowError:
        return None, f"{value!r} is out of range once converted to UTC."
    return parsed, None


def _check_tool_calls(value):
    if not isinstance(value, list):
        return None, f"Must be an array of tool calls, got {_json_type(value)}."
    calls, complete = [], True
    for index, call in enumerate(value):
        if not isinstance(call, dict):
            return None, f"Item {index} must be an object {{name, args, result, error, latency_ms}}."
        if _is_plain_tool_call(call):
            calls.append(call)
            continue
        clean, errors, _ignored = _check_object(TOOL_CALL_FIELDS, call)
        if errors:
            first_field, messages = next(iter(errors.items()))
            return None, f"Item {index}: {first_field}: {messages[0]}"
        complete = False
        # Nothing posted is dropped: fields a tool call does not define stay in it (and are named back).
        calls.append({**clean, **{key: item for key, item in call.items() if key not in TOOL_CALL_FIELDS}})
    # Calls that already had exactly the five fields pass through as posted (so their JSON encoding can be reused).
    return (value if complete else calls), None


def _is_plain_tool_call(call: dict) -> bool:
    """The common case in one test: exactly the five fields, each of the right type (strings are checked for
    storability with the encoded tool_calls)."""
    name, error, latency = call.get("name"), call.get("error"), call.get("latency_ms")
    return (
        len(call) == 5
        and "args" in call
        and "result" in call
        and type(name) is str
        and 0 < len(name) <= 200
        and not name.isspace()
        and (error is None or type(error) is str)
        and (latency is None or (type(latency) is int and 0 <= latency <= MAX_INT))
    )


def _check_object(specs: dict, data: dict):
    clean, errors = {}, {}
    for name, spec in specs.items():
        if name not in data:
            if spec.required:
                errors[name] = ["This field is required."]
            elif spec.default is not None or spec.nullable:
                clean[name] = spec.default() if callable(spec.default) else spec.default
            continue
        value, error = _check_value(spec, data[name])
        if error:
            errors[name] = [error]
        else:
            clean[name] = value
    extra = [name for name in data if name not in specs]
    return clean, errors, extra


def trace_input_check(data) -> tuple[dict, dict, list[str]]:
    """Check one posted trace: (clean data, field → messages, names of the fields kept in `extra`).

    The seed's shape (tool_args/tool_results, latency, flags as an object) is mapped
    first; fields the schema does not define are kept in `clean["extra"]`.
    Raises TraceTooLarge when a field is over INGEST_MAX_FIELD_CHARS.
    """
    if not isinstance(data, dict):
        return {}, {"non_field_errors": [f"Each trace must be a JSON object, got {_json_type(data)}."]}, []
    data, seed_errors = seed_normalize(data)
    limit = settings.INGEST_MAX_FIELD_CHARS
    for name in TRACE_TEXT_FIELDS:
        value = data.get(name)
        if isinstance(value, str) and len(value) > limit:
            raise TraceTooLarge(name, len(value), limit)
    extra = {name: value for name, value in data.items() if name not in TRACE_FIELDS}
    encoded, storage_errors = _encode_json_fields({**data, "extra": extra}, limit)
    clean, errors, extra_names = _check_object(TRACE_FIELDS, data)
    errors.update(storage_errors)
    errors.update(seed_errors)
    if clean.get("reward_source") and clean.get("reward") is None:
        errors["reward_source"] = ["Given without reward: send reward too (a number between 0 and 1)."]
    extra_names += _extra_tool_call_fields(data.get("tool_calls"))
    if not errors:
        clean["extra"] = extra
        clean.setdefault("occurred_at", timezone.now())
        # Only what passed through unchanged: tool calls missing a field were rebuilt with defaults.
        clean[ENCODED_JSON] = {
            name: text for name, text in encoded.items() if name != "extra" and clean[name] is data[name]
        }
    return clean, errors, extra_names


def _encode_json_fields(data: dict, limit: int) -> tuple[dict, dict]:
    """JSON fields encoded once: (name → text, name → storage errors). Raises TraceTooLarge."""
    encoded, errors = {}, {}
    for name in (*TRACE_JSON_FIELDS, "extra"):
        value = data.get(name)
        if not (isinstance(value, dict | list) and value):
            continue
        try:
            encoded[name] = json.dumps(value, ensure_ascii=False)
        except RecursionError:
            errors[name] = ["Nested too deeply."]
            continue
        if len(encoded[name]) > limit:
            raise TraceTooLarge(name, len(encoded[name]), limit)
        if error := _unstorable(encoded[name], value) or _too_deep(encoded[name]):
            if name == "extra":  # name the posted field, not our container
                errors.update(_extra_errors(value))
            else:
                errors[name] = [error]
    return encoded, errors


def _extra_errors(extra: dict) -> dict:
    errors = {}
    for name, value in extra.items():
        text = json.dumps(value, ensure_ascii=False)
        if error := _unstorable(text, value) or _unstorable(name) or _too_deep(text):
            errors[_echo_name(name)] = [error]
    return errors or {"extra": ["Contains a value that cannot be stored."]}


def _echo_name(name: str) -> str:
    return name if name.isascii() else name.encode("utf-8", "backslashreplace").decode("utf-8")


MAX_JSON_DEPTH = 32


def _unstorable(text: str, json_value=None) -> str | None:
    """Why PostgreSQL could not store `text` (NUL characters, lone surrogates), or None.

    For a JSON field `text` is its encoding, where a NUL shows as the escape \\u0000.
    """
    if "\x00" in text or ("\\u0000" in text and _contains_nul(json_value)):
        return "Contains a NUL character (\\u0000), which cannot be stored."
    if text.isascii():
        return None
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "Contains an unpaired surrogate (\\ud800-\\udfff), which is not valid Unicode."
    return None


def _contains_nul(value) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_contains_nul(key) or _contains_nul(item) for key, item in value.items())
    if isinstance(value, list):
        return any(_contains_nul(item) for item in value)
    return False


def _too_deep(encoded: str) -> str | None:
    """Nesting deeper than MAX_JSON_DEPTH (the scanners walk JSON recursively). Counted only when it could be."""
    if encoded.count("[") + encoded.count("{") <= MAX_JSON_DEPTH:
        return None
    depth = deepest = 0
    in_string = escaped = False
    for char in encoded:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth -= 1
    return f"Nested deeper than {MAX_JSON_DEPTH} levels." if deepest > MAX_JSON_DEPTH else None


def _extra_tool_call_fields(calls) -> list[str]:
    if not isinstance(calls, list):
        return []
    return [
        f"tool_calls[{index}].{name}"
        for index, call in enumerate(calls)
        if isinstance(call, dict)
        for name in call
        if name not in TOOL_CALL_FIELDS
    ]


# --- DRF serializers: the same table, for the OpenAPI schema -----------------


def _drf_field(spec: FieldSpec):
    common = {"required": spec.required, "allow_null": spec.nullable, "help_text": spec.help_text or None}
    if spec.kind == "json" or spec.extra.get("schema") == "json":
        return serializers.JSONField(**common)
    if spec.kind == "unit_float":
        return serializers.FloatField(min_value=0, max_value=1, **common)
    if spec.kind == "number":
        return serializers.FloatField(min_value=0, **common)
    if spec.kind == "str":
        return serializers.CharField(max_length=spec.max_length, allow_blank=spec.allow_blank, **common)
    if spec.kind == "choice":
        return serializers.ChoiceField(choices=spec.choices, allow_blank="" in spec.choices, **common)
    if spec.kind == "int":
        return serializers.IntegerField(min_value=0, max_value=MAX_INT, **common)
    if spec.kind == "object":
        return serializers.DictField(**common)
    if spec.kind == "str_list":
        return serializers.ListField(child=serializers.CharField(max_length=spec.max_length), **common)
    if spec.kind == "datetime":
        return serializers.DateTimeField(**common)
    if spec.kind == "tool_calls":
        return ToolCallInputSerializer(many=True, **common)
    raise AssertionError(spec.kind)


def _serializer_from(name: str, specs: dict, doc: str):
    attrs = {field_name: _drf_field(spec) for field_name, spec in specs.items()}
    attrs["__doc__"] = doc
    return type(name, (serializers.Serializer,), attrs)


ToolCallInputSerializer = _serializer_from("ToolCallInput", TOOL_CALL_FIELDS, "One tool call of a trace.")
TraceInputSerializer = _serializer_from(
    "TraceInput",
    {**TRACE_FIELDS, **SEED_FIELDS},
    "One trace, in our fields or the seed's (tool_args/tool_results, latency, flags as an object). "
    "Fields not listed are kept in the trace's `extra` and named back in `extra_fields`.",
)


class TraceBatchInputSerializer(serializers.Serializer):
    """`{"traces": [...]}` with up to INGEST_MAX_BATCH traces (default 1,000)."""

    traces = TraceInputSerializer(many=True)


class TraceItemResultSerializer(serializers.Serializer):
    index = serializers.IntegerField(help_text="Position of the item in the request (0 for a single trace).")
    external_id = serializers.CharField(allow_null=True)
    status = serializers.ChoiceField(choices=["accepted", "duplicate", "rejected"])
    id = serializers.IntegerField(allow_null=True, help_text="The stored trace's id (for a duplicate too).")
    errors = serializers.DictField(required=False, help_text="field → messages, for a rejected item")
    extra_fields = serializers.ListField(
        child=serializers.CharField(),
        required=False,
        help_text="Posted fields the schema does not define, kept in the trace's extra (tool_calls[i].x inside calls).",
    )
    secrets_redacted = serializers.IntegerField(required=False)


class TraceIngestResponseSerializer(serializers.Serializer):
    accepted = serializers.IntegerField()
    duplicate = serializers.IntegerField()
    rejected = serializers.IntegerField()
    results = TraceItemResultSerializer(many=True)
    ignored_fields = serializers.ListField(
        child=serializers.CharField(), required=False, help_text="Top-level keys of a batch besides traces."
    )


class ErrorSerializer(serializers.Serializer):
    detail = serializers.CharField()
