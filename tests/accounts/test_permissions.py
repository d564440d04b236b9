"""ONE walk over every custom view and admin action: a signed-in user who lacks the permission is refused.

Everything is discovered at run time (the admin site's registry and actions, the URL conf), so views and
actions added later are walked too. A view is exempt only when listed in EXEMPT with the reason."""

import pytest
from django.contrib import admin
from django.contrib.auth import get_permission_codename, get_user_model
from django.contrib.auth.models import Permission
from django.contrib.messages import get_messages
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver

# url name -> why it needs no Django permission
EXEMPT = {
    "home": "public landing page with links only",
    "labeling:login": "the login page",
    "accounts:logout": "logging out needs no permission",
    "schema": "OpenAPI schema of the agent API (no data)",
    "api-docs": "Swagger UI of the agent API (no data)",
    "agents-status": "agent API: bearer agent token (traces.auth), not a user session",
    "traces:ingest": "agent API: bearer agent token",
    "traces:otlp-traces": "agent API (OTLP/HTTP): bearer agent token",
    "rollout:policy": "agent API: bearer agent token",
    "metrics": "Prometheus scrape: METRICS_TOKEN bearer or METRICS_ALLOWED_NETWORKS, not a user session",
}
# Django's and simple-history's own admin views check the model permissions themselves.
# Refused without the permission like every action, but cannot run in a test request: axes' action reads
# request.axes_attempt_time, which its middleware sets only on log-in requests.
NO_POSITIVE_CONTROL = {"AccessAttempt.cleanup_expired_attempts"}
STANDARD_ADMIN_VIEWS = {
    "changelist",
    "add",
    "history",
    "delete",
    "change",
    "autocomplete",
    "password",
    "simple_history",
}
DUMMY = {"int": "999999", "str": "no-such-thing", "slug": "no-such-thing", "path": "no/such", "uuid": None}

pytestmark = pytest.mark.django_db


def _user(username, perms=(), *, staff=True):
    user = get_user_model().objects.create_user(username=username, password=None, is_staff=staff)
    wanted = set(perms)
    rows = Permission.objects.filter(codename__in={label.split(".")[1] for label in wanted})
    user.user_permissions.set([p for p in rows.select_related("content_type") if _label(p) in wanted])
    return get_user_model().objects.get(pk=user.pk)  # fresh: no permission cache


def _label(permission) -> str:
    return f"{permission.content_type.app_label}.{permission.codename}"


def _action_permissions(model_admin, func) -> set[str]:
    opts, perms = model_admin.model._meta, set()
    for name in func.allowed_permissions:
        check = getattr(model_admin, f"has_{name}_permission")
        perms.add(
            getattr(check, "required_permission", None) or f"{opts.app_label}.{get_permission_codename(name, opts)}"
        )
        if name == "view":  # Django's has_view_permission also accepts the change permission
            perms.add(f"{opts.app_label}.{get_permission_codename('change', opts)}")
    return perms


def _admin_actions():
    for model, model_admin in admin.site._registry.items():
        for func, name, _ in model_admin._get_base_actions():
            yield model, model_admin, func, name


def _post_action(user, model, name):
    """Post the action for a row id that does not exist: Django refuses an action the user may not run with
    "No action selected."; an allowed one runs (on no rows) and says something else or shows its form."""
    url = f"/admin/{model._meta.app_label}/{model._meta.model_name}/"
    client = Client()  # a fresh cookie jar: messages are kept in a cookie
    client.force_login(user)
    response = client.post(url, {"action": name, "index": 0, "_selected_action": ["0"]})
    text = " ".join(str(m) for m in get_messages(response.wsgi_request))
    templates = [t.name for t in response.templates]
    refused = (
        response.status_code == 403
        or "No action selected" in text
        # with no action left for this user Django ignores the post and shows the list again
        or (response.status_code == 200 and templates[:1] and templates[0].endswith("change_list.html"))
    )
    return refused, f"{response.status_code} {text} {templates[:1]}"


def test_every_admin_action_declares_a_permission():
    undeclared = [
        f"{model.__name__}.{name}"
        for model, _, func, name in _admin_actions()
        if not getattr(func, "allowed_permissions", ())
    ]
    assert undeclared == []


def test_every_admin_action_is_refused_to_a_user_without_its_permission(django_user_model):
    superuser = django_user_model.objects.create_superuser(username="root", password=None)
    everything = {_label(p) for p in Permission.objects.select_related("content_type")}
    walked = 0
    for model, model_admin, func, name in _admin_actions():
        needed = _action_permissions(model_admin, func)
        view = f"{model._meta.app_label}.view_{model._meta.model_name}"
        lacking = _user(f"lacks-{walked}", everything - needed - ({view} if view in needed else set()))
        assert name not in model_admin.get_actions(_request(lacking)), f"{model.__name__}.{name} offered"
        refused, seen = _post_action(lacking, model, name)
        assert refused, f"{model.__name__}.{name} ran without {needed}: {seen}"
        if f"{model.__name__}.{name}" in NO_POSITIVE_CONTROL:
            continue
        if name in model_admin.get_actions(_request(superuser)):  # the positive control: it is reachable at all
            refused, seen = _post_action(_user(f"has-{walked}", needed | {view}), model, name)
            assert not refused, f"{model.__name__}.{name} refused with {needed}: {seen}"
        walked += 1
    assert walked >= 15


def _request(user):
    from django.test import RequestFactory
    from django.utils import timezone

    request = RequestFactory().get("/admin/")
    request.user = user
    request.axes_attempt_time = timezone.now()  # what AxesMiddleware sets on a real request
    return request


def _walk(patterns, prefix="", namespace=""):
    for entry in patterns:
        if isinstance(entry, URLResolver):
            inner = f"{namespace}{entry.namespace}:" if entry.namespace else namespace
            yield from _walk(entry.url_patterns, prefix + str(entry.pattern), inner)
        elif isinstance(entry, URLPattern):
            yield f"{namespace}{entry.name}" if entry.name else None, prefix + str(entry.pattern), entry


def _concrete(route: str) -> str | None:
    import re

    if "^" in route or "(" in route:  # regex routes (admin catch-alls, simple-history's own views)
        return None
    parts = re.split(r"<(?:(\w+):)?\w+>", route)
    out = parts[0]
    for converter, text in zip(parts[1::2], parts[2::2], strict=True):
        value = DUMMY.get(converter or "str")
        if value is None:
            return None
        out += value + text
    return "/" + out


def _admin_custom_view(name) -> bool:
    """A view a ModelAdmin adds in get_urls (admin:<app>_<model>_<what> beyond Django's standard ones)."""
    local = (name or "").removeprefix("admin:")
    for model in admin.site._registry:
        prefix = f"{model._meta.app_label}_{model._meta.model_name}_"
        if local.startswith(prefix) and local.removeprefix(prefix) not in STANDARD_ADMIN_VIEWS:
            return True
    return False


def _custom_views():
    for name, route, pattern in _walk(get_resolver().url_patterns):
        if name in EXEMPT or name is None and not route.startswith("admin/"):
            continue
        if route.startswith("admin/") and not _admin_custom_view(name):
            continue  # Django's own admin views check model permissions (or need none: index, password change)
        url = _concrete(route)
        if url is not None:
            yield name, url, pattern


def test_every_custom_view_refuses_a_signed_in_user_without_the_permission(client):
    client.force_login(_user("nobody", staff=True))
    walked = []
    for name, url, _ in _custom_views():
        for method in ("get", "post"):
            response = getattr(client, method)(url)
            assert response.status_code == 403, f"{method.upper()} {url} ({name}) answered {response.status_code}"
        walked.append(name)
    assert {"labeling:queue", "rewards:promote", "rollout:rollback", "training:experiments"} <= set(walked)


def test_every_custom_view_sends_an_anonymous_user_to_log_in(client):
    for name, url, _ in _custom_views():
        response = client.get(url)
        assert response.status_code in (302, 401, 403), f"{url} ({name}) answered {response.status_code}"
        if response.status_code == 302:
            assert "login" in response["Location"], f"{url} ({name}) redirected to {response['Location']}"


def test_every_custom_view_lets_a_user_with_its_permission_past_the_check(client):
    checked = 0
    for name, url, pattern in _custom_views():
        perms = getattr(pattern.callback, "required_permissions", None)
        if not perms:
            continue
        client.force_login(_user(f"has-{checked}", perms))
        response = client.get(url)
        assert response.status_code != 403, f"{url} ({name}) refused a user with {perms}"
        checked += 1
    assert checked >= 8
