"""Demo step after traces.demo: run the nightly filter so the demo traces become eligible or dropped.

Idempotent: a second run finds no received trace and records nothing.
"""

from traces.models import FilterRunTrigger, Trace, TraceStatus


def demo_load(*, stdout) -> None:
    from traces.filtering import filter_run

    if not Trace.objects.filter(status=TraceStatus.RECEIVED).exists():
        stdout.write("demo filter: no received traces left to filter")
        return
    run = filter_run(trigger=FilterRunTrigger.COMMAND)
    reasons = ", ".join(f"{rule} {n}" for rule, n in sorted(run.counts.items()) if n) or "none"
    stdout.write(f"demo filter: FilterRun #{run.pk}: {run.eligible} eligible, {run.dropped} dropped ({reasons})")
