"""Odd input on every URL, query parameter, admin filter, form field and admin action: never a 5xx.

Enumerated, not listed by hand: URL patterns from the resolver (each converter filled with real
ids and odd values), query and form keys from the views' source, admin filter parameters from
each changelist's own filter links, admin actions from each ModelAdmin. NUL characters anywhere
must be a 400 (PostgreSQL refuses NUL even in a WHERE clause); everything else below 500.
Meaningful on PostgreSQL above all; .ci/run runs it on both databases.
"""

import inspect
import re
from urllib.parse import quote

import pytest
from django.contrib import admin
from django.urls import URLPattern, URLResolver, get_resolver

from rewards.models import RewardModel, RewardModelStatus
from rollout.models import Policy, PolicyStatus, Rollout, RolloutState

NUL_VALUES = ["%00", "a%00b", "%00%00" * 50]
ODD_VALUES = ["99999999999999999999", "-1", "1e400", "%ff%fe", "%F0%9F%92%A5", "x" * 3000, "%5B%5D", "'%22--"]
QUERY_VALUES = ["%00", "99999999999999999999", "%ff%fe", "x" * 3000, "'%22--"]
VIEW_MODULES = ["labeling.views", "rewards.views", "training.views", "rollout.views", "rollout.api", "traces.api"]
KEY_PATTERN = re.compile(r"""(?:GET|POST|query_params|data)(?:\.get|\.getlist)?\(\s*["']([A-Za-z_][\w-]*)["']""")
CONVERTER = re.compile(r"<(?:(\w+):)?(\w+)>")


# Keys read in a loop (`for name in ("a", "b")`) that the pattern above cannot see.
LOOPED_KEYS = ["a", "b", "modality", "conversation_id"]


def view_parameter_names() -> list[str]:
    """Every request.GET/POST/query_params/data key named in the views' source, and every form field."""
    import importlib

    from django import forms

    names = set(LOOPED_KEYS)
    for module in VIEW_MODULES:
        names.update(KEY_PATTERN.findall(inspect.getsource(importlib.import_module(module))))
    for _, form in inspect.getmembers(importlib.import_module("labeling.forms"), inspect.isclass):
        if issubclass(form, forms.BaseForm):
            names.update(form.base_fields)
    return sorted(names)


def route_patterns(resolver=None, prefix=""):
    for pattern in (resolver or get_resolver()).url_patterns:
        route = str(pattern.pattern)
        if isinstance(pattern, URLResolver):
            yield from route_patterns(pattern, prefix + route)
        elif isinstance(pattern, URLPattern) and not route.startswith("^"):  # regex routes: admin's catch-alls
            yield prefix + route


def concrete_paths(route: str, ids: list[str]) -> list[str]:
    """The route with each converter filled by real ids, then by odd values (one at a time)."""
    if not CONVERTER.search(route):
        return ["/" + route]
    fills = ids + ["99999999999999999999", "0"]
    paths = ["/" + CONVERTER.sub(lambda m, v=value: v, route) for value in fills]
    for odd in NUL_VALUES[:2] + ["%ff%fe", "x" * 300]:
        if CONVERTER.search(route).group(1) in ("str", "path", "slug", None):
            paths.append("/" + CONVERTER.sub(lambda m, v=odd: v, route))
    return paths


@pytest.fixture
def world(agent_client, django_user_model):
    """A few real records, so detail views get past their 404 into the code that reads parameters."""
    body = {
        "traces": [{"external_id": "t1", "conversation_id": "c1", "user_message": "hi", "final_response": "Hello."}]
    }
    agent_client.post("/api/traces/", body, format="json")
    baseline = Policy.objects.create(model_id="gpt-base", modality="chat", status=PolicyStatus.ACTIVE)
    candidate = Policy.objects.create(model_id="ft:cand", modality="chat", status=PolicyStatus.CANARY)
    rollout = Rollout.objects.create(
        modality="chat", candidate=candidate, baseline=baseline, state=RolloutState.CANARY, traffic_percent=5, salt="s"
    )
    model = RewardModel.objects.create(
        version="rm-1", algorithm="x", training_data_hash="h", artifact_key="k", artifact_sha256="s",
        status=RewardModelStatus.CANDIDATE,
    )  # fmt: skip
    admin_user = django_user_model.objects.create_superuser("root", "root@example.com", "pw")
    return {"ids": sorted({str(rollout.pk), str(baseline.pk), model.version, "1"}), "admin": admin_user}


class Findings:
    def __init__(self):
        self.problems: list[str] = []
        self.requests = 0

    def check(self, response, method: str, url: str, has_nul: bool):
        self.requests += 1
        if response.status_code >= 500 or (has_nul and response.status_code != 400):
            self.problems.append(f"{method} {url[:160]} -> {response.status_code}")


def _with_query(path: str, key: str, value: str) -> str:
    return f"{path}?{quote(key)}={value}"


@pytest.fixture
def fuzz_client(client, world, agent_and_token):
    client.force_login(world["admin"])
    client.defaults["HTTP_AUTHORIZATION"] = f"Bearer {agent_and_token[1]}"
    return client


def test_no_url_or_query_parameter_outside_the_admin_gives_a_5xx(fuzz_client, world):
    findings = Findings()
    keys = view_parameter_names()
    for route in route_patterns():
        if route.startswith("admin/"):
            continue
        paths = concrete_paths(route, world["ids"])
        for path in paths:
            findings.check(fuzz_client.get(path), "GET", path, "%00" in path)
        for path in paths[:1]:
            for key in keys:
                for value in QUERY_VALUES:
                    url = _with_query(path, key, value)
                    findings.check(fuzz_client.get(url), "GET", url, "%00" in value)
    assert findings.requests > 500
    assert not findings.problems, "\n".join(findings.problems[:40])


def test_no_form_field_of_a_custom_view_gives_a_5xx(fuzz_client, world):
    findings = Findings()
    keys = view_parameter_names()
    for route in route_patterns():
        if route.startswith("admin/") or route.startswith("api/"):
            continue
        for path in concrete_paths(route, world["ids"])[:2]:
            for value in NUL_VALUES[:1] + ODD_VALUES:
                data = {key: value.replace("%00", "\x00") for key in keys}
                # Under /review/ only the forms read the POST (tests/labeling/test_bad_input.py: NUL → 400 per field).
                must_be_400 = "%00" in value and not route.startswith("review/")
                findings.check(fuzz_client.post(path, data), "POST", f"{path} {value[:20]}", must_be_400)
    assert not findings.problems, "\n".join(findings.problems[:40])


FILTER_LINK = re.compile(r'href="\?([^"#]+)"')


def admin_filter_keys(html: str) -> set[str]:
    """Parameter names of the changelist's own filter, sort and search links."""
    keys = {"q", "o", "p", "e"}
    for query in FILTER_LINK.findall(html):
        for part in query.replace("&amp;", "&").split("&"):
            keys.add(part.split("=", 1)[0])
    return keys


def test_no_admin_changelist_filter_or_object_url_gives_a_5xx(fuzz_client, world):
    findings = Findings()
    for model in admin.site._registry:
        base = f"/admin/{model._meta.app_label}/{model._meta.model_name}/"
        listing = fuzz_client.get(base)
        findings.check(listing, "GET", base, False)
        for key in sorted(admin_filter_keys(listing.content.decode())):
            for value in NUL_VALUES[:2] + ODD_VALUES:
                url = _with_query(base, key, value)
                findings.check(fuzz_client.get(url), "GET", url, "%00" in value)
        for object_id in ["1", "99999999999999999999", "a%00b", "%ff%fe", "x" * 300]:
            for suffix in ("change/", "history/", "delete/"):
                url = f"{base}{object_id}/{suffix}"
                findings.check(fuzz_client.get(url), "GET", url, "%00" in object_id)
    assert findings.requests > 300
    assert not findings.problems, "\n".join(findings.problems[:40])


def test_no_admin_action_or_reason_field_gives_a_5xx(fuzz_client, world, rf):
    findings = Findings()
    request = rf.get("/admin/")
    request.user = world["admin"]
    for model, model_admin in admin.site._registry.items():
        ids = [str(pk) for pk in model.objects.values_list("pk", flat=True)[:2]] or ["1"]
        base = f"/admin/{model._meta.app_label}/{model._meta.model_name}/"
        for action in model_admin.get_actions(request):
            # axes' own "clean up expired attempts" 500s outside a login request (no axes_attempt_time):
            # a django-axes bug, reported in the closing note, not ours to patch here.
            if action == "delete_selected" or model._meta.app_label == "axes":
                continue
            for value in NUL_VALUES[:1] + ["", "x" * 5000, "%ff%fe", "💥"]:
                raw = value.replace("%00", "\x00")
                data = {"action": action, "_selected_action": ids, "reason": raw, "apply": "1", "confirm": "yes"}
                findings.check(fuzz_client.post(base, data), "POST", f"{base} {action} {value[:20]}", "%00" in value)
    assert not findings.problems, "\n".join(findings.problems[:40])
