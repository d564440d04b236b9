"""POST /api/otel/v1/traces — OTLP/HTTP trace export from an agent's OpenTelemetry SDK.

Protobuf (`application/x-protobuf`) or JSON (`application/json`), gzip or not,
with the agent's bearer token (`OTEL_EXPORTER_OTLP_HEADERS=Authorization=Bearer zk_...`).
Answers 200 with an ExportTraceServiceResponse in the request's encoding; spans that
could not become traces are counted in `partial_success.rejected_spans` and explained
in `error_message`. A body that cannot be read is a 400 with a google.rpc.Status
(protobuf or JSON, like the request), 413 over INGEST_MAX_REQUEST_BYTES, 415 for
another content type.
"""

import json
import zlib

from django.conf import settings
from django.http import HttpResponse
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.permissions import IsAuthenticated
from rest_framework.views import APIView

from traces.auth import AgentTokenAuthentication, request_agent
from traces.otlp import otlp_decode_protobuf, otlp_export_ingest

PROTOBUF = "application/x-protobuf"
JSON = "application/json"
INVALID_ARGUMENT = 3


class OtlpError(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status, self.message = status, message


def _varint(number: int) -> bytes:
    out = bytearray()
    while True:
        byte, number = number & 0x7F, number >> 7
        out.append(byte | (0x80 if number else 0))
        if not number:
            return bytes(out)


def _status_protobuf(code: int, message: str) -> bytes:
    """google.rpc.Status {code = 1; message = 2} (the OTLP error body), encoded by hand: no extra package."""
    text = message.encode()
    return b"\x08" + _varint(code) + b"\x12" + _varint(len(text)) + text


def _respond(content_type: str, body: dict, status: int = 200) -> HttpResponse:
    if content_type == JSON:
        return HttpResponse(json.dumps(body), status=status, content_type=JSON)
    if "code" in body:
        return HttpResponse(_status_protobuf(body["code"], body["message"]), status=status, content_type=PROTOBUF)
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

    answer = ExportTraceServiceResponse()
    if partial := body.get("partialSuccess"):
        answer.partial_success.rejected_spans = partial["rejectedSpans"]
        answer.partial_success.error_message = partial["errorMessage"]
    return HttpResponse(answer.SerializeToString(), status=status, content_type=PROTOBUF)


def _body(request, limit: int) -> bytes:
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        raise OtlpError(400, "Content-Length is not a number.") from None
    if declared > limit:
        raise OtlpError(413, f"Request body is {declared:,} bytes; the limit is {limit:,} (INGEST_MAX_REQUEST_BYTES).")
    body = request._request.body
    encoding = request.META.get("HTTP_CONTENT_ENCODING", "").strip().lower()
    if encoding in ("", "identity"):
        return body
    if encoding != "gzip":
        raise OtlpError(415, f"Content-Encoding {encoding!r} is not supported (use gzip or none).")
    inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    try:
        data = inflater.decompress(body, limit + 1)
    except zlib.error as exc:
        raise OtlpError(400, f"The body is not valid gzip: {exc}.") from None
    if len(data) > limit or inflater.unconsumed_tail:
        raise OtlpError(413, f"The body is over {limit:,} bytes once decompressed (INGEST_MAX_REQUEST_BYTES).")
    return data


def _decode(content_type: str, body: bytes) -> dict:
    if content_type == PROTOBUF:
        try:
            return otlp_decode_protobuf(body)
        except ValueError as exc:
            raise OtlpError(400, str(exc)) from None
    try:
        data = json.loads(body)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise OtlpError(400, f"Malformed JSON: {exc}") from None
    if not isinstance(data, dict):
        raise OtlpError(400, 'The body must be an ExportTraceServiceRequest object ({"resourceSpans": [...]}).')
    return data


class OtlpTracesApi(APIView):
    authentication_classes = [AgentTokenAuthentication]
    permission_classes = [IsAuthenticated]

    @extend_schema(
        operation_id="otlp_traces_export",
        summary="OTLP/HTTP trace export (GenAI spans → traces)",
        description=__doc__,
        request={PROTOBUF: bytes, JSON: dict},
        responses={200: OpenApiResponse(description="ExportTraceServiceResponse (partial_success when rejected)")},
        tags=["traces"],
    )
    def post(self, request):
        content_type = request.META.get("CONTENT_TYPE", "").split(";")[0].strip().lower()
        if content_type not in (PROTOBUF, JSON):
            message = f"Content-Type {content_type or 'none'!r} is not OTLP: send {PROTOBUF} or {JSON}."
            return _respond(JSON, {"code": INVALID_ARGUMENT, "message": message}, status=415)
        try:
            data = _decode(content_type, _body(request, settings.INGEST_MAX_REQUEST_BYTES))
            outcome = otlp_export_ingest(agent=request_agent(request), data=data)
        except OtlpError as exc:
            return _respond(content_type, {"code": INVALID_ARGUMENT, "message": exc.message}, status=exc.status)
        except ValueError as exc:
            return _respond(content_type, {"code": INVALID_ARGUMENT, "message": str(exc)}, status=400)
        body = {}
        if outcome["rejected_spans"] or outcome["error_message"]:
            body["partialSuccess"] = {
                "rejectedSpans": outcome["rejected_spans"],
                "errorMessage": outcome["error_message"],
            }
        return _respond(content_type, body)
