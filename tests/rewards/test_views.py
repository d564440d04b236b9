import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test.utils import CaptureQueriesContext

from rewards.models import RewardModel
from rewards.services import agreement_check_run, reward_model_train


@pytest.fixture
def staff_client(client, db):
    user = get_user_model().objects.create_user("admin", password="pw", is_staff=True, is_superuser=True)
    client.force_login(user)
    return client


@pytest.fixture
def trained(labels):
    labels.labeled(60)
    return reward_model_train()[0]


def test_it_lists_versions_with_the_active_one(staff_client, trained):
    response = staff_client.get("/rewards/")

    assert response.status_code == 200
    assert trained.version in response.content.decode()


def test_it_shows_a_version_with_its_domain_metrics_and_an_inline_svg_scatter(staff_client, trained):
    agreement_check_run()

    with CaptureQueriesContext(connection) as queries:
        response = staff_client.get(f"/rewards/{trained.version}/")

    assert response.status_code == 200
    page = response.content.decode()
    assert '<table id="metrics">' in page
    for domain in ("communication", "scheduling", "ops", "research", "memory"):
        assert f"<td>{domain}</td>" in page
    assert '<svg id="scatter"' in page and "<circle" in page
    assert "<script" not in page.split("<main")[1]
    assert len(queries) == 5  # session, user, model, agreement checks, history


def test_it_answers_404_for_an_unknown_version(staff_client, db):
    assert staff_client.get("/rewards/rm-nope/").status_code == 404


def test_it_answers_404_to_promoting_or_retiring_an_unknown_version(staff_client, db):
    assert staff_client.post("/rewards/rm-nope/promote", {"reason": "x"}).status_code == 404
    assert staff_client.post("/rewards/rm-nope/retire", {"reason": "x"}).status_code == 404


def test_it_asks_anonymous_visitors_to_log_in(client, db):
    response = client.get("/rewards/")

    assert response.status_code == 302 and "login" in response["Location"]


def test_it_refuses_users_who_are_not_reviewers(client, db):
    client.force_login(get_user_model().objects.create_user("visitor", password="pw"))

    assert client.get("/rewards/").status_code == 403


def test_admin_promotes_a_candidate_and_retires_the_active_one(staff_client, labels):
    labels.labeled(40)
    first = reward_model_train()[0]
    labels.labeled(3)
    second = reward_model_train(promote=False)[0]

    data = {"action": "promote_selected", "_selected_action": [second.pk]}
    form = staff_client.post("/admin/rewards/rewardmodel/", data)
    assert form.status_code == 200 and 'name="confirm"' in form.content.decode()  # asks first, acts on the answer
    answer = {**data, "apply": "1", "reason": "wins spot checks", "confirm": "on"}
    response = staff_client.post("/admin/rewards/rewardmodel/", answer, follow=True)

    assert response.status_code == 200
    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.status, second.status) == ("retired", "active")
    assert second.history.first().history_change_reason == "promoted: wins spot checks"


def test_admin_retires_a_version_only_with_a_reason_and_a_confirmation(staff_client, trained):
    data = {"action": "retire_selected", "_selected_action": [trained.pk], "apply": "1"}
    refused = staff_client.post("/admin/rewards/rewardmodel/", {**data, "reason": "  ", "confirm": "on"})
    trained.refresh_from_db()
    assert refused.status_code == 200 and trained.status == "active"

    staff_client.post("/admin/rewards/rewardmodel/", {**data, "reason": "drifted", "confirm": "on"})

    trained.refresh_from_db()
    assert trained.status == "retired"
    assert RewardModel.objects.filter(status="active").count() == 0


def test_admin_shows_agreement_alerts_on_the_version_list(staff_client, trained):
    from rewards.models import AgreementCheck

    AgreementCheck.objects.create(
        reward_model=trained,
        window_start="2026-11-24",
        window_end="2026-11-30",
        n=9,
        spearman=0.1,
        threshold=0.5,
        alert=True,
    )

    response = staff_client.get("/admin/rewards/rewardmodel/")

    assert "agrees with reviewers at Spearman 0.10" in response.content.decode()


def test_the_list_page_runs_a_fixed_number_of_queries(staff_client, labels, django_assert_num_queries):
    labels.labeled(40)
    reward_model_train()
    labels.labeled(3)
    reward_model_train(promote=False)

    with django_assert_num_queries(4):
        staff_client.get("/rewards/")


def test_staff_promote_a_candidate_from_its_page_with_a_reason(staff_client, labels):
    labels.labeled(40)
    first = reward_model_train()[0]
    labels.labeled(3)
    second = reward_model_train(promote=False)[0]

    data = {"reason": "better on spot checks", "confirm": "yes"}
    response = staff_client.post(f"/rewards/{second.version}/promote", data)

    assert response.status_code == 302 and response["Location"] == f"/rewards/{second.version}/"
    second.refresh_from_db()
    first.refresh_from_db()
    assert (first.status, second.status) == ("retired", "active")
    assert second.status_reason == "better on spot checks"
    assert second.history.first().history_change_reason == "promoted: better on spot checks"


def test_staff_retire_a_version_from_its_page_with_a_reason_and_a_confirmation(staff_client, trained):
    staff_client.post(f"/rewards/{trained.version}/retire", {"reason": "drifted", "confirm": "yes"})

    trained.refresh_from_db()
    assert trained.status == "retired"
    assert trained.status_reason == "drifted"


@pytest.mark.parametrize(
    ("data", "field"), [({"reason": "", "confirm": "yes"}, "reason"), ({"reason": "drifted"}, "confirm")]
)
def test_retire_without_a_reason_or_a_confirmation_is_a_400_naming_it(staff_client, trained, data, field):
    response = staff_client.post(f"/rewards/{trained.version}/retire", data)

    assert response.status_code == 400 and f"{field}:" in response.content.decode()
    trained.refresh_from_db()
    assert trained.status == "active"


def test_reviewers_who_are_not_staff_cannot_promote(client, labels, reviewer):
    from labeling.access import reviewers_group

    labels.labeled(40)
    reward_model = reward_model_train(promote=False)[0]
    reviewer.groups.add(reviewers_group())
    client.force_login(reviewer)

    assert client.get(f"/rewards/{reward_model.version}/").status_code == 200
    assert client.post(f"/rewards/{reward_model.version}/promote").status_code == 403
    reward_model.refresh_from_db()
    assert reward_model.status == "candidate"


def test_promote_answers_405_to_a_get(staff_client, trained):
    assert staff_client.get(f"/rewards/{trained.version}/promote").status_code == 405


def test_staff_promote_with_a_long_reason_kept_whole_on_the_version(staff_client, labels):
    # The audit record holds 100 characters (PostgreSQL refuses more); the version keeps all of it.
    labels.labeled(40)
    reward_model = reward_model_train(promote=False)[0]
    reason = "better on the spot checks of the week, " * 10

    response = staff_client.post(f"/rewards/{reward_model.version}/promote", {"reason": reason, "confirm": "yes"})

    assert response.status_code == 302
    reward_model.refresh_from_db()
    assert (reward_model.status, reward_model.status_reason) == ("active", reason.strip())
    audit = reward_model.history.first().history_change_reason
    assert len(audit) == 100 and audit.startswith("promoted: better on the spot checks") and audit.endswith("…")
