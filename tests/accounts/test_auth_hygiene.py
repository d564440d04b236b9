"""Login throttling (django-axes) on both login forms, logout, and load_demo's refusal with DEBUG off."""

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command

pytestmark = pytest.mark.django_db


@pytest.fixture
def nate(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    return get_user_model().objects.create_user("nate", password="right-password-1", is_staff=True)


@pytest.mark.parametrize("url", ["/review/login/", "/admin/login/"])
def test_a_username_is_locked_out_after_five_wrong_passwords_even_with_the_right_one(client, nate, settings, url):
    for _ in range(settings.AXES_FAILURE_LIMIT):
        client.post(url, {"username": "nate", "password": "guess"})

    response = client.post(url, {"username": "nate", "password": "right-password-1"})

    assert response.status_code in (403, 429) and b"Too many failed log-in attempts" in response.content
    assert "_auth_user_id" not in client.session


def test_a_few_wrong_passwords_then_the_right_one_logs_in(client, nate):
    for _ in range(2):
        client.post("/review/login/", {"username": "nate", "password": "guess"})

    response = client.post("/review/login/", {"username": "nate", "password": "right-password-1"})

    assert response.status_code == 302 and client.session["_auth_user_id"] == str(nate.pk)


def test_logout_is_a_post_that_ends_the_session_and_says_so(client, nate):
    client.force_login(nate)

    response = client.post("/accounts/logout/", follow=True)

    assert "_auth_user_id" not in client.session
    assert b"You are logged out." in response.content


def test_the_login_page_says_when_the_session_expired(client):
    response = client.get("/review/login/?next=/review/item/3/&expired=1")

    assert b'id="session-expired"' in response.content


def test_load_demo_refuses_to_create_demo_users_with_debug_off(settings):
    settings.DEBUG = False

    with pytest.raises(CommandError, match="--allow-demo-users"):
        call_command("load_demo")

    assert not get_user_model().objects.filter(username="admin").exists()


def test_the_admin_link_shows_for_staff_only(client, nate):
    reviewer = get_user_model().objects.create_user("rev", password=None)
    client.force_login(reviewer)
    assert b'id="admin-link"' not in client.get("/review/login/").content
    client.force_login(nate)
    assert b'id="admin-link"' in client.get("/review/login/").content


@pytest.mark.parametrize(
    ("url", "status", "title"), [("/rewards/", 403, b"Not allowed"), ("/no/such/page/", 404, b"Not found")]
)
def test_error_pages_are_branded_with_the_top_bar_and_a_way_back(client, settings, url, status, title):
    settings.DEBUG = False
    client.force_login(get_user_model().objects.create_user("someone", password=None))

    response = client.get(url)

    assert response.status_code == status
    assert title in response.content and b'class="topbar"' in response.content and b"Start page" in response.content
