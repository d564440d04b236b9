"""The nightly filter: scrub PII, apply the rules, mark traces eligible or dropped; purge old raw text.

filter_run() is safe to rerun and to run concurrently:
- it claims pending traces in batches of FILTER_BATCH_SIZE with SELECT … FOR UPDATE SKIP LOCKED
  (PostgreSQL; on SQLite the database-wide write lock serialises runs), walking ids upwards, so
  two runs never take the same trace and a trace another run has finished is no longer pending;
- each batch is one transaction: traces, their scrubbed copies and the run's counts are written
  together, so a crash leaves every trace either untouched (still "received") or fully processed;
  a batch that raises is redone one trace per transaction, so a trace that cannot be processed
  (a poison trace) stays "received", is named in the run's error (status failed), and blocks no other;
- duplicates are checked under a transaction-level advisory lock per dedupe key (PostgreSQL),
  so two runs cannot both keep the same prompt/response.
A dry run reads the same traces, computes the same verdicts and counts, writes nothing to traces
and records a FilterRun with dry_run=True.
"""

from __future__ import annotations

import logging
import time
from datetime import date, datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from traces import rules as rules_module
from traces.models import FilterRun, FilterRunStatus, OtelPendingSpan, RawPurge, Trace, TraceStatus
from traces.scrub_fields import trace_scrub_input, trace_scrub_output

logger = logging.getLogger(__name__)

SCRUB_FIELDS = [
    "scrubbed_fields",
    "status",
    "drop_reason",
    "drop_detail",
    "filtered_at",
    "filter_run",
    "dedupe_key",
    "scrubbed_user_message",
    "scrubbed_context",
    "scrubbed_tool_calls",
    "scrubbed_final_response",
    "pii_found",
    "scrubbed_at",
]


def _batch_size() -> int:
    return int(getattr(settings, "FILTER_BATCH_SIZE", 200))


def _pending(*, day: date | None, refilter: bool) -> Q:
    """Traces a run takes: received ones; with refilter (admin "re-run a day") also filtered ones with raw text."""
    condition = Q(status=TraceStatus.RECEIVED)
    if refilter:
        condition = Q(status__in=TraceStatus.values, raw_purged_at__isnull=True)
    if day is not None:
        start = timezone.make_aware(datetime.combine(day, datetime.min.time()))
        condition &= Q(occurred_at__gte=start, occurred_at__lt=start + timedelta(days=1))
    return condition


def _trace_dict(trace: Trace) -> dict:
    return trace_scrub_input(trace)


def _lock_dedupe_keys(keys: list[str]) -> None:
    """Transaction-scoped advisory locks, in sorted order (no deadlock between two runs)."""
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        for key in sorted(set(keys)):
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [int(key[:15], 16)])


def _process_batch(traces: list[Trace], *, run: FilterRun, dry_run: bool, enabled, now) -> dict[str, int]:
    """Scrub, check and (unless dry_run) write one batch; returns rule name → drops (and "eligible")."""
    from privacy.scrubbing import get_scrubber

    scrubber = get_scrubber()
    originals = [_trace_dict(t) for t in traces]
    scrubbed = scrubber.scrub_traces(originals)
    residual = scrubber.residual_pii([s.as_trace() for s in scrubbed], originals)
    keys = [rules_module.dedupe_key(s.user_message, s.final_response) for s in scrubbed]
    if not dry_run:
        _lock_dedupe_keys(keys)
    kept = dict(
        Trace.objects.filter(dedupe_key__in=set(keys), status=TraceStatus.ELIGIBLE)
        .exclude(pk__in=[t.pk for t in traces])
        .values_list("dedupe_key", "pk")
    )
    counts: dict[str, int] = {}
    kept_here: set[str] = set()
    for trace, clean, hits, key in zip(traces, scrubbed, residual, keys, strict=True):
        duplicate_of = kept.get(key)
        if duplicate_of is None and key in kept_here:
            duplicate_of = 0
        ctx = rules_module.RuleContext(
            scrubbed=clean.as_trace(), residual=hits, dedupe_key=key, duplicate_of=duplicate_of
        )
        verdict = rules_module.evaluate(trace, ctx, enabled)
        if verdict is None:
            kept_here.add(key)
            counts["eligible"] = counts.get("eligible", 0) + 1
        else:
            counts[verdict[0]] = counts.get(verdict[0], 0) + 1
        if dry_run:
            continue
        trace.status = TraceStatus.ELIGIBLE if verdict is None else TraceStatus.DROPPED
        trace.drop_reason, trace.drop_detail = verdict if verdict else ("", "")
        trace.filtered_at = now
        trace.filter_run = run
        trace.dedupe_key = key
        trace.pii_found = clean.pii_found
        trace.scrubbed_at = now
        if verdict and verdict[0] == "residual_pii":
            # the scrubbed copy still holds PII: keep none of it
            trace.scrubbed_user_message, trace.scrubbed_context = "", None
            trace.scrubbed_tool_calls, trace.scrubbed_final_response = None, ""
            trace.scrubbed_fields = None
        else:
            for name, value in trace_scrub_output(clean.fields).items():
                setattr(trace, name, value)
    if not dry_run:
        Trace.objects.bulk_update(traces, SCRUB_FIELDS)
    return counts


def _add_counts(run: FilterRun, counts: dict[str, int]) -> None:
    eligible = counts.get("eligible", 0)
    dropped = sum(n for name, n in counts.items() if name != "eligible")
    run.processed += eligible + dropped
    run.eligible += eligible
    run.dropped += dropped
    for name, n in counts.items():
        if name != "eligible":
            run.counts[name] = run.counts.get(name, 0) + n


def filter_runs_recover(*, now: datetime | None = None) -> int:
    """Mark failed the runs still `running` after RUN_STALE_SECONDS: their worker died (a Celery task
    is killed at CELERY_TASK_TIME_LIMIT). Their traces are each untouched or fully processed, so the
    next run takes the untouched ones up. Returns how many runs were marked."""
    now = now or timezone.now()
    stale = now - timedelta(seconds=settings.RUN_STALE_SECONDS)
    return FilterRun.objects.filter(status=FilterRunStatus.RUNNING, started_at__lt=stale).update(
        status=FilterRunStatus.FAILED,
        finished_at=now,
        error=f"the worker died: still running after {settings.RUN_STALE_SECONDS} s; the next run resumed its traces",
    )


def filter_run(
    *, day: date | None = None, dry_run: bool = False, trigger: str, user=None, refilter: bool = False
) -> FilterRun:
    """Filter pending traces (of `day`, or all): scrub, apply the rules, record a FilterRun.

    refilter=True (admin "re-run a day") also re-evaluates that day's already filtered traces whose
    raw text is still kept; each is processed once in the run. Raises what the run raised, after
    recording it on the FilterRun (status failed, error).
    """
    recovered = filter_runs_recover()
    if recovered:
        logger.warning("%s filter run(s) left running by a dead worker were marked failed", recovered)
    enabled = rules_module.rules_enabled()
    run = FilterRun.objects.create(
        trigger=trigger,
        triggered_by=user if getattr(user, "pk", None) else None,
        day=day,
        dry_run=dry_run,
        counts={name: 0 for name, _ in enabled},
    )
    started = time.monotonic()
    condition = _pending(day=day, refilter=refilter)
    last_id = 0
    failures: list[tuple[int, str]] = []

    def claim(after: int, limit: int, only: int | None = None) -> list[Trace]:
        queryset = Trace.objects.filter(condition, pk__gt=after).order_by("pk")
        if only is not None:
            queryset = queryset.filter(pk=only)
        if refilter:
            queryset = queryset.filter(Q(filter_run__isnull=True) | ~Q(filter_run=run))
        if not dry_run:
            queryset = queryset.select_for_update(skip_locked=True, of=("self",))
        return list(queryset[:limit])

    def process(batch: list[Trace]) -> None:
        counts = _process_batch(batch, run=run, dry_run=dry_run, enabled=enabled, now=timezone.now())
        _add_counts(run, counts)
        run.duration_ms = int((time.monotonic() - started) * 1000)
        run.save(update_fields=["processed", "eligible", "dropped", "counts", "duration_ms"])

    try:
        while True:
            batch: list[Trace] = []
            try:
                with transaction.atomic():
                    batch = claim(last_id, _batch_size())
                    if not batch:
                        break
                    process(batch)
                last_id = batch[-1].pk
            except Exception:
                if not batch:
                    raise
                run.refresh_from_db(fields=["processed", "eligible", "dropped", "counts"])
                # one bad trace must not block the others, tonight or any night: redo the batch one
                # trace per transaction; a trace that fails alone stays received and is reported
                ids = [t.pk for t in batch]
                last_id = ids[-1]
                for pk in ids:
                    try:
                        with transaction.atomic():
                            single = claim(pk - 1, 1, only=pk)
                            if single:
                                process(single)
                    except Exception as exc:
                        logger.exception("filter run %s: trace %s could not be filtered", run.pk, pk)
                        failures.append((pk, f"{type(exc).__name__}: {exc}"))
                        run.refresh_from_db(fields=["processed", "eligible", "dropped", "counts"])
    except BaseException as exc:
        run.status = FilterRunStatus.FAILED
        run.error = f"{type(exc).__name__}: {exc}"[:2000]
        run.finished_at = timezone.now()
        run.duration_ms = int((time.monotonic() - started) * 1000)
        run.save(update_fields=["status", "error", "finished_at", "duration_ms"])
        logger.exception("filter run %s failed", run.pk)
        raise
    run.status = FilterRunStatus.FAILED if failures else FilterRunStatus.SUCCEEDED
    if failures:
        ids = ", ".join(str(pk) for pk, _ in failures[:50])
        run.error = (
            f"{len(failures)} trace(s) could not be filtered and stay received (ids {ids}); "
            f"first error: {failures[0][1]}"
        )[:2000]
    run.finished_at = timezone.now()
    run.duration_ms = int((time.monotonic() - started) * 1000)
    run.save(update_fields=["status", "error", "finished_at", "duration_ms"])
    logger.info(
        "filter run %s%s: %s processed, %s eligible, %s dropped %s",
        run.pk,
        " (dry run)" if dry_run else "",
        run.processed,
        run.eligible,
        run.dropped,
        run.counts,
    )
    return run


def raw_purge(*, trigger: str, user=None, now: datetime | None = None) -> RawPurge:
    """Empty the raw text of traces older than RAW_RETENTION_DAYS and record a RawPurge.

    Only traces already filtered (scrubbed copies exist) are purged. Old traces still "received"
    are filtered first (a normal filter run over them), so nothing is lost unscrubbed; a trace the
    filter could not process keeps its raw text until a later run succeeds.
    """
    now = now or timezone.now()
    cutoff = now - timedelta(days=settings.RAW_RETENTION_DAYS)
    if Trace.objects.filter(status=TraceStatus.RECEIVED, occurred_at__lt=cutoff).exists():
        filter_run(trigger=trigger, user=user)
    with transaction.atomic():
        purged = (
            Trace.objects.filter(occurred_at__lt=cutoff, raw_purged_at__isnull=True, scrubbed_at__isnull=False)
            .exclude(status=TraceStatus.RECEIVED)
            .update(user_message="", context={}, tool_calls=[], final_response="", extra={}, raw_purged_at=now)
        )
        # OTLP spans still waiting for their turn are raw text too: kept no longer than the traces.
        OtelPendingSpan.objects.filter(received_at__lt=cutoff).delete()
        record = RawPurge.objects.create(
            cutoff=cutoff, purged=purged, trigger=trigger, triggered_by=user if getattr(user, "pk", None) else None
        )
    logger.info("raw purge %s: %s traces before %s", record.pk, purged, cutoff)
    return record
