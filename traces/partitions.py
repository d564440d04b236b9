"""Daily Parquet partitions: <TRACE_STORAGE_URL>/logs/yyyy-mm-dd/part-0000.parquet.

A partition holds the day's eligible traces (by occurred_at, in TIME_ZONE), and
only their scrubbed text (trace_scrubbed_view). It is deterministic: rows sorted
by id, a fixed schema, JSON as canonical strings, no timestamps in the file's
metadata — so exporting the same rows again writes the same bytes.
"""

import io
from datetime import date

import pyarrow as pa
import pyarrow.parquet as pq
from django.db import transaction

from traces.models import PartitionExport
from traces.selectors import trace_scrubbed_view, traces_eligible
from zeke_rft.hashing import canonical_json, sha256_bytes
from zeke_rft.storage import get_storage

TOOL_CALL_TYPE = pa.struct(
    [
        ("name", pa.string()),
        ("args", pa.string()),  # canonical JSON
        ("result", pa.string()),  # canonical JSON
        ("error", pa.string()),
        ("latency_ms", pa.int64()),
    ]
)
PARTITION_SCHEMA = pa.schema(
    [
        ("id", pa.int64()),
        ("agent", pa.string()),
        ("modality", pa.string()),
        ("conversation_id", pa.string()),
        ("task_category", pa.string()),
        ("user_message", pa.string()),
        ("context", pa.string()),  # canonical JSON
        ("selected_tools", pa.list_(pa.string())),
        ("tool_calls", pa.list_(TOOL_CALL_TYPE)),
        ("final_response", pa.string()),
        ("latency_ms", pa.int64()),
        ("flags", pa.list_(pa.string())),
        ("policy_id", pa.string()),
        ("arm", pa.string()),
        ("quarantined", pa.bool_()),
        ("occurred_at", pa.timestamp("us", tz="UTC")),
        ("extra", pa.string()),  # canonical JSON: posted fields the schema does not define, scrubbed
    ]
)


def partition_key(day: date) -> str:
    return f"logs/{day.isoformat()}/part-0000.parquet"


def _partition_row(trace) -> dict:
    view = trace_scrubbed_view(trace)
    return {
        "id": view["id"],
        "agent": trace.agent.name,
        "modality": view["modality"],
        "conversation_id": view["conversation_id"],
        "task_category": view["task_category"],
        "user_message": view["user_message"],
        "context": canonical_json(view["context"]),
        "selected_tools": [str(tool) for tool in view["selected_tools"] or []],
        "tool_calls": [
            {
                "name": call.get("name"),
                "args": canonical_json(call.get("args")),
                "result": canonical_json(call.get("result")),
                "error": call.get("error"),
                "latency_ms": call.get("latency_ms"),
            }
            for call in view["tool_calls"]
        ],
        "final_response": view["final_response"],
        "latency_ms": view["latency_ms"],
        "flags": [str(flag) for flag in view["flags"] or []],
        "policy_id": view["policy_id"],
        "arm": view["arm"],
        "quarantined": trace.quarantined,
        "occurred_at": view["occurred_at"],
        "extra": canonical_json(view.get("extra") or {}),
    }


def partition_bytes(rows: list[dict]) -> bytes:
    """The Parquet file for `rows`, byte-for-byte the same for the same rows."""
    table = pa.Table.from_pylist(rows, schema=PARTITION_SCHEMA)
    buffer = io.BytesIO()
    pq.write_table(table, buffer, compression="zstd", write_statistics=True, store_schema=True)
    return buffer.getvalue()


def partition_export(*, day: date) -> PartitionExport:
    """Write `day`'s eligible traces to their partition (replacing it) and record the export."""
    traces = traces_eligible(day=day, include_quarantined=True).order_by("id")
    rows = [_partition_row(trace) for trace in traces.iterator(chunk_size=2000)]
    data = partition_bytes(rows)
    key = partition_key(day)
    get_storage().write_bytes(key, data)
    with transaction.atomic():
        export, _created = PartitionExport.objects.update_or_create(
            day=day, defaults={"key": key, "rows": len(rows), "sha256": sha256_bytes(data)}
        )
    return export
