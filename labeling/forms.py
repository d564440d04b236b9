import json

from django import forms

from labeling.models import DIMENSIONS, PreferenceChoice
from traces.models import TaskCategory

SCORE_CHOICES = [(value, str(value)) for value in range(1, 6)]


class ScoreCardForm(forms.Form):
    success = forms.TypedChoiceField(choices=SCORE_CHOICES, coerce=int, widget=forms.RadioSelect)
    helpfulness = forms.TypedChoiceField(choices=SCORE_CHOICES, coerce=int, widget=forms.RadioSelect)
    tone_alignment = forms.TypedChoiceField(choices=SCORE_CHOICES, coerce=int, widget=forms.RadioSelect)
    safety = forms.TypedChoiceField(choices=SCORE_CHOICES, coerce=int, widget=forms.RadioSelect)
    task_category = forms.ChoiceField(choices=TaskCategory.choices)
    complexity = forms.TypedChoiceField(choices=[(1, "1"), (2, "2"), (3, "3")], coerce=int, initial=1)
    safety_notes = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))
    correction = forms.CharField(
        required=False, label="Preferred response", widget=forms.Textarea(attrs={"rows": 3, "data-key": "correction"})
    )
    corrected_tool_calls = forms.CharField(
        required=False,
        label="Correct tool calls (JSON)",
        help_text='A list like [{"name": "calendar.create", "args": {"title": "…"}}]',
        widget=forms.Textarea(attrs={"rows": 3, "spellcheck": "false"}),
    )
    rationale = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))

    def clean_corrected_tool_calls(self):
        text = self.cleaned_data["corrected_tool_calls"].strip()
        if not text:
            return None
        try:
            value = json.loads(text)
        except json.JSONDecodeError as error:
            raise forms.ValidationError(f"corrected_tool_calls is not valid JSON: {error.msg} (line {error.lineno})")
        except RecursionError:
            raise forms.ValidationError("corrected_tool_calls is nested too deeply")
        except ValueError as error:  # e.g. an integer with more digits than Python converts
            raise forms.ValidationError(f"corrected_tool_calls has a value that cannot be read: {error}")
        return [value] if isinstance(value, dict) else value

    @property
    def dimension_fields(self):
        return [self[name] for name in DIMENSIONS]


class SkipForm(forms.Form):
    reason = forms.CharField(max_length=300, widget=forms.TextInput(attrs={"placeholder": "why skip?"}))


class PreferenceForm(forms.Form):
    choice = forms.ChoiceField(choices=PreferenceChoice.choices, widget=forms.RadioSelect)
    rationale = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))


def card_initial(card) -> dict:
    if card is None:
        return {}
    initial = {name: getattr(card, name) for name in DIMENSIONS}
    initial.update(
        task_category=card.task_category,
        complexity=card.complexity,
        safety_notes=card.safety_notes,
        correction=card.correction,
        corrected_tool_calls=json.dumps(card.corrected_tool_calls, indent=1) if card.corrected_tool_calls else "",
        rationale=card.rationale,
    )
    return initial
