import io
from datetime import UTC, date, datetime, timedelta

import pandas as pd
import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from traces.models import PartitionExport, Trace, TraceStatus
from traces.partitions import partition_export, partition_key
from traces.tasks import export_partitions_nightly
from zeke_rft.hashing import sha256_bytes
from zeke_rft.storage import get_storage

DAY = date(2026, 11, 30)

pytestmark = pytest.mark.django_db


def make_trace(agent, number: int, *, status=TraceStatus.ELIGIBLE, occurred_at=None, **fields) -> Trace:
    defaults = {
        "agent": agent,
        "modality": agent.modality,
        "external_id": f"p-{number}",
        "conversation_id": f"conv-{number}",
        "user_message": f"raw message {number} from Priya Raman",
        "tool_calls": [{"name": "calendar.update_event", "args": {"attendee": "priya@example.com"}}],
        "final_response": "raw response",
        "occurred_at": occurred_at or datetime(2026, 11, 30, 10, number, tzinfo=UTC),
        "status": status,
        "task_category": "scheduling",
        "flags": ["tool_error"] if number % 2 else [],
        "scrubbed_user_message": f"message {number} from <PERSON>",
        "scrubbed_context": {"tz": "UTC"},
        "scrubbed_tool_calls": [
            {"name": "calendar.update_event", "args": {"attendee": "<EMAIL>"}, "result": None, "error": "timeout"}
        ],
        "scrubbed_final_response": "scrubbed response",
    }
    defaults.update(fields)
    return Trace.objects.create(**defaults)


def read_partition(day: date) -> pd.DataFrame:
    return pd.read_parquet(io.BytesIO(get_storage().read_bytes(partition_key(day))))


def test_it_writes_only_the_days_eligible_traces_sorted_by_id(agent):
    kept = [make_trace(agent, n) for n in (3, 1, 2)]
    make_trace(agent, 4, status=TraceStatus.RECEIVED)
    make_trace(agent, 5, status=TraceStatus.DROPPED)
    make_trace(agent, 6, occurred_at=datetime(2026, 12, 1, 0, 0, 1, tzinfo=UTC))

    export = partition_export(day=DAY)

    frame = read_partition(DAY)
    assert list(frame["id"]) == sorted(trace.pk for trace in kept)
    assert export.rows == 3
    assert export.key == "logs/2026-11-30/part-0000.parquet"


def test_it_carries_only_scrubbed_text(agent):
    make_trace(agent, 1)

    partition_export(day=DAY)

    row = read_partition(DAY).iloc[0]
    assert row["user_message"] == "message 1 from <PERSON>"
    assert row["final_response"] == "scrubbed response"
    assert row["tool_calls"][0]["args"] == '{"attendee":"<EMAIL>"}'
    raw = get_storage().read_bytes(partition_key(DAY))
    assert b"Priya" not in raw and b"priya@example.com" not in raw


def test_pandas_reads_the_columns_with_their_types(agent):
    make_trace(agent, 1, latency_ms=1200, policy_id="ft:v1")

    partition_export(day=DAY)

    frame = read_partition(DAY)
    row = frame.iloc[0]
    assert (row["agent"], row["modality"], row["task_category"], row["policy_id"]) == (
        "conductor",
        "chat",
        "scheduling",
        "ft:v1",
    )
    assert row["latency_ms"] == 1200
    assert list(row["flags"]) == ["tool_error"]
    assert row["occurred_at"] == pd.Timestamp("2026-11-30T10:01:00Z")
    assert str(frame["occurred_at"].dtype).startswith("datetime64[us, UTC]")


def test_a_rerun_rewrites_the_identical_file(agent):
    for n in range(1, 6):
        make_trace(agent, n)
    first = partition_export(day=DAY)
    first_bytes = get_storage().read_bytes(first.key)

    second = partition_export(day=DAY)

    assert sha256_bytes(get_storage().read_bytes(second.key)) == first.sha256 == second.sha256
    assert get_storage().read_bytes(second.key) == first_bytes
    assert PartitionExport.objects.count() == 1


def test_an_empty_day_writes_an_empty_partition(db):
    export = partition_export(day=DAY)

    assert export.rows == 0
    assert len(read_partition(DAY)) == 0


def test_the_command_exports_the_given_date(agent, capsys):
    make_trace(agent, 1)

    call_command("export_partitions", "--date", "2026-11-30")

    assert "1 traces" in capsys.readouterr().out
    assert PartitionExport.objects.get(day=DAY).rows == 1


def test_the_command_refuses_a_bad_date(db):
    with pytest.raises(CommandError, match="YYYY-MM-DD"):
        call_command("export_partitions", "--date", "30/11/2026")


def test_the_nightly_task_exports_yesterday(agent):
    yesterday = timezone.localdate() - timedelta(days=1)
    make_trace(agent, 1, occurred_at=datetime.combine(yesterday, datetime.min.time(), tzinfo=UTC))

    assert export_partitions_nightly.delay().get() == yesterday.isoformat()

    assert PartitionExport.objects.get(day=yesterday).rows == 1


def test_the_nightly_task_twice_leaves_one_export(agent):
    export_partitions_nightly.delay()
    export_partitions_nightly.delay()

    assert PartitionExport.objects.count() == 1


def test_duckdb_queries_the_partitions_with_a_glob_as_the_docs_show(agent):
    duckdb = pytest.importorskip("duckdb")
    make_trace(agent, 1)
    make_trace(agent, 2, task_category="ops")
    make_trace(agent, 3, occurred_at=datetime(2026, 11, 29, 8, tzinfo=UTC))
    partition_export(day=DAY)
    partition_export(day=DAY - timedelta(days=1))
    root = get_storage().path("logs")

    query = (
        "SELECT task_category, count(*), min(tool_calls[1].name) FROM '{}/*/part-0000.parquet' GROUP BY 1 ORDER BY 1"
    )
    rows = duckdb.sql(query.format(root)).fetchall()

    assert rows == [("ops", 1, "calendar.update_event"), ("scheduling", 2, "calendar.update_event")]
