"""Forgetting on request: one trace selector → every app deletes what it holds, through its own services.

zeke_rft sits above the apps, so the steps are joined here, top of the loop first:
training (datasets that included the traces: rows removed, marked stale), labeling
(reward events, score cards, label tasks, preferences, their history), traces (the
traces, waiting OTLP spans, Parquet partitions rewritten), then the record of it.
"""

from django.db import transaction

from labeling.services import labels_forget
from traces.selectors import traces_matching
from traces.services import forget_request_record, traces_forget
from training.services import datasets_forget

SELECTORS = ("conversation", "external_id", "text")


@transaction.atomic
def forget_run(*, selector: str, value: str, reason: str = "", user=None, name: str = ""):
    """Delete every trace `selector` names and everything derived from it; returns the ForgetRequest."""
    if selector not in SELECTORS:
        raise ValueError(f"selector must be one of {', '.join(SELECTORS)}, got {selector!r}")
    if not value.strip():
        raise ValueError(f"the {selector} to forget is blank")
    trace_ids = traces_matching(
        conversation_id=value if selector == "conversation" else None,
        external_id=value if selector == "external_id" else None,
        text=value if selector == "text" else None,
    )
    counts = {
        "datasets_marked_stale": datasets_forget(trace_ids=trace_ids, reason=reason or "forget request", user=user)
    }
    counts.update(labels_forget(trace_ids=trace_ids))
    counts.update(traces_forget(trace_ids=trace_ids, match_text=value if selector == "text" else None))
    return forget_request_record(selector=selector, value=value, counts=counts, reason=reason, user=user, name=name)
