from django.urls import path

from traces import api

app_name = "traces"
urlpatterns = [
    path("api/traces/", api.TraceIngestApi.as_view(), name="ingest"),
]
