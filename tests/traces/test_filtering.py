"""filter_run, run_filters, the nightly tasks and the raw-text purge."""

import io
import threading
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from django.core.management import call_command
from django.db import connection
from django.utils import timezone

from traces import rules
from traces.filtering import filter_run, raw_purge
from traces.models import FilterRun, FilterRunStatus, RawPurge, Trace, TraceStatus
from traces.tasks import purge_raw_text_nightly, run_filters_nightly

pytestmark = pytest.mark.django_db
DAY = date(2026, 11, 30)
_numbers = iter(range(1, 1_000_000))


def make_trace(agent, *, occurred_at=None, **fields) -> Trace:
    number = next(_numbers)
    defaults = {
        "agent": agent,
        "external_id": f"f-{number}",
        "conversation_id": f"c-{number}",
        "user_message": f"Email Maria Gonzalez at maria.gonzalez@example.com about invoice {number}.",
        "context": {"user": {"name": "Maria Gonzalez", "phone": "+1 415 555 0132"}},
        "selected_tools": ["email.send"],
        "tool_calls": [
            {
                "name": "email.send",
                "args": {"to": "maria.gonzalez@example.com", "body": f"Hi Maria Gonzalez, invoice {number} attached."},
                "result": {"status": "sent", "message_id": f"m-{number}"},
                "error": None,
                "latency_ms": 120,
            }
        ],
        "final_response": f"I've sent invoice {number} to Maria Gonzalez (maria.gonzalez@example.com).",
        "latency_ms": 900,
        "flags": [],
        "occurred_at": occurred_at or datetime(2026, 11, 30, 10, 0, tzinfo=UTC) + timedelta(seconds=number),
    }
    defaults.update(fields)
    return Trace.objects.create(**defaults)


def test_received_traces_become_eligible_with_scrubbed_copies(agent):
    trace = make_trace(agent)

    run = filter_run(trigger="command")

    trace.refresh_from_db()
    assert (trace.status, trace.drop_reason, trace.filter_run_id) == (TraceStatus.ELIGIBLE, "", run.pk)
    assert trace.scrubbed_user_message.startswith("Email <PERSON_1> at <EMAIL_ADDRESS_1> about invoice")
    assert trace.scrubbed_context == {"user": {"name": "<PERSON_1>", "phone": "<PHONE_NUMBER_1>"}}
    call = trace.scrubbed_tool_calls[0]
    assert call["name"] == "email.send"
    assert call["args"]["to"] == "<EMAIL_ADDRESS_1>"
    assert call["args"]["body"].startswith("Hi <PERSON_1>,")
    assert "<PERSON_1> (<EMAIL_ADDRESS_1>)" in trace.scrubbed_final_response
    assert trace.pii_found == {"EMAIL_ADDRESS": 1, "PERSON": 1, "PHONE_NUMBER": 1}
    assert trace.scrubbed_at and trace.filtered_at and len(trace.dedupe_key) == 64
    # raw text is kept (until the purge), the copies hold none of it
    assert "maria.gonzalez@example.com" in trace.user_message
    scrubbed = str([trace.scrubbed_user_message, trace.scrubbed_context, call, trace.scrubbed_final_response])
    assert "Maria" not in scrubbed and "example.com" not in scrubbed and "555" not in scrubbed
    assert (run.status, run.processed, run.eligible, run.dropped) == (FilterRunStatus.SUCCEEDED, 1, 1, 0)
    assert run.finished_at and run.duration_ms is not None


def test_each_rule_drops_with_its_reason_and_counts_add_up(agent, settings):
    settings.TIMEOUT_THRESHOLD_MS = 30_000
    make_trace(agent)
    make_trace(agent, flags=["timeout"])
    make_trace(agent, latency_ms=45_000)
    make_trace(agent, flags=["safety:violence"])
    make_trace(agent, final_response="ok")
    make_trace(agent, tool_calls=[{"name": "email.send", "args": {}, "result": None, "error": "SMTP 550"}])
    make_trace(agent, selected_tools=["email.send", "crm.update"])
    make_trace(agent, tool_calls=[], selected_tools=[])  # "I've sent ..." with no call
    dup_text = {"user_message": "What's the weather in Lisbon?", "final_response": "Sunny and 18°C in Lisbon."}
    make_trace(agent, tool_calls=[], selected_tools=[], **dup_text)
    make_trace(agent, tool_calls=[], selected_tools=[], **dup_text)

    run = filter_run(trigger="command")

    reasons = sorted(Trace.objects.filter(status=TraceStatus.DROPPED).values_list("drop_reason", flat=True))
    assert reasons == sorted(
        [
            "timeout",
            "timeout",
            "unsafe",
            "low_signal",
            "tool_failure",
            "incomplete_tool_run",
            "likely_hallucination",
            "duplicate",
        ]
    )
    assert Trace.objects.filter(status=TraceStatus.ELIGIBLE).count() == 2
    assert (run.processed, run.eligible, run.dropped) == (10, 2, 8)
    assert run.counts["timeout"] == 2 and run.counts["duplicate"] == 1 and run.counts["residual_pii"] == 0
    assert sum(run.counts.values()) == run.dropped
    assert all(t.drop_detail for t in Trace.objects.filter(status=TraceStatus.DROPPED))


def test_a_duplicate_of_a_trace_kept_in_an_earlier_run_is_dropped(agent):
    first = make_trace(agent, tool_calls=[], selected_tools=[], final_response="Lisbon is sunny today.")
    filter_run(trigger="command")
    second = make_trace(agent, tool_calls=[], selected_tools=[], final_response="Lisbon is SUNNY today!")
    second.user_message = first.user_message
    second.save()

    filter_run(trigger="command")

    second.refresh_from_db()
    assert (second.status, second.drop_reason) == (TraceStatus.DROPPED, "duplicate")
    assert second.drop_detail == f"duplicate of trace {first.pk}"


def test_residual_pii_is_dropped_and_keeps_no_scrubbed_copy(agent, monkeypatch):
    from privacy.scrubbing import Scrubber

    monkeypatch.setattr(Scrubber, "residual_pii", lambda self, scrubbed, originals=None: [["CREDIT_CARD: chars 1-2"]])
    trace = make_trace(agent)

    run = filter_run(trigger="command")

    trace.refresh_from_db()
    assert (trace.status, trace.drop_reason) == (TraceStatus.DROPPED, "residual_pii")
    assert trace.scrubbed_user_message == "" and trace.scrubbed_tool_calls is None
    assert run.counts["residual_pii"] == 1


def test_a_dry_run_writes_no_trace_but_records_its_counts(agent):
    make_trace(agent)
    make_trace(agent, flags=["timeout"])
    before = list(Trace.objects.values())

    run = filter_run(trigger="admin", dry_run=True)

    assert list(Trace.objects.values()) == before
    assert (run.dry_run, run.processed, run.eligible, run.dropped, run.counts["timeout"]) == (True, 2, 1, 1, 1)
    assert FilterRun.objects.get(pk=run.pk).status == FilterRunStatus.SUCCEEDED


def test_only_the_given_day_is_filtered(agent):
    inside = make_trace(agent, occurred_at=datetime(2026, 11, 30, 23, 59, tzinfo=UTC))
    outside = make_trace(agent, occurred_at=datetime(2026, 12, 1, 0, 0, 1, tzinfo=UTC))

    run = filter_run(day=DAY, trigger="command")

    assert run.day == DAY and run.processed == 1
    assert Trace.objects.get(pk=inside.pk).status == TraceStatus.ELIGIBLE
    assert Trace.objects.get(pk=outside.pk).status == TraceStatus.RECEIVED


def test_refilter_re_evaluates_a_day_once(agent, settings):
    trace = make_trace(agent, flags=["timeout"])
    filter_run(trigger="command")
    assert Trace.objects.get(pk=trace.pk).drop_reason == "timeout"
    settings.FILTER_RULES_DISABLED = ["timeout"]

    run = filter_run(day=DAY, trigger="admin", refilter=True)

    assert run.processed == 1
    assert Trace.objects.get(pk=trace.pk).status == TraceStatus.ELIGIBLE


def test_the_nightly_task_run_twice_has_one_effect(agent, settings):
    settings.FILTER_BATCH_SIZE = 2
    for _ in range(5):
        make_trace(agent)
    make_trace(agent, flags=["timeout"])

    first = FilterRun.objects.get(pk=run_filters_nightly.delay().get())
    after_first = list(Trace.objects.order_by("pk").values())
    second = FilterRun.objects.get(pk=run_filters_nightly())

    assert (first.trigger, first.processed, first.eligible, first.dropped) == ("beat", 6, 5, 1)
    assert (second.processed, second.eligible, second.dropped) == (0, 0, 0)
    assert list(Trace.objects.order_by("pk").values()) == after_first


class WorkerKilled(BaseException):
    """Stands for the process dying (SIGTERM/SIGKILL): not an Exception, nothing catches it."""


def test_a_crash_mid_run_leaves_each_trace_untouched_or_fully_processed(agent, settings, monkeypatch):
    settings.FILTER_BATCH_SIZE = 2
    traces = [make_trace(agent) for _ in range(5)]
    real = rules.evaluate
    calls = {"n": 0}

    def killed_on_third(trace, ctx, enabled=None):
        calls["n"] += 1
        if calls["n"] == 3:
            raise WorkerKilled
        return real(trace, ctx, enabled)

    monkeypatch.setattr(rules, "evaluate", killed_on_third)
    with pytest.raises(WorkerKilled):
        filter_run(trigger="command")

    run = FilterRun.objects.get()
    assert (run.status, run.processed) == (FilterRunStatus.FAILED, 2)
    assert "WorkerKilled" in run.error
    states = [Trace.objects.get(pk=t.pk) for t in traces]
    assert [t.status for t in states] == ["eligible", "eligible", "received", "received", "received"]
    for t in states[2:]:
        assert (t.scrubbed_user_message, t.scrubbed_at, t.filter_run_id, t.dedupe_key) == ("", None, None, "")

    monkeypatch.setattr(rules, "evaluate", real)
    rerun = filter_run(trigger="command")
    assert rerun.processed == 3
    assert not Trace.objects.filter(status=TraceStatus.RECEIVED).exists()


def test_a_poison_trace_stays_received_and_blocks_no_other(agent, settings, monkeypatch):
    settings.FILTER_BATCH_SIZE = 3
    traces = [make_trace(agent) for _ in range(6)]
    poison = traces[1]
    real = rules.evaluate

    def choke_on_poison(trace, ctx, enabled=None):
        if trace.pk == poison.pk:
            raise ValueError("cannot parse this one")
        return real(trace, ctx, enabled)

    monkeypatch.setattr(rules, "evaluate", choke_on_poison)
    run = filter_run(trigger="command")

    assert (run.status, run.processed, run.eligible) == (FilterRunStatus.FAILED, 5, 5)
    assert f"ids {poison.pk})" in run.error and "cannot parse this one" in run.error
    assert Trace.objects.get(pk=poison.pk).status == TraceStatus.RECEIVED
    assert Trace.objects.filter(status=TraceStatus.ELIGIBLE).count() == 5
    monkeypatch.setattr(rules, "evaluate", real)
    assert filter_run(trigger="command").processed == 1


def test_run_filters_command_with_date_and_dry_run(agent):
    make_trace(agent)
    make_trace(agent, flags=["timeout"])
    out = io.StringIO()

    call_command("run_filters", "--date", "2026-11-30", "--dry-run", stdout=out)

    assert "(dry run): 2 processed, 1 eligible, 1 would drop" in out.getvalue()
    assert "timeout: 1" in out.getvalue()
    assert Trace.objects.filter(status=TraceStatus.RECEIVED).count() == 2
    call_command("run_filters", stdout=io.StringIO())
    assert not Trace.objects.filter(status=TraceStatus.RECEIVED).exists()
    assert FilterRun.objects.filter(trigger="command").count() == 2


def test_run_filters_rejects_a_bad_date():
    from django.core.management import CommandError

    with pytest.raises(CommandError, match="YYYY-MM-DD"):
        call_command("run_filters", "--date", "30/11/2026")


# --- raw retention ---------------------------------------------------------------------------


def test_purge_empties_raw_text_of_old_filtered_traces_only(agent, settings):
    settings.RAW_RETENTION_DAYS = 7
    now = timezone.now()
    old = make_trace(agent, occurred_at=now - timedelta(days=8))
    recent = make_trace(agent, occurred_at=now - timedelta(days=2))
    filter_run(trigger="command")
    old_pending = make_trace(agent, occurred_at=now - timedelta(days=9))  # never filtered yet

    record = raw_purge(trigger="command")

    assert record.purged == 2 and RawPurge.objects.count() == 1
    for trace in (old, old_pending):
        trace.refresh_from_db()
        assert (trace.user_message, trace.context, trace.tool_calls, trace.final_response) == ("", {}, [], "")
        assert trace.raw_purged_at is not None
        assert trace.status == TraceStatus.ELIGIBLE  # filtered first: its scrubbed copy survives
        assert trace.scrubbed_user_message.startswith("Email <PERSON_1>")
    recent.refresh_from_db()
    assert recent.raw_purged_at is None and "Maria" in recent.user_message
    # a second purge finds nothing more
    assert purge_raw_text_nightly() and RawPurge.objects.first().purged == 0


def test_purge_empties_extra_fields_and_old_waiting_otlp_spans(agent, settings):
    from traces.models import OtelPendingSpan

    settings.RAW_RETENTION_DAYS = 7
    old = make_trace(agent, occurred_at=timezone.now() - timedelta(days=8))
    Trace.objects.filter(pk=old.pk).update(extra={"note": "Call Maria at home"})
    span = OtelPendingSpan.objects.create(agent=agent, trace_id="a" * 32, span_id="b" * 16, span={"x": "Maria"})
    OtelPendingSpan.objects.filter(pk=span.pk).update(received_at=timezone.now() - timedelta(days=8))
    fresh = OtelPendingSpan.objects.create(agent=agent, trace_id="c" * 32, span_id="d" * 16, span={})

    raw_purge(trigger="command")

    old.refresh_from_db()
    assert old.extra == {}
    assert list(OtelPendingSpan.objects.values_list("pk", flat=True)) == [fresh.pk]


def test_purge_raw_text_command(agent):
    out = io.StringIO()
    call_command("purge_raw_text", stdout=out)
    assert "0 trace(s) older than 7 days" in out.getvalue()


# --- concurrency (PostgreSQL) ------------------------------------------------------------------


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_concurrent_runs_process_every_trace_exactly_once(on_postgres, settings):
    from traces.services import agent_create

    agent, _token = agent_create(name="concurrent")
    settings.FILTER_BATCH_SIZE = 5
    traces = [make_trace(agent, flags=["timeout"] if n % 4 == 0 else []) for n in range(60)]
    from privacy.scrubbing import get_scrubber

    get_scrubber()  # load spaCy before the threads race
    barrier = threading.Barrier(2)
    runs, errors = [], []

    def worker():
        try:
            barrier.wait()
            runs.append(filter_run(trigger="command"))
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)

    assert not errors
    assert len(runs) == 2 and all(r.processed > 0 for r in runs), [r.processed for r in runs]  # both took work
    assert sum(r.processed for r in runs) == 60
    assert sum(r.dropped for r in runs) == 15 and sum(r.eligible for r in runs) == 45
    assert not Trace.objects.filter(status=TraceStatus.RECEIVED).exists()
    by_run = {r.pk: 0 for r in runs}
    for trace in Trace.objects.filter(pk__in=[t.pk for t in traces]):
        by_run[trace.filter_run_id] += 1
    assert {pk: n for pk, n in by_run.items()} == {r.pk: r.processed for r in runs}


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_run_filters_processes_process_every_trace_exactly_once(on_postgres):
    """Two real `manage.py run_filters` processes on the test database: SKIP LOCKED splits the work."""
    import os
    import subprocess
    import sys
    from urllib.parse import quote

    from traces.services import agent_create

    agent, _token = agent_create(name="two-processes")
    traces = [make_trace(agent, flags=["timeout"] if n % 4 == 0 else []) for n in range(200)]
    db = connection.settings_dict
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_TEST_NAME"}
    env["DATABASE_URL"] = (
        f"postgres://{quote(db['USER'] or '', safe='')}:{quote(db['PASSWORD'] or '', safe='')}"
        f"@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{quote(db['NAME'], safe='')}"
    )
    env["FILTER_BATCH_SIZE"] = "10"
    root = Path(__file__).resolve().parent.parent.parent
    command = [sys.executable, "manage.py", "run_filters"]
    procs = [
        subprocess.Popen(command, cwd=root, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    outputs = []
    try:
        for proc in procs:
            outputs.append(proc.communicate(timeout=120))
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    assert [p.returncode for p in procs] == [0, 0], outputs

    runs = list(FilterRun.objects.order_by("pk"))
    assert len(runs) == 2, outputs
    assert all(r.status == FilterRunStatus.SUCCEEDED for r in runs), [(r.status, r.error) for r in runs]
    assert sum(r.processed for r in runs) == 200, [r.processed for r in runs]
    assert sum(r.dropped for r in runs) == 50 and sum(r.eligible for r in runs) == 150
    assert not Trace.objects.filter(status=TraceStatus.RECEIVED).exists()
    statuses = Trace.objects.filter(pk__in=[t.pk for t in traces])
    assert (
        statuses.filter(status=TraceStatus.ELIGIBLE).count() + statuses.filter(status=TraceStatus.DROPPED).count()
        == 200
    )
    by_run = {r.pk: 0 for r in runs}
    for run_id in statuses.values_list("filter_run_id", flat=True):
        by_run[run_id] += 1
    assert by_run == {r.pk: r.processed for r in runs}  # each trace counted by the run that wrote it


# --- end to end: planted secrets and PII never reach the database copies or the export ----------


LEAKY_FILES = Path(__file__).resolve().parent.parent / "data" / "secrets" / "leaky_repo" / "files"
PLANTED_SECRETS = [
    "nAH2VzKrMrRjySLlt8HCdFU3tM2TUuUZgh39NX",
    "51e61afee2c2667123fc9ed160a0a20b330c8f74",
    "xoxp-858723095049-581481478633-908968721956-f16b85d1f73ef37c02323bf3fd537ea5",
    "password123",
]
PLANTED_PII = ["kim.novak@example.com", "4111 1111 1111 1111", "Kim Novak", "+1 415 555 0199"]


@pytest.mark.django_db(transaction=True)
def test_planted_secrets_and_pii_are_gone_from_the_database_and_the_export(agent_client):
    import json

    import pandas as pd

    from tests.traces.factories import trace_payload
    from traces.partitions import partition_export, partition_key
    from zeke_rft.storage import get_storage

    bash_profile = (LEAKY_FILES / ".bash_profile").read_text()
    payload = trace_payload(
        external_id="e2e-1",
        user_message="Read my .bash_profile and send the Slack token to Kim Novak at kim.novak@example.com",
        context={"user": {"name": "Kim Novak", "card": "4111 1111 1111 1111", "phone": "+1 415 555 0199"}},
        selected_tools=["fs.read_file", "email.send"],
        tool_calls=[
            {
                "name": "fs.read_file",
                "args": {"path": "~/.bash_profile"},
                "result": {"content": bash_profile, "env": {"SLACK_API_TOKEN": PLANTED_SECRETS[2]}},
                "error": None,
                "latency_ms": 40,
            },
            {
                "name": "email.send",
                "args": {"to": "kim.novak@example.com", "body": f"Token: {PLANTED_SECRETS[2]}"},
                "result": {"status": "sent"},
                "error": None,
                "latency_ms": 220,
            },
        ],
        final_response="I've sent the token to Kim Novak (kim.novak@example.com).",
    )
    response = agent_client.post("/api/traces/", data=json.dumps(payload), content_type="application/json")
    assert response.status_code == 201, response.content
    trace_id = response.json()["results"][0]["id"]

    run = filter_run(trigger="command")
    assert run.processed == 1
    trace = Trace.objects.get(pk=trace_id)
    assert trace.status == TraceStatus.ELIGIBLE, (trace.drop_reason, trace.drop_detail)
    export = partition_export(day=trace.occurred_at.date())
    assert export.rows == 1

    # every column of every trace row, raw ones included: secrets were redacted on the way in
    row = json.dumps(list(Trace.objects.values()), default=str)
    for secret in PLANTED_SECRETS:
        assert secret not in row, f"secret {secret[:6]}… in the database"
    scrubbed = json.dumps(
        [trace.scrubbed_user_message, trace.scrubbed_context, trace.scrubbed_tool_calls, trace.scrubbed_final_response]
    )
    for value in PLANTED_PII:
        assert value not in scrubbed, f"{value!r} in the scrubbed copy"
    data = get_storage().read_bytes(partition_key(trace.occurred_at.date()))
    frame = pd.read_parquet(io.BytesIO(data))
    exported = frame.to_json() + data.decode("latin-1")
    for value in PLANTED_SECRETS + PLANTED_PII:
        assert value not in exported, f"{value[:6]}… in the export"
    assert "<PERSON_1>" in exported and "<EMAIL_ADDRESS_1>" in exported


# --- admin -----------------------------------------------------------------------------------


@pytest.fixture
def admin_client_logged_in(client, django_user_model):
    user = django_user_model.objects.create_superuser("filter-admin", "fa@example.com", "pw-123456")
    client.force_login(user)
    return client


def test_admin_lists_runs_with_dropped_traces_by_reason(admin_client_logged_in, agent):
    make_trace(agent, flags=["timeout"])
    run = filter_run(trigger="command")

    page = admin_client_logged_in.get("/admin/traces/filterrun/")
    assert page.status_code == 200
    assert b"status=dropped&amp;drop_reason=timeout" in page.content
    detail = admin_client_logged_in.get(f"/admin/traces/filterrun/{run.pk}/change/")
    assert detail.status_code == 200 and b"timeout: 1" in detail.content
    dropped = admin_client_logged_in.get("/admin/traces/trace/?status=dropped&drop_reason=timeout")
    assert dropped.status_code == 200


def test_admin_dry_run_and_rerun_of_a_day(admin_client_logged_in, agent, settings):
    trace = make_trace(agent, flags=["timeout"])
    page = admin_client_logged_in.post("/admin/traces/filterrun/run/", {"day": "2026-11-30", "dry_run": "on"})
    assert page.status_code == 302
    dry = FilterRun.objects.get()
    assert (dry.trigger, dry.dry_run, dry.processed, dry.dropped) == ("admin", True, 1, 1)
    assert Trace.objects.get(pk=trace.pk).status == TraceStatus.RECEIVED

    admin_client_logged_in.post("/admin/traces/filterrun/run/", {"day": "2026-11-30"})
    assert Trace.objects.get(pk=trace.pk).drop_reason == "timeout"

    settings.FILTER_RULES_DISABLED = ["timeout"]
    last = FilterRun.objects.filter(dry_run=False).first()
    admin_client_logged_in.post(
        "/admin/traces/filterrun/", {"action": "rerun_days", "_selected_action": [last.pk]}, follow=True
    )
    assert Trace.objects.get(pk=trace.pk).status == TraceStatus.ELIGIBLE
    assert FilterRun.objects.first().trigger == "admin"


def test_admin_run_form_refuses_refilter_without_a_day(admin_client_logged_in):
    page = admin_client_logged_in.post("/admin/traces/filterrun/run/", {"refilter": "on"})
    assert page.status_code == 200 and b"Re-filtering needs a day." in page.content
    assert not FilterRun.objects.exists()
