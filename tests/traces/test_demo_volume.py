import io
from collections import Counter

import pytest

from traces.demo_volume import DEMO_AGENT, QUALITIES, demo_load, demo_quality
from traces.filtering import filter_run
from traces.models import FilterRunTrigger, Trace, TraceStatus
from traces.services import agent_create

pytestmark = pytest.mark.django_db

DOMAINS = {"communication", "scheduling", "ops", "research", "memory"}


def run_demo() -> str:
    out = io.StringIO()
    demo_load(stdout=out)
    return out.getvalue()


@pytest.fixture
def demo_agent():
    return agent_create(name=DEMO_AGENT)[0]


def test_it_skips_with_a_message_when_the_demo_agent_is_missing():
    assert "skipped" in run_demo()
    assert not Trace.objects.exists()


def test_a_rerun_adds_nothing(demo_agent):
    first = run_demo()
    count = Trace.objects.count()

    second = run_demo()

    assert f"{count} new traces" in first and count >= 300
    assert Trace.objects.count() == count
    assert f"0 new traces, {count} already there" in second


def test_it_spans_all_five_domains_with_a_quality_spread_in_each(demo_agent):
    run_demo()

    by_domain = Counter(Trace.objects.values_list("task_category", flat=True))
    assert set(by_domain) == DOMAINS and min(by_domain.values()) >= 50
    for domain in DOMAINS:
        qualities = {
            demo_quality(e) for e in Trace.objects.filter(task_category=domain).values_list("external_id", flat=True)
        }
        assert set(QUALITIES) <= qualities, domain


def test_most_have_tool_calls_some_none_and_a_share_carries_contact_details(demo_agent):
    run_demo()

    traces = list(Trace.objects.all())
    with_tools = [trace for trace in traces if trace.tool_calls]
    assert 0.7 * len(traces) <= len(with_tools) < len(traces)
    assert {len(trace.tool_calls) for trace in with_tools} == {1, 2, 3}
    with_email = [trace for trace in traces if "@example." in str(trace.tool_calls)]
    assert len(with_email) >= 0.2 * len(traces)


def test_the_filter_drops_only_the_planted_failures_and_unsafe_ones(demo_agent):
    run_demo()

    filter_run(trigger=FilterRunTrigger.COMMAND)

    dropped = Counter(Trace.objects.filter(status=TraceStatus.DROPPED).values_list("drop_reason", flat=True))
    planted = Counter(demo_quality(e) for e in Trace.objects.values_list("external_id", flat=True))
    assert set(dropped) <= {"tool_failure", "timeout", "unsafe"}
    assert sum(dropped.values()) == planted["failed"] + planted["unsafe"]
    assert Trace.objects.filter(status=TraceStatus.ELIGIBLE).count() >= 280
