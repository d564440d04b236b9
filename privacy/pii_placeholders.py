"""From detections to placeholders: merging spans, trace traversal, placeholders, the residual checks.

Overlapping detections merge into one span typed by TYPE_PRIORITY; a name found anywhere in a trace
is marked wherever its parts recur. Placeholders are typed and numbered per entity type, consistent
inside one trace: the same value is ``<PERSON_1>`` in the user message, the context, every tool
argument and result and the final response. Values are compared normalised (case-folded; digits only
for numbers), so ``4111 1111 1111 1111`` and ``4111111111111111`` are one card; a name and its parts
("Asya Godina", "Asya") are one person. The analyzer and the Scrubber are in privacy/scrubbing.py.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field

from privacy.pii_names import NEVER_NAMES, name_lists
from privacy.pii_recognizers import CARD_PREFIX_RE, _iban_ok, _luhn_ok

PLACEHOLDER_RE = re.compile(r"<([A-Z][A-Z_]*)_(\d+)>")

# When two detections overlap, the merged span takes the type that ranks first here.
TYPE_PRIORITY = [
    "EMAIL_ADDRESS",
    "IBAN_CODE",
    "CREDIT_CARD",
    "US_SSN",
    "US_ITIN",
    "CRYPTO",
    "IP_ADDRESS",
    "DATE_OF_BIRTH",
    "STREET_ADDRESS",
    "PHONE_NUMBER",
    "US_PASSPORT",
    "US_BANK_NUMBER",
    "PERSON",
]
NUMERIC_TYPES = {
    "PHONE_NUMBER",
    "CREDIT_CARD",
    "IBAN_CODE",
    "US_SSN",
    "US_ITIN",
    "US_PASSPORT",
    "US_BANK_NUMBER",
    "IP_ADDRESS",
}

# A person's name as a JSON value: one to four words of letters (and ' - .), optional "Last, First".
_NAME_VALUE_RE = re.compile(r"^[^\W\d_][^\W\d_'’\-.]*\.?(?:,?[ ]+[^\W\d_][^\W\d_'’\-.]*\.?){0,3}$")

_LETTER_RE = re.compile(r"[^\W\d_]")


@dataclass(frozen=True)
class Detection:
    entity_type: str
    start: int
    end: int
    score: float


def is_full_name(value: str) -> bool:
    """Two or more capitalised words with a known first name and a known last name, no common word."""
    first, last, common = name_lists()
    words = [w.strip(".,;:!?'’\"()") for w in value.split()]
    words = [w for w in words if w]
    if len(words) < 2 or not all(w[0].isupper() for w in words):
        return False
    folded = [w.casefold() for w in words]
    if any(w in NEVER_NAMES for w in folded):
        return False
    return any(w in first for w in folded[:-1]) and folded[-1] in last


def _excerpt(text: str, start: int, end: int) -> str:
    """Where residual PII sits, without repeating it: type and position, masked value shape."""
    shape = re.sub(r"[^\W_]", "•", text[start:end])[:40]
    return f"chars {start}-{end} ({shape})"


_RESIDUAL_EMAIL = re.compile(r"[\w.+\-]+@[\w\-]+(?:\.[\w\-]+)+")
_RESIDUAL_DIGITS = re.compile(r"(?<![\w])(?:\d[ \-]?){12,18}\d(?![\w])")
_RESIDUAL_SSN = re.compile(r"(?<![\w\-])\d{3}-\d{2}-\d{4}(?![\w\-])")
_RESIDUAL_IBAN = re.compile(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){3,7}(?: ?[A-Z0-9]{1,4})?\b", re.IGNORECASE)


def residual_regex_hits(text: str) -> list[tuple[str, int, int]]:
    """Independent high-precision checks: e-mails, Luhn-valid card numbers, SSN shapes, valid IBANs."""
    hits = []
    for m in _RESIDUAL_EMAIL.finditer(text):
        hits.append(("EMAIL_ADDRESS", m.start(), m.end()))
    for m in _RESIDUAL_DIGITS.finditer(text):
        digits = re.sub(r"\D", "", m.group())
        # the run may swallow a following number ("4111 1111 1111 1111 536"): try card-length prefixes too
        if CARD_PREFIX_RE.match(digits) and any(
            _luhn_ok(digits[:n]) for n in (len(digits), 19, 16, 15, 14, 13) if 13 <= n <= len(digits)
        ):
            hits.append(("CREDIT_CARD", m.start(), m.end()))
    for m in _RESIDUAL_SSN.finditer(text):
        area = int(m.group()[:3])
        if area not in (0, 666) and area < 900:
            hits.append(("US_SSN", m.start(), m.end()))
    for m in _RESIDUAL_IBAN.finditer(text):
        if _iban_ok(m.group()):
            hits.append(("IBAN_CODE", m.start(), m.end()))
    return hits


def merge_detections(text: str, results) -> list[Detection]:
    """Overlapping or whitespace-adjacent detections become one span covering all of them.

    The merged span takes the type ranked first in TYPE_PRIORITY (so a URL or PERSON inside
    an e-mail address is part of the EMAIL_ADDRESS; a name inside an address is the address).
    Same-type spans separated only by whitespace are merged, as presidio-anonymizer would.
    """
    rank = {t: i for i, t in enumerate(TYPE_PRIORITY)}
    items = []
    for r in results:
        d = r if isinstance(r, Detection) else Detection(r.entity_type, r.start, r.end, float(r.score))
        if d.end <= d.start:
            continue
        if d.entity_type == "PERSON":
            d = _clip_person(text, d)
            if d is None:
                continue
        items.append(d)
    items.sort(key=lambda d: (d.start, -d.end))
    merged: list[Detection] = []
    for d in items:
        if merged:
            last = merged[-1]
            overlaps = d.start < last.end
            adjacent_same = d.entity_type == last.entity_type and not text[last.end : d.start].strip()
            if overlaps or (adjacent_same and d.start - last.end <= 2):
                winner = min(
                    (last, d), key=lambda x: (rank.get(x.entity_type, len(rank)), -x.score, -(x.end - x.start))
                )
                merged[-1] = Detection(winner.entity_type, last.start, max(last.end, d.end), max(last.score, d.score))
                continue
        merged.append(d)
    return merged


def _clip_person(text: str, d: Detection) -> Detection | None:
    """A name does not run across lines: keep the first line of the span that has letters, trimmed."""
    value = text[d.start : d.end]
    if "\n" not in value:
        return _trim_person(text, d)
    offset = 0
    for line in value.split("\n"):
        stripped = line.strip(" \t>?*-")
        if _LETTER_RE.search(stripped):
            start = d.start + offset + line.index(stripped)
            return _trim_person(text, Detection(d.entity_type, start, start + len(stripped), d.score))
        offset += len(line) + 1
    return None


def name_parts(text: str, detections) -> set[str]:
    """Capitalised words of 3+ letters in PERSON detections, not common words: to find the same name alone."""
    common = name_lists()[2]
    parts = set()
    for d in detections:
        if d.entity_type == "PERSON":
            for word in re.findall(r"[^\W\d_][\w'’\-]{2,}", text[d.start : d.end]):
                if word[0].isupper() and word.casefold() not in common:
                    parts.add(word)
    return parts


@functools.lru_cache(maxsize=4096)
def _parts_pattern(parts: frozenset) -> re.Pattern:
    """A found name part alone ("Asya"), or two parts joined in an identifier ("asya_godina", any case)."""
    alternatives = "|".join(map(re.escape, sorted(parts, key=len, reverse=True)))
    return re.compile(
        rf"(?<![\w\-])(?:{alternatives})(?![\w\-])"
        rf"|(?i:(?<![^\W_])(?:{alternatives})[_.\-](?:{alternatives})(?![^\W_]))"
    )


def propagate_names(text: str, detections: list[Detection], parts: set[str]) -> list[Detection]:
    """Mark uncovered occurrences of known name parts ("Asya" after "Asya Godina") as PERSON."""
    if not parts:
        return detections
    pattern = _parts_pattern(frozenset(parts))
    added = [
        Detection("PERSON", m.start(), m.end(), 0.5)
        for m in pattern.finditer(text)
        if not any(d.start < m.end() and m.start() < d.end for d in detections)
    ]
    return merge_detections(text, [*detections, *added]) if added else detections


def _trim_person(text: str, d: Detection) -> Detection | None:
    """Drop common words at the edges of a PERSON span ("Email John Smith" → "John Smith").

    A span made only of stop words and request verbs ("Email", "Hi") is no name at all: None.
    """
    common = name_lists()[2]
    words = list(re.finditer(r"\S+", text[d.start : d.end]))
    if words and all(w.group().casefold().strip(".,:;!?'\"()") in NEVER_NAMES for w in words):
        return None
    i, j = 0, len(words)
    while i < j and words[i].group().casefold().strip(".,:;!?'\"()") in common:
        i += 1
    while j > i and words[j - 1].group().casefold().strip(".,:;!?'\"()") in NEVER_NAMES:
        j -= 1  # only stop words at the end: "Joan Baker" keeps Baker
    if i == j or (i == 0 and j == len(words)):
        return d
    return Detection(d.entity_type, d.start + words[i].start(), d.start + words[j - 1].end(), d.score)


# --- placeholders -------------------------------------------------------------------------


def normalise_value(entity_type: str, value: str) -> str:
    if entity_type in NUMERIC_TYPES:
        compact = re.sub(r"[\W_]", "", value).upper()
        return compact or value.strip().casefold()
    if entity_type == "PERSON":
        value = re.sub(r"[_.\-]", " ", value)  # "kenji_watanabe" is Kenji Watanabe
    return " ".join(value.casefold().split()).strip(".,;:")


@dataclass
class PlaceholderMap:
    """`<TYPE_n>` per distinct (type, normalised value) inside one trace, numbered per type."""

    seen: dict[tuple[str, str], str] = field(default_factory=dict)
    per_type: dict[str, int] = field(default_factory=dict)
    occurrences: dict[str, int] = field(default_factory=dict)

    def placeholder(self, entity_type: str, value: str) -> str:
        key = (entity_type, normalise_value(entity_type, value))
        if key not in self.seen and entity_type == "PERSON":
            # "Asya" and "Asya Godina" in one trace are one person: reuse the placeholder of a name
            # whose words include these words, or are included in them
            words = set(key[1].split())
            for (seen_type, seen_value), placeholder in self.seen.items():
                other = set(seen_value.split())
                if seen_type == "PERSON" and words and other and (words <= other or other <= words):
                    self.seen[key] = placeholder
                    break
        if key not in self.seen:
            self.per_type[entity_type] = self.per_type.get(entity_type, 0) + 1
            self.seen[key] = f"<{entity_type}_{self.per_type[entity_type]}>"
        return self.seen[key]

    def counts(self) -> dict[str, int]:
        """Distinct values per entity type (what `pii_found` stores)."""
        return dict(sorted(self.per_type.items()))


# --- the result -------------------------------------------------------------------------


@dataclass
class ScrubResult:
    """The scrubbed copy of every field given, and distinct PII values found per entity type."""

    fields: dict
    pii_found: dict[str, int]

    @property
    def user_message(self) -> str:
        return self.fields.get("user_message") or ""

    @property
    def context(self):
        return self.fields.get("context") or {}

    @property
    def tool_calls(self) -> list:
        return self.fields.get("tool_calls") or []

    @property
    def final_response(self) -> str:
        return self.fields.get("final_response") or ""

    def as_trace(self) -> dict:
        return {
            **self.fields,
            "user_message": self.user_message,
            "context": self.context,
            "tool_calls": self.tool_calls,
            "final_response": self.final_response,
        }
