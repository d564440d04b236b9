import io
import json

import pytest
from django.contrib.auth import authenticate
from django.test import RequestFactory
from rest_framework.test import APIClient

from tests.traces.factories import trace_payload
from traces.demo import demo_load
from traces.models import Trace

pytestmark = pytest.mark.django_db


def run_demo() -> list[str]:
    out = io.StringIO()
    demo_load(stdout=out)
    return out.getvalue().splitlines()


def printed_token(lines: list[str]) -> str:
    return next(line for line in lines if "token" in line).rsplit(" ", 1)[-1]


def post_with(token: str):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client.post("/api/traces/", data=json.dumps(trace_payload()), content_type="application/json")


def test_it_loads_a_few_dozen_traces_across_every_specialist_area():
    run_demo()

    categories = set(Trace.objects.values_list("task_category", flat=True))
    assert {"scheduling", "communication", "ops", "research", "memory"} <= categories
    assert 30 <= Trace.objects.count() <= 80
    failed = [trace for trace in Trace.objects.all() if any(call["error"] for call in trace.tool_calls)]
    assert len(failed) >= 5
    assert Trace.objects.filter(user_message__contains="4111 1111 1111 1111").exists()  # PII for the filter


def test_planted_secrets_are_redacted_on_the_way_in():
    run_demo()

    stored = json.dumps(list(Trace.objects.values_list("user_message", "tool_calls")))
    assert "Xk9#mPq2vLr" not in stored and "wJalrXUtnFEMI" not in stored and "AKIAIOSFODNN7EXAMPLE" not in stored
    assert Trace.objects.filter(secrets_redacted__gt=0).count() == 2


def test_a_rerun_adds_nothing_and_prints_a_token_that_works():
    first = run_demo()
    count = Trace.objects.count()

    second = run_demo()

    assert Trace.objects.count() == count
    assert post_with(printed_token(second)).status_code == 201
    assert post_with(printed_token(first)).status_code == 401  # rotated away


def test_the_printed_admin_login_works_after_a_rerun():
    run_demo()
    lines = run_demo()

    login = next(line for line in lines if "Demo admin" in line)
    assert "user 'admin'" in login and "password 'admin'" in login
    # authenticate() with a request, as the login views call it (django-axes' backend requires one).
    assert authenticate(RequestFactory().post("/admin/login/"), username="admin", password="admin").is_superuser


def test_a_rerun_reactivates_a_deactivated_demo_agent_and_says_why(admin_user):
    from traces.models import Agent
    from traces.services import agent_update

    run_demo()
    agent = Agent.objects.get(name="conductor-demo")
    agent_update(agent=agent, name=agent.name, modality=agent.modality, active=False, user=admin_user)

    token = printed_token(run_demo())

    assert post_with(token).status_code == 201
    reasons = list(Agent.objects.get(pk=agent.pk).history.values_list("history_change_reason", flat=True)[:2])
    assert reasons == ["demo: token rotated (make run prints it)", "active False → True; demo: reactivated"]
