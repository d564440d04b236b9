"""POST /api/otel/v1/traces: the real OpenTelemetry SDK and its OTLP/HTTP exporter against live_server."""

import gzip
import json

import pytest
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Status, StatusCode

from traces.models import Trace, TraceStatus
from traces.services import agent_create

URL = "/api/otel/v1/traces"


class Capture(OTLPSpanExporter):
    """The real exporter, keeping each export's result (SUCCESS / FAILURE) for the test."""

    results: list

    def export(self, spans):
        result = super().export(spans)
        self.results.append(result)
        return result


def sdk_tracer(live_server, token, *, compression=Compression.NoCompression):
    exporter = Capture(
        endpoint=f"{live_server.url}{URL}", headers={"Authorization": f"Bearer {token}"}, compression=compression
    )
    exporter.results = []
    provider = TracerProvider(resource=Resource.create({"service.name": "conductor"}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider, provider.get_tracer("zeke-test"), exporter


def agent_turn(tracer, *, conversation="conv-otel-1", fail_tool=False, legacy=False):
    """One agent turn as a GenAI-instrumented agent emits it: invoke_agent → chat → execute_tool → chat."""
    with tracer.start_as_current_span("invoke_agent conductor") as turn:
        turn.set_attribute("gen_ai.operation.name", "invoke_agent")
        turn.set_attribute("gen_ai.agent.name", "conductor")
        turn.set_attribute("gen_ai.conversation.id", conversation)
        with tracer.start_as_current_span("chat gpt-4.1-mini") as chat:
            chat.set_attribute("gen_ai.operation.name", "chat")
            chat.set_attribute("gen_ai.request.model", "gpt-4.1-mini")
            if legacy:
                chat.set_attribute("gen_ai.prompt.0.role", "system")
                chat.set_attribute("gen_ai.prompt.0.content", "You are ZEKE.")
                chat.set_attribute("gen_ai.prompt.1.role", "user")
                chat.set_attribute("gen_ai.prompt.1.content", "What's on my calendar tomorrow?")
            else:
                chat.set_attribute("gen_ai.input.messages", json.dumps([
                    {"role": "system", "parts": [{"type": "text", "content": "You are ZEKE."}]},
                    {"role": "user", "parts": [{"type": "text", "content": "What's on my calendar tomorrow?"}]},
                ]))  # fmt: skip
        with tracer.start_as_current_span("execute_tool calendar.list_events") as tool:
            tool.set_attribute("gen_ai.operation.name", "execute_tool")
            tool.set_attribute("gen_ai.tool.name", "calendar.list_events")
            tool.set_attribute("gen_ai.tool.call.id", "call_1")
            tool.set_attribute("gen_ai.tool.call.arguments", json.dumps({"day": "2026-12-02"}))
            if fail_tool:
                tool.set_status(Status(StatusCode.ERROR, "calendar API 503"))
            else:
                tool.set_attribute("gen_ai.tool.call.result", json.dumps({"events": [{"title": "Standup"}]}))
        with tracer.start_as_current_span("chat gpt-4.1-mini") as chat:
            chat.set_attribute("gen_ai.operation.name", "chat")
            chat.set_attribute("gen_ai.response.model", "gpt-4.1-mini-2025-04-14")
            if legacy:
                chat.set_attribute("gen_ai.completion.0.role", "assistant")
                chat.set_attribute("gen_ai.completion.0.content", "Standup at 9.")
            else:
                chat.set_attribute("gen_ai.output.messages", json.dumps([
                    {"role": "assistant", "parts": [{"type": "text", "content": "Standup at 9."}]},
                ]))  # fmt: skip
        if fail_tool:
            turn.set_status(Status(StatusCode.ERROR))
            turn.set_attribute("error.type", "tool_failed")
        return turn.get_span_context()


@pytest.fixture
def live_agent(transactional_db):
    return agent_create(name="otel-agent")


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("compression", [Compression.NoCompression, Compression.Gzip], ids=["plain", "gzip"])
def test_spans_from_the_real_sdk_arrive_as_a_trace_with_its_tool_calls(live_server, live_agent, compression):
    agent, token = live_agent
    provider, tracer, exporter = sdk_tracer(live_server, token, compression=compression)

    context = agent_turn(tracer)
    provider.shutdown()

    trace = Trace.objects.get()
    assert trace.external_id == f"otel:{context.trace_id:032x}:{context.span_id:016x}"
    assert (trace.agent, trace.status, trace.conversation_id) == (agent, TraceStatus.RECEIVED, "conv-otel-1")
    assert (trace.user_message, trace.final_response) == ("What's on my calendar tomorrow?", "Standup at 9.")
    assert trace.policy_id == "gpt-4.1-mini-2025-04-14"
    [call] = trace.tool_calls
    assert (call["name"], call["args"], call["result"], call["error"], call["id"]) == (
        "calendar.list_events", {"day": "2026-12-02"}, {"events": [{"title": "Standup"}]}, None, "call_1"
    )  # fmt: skip
    assert isinstance(call["latency_ms"], int) and isinstance(trace.latency_ms, int)
    assert trace.selected_tools == ["calendar.list_events"] and trace.flags == []
    assert trace.context["otel"]["service.name"] == "conductor"


@pytest.mark.django_db(transaction=True)
def test_older_gen_ai_prompt_and_completion_attributes_are_read(live_server, live_agent):
    provider, tracer, _exporter = sdk_tracer(live_server, live_agent[1])

    agent_turn(tracer, legacy=True)
    provider.shutdown()

    trace = Trace.objects.get()
    assert (trace.user_message, trace.final_response) == ("What's on my calendar tomorrow?", "Standup at 9.")


@pytest.mark.django_db(transaction=True)
def test_an_error_status_becomes_flags_and_the_tool_calls_error(live_server, live_agent):
    provider, tracer, _exporter = sdk_tracer(live_server, live_agent[1])

    agent_turn(tracer, fail_tool=True)
    provider.shutdown()

    trace = Trace.objects.get()
    assert trace.flags == ["error:tool_failed", "tool_error"]
    assert trace.tool_calls[0]["error"] == "calendar API 503"


@pytest.mark.django_db(transaction=True)
def test_the_same_spans_exported_twice_store_one_trace(live_server, live_agent):
    memory = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    agent_turn(provider.get_tracer("t"))
    exporter = OTLPSpanExporter(
        endpoint=f"{live_server.url}{URL}", headers={"Authorization": f"Bearer {live_agent[1]}"}
    )

    first, second = exporter.export(memory.get_finished_spans()), exporter.export(memory.get_finished_spans())

    assert (first.name, second.name) == ("SUCCESS", "SUCCESS")
    assert Trace.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_a_bad_token_fails_the_export_and_stores_nothing(live_server, live_agent):
    provider, tracer, exporter = sdk_tracer(live_server, "zk_not-a-token")

    agent_turn(tracer)
    provider.shutdown()

    assert {result.name for result in exporter.results} == {"FAILURE"}
    assert not Trace.objects.exists()


# --- OTLP/JSON and partial success, through the test client ---------------------


def json_span(span_id, name, attributes, *, parent="", start=1_764_581_000_000_000_000, status=None):
    span = {
        "traceId": "5b8efff798038103d269b633813fc60c",
        "spanId": span_id,
        "parentSpanId": parent,
        "name": name,
        "startTimeUnixNano": str(start),
        "endTimeUnixNano": str(start + 1_500_000_000),
        "attributes": [{"key": k, "value": _json_value(v)} for k, v in attributes.items()],
    }
    if status:
        span["status"] = status
    return span


def _json_value(value):
    if isinstance(value, bool):
        return {"boolValue": value}
    if isinstance(value, int):
        return {"intValue": str(value)}
    return {"stringValue": value}


def export(spans):
    return {
        "resourceSpans": [{"resource": {"attributes": []}, "scopeSpans": [{"scope": {"name": "x"}, "spans": spans}]}]
    }


def post_json(client, body, **headers):
    data = body if isinstance(body, bytes) else json.dumps(body)
    return client.post(URL, data=data, content_type="application/json", **headers)


ROOT_CHAT = {"gen_ai.operation.name": "chat", "gen_ai.prompt": "Remind me at 5", "gen_ai.completion": "Will do."}


@pytest.mark.django_db
def test_otlp_json_with_a_root_chat_span_becomes_a_trace(agent_client):
    response = post_json(agent_client, export([json_span("eee19b7ec3c1b174", "chat", ROOT_CHAT)]))

    assert response.status_code == 200
    assert response.json() == {}
    trace = Trace.objects.get()
    assert (trace.user_message, trace.final_response) == ("Remind me at 5", "Will do.")
    assert trace.conversation_id == "5b8efff798038103d269b633813fc60c"
    assert trace.occurred_at.isoformat() == "2025-12-01T09:23:20+00:00"


@pytest.mark.django_db
def test_gzipped_otlp_json_is_read(agent_client):
    body = gzip.compress(json.dumps(export([json_span("eee19b7ec3c1b174", "chat", ROOT_CHAT)])).encode())

    response = post_json(agent_client, body, HTTP_CONTENT_ENCODING="gzip")

    assert response.status_code == 200 and Trace.objects.count() == 1


@pytest.mark.django_db
def test_spans_outside_any_agent_turn_and_unusable_turns_are_counted_as_rejected(agent_client):
    spans = [
        json_span("eee19b7ec3c1b174", "chat", ROOT_CHAT),
        json_span("00f067aa0ba902b7", "GET /health", {"http.method": "GET"}),
        json_span("1111111111111111", "chat", {"gen_ai.operation.name": "chat", "gen_ai.completion": "hi"}),
    ]

    response = post_json(agent_client, export(spans))

    assert response.status_code == 200
    partial = response.json()["partialSuccess"]
    assert partial["rejectedSpans"] == 2
    assert "1 span(s) belong to no GenAI agent turn" in partial["errorMessage"]
    assert "span 1111111111111111: user_message: May not be blank." in partial["errorMessage"]
    assert Trace.objects.count() == 1


@pytest.mark.django_db
def test_a_protobuf_export_with_rejections_answers_a_protobuf_partial_success(agent_client):
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
    from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span

    span = Span(trace_id=b"\x01" * 16, span_id=b"\x02" * 8, name="GET /")
    request = ExportTraceServiceRequest(resource_spans=[ResourceSpans(scope_spans=[ScopeSpans(spans=[span])])])

    response = agent_client.post(URL, data=request.SerializeToString(), content_type="application/x-protobuf")

    answer = ExportTraceServiceResponse.FromString(response.content)
    assert response.status_code == 200
    assert answer.partial_success.rejected_spans == 1


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("body", "content_type", "status", "message"),
    [
        (b"{not json", "application/json", 400, "Malformed JSON"),
        (b"[]", "application/json", 400, "must be an ExportTraceServiceRequest"),
        (b'{"resourceSpans": [{"scopeSpans": [{"spans": [{"startTimeUnixNano": "x"}]}]}]}', "application/json",
         400, "malformed resourceSpans"),
        (b"\xff\xff\xff", "application/x-protobuf", 400, "not an OTLP ExportTraceServiceRequest"),
        (b"{}", "text/plain", 415, "is not OTLP"),
    ],
    ids=["bad json", "array", "bad timestamp", "bad protobuf", "content type"],
)  # fmt: skip
def test_an_unreadable_export_is_a_4xx_status_saying_why(agent_client, body, content_type, status, message):
    response = agent_client.post(URL, data=body, content_type=content_type)

    assert response.status_code == status
    if response["Content-Type"] == "application/json":
        assert message in response.json()["message"]
    else:
        assert message.encode() in response.content


@pytest.mark.django_db
def test_a_gzip_bomb_is_a_413(agent_client, settings):
    settings.INGEST_MAX_REQUEST_BYTES = 10_000

    response = post_json(agent_client, gzip.compress(b" " * 1_000_000), HTTP_CONTENT_ENCODING="gzip")

    assert response.status_code == 413


@pytest.mark.django_db
def test_tool_spans_sent_before_their_turn_wait_for_it_then_join_it(agent_client):
    from traces.models import OtelPendingSpan

    key = "sk-proj-" + "Ab3dE5gH7jK9mN1pQ3sT5vX7zB9dF1hJ"
    tool = {"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "vault.read",
            "gen_ai.tool.call.arguments": json.dumps({"api_key": key})}  # fmt: skip
    start = 1_764_581_000_000_000_000
    turn = {"gen_ai.operation.name": "invoke_agent", "gen_ai.prompt": "Read the vault", "gen_ai.completion": "Done."}

    child = json_span("2222222222222222", "tool", tool, parent="3333333333333333", start=start + 10)
    first = post_json(agent_client, export([child]))
    waiting = list(OtelPendingSpan.objects.values_list("span_id", "span"))
    second = post_json(agent_client, export([json_span("3333333333333333", "invoke_agent", turn, start=start)]))

    assert (first.status_code, first.json(), second.json()) == (200, {}, {})
    assert [span_id for span_id, _span in waiting] == ["2222222222222222"]
    assert key not in json.dumps(waiting)
    assert [call["name"] for call in Trace.objects.get().tool_calls] == ["vault.read"]
    assert not OtelPendingSpan.objects.exists()


@pytest.mark.django_db
def test_a_turn_span_without_ids_is_rejected_not_stored_under_an_empty_key(agent_client):
    span = json_span("", "chat", ROOT_CHAT)

    response = post_json(agent_client, export([span]))

    assert response.json()["partialSuccess"]["rejectedSpans"] == 1
    assert "no traceId or spanId" in response.json()["partialSuccess"]["errorMessage"]
    assert not Trace.objects.exists()


@pytest.mark.django_db
def test_spans_whose_parents_form_a_cycle_do_not_hang_the_export(agent_client):
    turn = {"gen_ai.operation.name": "invoke_agent", "gen_ai.prompt": "Loop?", "gen_ai.completion": "No."}
    spans = [
        json_span("4444444444444444", "invoke_agent", turn, parent="5555555555555555"),
        json_span("5555555555555555", "middleware", {}, parent="4444444444444444"),
    ]

    response = post_json(agent_client, export(spans))

    assert response.status_code == 200
    assert Trace.objects.get().user_message == "Loop?"
