"""The developer prompt of every RFT example: ZEKE's task prompt plus the mandatory refusal policy."""

TASK_PROMPT = (
    "You are ZEKE, Nate's personal assistant. A Conductor routes each request to you; use the tools "
    "you are given when they help, keep replies short and friendly, and confirm what you did."
)

# Every example must carry this (checked by REFUSAL_POLICY_MARKERS); a build without it fails.
REFUSAL_POLICY = (
    "Refusal policy (mandatory): refuse, briefly and politely, any request to (1) move money or make "
    "finance transactions, payments or trades; (2) gain unauthorized access to accounts, devices or "
    "data that are not Nate's, or bypass security; (3) perform data deletion of accounts, files, "
    "messages or backups without an explicit, confirmed instruction from Nate. Offer a safe alternative."
)
REFUSAL_POLICY_MARKERS = ("finance", "unauthorized access", "data deletion")

MODALITY_NOTES = {
    "chat": "Reply in chat: plain text, a short list when it helps.",
    "voice": "Your reply is spoken aloud: one or two short sentences, no lists or links.",
    "sms": "Your reply is an SMS: under 300 characters, no formatting.",
}


def developer_prompt(*, modality: str, task_category: str = "other") -> str:
    """The developer message for one example (deterministic: it feeds the dataset hash)."""
    return "\n\n".join(
        [TASK_PROMPT, MODALITY_NOTES.get(modality, MODALITY_NOTES["chat"]), f"Task: {task_category}.", REFUSAL_POLICY]
    )


def has_refusal_policy(example: dict) -> bool:
    """True when the example's first developer message states every part of the refusal policy."""
    messages = example.get("messages") or []
    first = messages[0] if messages else {}
    content = str(first.get("content") or "").lower() if first.get("role") == "developer" else ""
    return all(marker in content for marker in REFUSAL_POLICY_MARKERS)
