"""Scrubbed text of live traces, for scoring them before the nightly filter has run.

Traces stay `received` until the 02:00 filter. The monitors score their replies with the reward
model all day, so the sampled traces are scrubbed here, at check time, with the same engine the
filter uses; the copies are used for scoring and never stored. A trace whose scrubbed copy still
holds PII (the residual check) or whose reply is empty is left out: nothing raw is ever scored,
and an empty reply is never scored as if it were one.
"""

from traces.models import Trace
from traces.selectors import trace_scrubbed_view


def _scrubber():
    from privacy.scrubbing import get_scrubber

    return get_scrubber()


def _raw(trace: Trace) -> dict:
    return {
        "user_message": trace.user_message or "",
        "context": trace.context,
        "tool_calls": trace.tool_calls,
        "final_response": trace.final_response or "",
    }


def _scrub_now(traces: list[Trace]) -> list[dict | None]:
    if not traces:
        return []
    scrubber = _scrubber()
    originals = [_raw(trace) for trace in traces]
    copies = [result.as_trace() for result in scrubber.scrub_traces(originals)]
    residual = scrubber.residual_pii(copies, originals)
    views = []
    for trace, copy, hits in zip(traces, copies, residual, strict=True):
        if hits:
            views.append(None)
            continue
        view = trace_scrubbed_view(trace)
        view.update(copy)
        view["context"] = copy["context"] if copy["context"] is not None else {}
        view["tool_calls"] = copy["tool_calls"] if copy["tool_calls"] is not None else []
        views.append(view)
    return views


def live_scrubbed_views(traces: list[Trace]) -> list[dict]:
    """Scrubbed views of `traces` (filtered ones as stored, the others scrubbed now), in order,
    leaving out traces with residual PII or an empty reply."""
    pending = [trace for trace in traces if trace.scrubbed_at is None]
    fresh = dict(zip([trace.pk for trace in pending], _scrub_now(pending), strict=True))
    views = []
    for trace in traces:
        view = fresh.get(trace.pk) if trace.scrubbed_at is None else trace_scrubbed_view(trace)
        if view is not None and str(view.get("final_response") or "").strip():
            views.append(view)
    return views
