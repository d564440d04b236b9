"""POST /api/traces/ — agents post one trace, or {"traces": [...]}, with their bearer token.

Status rule: every item accepted → 201; every item a duplicate → 200; every item
rejected → 400 (413 when any of them was over a size limit); any mix → 207. The
body always lists one result per item, in order. Fields a trace does not define
are kept in its `extra` and named back in that item's `extra_fields`. The seed's
shape (tool_args/tool_results, latency, flags as an object) is accepted too.
"""

import json

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.db import transaction
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, PolymorphicProxySerializer, extend_schema
from rest_framework import status
from rest_framework.exceptions import APIException, ParseError, UnsupportedMediaType
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from traces.auth import AgentTokenAuthentication, request_agent
from traces.serializers import (
    ErrorSerializer,
    TraceBatchInputSerializer,
    TraceIngestResponseSerializer,
    TraceInputSerializer,
    TraceTooLarge,
    trace_input_check,
)
from traces.services import traces_ingest


class PayloadTooLarge(APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_code = "too_large"


def _read_json(request):
    """The request body as JSON; 413 over INGEST_MAX_REQUEST_BYTES (checked before reading), 400/415 otherwise."""
    limit = settings.INGEST_MAX_REQUEST_BYTES
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        raise ParseError("Content-Length is not a number.")
    if declared > limit:
        raise PayloadTooLarge(_too_large_message(declared, limit))
    content_type = request.META.get("CONTENT_TYPE", "").split(";")[0].strip().lower()
    if content_type != "application/json":
        raise UnsupportedMediaType(content_type or "none", detail="Send the traces as JSON (application/json).")
    try:
        body = request._request.body
    except RequestDataTooBig:
        raise PayloadTooLarge(f"Request body is over {limit:,} bytes (INGEST_MAX_REQUEST_BYTES).")
    if len(body) > limit:
        raise PayloadTooLarge(
            f"Request body is {len(body):,} bytes; the limit is {limit:,} (INGEST_MAX_REQUEST_BYTES)."
        )
    if not body.strip():
        raise ParseError('The request body is empty: send a trace object or {"traces": [...]}.')
    try:
        return json.loads(body, parse_constant=_refuse_constant, parse_float=_finite_float)
    except UnicodeDecodeError:
        raise ParseError("Malformed JSON: the body is not valid UTF-8.")
    except json.JSONDecodeError as exc:
        raise ParseError(f"Malformed JSON: {exc.msg} at line {exc.lineno} column {exc.colno} (char {exc.pos}).")
    except RecursionError:
        raise ParseError("Malformed JSON: nested too deeply.")
    except ValueError as exc:  # _refuse_constant, _finite_float, or an integer over Python's 4,300-digit limit
        raise ParseError(f"Malformed JSON: {exc}")


def _refuse_constant(name: str):
    # Python's json accepts NaN and Infinity; standard JSON (and PostgreSQL's jsonb, and SQLite's JSON_VALID) do not.
    raise ValueError(f"{name} is not a JSON number.")


def _finite_float(text: str) -> float:
    number = float(text)
    if number in (float("inf"), float("-inf")):
        raise ValueError(f"the number {text[:40]} is too large to store.")
    return number


def _too_large_message(size: int, limit: int) -> str:
    return f"Request body is {size:,} bytes; the limit is {limit:,} bytes (INGEST_MAX_REQUEST_BYTES)."


def _split_payload(payload) -> tuple[list, list[str]]:
    """(the posted traces, ignored top-level keys of a batch)."""
    if isinstance(payload, dict) and "traces" in payload:
        items = payload["traces"]
        if not isinstance(items, list):
            raise ParseError('"traces" must be an array of trace objects.')
        if not items:
            raise ParseError('"traces" is empty: send at least one trace.')
        limit = settings.INGEST_MAX_BATCH
        if len(items) > limit:
            raise PayloadTooLarge(
                f"A batch holds at most {limit:,} traces (INGEST_MAX_BATCH); this one has {len(items):,}. "
                "Split it into smaller batches."
            )
        return items, sorted(key for key in payload if key != "traces")
    if isinstance(payload, dict):
        return [payload], []
    raise ParseError('Expected a trace object or {"traces": [...]}, got a JSON ' + type(payload).__name__ + ".")


def _answer_status(results: list[dict], too_large: bool) -> int:
    kinds = {result["status"] for result in results}
    if kinds == {"accepted"}:
        return status.HTTP_201_CREATED
    if kinds == {"duplicate"}:
        return status.HTTP_200_OK
    if kinds == {"rejected"}:
        return status.HTTP_413_REQUEST_ENTITY_TOO_LARGE if too_large else status.HTTP_400_BAD_REQUEST
    return status.HTTP_207_MULTI_STATUS


_EXAMPLE_TRACE = {
    "external_id": "conductor-2026-12-01-000123",
    "conversation_id": "conv-8812",
    "user_message": "Move my 3pm with Priya to Thursday morning.",
    "context": {"timezone": "America/Chicago"},
    "selected_tools": ["calendar.search_events", "calendar.update_event"],
    "tool_calls": [
        {
            "name": "calendar.update_event",
            "args": {"event_id": "evt_9f8a", "start": "2026-12-03T09:30:00-06:00"},
            "result": {"status": "updated"},
            "error": None,
            "latency_ms": 344,
        }
    ],
    "final_response": "Done: Thursday 9:30 AM.",
    "latency_ms": 1840,
    "flags": [],
    "policy_id": "ft:o4-mini:zeke:2026-11-24",
    "task_category": "scheduling",
    "occurred_at": "2026-12-01T15:02:11Z",
}


class TraceIngestApi(APIView):
    authentication_classes = [AgentTokenAuthentication]
    permission_classes = [IsAuthenticated]

    @extend_schema(
        operation_id="traces_ingest",
        summary="Post one trace or a batch of traces",
        description=__doc__,
        request=PolymorphicProxySerializer(
            component_name="TraceIngestRequest",
            serializers=[TraceInputSerializer, TraceBatchInputSerializer],
            resource_type_field_name=None,
        ),
        responses={
            201: OpenApiResponse(TraceIngestResponseSerializer, description="Every item accepted."),
            200: OpenApiResponse(TraceIngestResponseSerializer, description="Every item a duplicate."),
            207: OpenApiResponse(TraceIngestResponseSerializer, description="A mix; see each result."),
            400: OpenApiResponse(TraceIngestResponseSerializer, description="Every item rejected, or bad JSON."),
            401: OpenApiResponse(ErrorSerializer, description="Missing, unknown or revoked token."),
            403: OpenApiResponse(ErrorSerializer, description="The agent is inactive."),
            413: OpenApiResponse(ErrorSerializer, description="Request, batch or a field over its limit."),
        },
        examples=[
            OpenApiExample("One trace", value=_EXAMPLE_TRACE, request_only=True),
            OpenApiExample("A batch", value={"traces": [_EXAMPLE_TRACE]}, request_only=True),
        ],
        tags=["traces"],
    )
    def post(self, request):
        agent = request_agent(request)
        items, ignored_top_level = _split_payload(_read_json(request))
        results, valid, too_large = [], [], False
        for index, item in enumerate(items):
            result = {"index": index, "external_id": _external_id_of(item)}
            try:
                clean, errors, ignored = trace_input_check(item)
            except TraceTooLarge as exc:
                clean, errors, ignored, too_large = {}, {exc.field_name: [str(exc)]}, [], True
            if ignored:
                result["extra_fields"] = [_echo(name) for name in ignored]
            if errors:
                result.update(status="rejected", id=None, errors=errors)
            else:
                valid.append((result, clean))
            results.append(result)
        _store(agent, valid)
        body = {
            kind: sum(1 for result in results if result["status"] == kind)
            for kind in ("accepted", "duplicate", "rejected")
        }
        body["results"] = results
        if ignored_top_level:
            body["ignored_fields"] = [_echo(name) for name in ignored_top_level]
        return Response(body, status=_answer_status(results, too_large))


def _store(agent, valid: list[tuple[dict, dict]]) -> None:
    """Store the valid items and fill in their results; an agent's `reward` becomes an `agent` RewardEvent."""
    from labeling.services import reward_events_record_agent  # labeling sits above traces: imported late

    with transaction.atomic():  # a trace and the reward posted with it are stored together
        stored = traces_ingest(agent=agent, traces=[clean for _result, clean in valid])
        reward_events_record_agent(
            rows=[
                {"trace_id": answer["id"], "reward": clean["reward"], "reward_source": clean["reward_source"]}
                for (_result, clean), answer in zip(valid, stored, strict=True)
                if clean.get("reward") is not None
            ]
        )
    for (result, _clean), answer in zip(valid, stored, strict=True):
        result.update(answer)


def _external_id_of(item):
    value = item.get("external_id") if isinstance(item, dict) else None
    return _echo(value) if isinstance(value, str) else None


def _echo(text: str) -> str:
    """`text` as it can be sent back: a lone surrogate (valid in JSON's \\u escapes, not in UTF-8) as \\udXXX."""
    if text.isascii():
        return text
    return text.encode("utf-8", "backslashreplace").decode("utf-8")
