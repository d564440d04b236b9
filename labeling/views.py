"""The review panel: thin function views (form → service → render). HTMX gets the item partial back."""

import json
from functools import wraps

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.cache import patch_vary_headers
from django_htmx.http import push_url

from labeling import selectors, services
from labeling.access import user_can_review
from labeling.forms import PreferenceForm, ScoreCardForm, SkipForm, card_initial
from labeling.models import DIMENSIONS, PreferenceChoice, TaskKind
from traces.models import TaskCategory
from traces.selectors import trace_scrubbed_view
from zeke_rft.errors import ApplicationError


def reviewer_required(view):
    @login_required(login_url="labeling:login")
    @wraps(view)
    def wrapper(request, *args, **kwargs):
        if not user_can_review(request.user):
            raise PermissionDenied("Only the reviewers group may use the review panel.")
        return view(request, *args, **kwargs)

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


def _item_context(request, task, *, form=None, skip_form=None, positions=None, rubric=None) -> dict:
    user = request.user
    if positions is None:
        positions = selectors.label_task_positions(user=user, queue_id=task.queue_id)
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
        existing = selectors.preference_for(task_id=task.pk, user=user)
        initial = {"choice": existing.choice, "rationale": existing.rationale} if existing else {}
        pair = task.pair or {}
        context["sides"] = [
            {"key": key, **(pair.get(key) or {}), "calls": _calls((pair.get(key) or {}).get("tool_calls"))}
            for key in ("a", "b")
        ]
        context["form"] = form = form or PreferenceForm(initial=initial)
        context["values"] = _values(form)
        context["choices"] = [
            {"value": value, "label": label, "checked": context["values"]["choice"] == value}
            for value, label in PreferenceChoice.choices
        ]
        context["existing"] = existing
    else:
        existing = selectors.scorecard_for(trace_id=task.trace_id, user=user)
        rubric = rubric or services.rubric_active()
        form = form or ScoreCardForm(
            initial=card_initial(existing) or {"task_category": task.trace.task_category, "complexity": 1}
        )
        values = _values(form)
        errors = form.errors if form.is_bound else {}
        context.update(form=form, values=values, errors=errors, rubric=rubric)
        context["dimensions"] = [
            _dimension(name, rubric.dimensions.get(name, {}), values[name], errors.get(name)) for name in DIMENSIONS
        ]
        context["categories"] = [
            {"value": value, "label": label, "selected": values["task_category"] == value}
            for value, label in TaskCategory.choices
        ]
        context["complexities"] = [{"value": str(n), "selected": values["complexity"] == str(n)} for n in (1, 2, 3)]
        context["existing"] = existing
    return context


def _values(form) -> dict:
    # Inputs are written out in the template rather than rendered through widget templates: the item
    # view is the panel's hot path and widget rendering was most of its time (see bench/panel.py).
    return {name: "" if form[name].value() is None else str(form[name].value()) for name in form.fields}


def _dimension(name: str, spec: dict, value: str, errors) -> dict:
    anchors = spec.get("anchors", {})
    points = [{"value": str(n), "anchor": anchors.get(str(n), ""), "checked": value == str(n)} for n in range(1, 6)]
    return {"name": name, "spec": spec, "points": points, "errors": errors}


def _render_item(request, task, *, status=200, **forms):
    if "trace" not in task._state.fields_cache:  # loaded without its trace (a submission with errors)
        task = selectors.label_task_for_item(task_id=task.pk)
    template = "labeling/partials/item.html" if _partial_only(request) else "labeling/item.html"
    response = render(request, template, _item_context(request, task, **forms), status=status)
    patch_vary_headers(response, ["HX-Request"])
    return response


def _load_task(request, task_id, *, with_trace=True):
    task = selectors.label_task_for_item(task_id=task_id, with_trace=with_trace)
    if task is None:
        raise Http404("No such item")
    if task.reviewer_id not in (None, request.user.pk):
        raise PermissionDenied("This item is assigned to another reviewer.")
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
    return push_url(_render_item(request, next_task, positions=positions, rubric=rubric), url)


def _see_other(url):
    response = redirect(url)
    response.status_code = 303
    return response


@reviewer_required
def item(request, task_id: int):
    # A submission needs the trace only to re-render errors, so it is loaded lazily then.
    task = _load_task(request, task_id, with_trace=request.method != "POST")
    if request.method != "POST":
        services.label_task_open(task=task)
        return _render_item(request, task)
    form_class = PreferenceForm if task.kind == TaskKind.PREFERENCE else ScoreCardForm
    form = form_class(request.POST)
    if form.is_valid():
        try:
            if task.kind == TaskKind.PREFERENCE:
                services.preference_submit(task=task, reviewer=request.user, **form.cleaned_data)
            else:
                card = services.scorecard_submit(task=task, reviewer=request.user, **form.cleaned_data)
                return _after_done(request, task, rubric=card.rubric)
            return _after_done(request, task)
        except ValidationError as error:
            form.add_error(None, error)
        except ApplicationError as error:
            form.add_error(None, error.message)
            return _render_item(request, task, form=form, status=error.status)
    return _render_item(request, task, form=form, status=400)


@reviewer_required
def skip(request, task_id: int):
    task = _load_task(request, task_id, with_trace=False)
    if request.method != "POST":
        return _see_other(reverse("labeling:item", args=[task.pk]))
    skip_form = SkipForm(request.POST)
    if skip_form.is_valid():
        try:
            services.label_task_skip(task=task, reviewer=request.user, reason=skip_form.cleaned_data["reason"])
            return _after_done(request, task)
        except ValidationError as error:
            skip_form.add_error(None, error)
        except ApplicationError as error:
            skip_form.add_error(None, error.message)
            return _render_item(request, task, skip_form=skip_form, status=error.status)
    return _render_item(request, task, skip_form=skip_form, status=400)


@reviewer_required
def stats(request):
    context = {
        "agreement": selectors.agreement_by_dimension(),
        "throughput": selectors.reviewer_throughput(),
        "dimensions": DIMENSIONS,
    }
    return render(request, "labeling/stats.html", context)
