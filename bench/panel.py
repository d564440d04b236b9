"""Benchmark of the review panel with 1,000,000 traces in PostgreSQL: server time of the item view and of a
score submission (HTMX: scorecard_submit + the next item's partial). Goal (issue 4): p95 < 50 ms for both.

Run: .venv/bin/python bench/panel.py   (BENCH_PANEL_TRACES, BENCH_PANEL_REQUESTS, BENCH_PANEL_REUSE=1 to keep
an already filled bench database, BENCH_PANEL_SQL=1 to print the statements of one request of each kind).
Uses a fresh database `zeke_rft_bench_panel` on 127.0.0.1 (migrated first), fills it with generate_series
INSERTs, and times requests in-process with Django's test Client (server-side time: middleware, view, queries,
template; no network). EXPLAINs every query of one item view and flags sequential scans on the big tables.
"""

import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

BENCH_DB = "zeke_rft_bench_panel"
SERVER_URL = os.environ.get("BENCH_PANEL_SERVER", "postgres://postgres@127.0.0.1:5432")
N_TRACES = int(os.environ.get("BENCH_PANEL_TRACES", 1_000_000))
N_REQUESTS = int(os.environ.get("BENCH_PANEL_REQUESTS", 200))
N_MODEL_EVENTS = N_TRACES // 10
REUSE = os.environ.get("BENCH_PANEL_REUSE") == "1"
SHOW_SQL = os.environ.get("BENCH_PANEL_SQL") == "1"  # print the statements of one item view and one submission
BIG_TABLES = ("traces_trace", "reward_events")  # the tables with a million rows here; small ones may seq-scan

os.environ["DATABASE_URL"] = f"{SERVER_URL}/{BENCH_DB}"
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "zeke_rft.settings")
os.environ["DEBUG"] = "false"  # measure as production runs (no query log, no debug toolbar)
os.environ.setdefault("SECRET_KEY", "bench-only-not-secret")
os.environ.setdefault("ALLOWED_HOSTS", "testserver,127.0.0.1,localhost")
os.environ.setdefault("SECURE_SSL_REDIRECT", "false")  # the test client speaks plain http


def _fresh_database() -> bool:
    import psycopg

    with psycopg.connect(f"{SERVER_URL}/postgres", autocommit=True) as connection:
        exists = connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", [BENCH_DB]).fetchone()
        if exists and REUSE:
            return False
        if exists:
            connection.execute(f'DROP DATABASE "{BENCH_DB}" WITH (FORCE)')
        connection.execute(f'CREATE DATABASE "{BENCH_DB}"')
    return True


def _fill(agent_id: int) -> None:
    from django.db import connection

    categories = "ARRAY['communication','scheduling','ops','research','memory','other']"
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            INSERT INTO traces_trace (
                agent_id, modality, external_id, conversation_id, user_message, context, selected_tools, tool_calls,
                final_response, latency_ms, flags, policy_id, rollout_id, arm, task_category, occurred_at, received_at,
                secrets_redacted, status, drop_reason, drop_detail, filtered_at, filter_run_id, dedupe_key,
                scrubbed_user_message, scrubbed_context, scrubbed_tool_calls, scrubbed_final_response, pii_found,
                scrubbed_at, raw_purged_at, quarantined, quarantine_reason)
            SELECT %s, 'chat', 'bench-' || n, 'conv-' || (n / 3), '', '{{}}', '["calendar.create"]', '[]',
                '', 200 + n %% 900,
                CASE WHEN n %% 17 = 0 THEN '["tool_error"]'::jsonb ELSE '[]'::jsonb END,
                'ft:zeke-base', NULL, CASE WHEN n %% 50 = 1 THEN 'candidate' ELSE '' END,
                ({categories})[1 + n %% 6], now() - (n * interval '2.6 seconds'), now(), 0,
                CASE WHEN n %% 10 = 0 THEN 'dropped' ELSE 'eligible' END, '', '', now(), NULL, md5(n::text),
                'Please move my ' || n || ' o''clock with <PERSON> to Friday and tell her.',
                '{{"channel": "chat", "timezone": "Europe/Berlin"}}',
                jsonb_build_array(jsonb_build_object('name', 'calendar.update', 'args',
                    jsonb_build_object('event', n, 'day', 'friday'), 'result', jsonb_build_object('ok', true),
                    'error', NULL, 'latency_ms', 40 + n %% 300)),
                'Done — moved to Friday and messaged <PERSON>.', '{{"PERSON": 1}}', now(), now(), false, ''
            FROM generate_series(1, %s) AS n
            """,
            [agent_id, N_TRACES],
        )
        cursor.execute(
            """
            INSERT INTO reward_events (trace_id, reward, source, reward_model_version, uncertainty, rule, created_at)
            SELECT id, (id %% 100) / 100.0, 'model', 'rm-bench', ((id * 7919) %% 1000) / 1000.0, '', now()
            FROM traces_trace WHERE status = 'eligible' ORDER BY id LIMIT %s
            """,
            [N_MODEL_EVENTS],
        )
        cursor.execute("ANALYZE")


def _percentiles(samples: list[float]) -> str:
    ordered = sorted(samples)
    p95 = ordered[max(0, round(0.95 * len(ordered)) - 1)]
    return f"p50 {statistics.median(ordered):.1f} ms, p95 {p95:.1f} ms, max {ordered[-1]:.1f} ms"


def _explain(queries: list[dict]) -> list[str]:
    from django.db import connection

    findings = []
    with connection.cursor() as cursor:
        for query in queries:
            sql = query["sql"]
            if not sql.lstrip().upper().startswith("SELECT"):
                continue
            cursor.execute("EXPLAIN " + sql)
            plan = "\n".join(row[0] for row in cursor.fetchall())
            for table in BIG_TABLES:
                if f"Seq Scan on {table}" in plan:
                    findings.append(f"Seq Scan on {table}: {sql[:160]}")
    return findings


def _commit_floor(samples: int = 200) -> list[float]:
    """Wall time of a one-row INSERT + COMMIT: the disk-flush floor every score submission pays."""
    from django.db import connection, transaction

    with connection.cursor() as cursor:
        cursor.execute("CREATE TABLE IF NOT EXISTS bench_commit_floor (id serial PRIMARY KEY, at timestamptz)")
    times = []
    for _ in range(samples):
        began = time.perf_counter()
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("INSERT INTO bench_commit_floor (at) VALUES (now())")
        times.append((time.perf_counter() - began) * 1000)
    return times


def main() -> int:
    fresh = _fresh_database()
    import django

    django.setup()
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext
    from django.utils import timezone

    from labeling.access import reviewers_group
    from labeling.models import LabelTask
    from labeling.services import label_queue_build, label_tasks_add, rubric_active
    from traces.models import Agent, Trace
    from traces.services import agent_create

    settings.ALLOWED_HOSTS = ["testserver"]
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    started = time.perf_counter()
    if fresh:
        call_command("migrate", verbosity=0)
        agent, _ = agent_create(name="bench-conductor")
        _fill(agent.pk)
        print(
            f"filled {N_TRACES:,} traces + {N_MODEL_EVENTS:,} model reward events "
            f"in {time.perf_counter() - started:.0f} s"
        )
    else:
        agent = Agent.objects.get(name="bench-conductor")
    print(f"traces in {BENCH_DB}: {Trace.objects.count():,}")

    day = timezone.localdate() + timezone.timedelta(days=int(time.time()) % 1000)  # a new day per rerun
    started = time.perf_counter()
    queue, added = label_queue_build(day=day)
    print(
        f"label_queue_build over {N_TRACES:,} traces: {added} tasks in {(time.perf_counter() - started) * 1000:.0f} ms"
    )
    extra_ids = list(
        Trace.objects.filter(status="eligible", label_tasks__isnull=True)
        .order_by("-id")
        .values_list("id", flat=True)[: N_REQUESTS + 10]
    )
    label_tasks_add(trace_ids=extra_ids, reason="stratified", day=day)
    rubric_active()
    user, _ = get_user_model().objects.get_or_create(username=f"bench-reviewer-{day}")
    user.groups.add(reviewers_group())
    client = Client()
    client.force_login(user)
    tasks = list(
        LabelTask.objects.filter(queue=queue, kind="score", reviewer__isnull=True)  # not another reviewer's
        .exclude(reason="overlap")
        .order_by("position")
        .values_list("id", flat=True)
    )

    for task_id in tasks[:5]:  # warm-up: connections, template cache
        client.get(f"/review/item/{task_id}/")
    item_times, item_cpu, item_sql, item_queries = [], [], [], 0
    for i in range(N_REQUESTS):
        task_id = tasks[i % len(tasks)]
        with CaptureQueriesContext(connection) as captured:
            began, began_cpu = time.perf_counter(), time.process_time()
            response = client.get(f"/review/item/{task_id}/")
            item_times.append((time.perf_counter() - began) * 1000)
            item_cpu.append((time.process_time() - began_cpu) * 1000)
        item_sql.append(sum(float(query["time"]) for query in captured.captured_queries) * 1000)
        assert response.status_code == 200, response.status_code
        item_queries = len(captured.captured_queries)
        last_item_queries = captured.captured_queries

    form = {
        "success": 4,
        "helpfulness": 4,
        "tone_alignment": 5,
        "safety": 5,
        "task_category": "scheduling",
        "complexity": 2,
    }
    submit_times, submit_cpu, submit_sql, submit_queries = [], [], [], 0
    for task_id in tasks[:N_REQUESTS]:
        with CaptureQueriesContext(connection) as captured:
            began, began_cpu = time.perf_counter(), time.process_time()
            response = client.post(
                f"/review/item/{task_id}/", {**form, "rationale": "bench"}, headers={"HX-Request": "true"}
            )
            submit_times.append((time.perf_counter() - began) * 1000)
            submit_cpu.append((time.process_time() - began_cpu) * 1000)
        submit_sql.append(sum(float(query["time"]) for query in captured.captured_queries) * 1000)
        assert response.status_code == 200, (response.status_code, response.content[:500])
        submit_queries = len(captured.captured_queries)
        last_submit_queries = captured.captured_queries

    print(f"load average while measuring: {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
    print(
        f"item view  ({len(item_times)} requests, {item_queries} queries each): "
        f"{_percentiles(item_times)}  (goal p95 < 50 ms)"
    )
    print(
        f"           Django process CPU per request: {_percentiles(item_cpu)}; waiting on SQL: {_percentiles(item_sql)}"
    )
    print(
        f"submission ({len(submit_times)} HTMX posts incl. next item, {submit_queries} queries each): "
        f"{_percentiles(submit_times)}  (goal p95 < 50 ms)"
    )
    print(
        f"           Django process CPU per request: {_percentiles(submit_cpu)}; "
        f"waiting on SQL: {_percentiles(submit_sql)}"
    )
    print(f"           for scale, one durable one-row commit on this server: {_percentiles(_commit_floor())}")
    if SHOW_SQL:
        for name, queries in (("item view", last_item_queries), ("submission", last_submit_queries)):
            print(f"statements of one {name}:")
            for query in queries:
                print(f"  {query['time']:>6} s  {query['sql'][:150]}")
    findings = _explain(last_item_queries)
    print("EXPLAIN of the item view's queries: " + ("no sequential scans on big tables" if not findings else ""))
    for finding in findings:
        print("  " + finding)
    ok = (
        sorted(item_times)[round(0.95 * len(item_times)) - 1] < 50
        and sorted(submit_times)[round(0.95 * len(submit_times)) - 1] < 50
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
