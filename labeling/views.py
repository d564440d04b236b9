"""The review panel: thin function views (form → service → render). HTMX gets the item partial back."""

import json
from functools import wraps

from django.conf import settings
from django.contrib.auth.views import LoginView, redirect_to_login
from django.core.exceptions import ValidationError
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.cache import patch_vary_headers
from django_htmx.http import HttpResponseClientRedirect, push_url

from labeling import selectors, services
from labeling.access import REVIEW_PERMISSION, user_can_review
from labeling.forms import PreferenceForm, ScoreCardForm, SkipForm, card_initial
from labeling.models import DIMENSIONS, PreferenceChoice, TaskKind
from traces.models import TaskCategory
from traces.selectors import trace_scrubbed_view
from zeke_rft.errors import ApplicationError


class _Refused(Exception):
    """An access refusal the panel answers itself (403/404): HTMX gets a small partial in the item area,
    a full page load the panel page around it (so the reviewer's draft of that item can still be offered)."""

    def __init__(self, message: str, *, status: int, task_id: int | None = None):
        super().__init__(message)
        self.message, self.status, self.task_id = message, status, task_id


def _refusal_response(request, message: str, *, status: int, task_id: int | None = None):
    context = {"message": message, "status": status, "refused_task_id": task_id}
    template = "labeling/partials/error.html" if _partial_only(request) else "labeling/refused.html"
    response = render(request, template, context, status=status)
    patch_vary_headers(response, ["HX-Request"])
    return response


class ReviewLoginView(LoginView):
    """The panel's login; says so when the reviewer was sent here because the session expired."""

    template_name = "labeling/login.html"
    next_page = "/review/"

    def get_context_data(self, **kwargs):
        session_cookie = self.request.COOKIES.get(settings.SESSION_COOKIE_NAME)
        anonymous = not self.request.user.is_authenticated
        expired = anonymous and (self.request.GET.get("expired") == "1" or bool(session_cookie))
        return {**super().get_context_data(**kwargs), "expired": expired}


def reviewer_required(view):
    """Log-in and reviewers-group check. HTMX requests never get a full page swapped into the item area:
    an expired session is a client-side redirect to the login, a refusal the error partial."""

    @wraps(view)
    def wrapper(request, *args, **kwargs):
        if not request.user.is_authenticated:
            if request.htmx:
                back_to = request.htmx.current_url_abs_path or reverse("labeling:queue")
                return HttpResponseClientRedirect(redirect_to_login(back_to, "labeling:login").url + "&expired=1")
            return redirect_to_login(request.get_full_path(), "labeling:login")
        if not user_can_review(request.user):
            message = f"You need the permission {REVIEW_PERMISSION} (the reviewers group) to use the review panel."
            return _refusal_response(request, message, status=403)
        try:
            return view(request, *args, **kwargs)
        except _Refused as refused:
            return _refusal_response(request, refused.message, status=refused.status, task_id=refused.task_id)

    wrapper.required_permissions = (REVIEW_PERMISSION,)
    return wrapper


def _partial_only(request) -> bool:
    return bool(request.htmx) and not request.htmx.history_restore_request


@reviewer_required
def queue(request):
    day = timezone.localdate()
    tasks = list(selectors.label_tasks_for_reviewer(user=request.user, day=day))
    done = sum(1 for task in tasks if task.status != "pending")
    first_pending = next((task for task in tasks if task.status == "pending"), None)
    context = {
        "day": day,
        "tasks": tasks,
        "progress": {"done": done, "total": len(tasks), "percent": round(100 * done / len(tasks)) if tasks else 0},
        "first_pending": first_pending,
    }
    return render(request, "labeling/queue.html", context)


def _pretty(value) -> str:
    if value in (None, "", {}, []):
        return ""
    return value if isinstance(value, str) else json.dumps(value, indent=2, ensure_ascii=False, sort_keys=True)


def _calls(calls) -> list[dict]:
    return [
        {**call, "args_json": _pretty(call.get("args")), "result_json": _pretty(call.get("result"))}
        for call in calls or []
        if isinstance(call, dict)
    ]


_UNKNOWN = object()  # "look the reviewer's earlier answer up" (None means: known to have none)


def _item_context(request, task, *, form=None, skip_form=None, positions=None, rubric=None, existing=_UNKNOWN) -> dict:
    if positions is None:
        positions = selectors.label_task_positions(user=request.user, queue_id=task.queue_id)
    view = trace_scrubbed_view(task.trace)
    view["tool_calls"] = _calls(view["tool_calls"])
    view["context_json"] = _pretty(view["context"])
    context = {
        "task": task,
        "trace": view,
        "skip_form": skip_form or SkipForm(),
        "progress": selectors.label_task_progress(positions),
        **selectors.label_task_neighbours(positions, task.pk),
    }
    if task.kind == TaskKind.PREFERENCE:
        if existing is _UNKNOWN:
            existing = selectors.preference_for(task_id=task.pk, user=request.user)
        context.update(_preference_context(task, form=form, existing=existing))
    else:
        if existing is _UNKNOWN:
            existing = selectors.scorecard_for(trace_id=task.trace_id, user=request.user)
        context.update(_score_context(task, form=form, existing=existing, rubric=rubric or services.rubric_active()))
    return context


def _preference_context(task, *, form, existing) -> dict:
    """Blind A/B: sides in the item's recorded order; policy ids only once the reviewer has answered."""
    shown = services.preference_choice_unblind(existing.choice, swapped=task.sides_swapped) if existing else None
    initial = {"choice": shown, "rationale": existing.rationale} if existing else {}
    form = form or PreferenceForm(initial=initial)
    values = _values(form)
    pair = task.pair or {}
    order = ("b", "a") if task.sides_swapped else ("a", "b")
    return {
        "form": form,
        "values": values,
        "existing": existing,
        "sides": [
            _side(shown, pair.get(key) or {}, reveal=existing is not None)
            for shown, key in zip("ab", order, strict=True)
        ],
        "choices": [
            {"value": value, "label": label, "checked": values["choice"] == value}
            for value, label in PreferenceChoice.choices
        ],
    }


def _side(shown_key: str, side: dict, *, reveal: bool) -> dict:
    return {
        "key": shown_key,
        "response": side.get("response", ""),
        "calls": _calls(side.get("tool_calls")),
        "policy_id": side.get("policy_id", "") if reveal else "",
    }


def _score_context(task, *, form, existing, rubric) -> dict:
    form = form or ScoreCardForm(
        initial=card_initial(existing) or {"task_category": task.trace.task_category, "complexity": 1}
    )
    values = _values(form)
    errors = form.errors if form.is_bound else {}
    return {
        "form": form,
        "values": values,
        "errors": errors,
        "rubric": rubric,
        "existing": existing,
        "dimensions": [
            _dimension(name, rubric.dimensions.get(name, {}), values[name], errors.get(name)) for name in DIMENSIONS
        ],
        "categories": [
            {"value": value, "label": label, "selected": values["task_category"] == value}
            for value, label in TaskCategory.choices
        ],
        "complexities": [{"value": str(n), "selected": values["complexity"] == str(n)} for n in (1, 2, 3)],
    }


def _values(form) -> dict:
    # Inputs are written out in the template rather than rendered through widget templates: the item
    # view is the panel's hot path and widget rendering was most of its time (see bench/panel.py).
    return {name: "" if form[name].value() is None else str(form[name].value()) for name in form.fields}


def _dimension(name: str, spec: dict, value: str, errors) -> dict:
    anchors = spec.get("anchors", {})
    points = [{"value": str(n), "anchor": anchors.get(str(n), ""), "checked": value == str(n)} for n in range(1, 6)]
    return {"name": name, "spec": spec, "points": points, "errors": errors}


def _render_item(request, task, *, status=200, **extra):
    if "trace" not in task._state.fields_cache:  # loaded without its trace (a submission with errors)
        task = selectors.label_task_for_item(task_id=task.pk)
        if task is None:  # deleted while the reviewer looked at it
            raise _Refused("No such item.", status=404)
    template = "labeling/partials/item.html" if _partial_only(request) else "labeling/item.html"
    response = render(request, template, _item_context(request, task, **extra), status=status)
    patch_vary_headers(response, ["HX-Request"])
    return response


def _load_task(request, task_id, *, with_trace=True):
    task = selectors.label_task_for_item(task_id=task_id, with_trace=with_trace)
    if task is None:
        raise _Refused("No such item.", status=404)
    if task.reviewer_id not in (None, request.user.pk):
        raise _Refused(
            "This item was reassigned to another reviewer. If you had started it, your draft is below to copy.",
            status=403,
            task_id=task.pk,
        )
    return task


def _after_done(request, task, *, rubric=None):
    """The next pending item: HTMX gets its partial (and the URL pushed), plain HTML a 303 redirect."""
    positions = selectors.label_task_positions(user=request.user, queue_id=task.queue_id)
    next_id = selectors.label_task_next_pending(positions, task.pk)
    url = reverse("labeling:item", args=[next_id]) if next_id else reverse("labeling:queue")
    if not request.htmx:
        return _see_other(url)
    if next_id is None:
        return push_url(render(request, "labeling/partials/done.html", {}), url)
    next_task = selectors.label_task_for_item(task_id=next_id)
    services.label_task_open(task=next_task)
    # The positions hide pending score items of traces this reviewer already scored, and a pending
    # preference item has no answer yet, so the next item has no earlier answer to look up.
    response = _render_item(request, next_task, positions=positions, rubric=rubric, existing=None)
    return push_url(response, url)


def _add_error(form, error: ValidationError) -> None:
    """A service's ValidationError on the form: next to its field when the form has it, else on top."""
    if not hasattr(error, "error_dict"):
        form.add_error(None, error)
        return
    for field, errors in error.error_dict.items():
        form.add_error(field if field in form.fields else None, errors)


def _see_other(url):
    response = redirect(url)
    response.status_code = 303
    return response


@reviewer_required
def item(request, task_id: int):
    if request.method != "POST":
        task = _load_task(request, task_id)
        services.label_task_open(task=task)
        return _render_item(request, task)
    # The service locks and checks the task (who may answer it, its kind, its state), so a valid
    # submission does not load it here first; the form follows what was posted and a form for the
    # wrong kind of item is refused by the service (409).
    form_class = PreferenceForm if "choice" in request.POST else ScoreCardForm
    form = form_class(request.POST)
    if not form.is_valid():
        return _rerender(request, task_id, form=form)
    try:
        if form_class is PreferenceForm:
            task = services.preference_submit(task_id=task_id, reviewer=request.user, **form.cleaned_data).task
            return _after_done(request, task)
        card = services.scorecard_submit(task_id=task_id, reviewer=request.user, **form.cleaned_data)
        return _after_done(request, card.task, rubric=card.rubric)
    except ValidationError as error:
        _add_error(form, error)
        return _rerender(request, task_id, form=form)
    except ApplicationError as error:
        return _refused_or_rerender(request, task_id, error, form=form)


def _rerender(request, task_id: int, *, form=None, skip_form=None, status=400):
    """The item again with the bound form and its errors (after the same access checks as a GET)."""
    task = _load_task(request, task_id)
    if form is not None and (form_class := _form_class(task)) is not type(form):
        posted, form = form, form_class(request.POST)  # posted to an item of the other kind: show its own form
        form.is_valid()
        for message in posted.non_field_errors():
            form.add_error(None, message)
    return _render_item(request, task, form=form, skip_form=skip_form, status=status)


def _refused_or_rerender(request, task_id: int, error: ApplicationError, *, form=None, skip_form=None):
    if error.status in (403, 404):
        raise _Refused(error.message, status=error.status)
    (form if form is not None else skip_form).add_error(None, error.message)
    return _rerender(request, task_id, form=form, skip_form=skip_form, status=error.status)


def _form_class(task):
    return PreferenceForm if task.kind == TaskKind.PREFERENCE else ScoreCardForm


@reviewer_required
def skip(request, task_id: int):
    if request.method != "POST":
        return _see_other(reverse("labeling:item", args=[task_id]))
    skip_form = SkipForm(request.POST)
    if not skip_form.is_valid():
        return _rerender(request, task_id, skip_form=skip_form)
    try:
        task = services.label_task_skip(task_id=task_id, reviewer=request.user, reason=skip_form.cleaned_data["reason"])
    except ValidationError as error:
        _add_error(skip_form, error)
        return _rerender(request, task_id, skip_form=skip_form)
    except ApplicationError as error:
        return _refused_or_rerender(request, task_id, error, skip_form=skip_form)
    return _after_done(request, task)


@reviewer_required
def stats(request):
    context = {
        "agreement": selectors.agreement_by_dimension(),
        "throughput": selectors.reviewer_throughput(),
        "dimensions": DIMENSIONS,
    }
    return render(request, "labeling/stats.html", context)
