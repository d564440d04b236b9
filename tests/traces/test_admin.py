import re

import pytest
from django.contrib.auth.models import Permission, User
from django.urls import reverse
from rest_framework.test import APIClient

from traces.models import Agent, Trace, TraceStatus
from traces.services import agent_create
from traces.tokens import token_hash

pytestmark = pytest.mark.django_db


@pytest.fixture
def trace(agent):
    from datetime import UTC, datetime

    return Trace.objects.create(
        agent=agent,
        external_id="adm-1",
        conversation_id="conv-admin",
        user_message="Call Priya Raman at 555-0100",
        context={"tz": "UTC"},
        tool_calls=[
            {"name": "phone.call", "args": {"number": "555-0100"}, "result": None, "error": "busy", "latency_ms": 90}
        ],
        final_response="Calling Priya",
        occurred_at=datetime(2026, 11, 30, 9, 0, tzinfo=UTC),
        status=TraceStatus.ELIGIBLE,
        scrubbed_user_message="Call <PERSON> at <PHONE_NUMBER>",
        scrubbed_context={"tz": "UTC"},
        scrubbed_tool_calls=[
            {"name": "phone.call", "args": {"number": "<PHONE_NUMBER>"}, "result": None, "error": "busy"}
        ],
        scrubbed_final_response="Calling <PERSON>",
    )


@pytest.fixture
def staff_client(client):
    def login(*permissions):
        user = User.objects.create_user("reviewer", password="pw-12345678", is_staff=True)
        for codename in ("view_trace", *permissions):
            user.user_permissions.add(Permission.objects.get(codename=codename))
        client.force_login(user)
        return client

    return login


def token_in_messages(response) -> str:
    text = " ".join(str(message) for message in response.context["messages"])
    return re.search(r"(zk_\S+)", text).group(1)


def test_the_trace_changelist_loads_with_filters_and_date_hierarchy(admin_client, trace):
    agent_create(name="scheduler")  # the agent filter shows once there are two to choose from

    response = admin_client.get(reverse("admin:traces_trace_changelist"))

    assert response.status_code == 200
    body = response.content.decode()
    assert "conv-admin" in body
    filter_titles = [spec.title for spec in response.context["cl"].filter_specs]
    assert filter_titles[:3] == ["agent", "status", "task category"]
    assert "2026" in body  # date hierarchy on occurred_at


@pytest.mark.parametrize("query", ["conv-admin", "adm-1", "Priya"])
def test_traces_can_be_searched_by_conversation_external_id_and_text(admin_client, trace, query):
    response = admin_client.get(reverse("admin:traces_trace_changelist"), {"q": query})

    assert list(response.context["cl"].queryset) == [trace]


def test_filters_narrow_the_changelist(admin_client, trace):
    url = reverse("admin:traces_trace_changelist")

    assert list(admin_client.get(url, {"status__exact": "eligible"}).context["cl"].queryset) == [trace]
    assert list(admin_client.get(url, {"status__exact": "dropped"}).context["cl"].queryset) == []
    assert list(admin_client.get(url, {"task_category__exact": "memory"}).context["cl"].queryset) == []
    day = {"occurred_at__year": "2026", "occurred_at__month": "11", "occurred_at__day": "30"}
    assert list(admin_client.get(url, day).context["cl"].queryset) == [trace]


def test_the_trace_page_shows_tool_calls_as_a_table_and_is_read_only(admin_client, trace):
    response = admin_client.get(reverse("admin:traces_trace_change", args=[trace.pk]))

    assert response.status_code == 200
    body = response.content.decode()
    assert '<table class="tool-calls">' in body
    assert "<code>phone.call</code>" in body and "busy" in body
    assert "&quot;number&quot;: &quot;555-0100&quot;" in body  # pretty-printed raw args for a superuser
    assert 'name="_save"' not in body


def test_without_the_raw_text_permission_only_scrubbed_copies_show(staff_client, trace):
    client = staff_client()

    body = client.get(reverse("admin:traces_trace_change", args=[trace.pk])).content.decode()

    assert "Call &lt;PERSON&gt; at &lt;PHONE_NUMBER&gt;" in body
    assert "Priya" not in body and "555-0100" not in body


def test_without_the_raw_text_permission_search_does_not_reach_raw_text(staff_client, trace):
    client = staff_client()

    response = client.get(reverse("admin:traces_trace_changelist"), {"q": "Priya"})

    assert list(response.context["cl"].queryset) == []


def test_with_the_raw_text_permission_raw_text_shows(staff_client, trace):
    client = staff_client("view_raw_text")

    body = client.get(reverse("admin:traces_trace_change", args=[trace.pk])).content.decode()

    assert "Call Priya Raman at 555-0100" in body


def test_the_agent_pages_load(admin_client, agent):
    assert admin_client.get(reverse("admin:traces_agent_changelist")).status_code == 200
    assert admin_client.get(reverse("admin:traces_agent_change", args=[agent.pk])).status_code == 200
    assert admin_client.get(reverse("admin:traces_agent_add")).status_code == 200


def test_creating_an_agent_in_admin_shows_its_token_once(admin_client):
    response = admin_client.post(
        reverse("admin:traces_agent_add"), {"name": "memory-agent", "modality": "voice"}, follow=True
    )

    token = token_in_messages(response)
    agent = Agent.objects.get(name="memory-agent")
    assert agent.token_hash == token_hash(token)
    assert agent.history.first().history_user.username == "admin"


def test_creating_a_duplicate_agent_in_admin_is_a_form_error(admin_client, agent):
    response = admin_client.post(reverse("admin:traces_agent_add"), {"name": agent.name, "modality": "chat"})

    assert response.status_code == 200
    assert "already exists" in response.content.decode()


def run_action(admin_client, action: str, agent, **extra):
    data = {"action": action, "_selected_action": [agent.pk], **extra}
    return admin_client.post(reverse("admin:traces_agent_changelist"), data, follow=True)


def test_the_rotate_action_asks_why_before_it_changes_anything(admin_client, agent):
    old_hash = agent.token_hash

    response = run_action(admin_client, "rotate_token", agent)

    assert response.status_code == 200
    assert 'name="reason"' in response.content.decode()
    agent.refresh_from_db()
    assert agent.token_hash == old_hash


def test_the_rotate_action_issues_a_working_token_and_audits_who_and_why(admin_client, agent):
    old_hash = agent.token_hash

    response = run_action(admin_client, "rotate_token", agent, apply="1", reason="laptop with the token was lost")

    token = token_in_messages(response)
    agent.refresh_from_db()
    assert agent.token_hash == token_hash(token) != old_hash
    assert agent.history.first().history_change_reason == "token rotated: laptop with the token was lost"
    assert agent.history.first().history_user.username == "admin"


def test_the_revoke_action_revokes_and_audits_who_and_why(admin_client, agent):
    run_action(admin_client, "revoke_token", agent, apply="1", reason="agent retired")

    agent.refresh_from_db()
    assert agent.token_revoked
    assert agent.history.first().history_change_reason == "token revoked: agent retired"
    assert agent.history.first().history_user.username == "admin"


def test_a_token_action_without_a_reason_re_asks_and_changes_nothing(admin_client, agent):
    response = run_action(admin_client, "revoke_token", agent, apply="1", reason="  ")

    assert "This field is required." in response.content.decode()
    agent.refresh_from_db()
    assert not agent.token_revoked


def test_deactivating_an_agent_in_admin_records_who_and_why_and_its_token_gets_a_403(admin_client, agent_and_token):
    agent, token = agent_and_token

    response = admin_client.post(
        reverse("admin:traces_agent_change", args=[agent.pk]),
        {"name": agent.name, "modality": agent.modality, "reason": "posting duplicate traces"},
    )

    assert response.status_code == 302
    agent.refresh_from_db()
    assert agent.active is False
    record = agent.history.first()
    assert record.history_user.username == "admin"
    assert record.history_change_reason == "active True → False; posting duplicate traces"
    blocked = APIClient()
    blocked.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    assert blocked.get("/api/agents/status").status_code == 403


def test_renaming_an_agent_to_a_taken_name_in_admin_is_a_form_error(admin_client, agent):
    other, _token = agent_create(name="texter", modality="sms")

    response = admin_client.post(
        reverse("admin:traces_agent_change", args=[other.pk]), {"name": agent.name, "modality": "sms", "active": "on"}
    )

    assert response.status_code == 200
    assert "already exists" in response.content.decode()
    assert Agent.objects.get(pk=other.pk).name == "texter"


def test_saving_an_agent_unchanged_in_admin_adds_no_history(admin_client, agent):
    before = agent.history.count()

    admin_client.post(
        reverse("admin:traces_agent_change", args=[agent.pk]),
        {"name": agent.name, "modality": agent.modality, "active": "on"},
    )

    assert agent.history.count() == before


def test_the_trace_changelist_query_count_does_not_grow_with_rows(admin_client, agent, django_assert_max_num_queries):
    from datetime import UTC, datetime

    Trace.objects.bulk_create(
        Trace(agent=agent, external_id=f"q-{n}", conversation_id="c", user_message="m", occurred_at=datetime.now(UTC))
        for n in range(40)
    )

    with django_assert_max_num_queries(8):  # 7 today, with 40 rows: no query per row
        response = admin_client.get(reverse("admin:traces_trace_changelist"))

    assert response.status_code == 200


@pytest.mark.parametrize(
    "probe",
    [
        {"user_message__startswith": "Call P"},
        {"final_response__icontains": "Priya"},
        {"conversation_id__exact": "conv-admin"},
        {"external_id__startswith": "adm"},
        {"tool_calls__icontains": "555"},
        {"context__tz": "UTC"},
    ],
)
def test_without_the_raw_text_permission_a_lookup_on_a_raw_column_is_refused(staff_client, trace, probe):
    response = staff_client().get(reverse("admin:traces_trace_changelist"), probe)

    assert response.status_code == 400


def test_with_the_raw_text_permission_a_lookup_on_a_raw_column_filters(staff_client, trace):
    client = staff_client("view_raw_text")
    url = reverse("admin:traces_trace_changelist")

    assert list(client.get(url, {"user_message__startswith": "Call P"}).context["cl"].queryset) == [trace]
    assert list(client.get(url, {"user_message__startswith": "Nobody"}).context["cl"].queryset) == []


def test_without_the_raw_text_permission_the_changelist_shows_and_sorts_no_raw_column(staff_client, trace):
    response = staff_client().get(reverse("admin:traces_trace_changelist"), {"o": "3"})

    body = response.content.decode()
    assert response.status_code == 200
    assert "conv-admin" not in body and "adm-1" not in body
    assert not {"conversation_id", "external_id"} & set(response.context["cl"].sortable_by or ())
    assert "conversation_id" not in str(response.context["cl"].get_ordering(response.wsgi_request, Trace.objects.all()))


def test_without_the_raw_text_permission_search_does_not_reach_raw_ids(staff_client, trace):
    response = staff_client().get(reverse("admin:traces_trace_changelist"), {"q": "conv-admin"})

    assert list(response.context["cl"].queryset) == []
