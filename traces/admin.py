import json

from django import forms
from django.contrib import admin, messages
from django.db.models.constants import LOOKUP_SEP
from django.template.response import TemplateResponse
from django.utils.html import format_html, format_html_join
from simple_history.admin import SimpleHistoryAdmin

from traces.models import Agent, ForgetRequest, Trace
from traces.services import agent_create, agent_revoke_token, agent_rotate_token, agent_update
from zeke_rft.access import admin_permission, admin_view_permission

RAW_TEXT_PERMISSION = "traces.view_raw_text"

# --- Agents -------------------------------------------------------------------


class AgentAdminForm(forms.ModelForm):
    reason = forms.CharField(
        required=False, max_length=200, help_text="Why you are changing this agent (kept in its history)."
    )

    class Meta:
        model = Agent
        fields = ("name", "modality", "active")


@admin.register(Agent)
class AgentAdmin(SimpleHistoryAdmin):
    form = AgentAdminForm
    list_display = ("name", "modality", "active", "token_prefix", "token_revoked", "token_rotated_at", "created_at")
    list_filter = ("modality", "active", "token_revoked")
    search_fields = ("name",)
    readonly_fields = ("token_prefix", "token_revoked", "token_rotated_at", "created_at")
    actions = ("rotate_token", "revoke_token")
    has_rotate_token_permission = admin_permission("traces.rotate_agent_token")
    has_revoke_token_permission = admin_permission("traces.revoke_agent_token")

    def get_fields(self, request, obj=None):
        if obj is None:
            return ("name", "modality")
        return ("name", "modality", "active", "reason", *self.readonly_fields)

    def save_model(self, request, obj, form, change):
        # Every write goes through the services (they set who and why on the history row).
        if change:
            agent_update(
                agent=obj,
                name=obj.name,
                modality=obj.modality,
                active=obj.active,
                user=request.user,
                reason=form.cleaned_data.get("reason", ""),
            )
            return
        # Creation makes the token; it is shown once, here. The form has already checked the name is unique
        # and the modality valid.
        agent, token = agent_create(name=obj.name, modality=obj.modality, user=request.user)
        obj.pk, obj.token_hash, obj.token_prefix, obj.created_at = (
            agent.pk,
            agent.token_hash,
            agent.token_prefix,
            agent.created_at,
        )
        obj._state.adding = False
        obj._state.db = agent._state.db
        messages.warning(request, f"Token for {agent.name} (copy it now, it is not shown again): {token}")

    @admin.action(description="Rotate token (the old one stops working at once)", permissions=["rotate_token"])
    def rotate_token(self, request, queryset):
        return self._token_action(
            request,
            queryset,
            action="rotate_token",
            title="Rotate tokens",
            explanation="Each agent gets a new token, shown once on the next page; the old one stops working at once.",
        )

    @admin.action(description="Revoke token", permissions=["revoke_token"])
    def revoke_token(self, request, queryset):
        return self._token_action(
            request,
            queryset,
            action="revoke_token",
            title="Revoke tokens",
            explanation="These agents' tokens stop working at once (401) until a token is rotated.",
        )

    def _token_action(self, request, queryset, *, action, title, explanation):
        """Ask why first (the reason goes into each agent's history), then rotate or revoke."""
        form = TokenActionForm(request.POST if "apply" in request.POST else None)
        if not form.is_valid():
            context = {
                **self.admin_site.each_context(request),
                "title": title,
                "explanation": explanation,
                "agents": queryset,
                "action": action,
                "form": form,
                "opts": self.model._meta,
            }
            return TemplateResponse(request, "admin/traces/agent/token_action.html", context)
        reason = form.cleaned_data["reason"]
        for agent in queryset:
            if action == "rotate_token":
                token = agent_rotate_token(agent=agent, user=request.user, reason=f"token rotated: {reason}")
                messages.warning(request, f"New token for {agent.name} (copy it now, it is not shown again): {token}")
            else:
                agent_revoke_token(agent=agent, user=request.user, reason=f"token revoked: {reason}")
                messages.success(request, f"Revoked the token of {agent.name}.")
        return None


class TokenActionForm(forms.Form):
    reason = forms.CharField(max_length=200, help_text="Why (kept in each agent's history).")


# --- Traces -------------------------------------------------------------------

RAW_FIELDS = ("user_message", "context_pretty", "final_response", "tool_calls_table")
SCRUBBED_FIELDS = (
    "scrubbed_user_message",
    "scrubbed_context_pretty",
    "scrubbed_final_response",
    "scrubbed_tool_calls_table",
)


def raw_columns() -> set[str]:
    """Columns holding what an agent sent (before the nightly scrub): the text and JSON fields it writes."""
    from traces.scrub_fields import scrubbed_field_names

    return set(scrubbed_field_names()) - {"task_category", "modality", "arm"}  # choices: no free text


def _can_see_raw(request) -> bool:
    return request.user.has_perm(RAW_TEXT_PERMISSION)


def _pretty(value) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False, sort_keys=True, default=str)


@admin.register(Trace)
class TraceAdmin(admin.ModelAdmin):
    """Read-only. Raw text only for users with traces.view_raw_text; everyone else sees the scrubbed copies."""

    list_display = (
        "id",
        "agent",
        "external_id",
        "conversation_id",
        "task_category",
        "status",
        "message_preview",
        "tool_call_count",
        "secrets_redacted",
        "occurred_at",
    )
    scrubbed_list_display = ("id", "agent", "scrubbed_conversation", "task_category", "status", "message_preview",
                             "tool_call_count", "secrets_redacted", "occurred_at")  # fmt: skip
    list_filter = ("agent", "status", "task_category", "modality", "quarantined")
    date_hierarchy = "occurred_at"
    list_select_related = ("agent",)
    list_per_page = 50
    show_full_result_count = False

    def get_search_fields(self, request):
        if not _can_see_raw(request):
            return ("scrubbed_user_message", "scrubbed_final_response")
        return ("=conversation_id", "=external_id", "user_message", "final_response", "scrubbed_user_message",
                "scrubbed_final_response")  # fmt: skip

    def get_list_display(self, request):
        return self.list_display if _can_see_raw(request) else self.scrubbed_list_display

    def get_sortable_by(self, request):
        return [name for name in self.get_list_display(request) if _can_see_raw(request) or name not in raw_columns()]

    def lookup_allowed(self, lookup, value, request=None):
        """No filtering on raw columns (`?user_message__startswith=…` would read raw text by guessing)."""
        if lookup.split(LOOKUP_SEP)[0] in raw_columns() and (request is None or not _can_see_raw(request)):
            return False
        return super().lookup_allowed(lookup, value, request)

    def get_ordering(self, request):
        ordering = super().get_ordering(request) or ()
        if _can_see_raw(request):
            return ordering
        return [name for name in ordering if name.lstrip("-").split(LOOKUP_SEP)[0] not in raw_columns()]

    def get_fields(self, request, obj=None):
        if not _can_see_raw(request):
            return (
                ("agent", "modality", "status", "drop_reason"),
                ("task_category", "arm", "rollout_id"),
                ("occurred_at", "received_at", "latency_ms"),
                ("secrets_redacted", "quarantined"),
                "scrubbed_metadata",
                *SCRUBBED_FIELDS,
            )
        return (
            ("agent", "modality", "status", "drop_reason"),
            ("external_id", "conversation_id"),
            ("task_category", "policy_id", "arm", "rollout_id"),
            ("occurred_at", "received_at", "latency_ms"),
            ("flags", "selected_tools", "secrets_redacted", "quarantined"),
            *RAW_FIELDS,
            "scrubbed_metadata",
            *SCRUBBED_FIELDS,
        )

    @admin.display(description="conversation")
    def scrubbed_conversation(self, trace):
        return (trace.scrubbed_fields or {}).get("conversation_id", "(not scrubbed yet)")

    @admin.display(description="scrubbed metadata")
    def scrubbed_metadata(self, trace):
        if trace.scrubbed_fields is None:
            return "(not scrubbed yet)"
        return format_html("<pre>{}</pre>", _pretty(trace.scrubbed_fields))

    def get_readonly_fields(self, request, obj=None):
        return [name for row in self.get_fields(request, obj) for name in (row if isinstance(row, tuple) else (row,))]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False  # view-only: traces change through services, not by hand

    @admin.display(description="message")
    def message_preview(self, trace):
        text = trace.scrubbed_user_message or "(not scrubbed yet)"
        return text if len(text) <= 80 else text[:77] + "…"

    @admin.display(description="tool calls")
    def tool_call_count(self, trace):
        return len(trace.tool_calls or trace.scrubbed_tool_calls or [])

    @admin.display(description="context")
    def context_pretty(self, trace):
        return format_html("<pre>{}</pre>", _pretty(trace.context))

    @admin.display(description="scrubbed context")
    def scrubbed_context_pretty(self, trace):
        if trace.scrubbed_context is None:
            return "(not scrubbed yet)"
        return format_html("<pre>{}</pre>", _pretty(trace.scrubbed_context))

    @admin.display(description="tool calls (raw)")
    def tool_calls_table(self, trace):
        return _tool_calls_html(trace.tool_calls)

    @admin.display(description="tool calls")
    def scrubbed_tool_calls_table(self, trace):
        if trace.scrubbed_tool_calls is None:
            return "(not scrubbed yet)"
        return _tool_calls_html(trace.scrubbed_tool_calls)


def _tool_calls_html(calls):
    """Tool calls as a small table: name, latency, error, then args and result as pretty-printed JSON."""
    if not calls:
        return "(none)"
    rows = format_html_join(
        "",
        "<tr><td>{}</td><td><code>{}</code></td><td>{}</td><td>{}</td><td><pre>{}</pre></td><td><pre>{}</pre></td></tr>",
        (
            (
                index + 1,
                call.get("name", ""),
                "" if call.get("latency_ms") is None else call["latency_ms"],
                call.get("error") or "",
                _pretty(call.get("args")),
                _pretty(call.get("result")),
            )
            for index, call in enumerate(calls)
        ),
    )
    return format_html(
        '<table class="tool-calls"><thead><tr><th>#</th><th>tool</th><th>ms</th><th>error</th>'
        "<th>args</th><th>result</th></tr></thead><tbody>{}</tbody></table>",
        rows,
    )


# --- nightly filter ---
# Filter runs with their counts, dropped traces by reason, "run / re-run a day" and dry runs (issue 3).


def _filter_admin():
    from datetime import date as date_type

    from django import forms
    from django.db.models import Count
    from django.shortcuts import redirect
    from django.template.response import TemplateResponse
    from django.urls import path, reverse
    from django.utils.http import urlencode

    from traces.filtering import filter_run, raw_purge
    from traces.models import FilterRun, FilterRunTrigger, RawPurge, TraceStatus

    def dropped_link(reason: str, count: int, **extra) -> str:
        query = urlencode({"status": TraceStatus.DROPPED, "drop_reason": reason, **extra})
        return format_html('<a href="{}?{}">{}: {}</a>', reverse("admin:traces_trace_changelist"), query, reason, count)

    class RunFilterForm(forms.Form):
        day = forms.DateField(required=False, help_text="YYYY-MM-DD; empty = every pending trace")
        dry_run = forms.BooleanField(required=False, help_text="report what would be dropped; write nothing")
        refilter = forms.BooleanField(
            required=False, help_text="also re-evaluate the day's already filtered traces (raw text still kept)"
        )

        def clean(self):
            data = super().clean()
            if data.get("refilter") and not data.get("day"):
                raise forms.ValidationError("Re-filtering needs a day.")
            return data

    @admin.register(FilterRun)
    class FilterRunAdmin(admin.ModelAdmin):
        list_display = (
            "id",
            "started_at",
            "trigger",
            "triggered_by",
            "day",
            "dry_run",
            "status",
            "processed",
            "eligible",
            "dropped",
            "duration_ms",
        )
        list_filter = ("status", "trigger", "dry_run", "day")
        date_hierarchy = "started_at"
        readonly_fields = [f.name for f in FilterRun._meta.fields] + ["dropped_by_rule"]
        actions = ["rerun_days", "dry_run_days"]
        change_list_template = "admin/traces/filterrun/change_list.html"

        def has_add_permission(self, request):
            return False

        def has_change_permission(self, request, obj=None):
            return obj is None and request.user.has_perm("traces.change_filterrun")

        def has_delete_permission(self, request, obj=None):
            return False  # the record of what ran stays

        @admin.display(description="dropped by rule")
        def dropped_by_rule(self, run):
            items = [(rule, n) for rule, n in sorted(run.counts.items()) if n]
            if not items:
                return "—"
            if run.dry_run:
                return format_html_join(", ", "{}: {}", items)
            return format_html_join(
                ", ", "{}", ((dropped_link(rule, n, filter_run__id__exact=run.pk),) for rule, n in items)
            )

        def _run_days(self, request, queryset, *, dry_run: bool):
            days = sorted({run.day for run in queryset if run.day})
            if not days:
                self.message_user(request, "Pick runs that were for one day (the day column).", messages.WARNING)
                return
            for day in days:
                run = filter_run(
                    day=day, dry_run=dry_run, refilter=True, trigger=FilterRunTrigger.ADMIN, user=request.user
                )
                self.message_user(
                    request,
                    f"{'Dry run' if dry_run else 'Re-ran'} {day}: {run.processed} processed, {run.eligible} eligible, "
                    f"{run.dropped} {'would be ' if dry_run else ''}dropped (FilterRun #{run.pk}).",
                )

        @admin.action(description="Re-run the filter for these runs' days", permissions=["change"])
        def rerun_days(self, request, queryset):
            self._run_days(request, queryset, dry_run=False)

        @admin.action(description="Dry run the filter for these runs' days", permissions=["change"])
        def dry_run_days(self, request, queryset):
            self._run_days(request, queryset, dry_run=True)

        def get_urls(self):
            return [
                path("run/", self.admin_site.admin_view(self.run_view), name="traces_filterrun_run"),
                *super().get_urls(),
            ]

        def run_view(self, request):
            """Run (or dry run) the filter now, for a day or for every pending trace."""
            admin_view_permission(request, "traces.change_filterrun")
            form = RunFilterForm(request.POST or None)
            if request.method == "POST" and form.is_valid():
                day: date_type | None = form.cleaned_data["day"]
                run = filter_run(
                    day=day,
                    dry_run=form.cleaned_data["dry_run"],
                    refilter=form.cleaned_data["refilter"],
                    trigger=FilterRunTrigger.ADMIN,
                    user=request.user,
                )
                self.message_user(
                    request,
                    f"FilterRun #{run.pk}{' (dry run)' if run.dry_run else ''}: {run.processed} processed, "
                    f"{run.eligible} eligible, {run.dropped} {'would be ' if run.dry_run else ''}dropped.",
                )
                return redirect("admin:traces_filterrun_change", run.pk)
            context = {
                **self.admin_site.each_context(request),
                "title": "Run the filter",
                "form": form,
                "opts": self.model._meta,
            }
            return TemplateResponse(request, "admin/traces/filterrun/run_form.html", context)

        def changelist_view(self, request, extra_context=None):
            reasons = (
                Trace.objects.filter(status=TraceStatus.DROPPED)
                .values("drop_reason")
                .annotate(n=Count("id"))
                .order_by("-n")
            )
            extra_context = {
                **(extra_context or {}),
                "dropped_by_reason": [dropped_link(r["drop_reason"], r["n"]) for r in reasons],
                "can_run": request.user.has_perm("traces.change_filterrun"),
            }
            return super().changelist_view(request, extra_context=extra_context)

    @admin.register(RawPurge)
    class RawPurgeAdmin(admin.ModelAdmin):
        list_display = ("id", "ran_at", "trigger", "triggered_by", "cutoff", "purged")
        list_filter = ("trigger",)
        readonly_fields = [f.name for f in RawPurge._meta.fields]
        actions = ["purge_now"]

        def has_add_permission(self, request):
            return False

        def has_change_permission(self, request, obj=None):
            return obj is None and request.user.has_perm("traces.change_rawpurge")

        def has_delete_permission(self, request, obj=None):
            return False

        @admin.action(description="Purge raw text older than the retention window now", permissions=["change"])
        def purge_now(self, request, queryset):
            record = raw_purge(trigger=FilterRunTrigger.ADMIN, user=request.user)
            self.message_user(request, f"RawPurge #{record.pk}: {record.purged} trace(s) purged.")

    return FilterRunAdmin, RawPurgeAdmin


FilterRunAdmin, RawPurgeAdmin = _filter_admin()


@admin.register(ForgetRequest)
class ForgetRequestAdmin(admin.ModelAdmin):
    """Deletions on request (`manage.py forget`): read-only, and holding no deleted content."""

    list_display = ("id", "requested_at", "requested_by_name", "selector", "value_sha256", "reason", "counts")
    list_filter = ("selector", "requested_at")
    readonly_fields = [field.name for field in ForgetRequest._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
