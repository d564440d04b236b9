"""What may be scrubbed in one leaf, by its role (privacy/walk.py) and key (privacy/structured.py).

The analyzer reads every distinct string once; this decides which of its hits apply where the string sits:
all of them in text (minus what is not a person, and allowed terms), only structured patterns in ids, keys
and tool names, and the whole value under a personal key.
"""

from __future__ import annotations

import re

from privacy.pii_names import name_lists
from privacy.pii_placeholders import _NAME_VALUE_RE, PLACEHOLDER_RE, Detection, is_full_name, merge_detections
from privacy.secrets import PLACEHOLDER_RE as SECRET_PLACEHOLDER_RE
from privacy.structured import STRUCTURED_TYPES, is_allowed, is_identifier, is_not_a_person, person_span
from privacy.walk import Leaf

NAMED_ROLES = frozenset({"text", "personal"})  # roles whose person names are looked for elsewhere in the trace


def leaf_detections(leaf: Leaf, analysed) -> list[Detection]:
    """The spans to replace in `leaf.text`, given what the analyzer found in it."""
    if leaf.role == "personal":
        return _whole(leaf)
    if leaf.role != "text":  # domain values, dict keys, tool names: structured patterns only
        return [d for d in analysed if d.entity_type in STRUCTURED_TYPES]
    identifier = is_identifier(leaf.text)
    in_json = bool(leaf.key) and not leaf.name_key
    detections = [
        d for d in _person_filtered(leaf.text, analysed) if not _not_pii(leaf.text, d, identifier, in_json=in_json)
    ]
    detections = _with_cued_zips(leaf.text, detections)
    hint = _name_hint(leaf) if leaf.name_key else None
    stripped = leaf.text.strip()
    if hint and not any(d.start == 0 and d.end >= len(stripped) for d in detections):
        detections = merge_detections(leaf.text, [*detections, Detection(hint, 0, len(leaf.text), 0.6)])
    return detections


_ZIP_CUE_RE = re.compile(r"(?i:\b(?:zip|zip ?code|postal ?code|postcode)\b)[^\d\n]{0,24}?(\d{5}(?:-\d{4})?)\b")


def _with_cued_zips(text: str, detections: list[Detection]) -> list[Detection]:
    """A postcode named as one in prose ("my zip code is 46281") is part of an address."""
    if "zip" not in text.casefold() and "post" not in text.casefold():
        return detections
    found = [Detection("STREET_ADDRESS", m.start(1), m.end(1), 0.6) for m in _ZIP_CUE_RE.finditer(text)]
    return merge_detections(text, [*detections, *found]) if found else detections


def _whole(leaf: Leaf) -> list[Detection]:
    text = leaf.text
    stripped = text.strip()
    if not stripped or is_allowed(stripped) or PLACEHOLDER_RE.fullmatch(stripped):
        return []
    if SECRET_PLACEHOLDER_RE.fullmatch(stripped) or stripped.casefold() in ("none", "null", "n/a", "unknown"):
        return []
    start = text.index(stripped)
    return [Detection(leaf.entity or "PERSON", start, start + len(stripped), 1.0)]


def _person_filtered(text: str, detections: list[Detection]) -> list[Detection]:
    out = []
    for d in detections:
        if d.entity_type == "PERSON":
            span = person_span(text, d.start, d.end)
            if span is None:
                continue
            d = Detection(d.entity_type, span[0], span[1], d.score)
        out.append(d)
    return out


def _not_pii(text: str, d: Detection, identifier: bool, *, in_json: bool = False) -> bool:
    value = text[d.start : d.end]
    if is_allowed(value):
        return True
    if d.entity_type != "PERSON":
        return False
    if in_json and not any(ch.isupper() for ch in value):
        # A lower-case value in structured data is an enum or a word ("woody"), not a name, unless it is a
        # first + last name joined inside an identifier ("contact:priya_raman:notes").
        return not _joined_full_name(value)
    return identifier or is_not_a_person(value, text, d.start, d.end)


_JOINED_NAME_RE = re.compile(r"^[a-z]+(?:[_.][a-z]+)+$")


def _joined_full_name(value: str) -> bool:
    """ "priya_raman", "kenji.watanabe": a known first name and a known last name joined by _ or ."""
    if not _JOINED_NAME_RE.match(value):
        return False
    return is_full_name(" ".join(word.capitalize() for word in re.split(r"[_.]", value)))


def _name_hint(leaf: Leaf) -> str | None:
    """PERSON for a name-shaped value under a name-holding key (name, attendee, contact …).

    Under a bare "name" with no telling parent key, the value must also look like a person's name
    (a known first name, or a full name): "Water Bottle" and "api-gateway" are things.
    """
    stripped = leaf.text.strip()
    if not stripped or not _NAME_VALUE_RE.match(stripped) or is_allowed(stripped):
        return None
    words = stripped.replace(",", " ").split()
    if not all(word[0].isupper() for word in words) or is_not_a_person(stripped):
        return None
    if leaf.entity == "PERSON" or leaf.key.casefold() != "name":
        return "PERSON"
    first = name_lists()[0]
    if is_full_name(stripped) or (len(words) == 1 and words[0].casefold() in first):
        return "PERSON"
    return None


_REPEATED_TYPES = frozenset({"STREET_ADDRESS", "PHONE_NUMBER", "DATE_OF_BIRTH", "EMAIL_ADDRESS", "CREDIT_CARD"})


def repeated_values(leaves: list[Leaf], per_leaf: list[list[Detection]]) -> dict[str, str]:
    """Values with digits found anywhere in a trace (a zip under "zip", a phone), by text → type.

    The same value elsewhere in the trace's text is scrubbed too ("Aarav from Philadelphia, 19031").
    """
    values = {}
    for leaf, detections in zip(leaves, per_leaf, strict=True):
        for d in detections:
            value = leaf.text[d.start : d.end].strip()
            if d.entity_type in _REPEATED_TYPES and len(value) >= 5 and any(ch.isdigit() for ch in value):
                values.setdefault(value, d.entity_type)
    return values


def propagate_values(text: str, detections: list[Detection], values: dict[str, str]) -> list[Detection]:
    if not values or not any(ch.isdigit() for ch in text):
        return detections
    added = []
    for value, entity_type in values.items():
        for m in re.finditer(rf"(?<![\w]){re.escape(value)}(?![\w])", text):
            if not any(d.start < m.end() and m.start() < d.end for d in detections):
                added.append(Detection(entity_type, m.start(), m.end(), 0.6))
    return merge_detections(text, [*detections, *added]) if added else detections
