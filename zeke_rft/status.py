"""GET /api/agents/status — for smoke tests and monitoring.

zeke_rft sits above every app, so this is the one place that composes their
status without making traces depend on rollout or rewards.
"""

from datetime import timedelta

from django.conf import settings
from django.db import DatabaseError, connection
from django.db.models import Count, Max, Q
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from alerts.selectors import job_heartbeats, stale_jobs
from rewards.selectors import reward_model_alerts
from rollout.selectors import policy_active_by_modality
from traces.models import Agent


def database_reachable() -> bool:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        return True
    except Exception:
        return False


def broker_status() -> dict:
    """Eager mode with no broker URL has nothing to reach; otherwise connect once, for at most 2 s.

    A configured broker is checked even when tasks run eagerly: beat and the workers need it.
    One attempt, no retry: a monitor polls again, and kombu's retry would add 2 s to every answer.
    """
    if settings.CELERY_TASK_ALWAYS_EAGER and not settings.CELERY_BROKER_URL:
        return {"mode": "eager", "reachable": True}
    from zeke_rft.celery import app

    try:
        # The URL from settings, read now (the Celery app's copy is fixed when it first loads).
        with app.connection_for_write(url=settings.CELERY_BROKER_URL or None) as conn:
            conn.ensure_connection(max_retries=0, timeout=2)
        return {"mode": "broker", "reachable": True}
    except Exception as exc:
        return {"mode": "broker", "reachable": False, "error": str(exc)[:200]}


def agents_status() -> list[dict]:
    since = timezone.now() - timedelta(hours=24)
    agents = Agent.objects.annotate(
        last_trace_at=Max("traces__received_at"),
        traces_24h=Count("traces", filter=Q(traces__received_at__gte=since)),
    ).order_by("name")
    return [
        {
            "name": agent.name,
            "modality": agent.modality,
            "active": agent.active,
            "last_trace_at": agent.last_trace_at,
            "traces_24h": agent.traces_24h,
        }
        for agent in agents
    ]


def jobs_status() -> dict:
    """Scheduled jobs: last start/success/failure each, and the stale ones (named, with times)."""
    stale = stale_jobs()
    return {
        "stale": [
            {key: job[key] for key in ("name", "last_succeeded_at", "stale_after_minutes", "late_by_minutes")}
            for job in stale
        ],
        "heartbeats": job_heartbeats(),
    }


def system_status() -> dict:
    """`ok` is reachability (503 when false); `status` is ok | degraded (stale jobs) | down."""
    database_ok = database_reachable()
    broker = broker_status()
    jobs = jobs_status() if database_ok else {"stale": [], "heartbeats": []}
    reachable = database_ok and broker["reachable"]
    return {
        "ok": reachable,
        "status": "down" if not reachable else ("degraded" if jobs["stale"] else "ok"),
        "jobs": jobs,
        "time": timezone.now(),
        "database": {"reachable": database_ok, "vendor": connection.vendor},
        "broker": broker,
        "agents": agents_status() if database_ok else [],
        "active_policies": policy_active_by_modality() if database_ok else {},
        "alerts": reward_model_alerts() if database_ok else [],
    }


class _DatabaseDown(Exception):
    """The database failed while checking who is asking (every token and session lives there)."""


class AgentsStatusApi(APIView):
    """Any agent token or a logged-in user; 503 when the database or the broker is unreachable.

    With the database down no token can be checked, so the answer is only the reachability part,
    to anyone: a monitor learns what is down, nobody learns anything per agent.
    """

    def initial(self, request, *args, **kwargs):
        try:
            super().initial(request, *args, **kwargs)
        except DatabaseError as exc:
            raise _DatabaseDown() from exc

    def handle_exception(self, exc):
        if isinstance(exc, _DatabaseDown):
            body = {
                "ok": False,
                "status": "down",
                "time": timezone.now(),
                "database": {"reachable": False, "vendor": connection.vendor},
                "broker": broker_status(),
            }
            return Response(body, status=503)
        return super().handle_exception(exc)

    @extend_schema(
        operation_id="agents_status",
        summary="Database and broker reachability, per-agent activity, active policies, alerts",
        responses={200: OpenApiTypes.OBJECT, 503: OpenApiTypes.OBJECT},
        tags=["status"],
    )
    def get(self, request):
        status = system_status()
        return Response(status, status=200 if status["ok"] else 503)
