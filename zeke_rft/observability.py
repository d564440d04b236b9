"""Request ids, JSON logs, request metrics and optional Sentry.

Every request gets an id (the proxy's `X-Request-ID` when it is a sane token, else a new one),
echoed in the response header and attached to every log record written while it is served,
so one grep follows a request through the web log. Request counts and latencies are
Prometheus metrics labelled by URL route (never the raw path: bounded label values).
"""

import contextvars
import logging
import re
import time
import uuid

from django.conf import settings
from django.http import HttpResponseBadRequest, JsonResponse
from django.utils.html import escape
from prometheus_client import Counter, Histogram

_request_id = contextvars.ContextVar("request_id", default="")
_SANE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")

logger = logging.getLogger("zeke_rft.requests")

HTTP_REQUESTS = Counter(
    "zeke_http_requests_total", "HTTP requests served, by method, URL route and status", ["method", "route", "status"]
)
HTTP_LATENCY = Histogram(
    "zeke_http_request_duration_seconds",
    "Time to answer an HTTP request, by method and URL route",
    ["method", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)


def current_request_id() -> str:
    return _request_id.get()


class RequestIdFilter(logging.Filter):
    """Adds `request_id` to every record (empty outside a request: commands, workers)."""

    def filter(self, record):
        # django.request logs a 4xx/5xx after the middleware returned; its record carries the request.
        request = getattr(record, "request", None)
        record.request_id = _request_id.get() or getattr(request, "request_id", "")
        return True


def _incoming_request_id(request) -> str:
    candidate = request.headers.get("X-Request-ID", "")
    return candidate if _SANE_REQUEST_ID.match(candidate) else uuid.uuid4().hex


def _route(request) -> str:
    match = getattr(request, "resolver_match", None)
    if match is None:
        return "unmatched"
    return match.route or match.view_name or "unmatched"


class RequestObservabilityMiddleware:
    """First in MIDDLEWARE: sets the request id, then logs and counts the answer."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request_id = request.request_id = _incoming_request_id(request)
        token = _request_id.set(request_id)
        started = time.perf_counter()
        try:
            response = self.get_response(request)
            response["X-Request-ID"] = request_id
            self._record(request, response.status_code, time.perf_counter() - started)
            return response
        finally:
            _request_id.reset(token)

    def _record(self, request, status: int, seconds: float) -> None:
        route = _route(request)
        HTTP_REQUESTS.labels(request.method, route, str(status)).inc()
        HTTP_LATENCY.labels(request.method, route).observe(seconds)
        logger.info(
            "%s %s %s",
            request.method,
            request.path,
            status,
            extra={
                "method": request.method,
                "path": request.path,
                "route": route,
                "status": status,
                "duration_ms": round(seconds * 1000, 1),
            },
        )


def sentry_init() -> bool:
    """Wire Sentry when SENTRY_DSN is set (web and workers); no DSN, no SDK call, no network."""
    dsn = settings.SENTRY_DSN
    if not dsn:
        return False
    import sentry_sdk
    from sentry_sdk.integrations.celery import CeleryIntegration
    from sentry_sdk.integrations.django import DjangoIntegration

    sentry_sdk.init(
        dsn=dsn,
        environment=settings.SENTRY_ENVIRONMENT,
        traces_sample_rate=settings.SENTRY_TRACES_SAMPLE_RATE,
        send_default_pii=False,  # traces hold user text: never ship request bodies or users to Sentry
        integrations=[DjangoIntegration(), CeleryIntegration()],
    )
    return True


FORM_CONTENT_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")
DATE_PARTS = ("__year", "__month", "__day")
# The review panel validates every posted field through Django forms, which name a NUL per field
# and re-render the form; its POSTs are left to them.
FORM_VALIDATED_PREFIXES = ("/review/",)
_SHORT_NUMBER = re.compile(r"^[0-9]{1,4}$")


def _odd_input(request) -> str | None:
    """What is wrong, naming the field: a NUL character in the URL, its query or a submitted form; or None.

    PostgreSQL cannot store NUL in text and refuses it even in a WHERE clause, so without this
    check a NUL in a URL parameter, an admin filter or a reason field becomes a 500.
    JSON bodies are not read here: the ingestion API names NUL characters per field itself."""
    if "\x00" in request.path:
        return "path: NUL characters are not allowed"
    sources = [request.GET]
    if request.method == "POST" and request.content_type in FORM_CONTENT_TYPES:
        if not request.path.startswith(FORM_VALIDATED_PREFIXES):
            sources.append(request.POST)
    for data in sources:
        for key, values in data.lists():
            if "\x00" in key or any("\x00" in value for value in values):
                return f"{key[:60]}: NUL characters are not allowed"
    for key, values in request.GET.lists():
        # Admin date drill-down: Django turns a huge year into an OverflowError (a 500), not its usual redirect.
        if key.endswith(DATE_PARTS) and not all(_SHORT_NUMBER.match(value) for value in values):
            return f"{key[:60]}: must be a number of at most 4 digits"
    return None


class RejectNulMiddleware:
    """400 naming the field for a NUL character anywhere in the URL or a form (or an impossible admin date
    part), before any view sees it."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        message = _odd_input(request)
        if message is None:
            return self.get_response(request)
        if request.path.startswith("/api/"):  # shaped like DRF's field errors: {field: [problem]}
            field, _, problem = message.partition(": ")
            return JsonResponse({field: [problem], "detail": message}, status=400)
        if request.headers.get("HX-Request"):  # the panel's error partial (zeke_rft.errors.htmx_error_response)
            return HttpResponseBadRequest(f'<div id="error" class="error" role="alert">{escape(message)}</div>')
        return HttpResponseBadRequest(message, content_type="text/plain; charset=utf-8")
