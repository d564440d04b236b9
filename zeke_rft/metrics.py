"""GET /metrics — Prometheus text format, for a scraper holding METRICS_TOKEN or on an allowed network.

Request metrics are counted in-process (zeke_rft/observability.py; summed over gunicorn workers
when PROMETHEUS_MULTIPROC_DIR is set). Everything else is read from the database at scrape
time, so every worker answers the same: traces by status, ingestion in the last 24 h, filter
results, queue sizes, scheduled-job ages, rollout guard values and reward-model agreement.
A section that fails is reported by `zeke_metrics_section_up{section} 0`, never a 500.
"""

import hmac
import ipaddress
import logging
import os

from django.conf import settings
from django.http import HttpResponse
from django.utils import timezone
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily

from zeke_rft import metric_sources

logger = logging.getLogger(__name__)

SECTIONS = (
    ("traces", metric_sources.trace_metrics),
    ("filter", metric_sources.filter_metrics),
    ("labeling", metric_sources.labeling_metrics),
    ("queues", metric_sources.queue_metrics),
    ("jobs", metric_sources.job_metrics),
    ("rollouts", metric_sources.rollout_metrics),
    ("rewards", metric_sources.reward_metrics),
)


class DatabaseCollector:
    """Collects every section; one section's error is logged and reported, the others still answer."""

    def collect(self):
        up = GaugeMetricFamily(
            "zeke_metrics_section_up", "1 when the section was read at this scrape", labels=["section"]
        )
        for name, source in SECTIONS:
            try:
                families = list(source(now=timezone.now()))
            except Exception:
                logger.exception("metrics section %s failed", name)
                up.add_metric([name], 0)
                continue
            up.add_metric([name], 1)
            yield from families
        yield up


def _client_address_allowed(request) -> bool:
    address = request.META.get("REMOTE_ADDR", "")
    try:
        client = ipaddress.ip_address(address)
    except ValueError:
        return False
    for network in settings.METRICS_ALLOWED_NETWORKS:
        if client in ipaddress.ip_network(network, strict=False):
            return True
    return False


def _token_matches(request) -> bool:
    expected = settings.METRICS_TOKEN
    header = request.headers.get("Authorization", "")
    if not expected or not header.startswith("Bearer "):
        return False
    return hmac.compare_digest(header.removeprefix("Bearer ").strip().encode(), expected.encode())


def _exposition() -> bytes:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        process_registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(process_registry)
    else:
        process_registry = REGISTRY
    database_registry = CollectorRegistry()
    database_registry.register(DatabaseCollector())
    return generate_latest(process_registry) + generate_latest(database_registry)


def metrics_view(request):
    if not (_token_matches(request) or _client_address_allowed(request)):
        if settings.METRICS_TOKEN:
            return HttpResponse("metrics need Authorization: Bearer METRICS_TOKEN\n", status=401)
        if settings.METRICS_ALLOWED_NETWORKS:
            return HttpResponse("metrics: this address is not in METRICS_ALLOWED_NETWORKS\n", status=403)
        return HttpResponse("metrics are off: set METRICS_TOKEN or METRICS_ALLOWED_NETWORKS\n", status=403)
    return HttpResponse(_exposition(), content_type=CONTENT_TYPE_LATEST)
