"""What /metrics reads from the database and the broker: one function per section, read-only.

Each takes `now` and yields prometheus_client metric families. zeke_rft sits above every app,
so it may read all of them (as zeke_rft/status.py does).
"""

from datetime import timedelta

from django.apps import apps
from django.conf import settings
from django.db.models import Count, Q
from prometheus_client.core import GaugeMetricFamily

from labeling.models import LabelTask, TaskStatus
from rewards.models import AgreementCheck
from rewards.selectors import reward_model_active
from rollout.models import MonitorCheck, Rollout, RolloutState
from traces.models import Agent, FilterRun, FilterRunStatus, Trace, TraceStatus

RUNNING_ROLLOUT_STATES = (RolloutState.SHADOW, RolloutState.CANARY)


def age_seconds(moment, now) -> float:
    return max((now - moment) / timedelta(seconds=1), 0.0)


def _gauge(name: str, documentation: str, labels=(), rows=()) -> GaugeMetricFamily:
    family = GaugeMetricFamily(name, documentation, labels=list(labels))
    for label_values, value in rows:
        family.add_metric([str(v) for v in label_values], float(value))
    return family


def trace_metrics(*, now):
    by_status = dict(Trace.objects.order_by().values_list("status").annotate(n=Count("id")))
    yield _gauge(
        "zeke_traces", "Traces stored, by status", ["status"], [((s,), by_status.get(s, 0)) for s in TraceStatus.values]
    )
    dropped = Trace.objects.filter(status=TraceStatus.DROPPED).order_by().values_list("drop_reason")
    yield _gauge(
        "zeke_traces_dropped",
        "Dropped traces, by rule",
        ["reason"],
        [((r,), n) for r, n in dropped.annotate(n=Count("id"))],
    )
    since = now - timedelta(hours=24)
    per_agent = Agent.objects.order_by("name").annotate(n=Count("traces", filter=Q(traces__received_at__gte=since)))
    yield _gauge(
        "zeke_traces_received_24h",
        "Traces received in the last 24 hours, by agent",
        ["agent"],
        [((agent.name,), agent.n) for agent in per_agent],
    )


def filter_metrics(*, now):
    run = FilterRun.objects.filter(status=FilterRunStatus.SUCCEEDED, dry_run=False).order_by("-started_at").first()
    if run is None:
        return
    outcome = [(("processed",), run.processed), (("eligible",), run.eligible), (("dropped",), run.dropped)]
    yield _gauge(
        "zeke_filter_last_run_traces", "Traces of the last finished filter run, by outcome", ["outcome"], outcome
    )
    rules = [((rule,), count) for rule, count in sorted(run.counts.items()) if _is_number(count)]
    yield _gauge("zeke_filter_last_run_dropped", "Traces dropped by each rule in the last filter run", ["rule"], rules)
    yield _gauge(
        "zeke_filter_last_run_duration_seconds",
        "Duration of the last filter run",
        rows=[((), (run.duration_ms or 0) / 1000)],
    )
    yield _gauge(
        "zeke_filter_last_run_age_seconds",
        "Seconds since the last filter run finished",
        rows=[((), age_seconds(run.finished_at or run.started_at, now))],
    )


def labeling_metrics(*, now):
    pending = LabelTask.objects.filter(status=TaskStatus.PENDING).order_by().values_list("kind").annotate(n=Count("id"))
    yield _gauge("zeke_label_tasks_pending", "Label tasks waiting for a reviewer, by kind", ["kind"], list(pending))


def _broker_queue_lengths() -> dict:
    from zeke_rft.celery import app

    names = sorted({"celery", settings.CELERY_HEAVY_QUEUE})
    with app.connection_for_read(url=settings.CELERY_BROKER_URL or None) as connection:
        connection.ensure_connection(max_retries=0, timeout=2)
        channel = connection.default_channel
        return {name: _queue_length(channel, name) for name in names}


def _queue_length(channel, name: str) -> int:
    from amqp.exceptions import ChannelError

    try:
        return channel.queue_declare(queue=name, passive=True).message_count
    except ChannelError:  # never declared: no worker has consumed it yet, so nothing waits in it
        return 0


def queue_metrics(*, now):
    if settings.CELERY_TASK_ALWAYS_EAGER and not settings.CELERY_BROKER_URL:
        return
    try:
        lengths = _broker_queue_lengths()
        up = 1
    except Exception:  # the broker being down is what this metric reports
        lengths, up = {}, 0
    yield _gauge("zeke_broker_up", "1 when the Celery broker answered this scrape", rows=[((), up)])
    yield _gauge(
        "zeke_celery_queue_length",
        "Messages waiting in each Celery queue",
        ["queue"],
        [((q,), n) for q, n in lengths.items()],
    )


def job_metrics(*, now):
    """Job last-success ages from the alerts app's heartbeats; beat's last send time in any case."""
    if apps.is_installed("alerts"):
        from alerts.selectors import job_heartbeats

        rows = job_heartbeats()
        succeeded = [((r["name"],), age_seconds(r["last_succeeded_at"], now)) for r in rows if r["last_succeeded_at"]]
        yield _gauge(
            "zeke_job_last_success_age_seconds", "Seconds since each scheduled job last succeeded", ["job"], succeeded
        )
        failures = [((r["name"],), r.get("consecutive_failures", 0)) for r in rows]
        yield _gauge("zeke_job_consecutive_failures", "Failures in a row of each scheduled job", ["job"], failures)
    from django_celery_beat.models import PeriodicTask

    sent = PeriodicTask.objects.exclude(last_run_at=None).order_by("name").values_list("name", "last_run_at")
    yield _gauge(
        "zeke_beat_last_sent_age_seconds",
        "Seconds since beat last queued each job",
        ["job"],
        [((n,), age_seconds(t, now)) for n, t in sent],
    )


def _check_rows(rollout, check):
    for arm, values in sorted(check.metrics.items()):
        if not isinstance(values, dict):
            continue
        for metric, value in sorted(values.items()):
            if not metric.startswith("_") and _is_number(value):
                yield (rollout.pk, rollout.modality, arm, metric), value


def rollout_metrics(*, now):
    values, guards, ages = [], [], []
    for rollout in Rollout.objects.filter(state__in=RUNNING_ROLLOUT_STATES).order_by("pk"):
        ages.append(((rollout.pk, rollout.modality, rollout.state), age_seconds(rollout.started_at, now)))
        check = MonitorCheck.objects.filter(rollout=rollout).order_by("-checked_at").first()
        if check is None:
            continue
        values.extend(_check_rows(rollout, check))
        for guard in check.metrics.get("guards") or []:
            guards.append(((rollout.pk, guard.get("metric", "?")), 1 if guard.get("failed") else 0))
    labels = ["rollout", "modality", "arm", "metric"]
    yield _gauge(
        "zeke_rollout_started_age_seconds", "Age of each running rollout", ["rollout", "modality", "state"], ages
    )
    yield _gauge("zeke_rollout_arm_value", "Last online monitor values of each running rollout, by arm", labels, values)
    yield _gauge(
        "zeke_rollout_guard_failed", "1 when a guard failed at the last monitor check", ["rollout", "guard"], guards
    )


def reward_metrics(*, now):
    model = reward_model_active()
    if model is None:
        return
    check = AgreementCheck.objects.filter(reward_model=model).order_by("-created_at").first()
    yield _gauge(
        "zeke_reward_model_active_age_seconds",
        "Age of the active reward model",
        ["version"],
        [((model.version,), age_seconds(model.created_at, now))],
    )
    if check is None:
        return
    rows = [
        (("spearman",), check.spearman),
        (("mae",), check.mae),
        (("n",), check.n),
        (("threshold",), check.threshold),
    ]
    yield _gauge(
        "zeke_reward_agreement",
        "Model–human agreement at the last spot check",
        ["measure"],
        [r for r in rows if _is_number(r[1])],
    )
    yield _gauge(
        "zeke_reward_agreement_alert",
        "1 when the last agreement check fell below the threshold",
        rows=[((), 1 if check.alert else 0)],
    )


def _is_number(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and value == value
