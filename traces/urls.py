from django.urls import path

from traces import api, otlp_api

app_name = "traces"
urlpatterns = [
    path("api/traces/", api.TraceIngestApi.as_view(), name="ingest"),
    path("api/otel/v1/traces", otlp_api.OtlpTracesApi.as_view(), name="otlp-traces"),
]
