"""Walking a trace: every string (and every number under a personal key), dict key and tool name, with its role.

A trace here is a plain dict of field name → value, whatever the fields are: text fields, metadata and any
JSON field (`extra`, added later, is walked like `context`). Each leaf carries a role that decides what may be
scrubbed in it (privacy/structured.py has the key rules):

- ``text``      read by the whole analyzer (prose, values under unknown keys);
- ``personal``  scrubbed whole (values under first_name, email, dob, address, zip … keys);
- ``domain``    kept unless it holds a structured PII pattern (ids, codes, statuses, amounts, cities,
                conversation_id/external_id/policy_id/flags/task_category);
- ``key`` and ``tool``: dict keys and tool names, scrubbed like domain values.

`rebuild` puts the scrubbed strings back, renaming dict keys, and never modifies its input.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from privacy.structured import (
    NAME_ROLE_KEYS,
    PERSON_NAME_KEYS,
    is_domain_key,
    name_context,
    personal_type,
)

TEXT_FIELDS = ("user_message", "final_response")
# Metadata fields: identifiers and enum-like values, kept unless they hold a structured PII pattern.
DOMAIN_FIELDS = ("external_id", "conversation_id", "policy_id", "flags", "task_category", "modality", "arm")
TOOL_FIELDS = ("selected_tools",)
KEY_MARK = "\x00key"  # a path element: the leaf is the dict key after it, not a value
_PLAIN_KEY_RE = re.compile(r"^[a-z_ ][a-z_ \-.]*$")  # no digit, no capital, no "@": cannot hold PII


@dataclass(frozen=True)
class Leaf:
    path: tuple
    key: str
    text: str
    role: str = "text"
    entity: str | None = None  # personal leaves: the type every value here gets
    name_key: bool = False  # under a name-holding key (name, attendee, contact …): a name-shaped value is a person
    number: bool = False  # a number under a personal key: replaced whole


@dataclass
class _Walk:
    leaves: list[Leaf] = field(default_factory=list)

    def value(self, value, path: tuple, key: str, ancestors: tuple, inherited: str | None) -> None:
        if isinstance(value, str):
            self.leaves.append(_leaf(value, path, key, ancestors, inherited))
        elif isinstance(value, dict):
            for k, v in value.items():
                k_text = str(k)
                if not _PLAIN_KEY_RE.match(k_text):
                    self.leaves.append(Leaf((*path, KEY_MARK, k), k_text, k_text, "key"))
                child_inherited = personal_type(k_text) or (None if is_domain_key(k_text) else inherited)
                self.value(v, (*path, k), k_text, (*ancestors, k_text), child_inherited)
        elif isinstance(value, list):
            for i, v in enumerate(value):
                self.value(v, (*path, i), key, ancestors, inherited)
        elif isinstance(value, int | float) and not isinstance(value, bool):
            entity = personal_type(key) if key else None
            entity = entity or (inherited if key and not is_domain_key(key) else None)
            if entity:
                self.leaves.append(Leaf(path, key, str(value), "personal", entity, number=True))


def _leaf(text: str, path: tuple, key: str, ancestors: tuple, inherited: str | None) -> Leaf:
    entity = personal_type(key) if key else None
    if entity:
        return Leaf(path, key, text, "personal", entity)
    if key and is_domain_key(key):
        return Leaf(path, key, text, "domain")
    folded = key.casefold()
    if folded == "name" or folded in NAME_ROLE_KEYS:
        context = name_context(ancestors[:-1])
        if context == "thing" and folded == "name":
            return Leaf(path, key, text, "domain")
        return Leaf(path, key, text, "text", name_key=True, entity="PERSON" if context == "person" else None)
    if inherited:
        return Leaf(path, key, text, "personal", inherited)
    return Leaf(path, key, text, "text")


def trace_leaves(trace: dict) -> list[Leaf]:
    """Every leaf of every field of `trace`, in field order."""
    walk = _Walk()
    for name, value in trace.items():
        if name in TEXT_FIELDS:
            if isinstance(value, str):
                walk.leaves.append(Leaf((name,), "", value, "text"))
        elif name in DOMAIN_FIELDS or name in TOOL_FIELDS:
            role = "tool" if name in TOOL_FIELDS else "domain"
            for path, text, is_key in _strings(value, (name,)):
                walk.leaves.append(Leaf(path, name, text, "key" if is_key else role))
        elif name == "tool_calls":
            _walk_tool_calls(walk, value)
        else:  # context, extra, any JSON field
            walk.value(value, (name,), "", (name,), None)
    return walk.leaves


def _walk_tool_calls(walk: _Walk, calls) -> None:
    if not isinstance(calls, list):
        walk.value(calls, ("tool_calls",), "", ("tool_calls",), None)
        return
    for i, call in enumerate(calls):
        if not isinstance(call, dict):
            walk.value(call, ("tool_calls", i), "", ("tool_calls",), None)
            continue
        tool = call.get("name") if isinstance(call.get("name"), str) else ""
        for k, v in call.items():
            path = ("tool_calls", i, k)
            if not _PLAIN_KEY_RE.match(str(k)):
                walk.leaves.append(Leaf(("tool_calls", i, KEY_MARK, k), str(k), str(k), "key"))
            if k == "name" and isinstance(v, str):
                walk.leaves.append(Leaf(path, "name", v, "tool"))
            elif k in ("args", "arguments", "result", "error"):
                walk.value(v, path, "" if isinstance(v, dict | list) else k, (tool,), None)
            else:
                walk.value(v, path, str(k), (tool, str(k)), None)


def _strings(value, path: tuple):
    """(path, text, is_key) for every string and dict key in a JSON value."""
    if isinstance(value, str):
        yield path, value, False
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _strings(v, (*path, i))
    elif isinstance(value, dict):
        for k, v in value.items():
            if not _PLAIN_KEY_RE.match(str(k)):
                yield (*path, KEY_MARK, k), str(k), True
            yield from _strings(v, (*path, k))


def rebuild(value, path: tuple, replaced: dict[tuple, str]):
    """A copy of `value` with the leaves (and dict keys) at the paths in `replaced` swapped."""
    if isinstance(value, str):
        return replaced.get(path, value)
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            new_key = replaced.get((*path, KEY_MARK, k), k)
            out[new_key] = rebuild(v, (*path, k), replaced)
        return out
    if isinstance(value, list):
        return [rebuild(v, (*path, i), replaced) for i, v in enumerate(value)]
    if path in replaced:
        return replaced[path]  # a number under a personal key
    return value


def rebuild_trace(trace: dict, replaced: dict[tuple, str]) -> dict:
    """Every field of `trace`, scrubbed where `replaced` says (the input is not modified)."""
    return {name: rebuild(value, (name,), replaced) for name, value in trace.items()}


__all__ = ["Leaf", "trace_leaves", "rebuild", "rebuild_trace", "KEY_MARK", "PERSON_NAME_KEYS"]
