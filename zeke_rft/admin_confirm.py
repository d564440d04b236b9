"""An admin action that asks for a reason and a ticked confirmation before it acts (promote, retire, rollback)."""

from django import forms
from django.core.exceptions import ValidationError
from django.template.response import TemplateResponse

from zeke_rft.errors import ApplicationError


class ConfirmReasonForm(forms.Form):
    reason = forms.CharField(max_length=500, help_text="Why (kept in the history of each record).")
    confirm = forms.BooleanField(label="I confirm", help_text="Tick to confirm; this cannot be undone from here.")

    def clean_reason(self):
        reason = self.cleaned_data["reason"].strip()
        if not reason:
            raise ValidationError("Say why.")
        return reason


def confirm_with_reason(modeladmin, request, queryset, *, action: str, title: str, explanation: str, apply):
    """First call shows the form; the posted form (with "apply") calls `apply(obj, reason)` for each object and
    reports each refusal as an error message. Returns None (back to the changelist) once applied."""
    form = ConfirmReasonForm(request.POST if "apply" in request.POST else None)
    if not form.is_valid():
        context = {
            **modeladmin.admin_site.each_context(request),
            "title": title,
            "explanation": explanation,
            "objects": queryset,
            "action": action,
            "form": form,
            "opts": modeladmin.model._meta,
        }
        return TemplateResponse(request, "admin/confirm_with_reason.html", context)
    for obj in queryset:
        try:
            apply(obj, form.cleaned_data["reason"])
            modeladmin.message_user(request, f"{obj}: done.")
        except (ApplicationError, ValidationError) as exc:
            text = exc.message if isinstance(exc, ApplicationError) else "; ".join(exc.messages)
            modeladmin.message_user(request, f"{obj}: {text}", level="ERROR")
    return None
