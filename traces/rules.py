"""Filter rules: each decides whether one trace is noise, and says why.

A rule is a small function ``rule(trace, ctx) -> str | None``: None keeps the trace, a string
drops it and is stored as ``drop_detail`` (``drop_reason`` is the rule's name). Rules run in
RULES order and the first that fires decides. Any rule can be switched off by naming it in
``FILTER_RULES_DISABLED`` (settings / environment, comma-separated), except ``residual_pii``:
a trace whose scrubbed copy still shows PII is never passed.

``trace`` is a traces.Trace (raw fields, secrets already redacted at ingestion); ``ctx`` is a
RuleContext with the scrubbed copy, what the residual-PII pass found and the duplicate check.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from privacy.scrubbing import PLACEHOLDER_RE
from zeke_rft.hashing import canonical_json, sha256_bytes


@dataclass
class RuleContext:
    """What the rules need beyond the trace itself, prepared per batch by traces.filtering."""

    scrubbed: dict = field(default_factory=dict)  # user_message, context, tool_calls, final_response
    residual: list[str] = field(default_factory=list)  # residual-PII hits in the scrubbed copy
    dedupe_key: str = ""
    duplicate_of: int | None = None  # id of an eligible trace with the same dedupe_key (0: same batch)


Rule = Callable[[object, RuleContext], "str | None"]


# --- helpers ------------------------------------------------------------------------------


def _tool_name(item) -> str:
    if isinstance(item, dict):
        return str(item.get("name") or item.get("tool") or "")
    return str(item or "")


def _call_failed(call: dict) -> bool:
    return bool(call.get("error"))


def _call_succeeded(call: dict) -> bool:
    return not _call_failed(call) and call.get("result") is not None


def normalise_for_dedupe(text: str) -> str:
    """Case-folded words only: placeholders become their type, punctuation and spacing are ignored."""
    text = PLACEHOLDER_RE.sub(lambda m: f" {m.group(1).lower()} ", text or "")
    return " ".join(re.findall(r"\w+", text.casefold()))


def dedupe_key(user_message: str, final_response: str) -> str:
    """sha256 of the normalised (scrubbed) prompt and response: equal keys are near-duplicates."""
    return sha256_bytes(f"{normalise_for_dedupe(user_message)}\x1f{normalise_for_dedupe(final_response)}".encode())


# --- rules ----------------------------------------------------------------------------------


def incomplete_tool_run(trace, ctx: RuleContext) -> str | None:
    """A selected tool was never called, a call has neither result nor error, or the agent flagged "incomplete"."""
    if "incomplete" in (trace.flags or []):
        return 'flag "incomplete"'
    calls = [c for c in trace.tool_calls or [] if isinstance(c, dict)]
    called = {_tool_name(c) for c in calls}
    missing = [name for name in (_tool_name(t) for t in trace.selected_tools or []) if name and name not in called]
    if missing:
        return f"selected but never called: {', '.join(sorted(set(missing)))}"
    for i, call in enumerate(calls):
        if call.get("result") is None and not call.get("error"):
            return f"tool call {i} ({_tool_name(call) or '?'}) has no result and no error"
    return None


def tool_failure(trace, ctx: RuleContext) -> str | None:
    """A tool call returned an error, or the agent flagged "tool_error"."""
    for i, call in enumerate(c for c in trace.tool_calls or [] if isinstance(c, dict)):
        if _call_failed(call):
            return f"tool call {i} ({_tool_name(call) or '?'}) failed: {str(call.get('error'))[:200]}"
    if "tool_error" in (trace.flags or []):
        return 'flag "tool_error"'
    return None


def timeout(trace, ctx: RuleContext) -> str | None:
    """The agent flagged "timeout", or the trace took longer than TIMEOUT_THRESHOLD_MS."""
    if "timeout" in (trace.flags or []):
        return 'flag "timeout"'
    threshold = settings.TIMEOUT_THRESHOLD_MS
    if trace.latency_ms is not None and trace.latency_ms > threshold:
        return f"latency {trace.latency_ms} ms > {threshold} ms"
    return None


TRIVIAL_RESPONSES = {
    "ok",
    "okay",
    "k",
    "sure",
    "yes",
    "no",
    "done",
    "thanks",
    "thank you",
    "got it",
    "noted",
    "hi",
    "hello",
    "n a",
    "null",
    "none",
    "error",
    "undefined",
    "",
}


def low_signal(trace, ctx: RuleContext) -> str | None:
    """Empty prompt, or an empty or trivial response (fewer than FILTER_MIN_RESPONSE_WORDS words, or "ok"/"sure"/…)."""
    if not (trace.user_message or "").strip():
        return "empty user message"
    response = trace.final_response or ""
    if not response.strip():
        return "empty response"
    normalised = normalise_for_dedupe(response)
    if normalised in TRIVIAL_RESPONSES:
        return f"trivial response {response.strip()[:40]!r}"
    min_words = getattr(settings, "FILTER_MIN_RESPONSE_WORDS", 2)
    if len(normalised.split()) < min_words and not trace.tool_calls:
        return f"response has {len(normalised.split())} word(s) and no tool call"
    return None


def duplicate(trace, ctx: RuleContext) -> str | None:
    """Same normalised (scrubbed) prompt and response as a trace already kept (eligible) — see dedupe_key()."""
    if ctx.duplicate_of is None:
        return None
    if ctx.duplicate_of == 0:
        return "duplicate of a trace kept earlier in the same run"
    return f"duplicate of trace {ctx.duplicate_of}"


def unsafe(trace, ctx: RuleContext) -> str | None:
    """The agent set a safety flag ("safety" or "safety:<kind>")."""
    flags = [str(f) for f in trace.flags or [] if str(f).startswith("safety")]
    return f"safety flag(s): {', '.join(flags)}" if flags else None


# Heuristic for likely_hallucination: a claimed action verb → words one of the tool's names must contain.
ACTION_TOOLS: dict[str, tuple[str, ...]] = {
    "booked": ("book", "reserv", "flight", "hotel", "restaurant", "table", "ticket", "calendar", "event"),
    "reserved": ("book", "reserv", "table", "hotel", "ticket"),
    "sent": ("send", "email", "mail", "sms", "message", "text", "notify", "slack", "post", "reply", "forward"),
    "emailed": ("email", "mail", "send"),
    "texted": ("sms", "text", "message", "send"),
    "messaged": ("message", "sms", "text", "send", "slack", "chat"),
    "forwarded": ("forward", "send", "mail"),
    "replied": ("reply", "send", "mail", "message"),
    "scheduled": ("schedul", "calendar", "event", "meeting", "remind", "book", "appointment"),
    "rescheduled": ("schedul", "calendar", "event", "meeting", "move", "update", "appointment"),
    "deleted": ("delet", "remov", "trash", "archive", "clear", "purge"),
    "removed": ("remov", "delet", "trash", "unsubscribe"),
    "cancelled": ("cancel", "delet", "remov", "calendar", "event", "book"),
    "canceled": ("cancel", "delet", "remov", "calendar", "event", "book"),
    "created": ("creat", "add", "new", "insert", "make", "calendar", "event", "task", "note", "contact", "doc"),
    "added": ("add", "creat", "insert", "new", "update", "calendar", "contact", "list"),
    "updated": ("updat", "edit", "modif", "set", "patch", "change", "move"),
    "ordered": ("order", "buy", "purchase", "checkout", "cart"),
    "paid": ("pay", "transfer", "charge", "invoice"),
    "transferred": ("transfer", "pay", "send", "move"),
    "invited": ("invite", "calendar", "event", "meeting", "share"),
    "set up": ("set", "creat", "schedul", "config", "remind", "calendar"),
    "reminded": ("remind", "notify", "send"),
    "saved": ("save", "note", "memory", "store", "write", "bookmark"),
    "shared": ("share", "send", "post", "invite"),
    "submitted": ("submit", "send", "post", "file", "form"),
    "called": ("call", "phone", "dial"),
    "uploaded": ("upload", "save", "store", "drive"),
    "posted": ("post", "publish", "send", "tweet"),
    "confirmed": ("confirm", "book", "reserv", "calendar", "rsvp"),
}
_VERBS = "|".join(sorted((re.escape(v).replace(r"\ ", r"\s+") for v in ACTION_TOOLS), key=len, reverse=True))
CLAIM_RE = re.compile(
    r"(?i:\b(?:i(?:'ve|’ve| have)?|we(?:'ve|’ve| have)?|(?:has|have|had)\s+(?:now\s+|just\s+)?been|"
    r"(?:is|are|was|were)(?:\s+now)?|successfully|all\s+set,?\s+i)\s+(?:just\s+|now\s+|already\s+|successfully\s+)?"
    rf"(?P<verb>{_VERBS})\b)"
)


def claimed_actions(response: str) -> list[str]:
    """Action verbs the response claims as done ("I've booked", "the email was sent", "successfully created")."""
    return [" ".join(m.group("verb").casefold().split()) for m in CLAIM_RE.finditer(response or "")]


def likely_hallucination(trace, ctx: RuleContext) -> str | None:
    """The response claims an action no successful tool call backs.

    Heuristic: the final response is searched for first-person or passive claims of a completed
    action — "I've booked", "I sent", "your meeting has been scheduled", "was deleted",
    "successfully created" (CLAIM_RE over the verbs in ACTION_TOOLS). Each claimed verb needs a
    tool call that succeeded (no error, a result) and whose name contains one of the verb's tool
    words (booked → book/reserv/flight/hotel/…, sent → send/email/sms/message/…), or a successful
    call whose result states it (``{"status": "cancelled"}`` backs "your flight was cancelled").
    A claim with neither drops the trace. Negated or future forms ("I haven't sent", "I can book") are not
    claims. It is deliberately conservative: it only looks at actions, not facts.
    """
    calls = [c for c in trace.tool_calls or [] if isinstance(c, dict)]
    succeeded = [c for c in calls if _call_succeeded(c)]
    names = [_tool_name(c).casefold() for c in succeeded]
    results = " ".join(canonical_json(c.get("result")).casefold() for c in succeeded)
    for verb in claimed_actions(trace.final_response):
        words = ACTION_TOOLS.get(verb, ())
        by_name = any(word in name for name in names for word in words)
        by_result = re.search(rf"\b{re.escape(verb)}\b", results) is not None
        if not (by_name or by_result):
            names = ", ".join(sorted({_tool_name(c) for c in calls})) or "none"
            return f'claims "{verb}" but no successful matching tool call (calls: {names})'
    return None


def residual_pii(trace, ctx: RuleContext) -> str | None:
    """The second detection pass over the scrubbed copy still found PII (never switchable)."""
    if ctx.residual:
        return "; ".join(ctx.residual)[:1000]
    return None


RULES: list[tuple[str, Rule]] = [
    ("residual_pii", residual_pii),
    ("unsafe", unsafe),
    ("incomplete_tool_run", incomplete_tool_run),
    ("tool_failure", tool_failure),
    ("timeout", timeout),
    ("low_signal", low_signal),
    ("likely_hallucination", likely_hallucination),
    ("duplicate", duplicate),
]
RULE_NAMES = [name for name, _ in RULES]
ALWAYS_ON = {"residual_pii"}


def rules_enabled() -> list[tuple[str, Rule]]:
    """RULES minus FILTER_RULES_DISABLED (residual_pii stays on); unknown names are a configuration error."""
    disabled = set(settings.FILTER_RULES_DISABLED or [])
    unknown = disabled - set(RULE_NAMES)
    if unknown:
        raise ImproperlyConfigured(
            f"FILTER_RULES_DISABLED names unknown rule(s) {', '.join(sorted(unknown))}; "
            f"rules are: {', '.join(RULE_NAMES)}"
        )
    return [(name, rule) for name, rule in RULES if name not in disabled or name in ALWAYS_ON]


def evaluate(trace, ctx: RuleContext, rules: list[tuple[str, Rule]] | None = None) -> tuple[str, str] | None:
    """(rule name, detail) of the first rule that drops the trace, or None to keep it."""
    for name, rule in rules if rules is not None else rules_enabled():
        detail = rule(trace, ctx)
        if detail is not None:
            return name, detail
    return None
