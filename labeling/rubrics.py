"""The rubric as data: validation, the active rubric, creating and editing it with history.

Writes (services); labeling.services re-exports these names.
"""

import copy

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from labeling.models import DIMENSIONS, Rubric
from labeling.rubric_default import DEFAULT_DIMENSIONS, DEFAULT_RUBRIC_NAME
from zeke_rft.history import history_set


def rubric_validate_dimensions(dimensions) -> None:
    """Each of DIMENSIONS with a label, a question and an anchor sentence for every point 1–5."""
    if not isinstance(dimensions, dict):
        raise ValidationError({"dimensions": "must be an object keyed by dimension"})
    missing = [name for name in DIMENSIONS if name not in dimensions]
    extra = [name for name in dimensions if name not in DIMENSIONS]
    if missing or extra:
        raise ValidationError(
            {"dimensions": f"must have exactly {', '.join(DIMENSIONS)} (missing {missing}, extra {extra})"}
        )
    for name in DIMENSIONS:
        spec = dimensions[name]
        anchors = spec.get("anchors") if isinstance(spec, dict) else None
        if not isinstance(anchors, dict) or sorted(anchors) != ["1", "2", "3", "4", "5"]:
            raise ValidationError({"dimensions": f"{name}: anchors must have keys 1–5"})
        if not all(isinstance(text, str) and text.strip() for text in anchors.values()):
            raise ValidationError({"dimensions": f"{name}: every anchor needs a sentence"})
        if not isinstance(spec.get("label"), str) or not spec["label"].strip():
            raise ValidationError({"dimensions": f"{name}: label is required"})


def rubric_active() -> Rubric:
    """The active rubric; seeds the default ZEKE rubric when there is none."""
    rubric = Rubric.objects.filter(active=True).order_by("-updated_at").first()
    if rubric is not None:
        return rubric
    rubric = Rubric(name=DEFAULT_RUBRIC_NAME, version=1, dimensions=copy.deepcopy(DEFAULT_DIMENSIONS), active=True)
    history_set(rubric, reason="default ZEKE rubric")
    try:
        with transaction.atomic():
            rubric.save()
    except IntegrityError:  # another process seeded it first, or an inactive one has the name
        rubric = Rubric.objects.get(name=DEFAULT_RUBRIC_NAME)
    return rubric


def rubric_create(*, name: str, dimensions: dict, active: bool = True, user=None, reason: str = "") -> Rubric:
    """A new rubric at version 1, validated, with history (who, why)."""
    rubric_validate_dimensions(dimensions)
    if not isinstance(name, str) or not name.strip():
        raise ValidationError({"name": "a rubric needs a name"})
    rubric = Rubric(name=name.strip(), version=1, dimensions=dimensions, active=active)
    history_set(rubric, user=user, reason=(reason or "created")[:100])
    try:
        with transaction.atomic():
            rubric.save()
    except IntegrityError:
        raise ValidationError({"name": f"a rubric named {name.strip()!r} exists already"}) from None
    return rubric


@transaction.atomic
def rubric_update(
    *, rubric: Rubric, dimensions: dict, user=None, reason: str = "", active: bool | None = None
) -> Rubric:
    """Edit a rubric; bumps `version` when the dimensions change, with history (who, why)."""
    rubric_validate_dimensions(dimensions)
    current = Rubric.objects.select_for_update().get(pk=rubric.pk)
    changed = current.dimensions != dimensions
    rubric.version = current.version + 1 if changed else current.version
    rubric.dimensions = dimensions
    if active is not None:
        rubric.active = active
    history_set(rubric, user=user, reason=(reason or f"edited to v{rubric.version}")[:100])
    rubric.save()
    return rubric
