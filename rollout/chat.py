"""One chat completion against a policy, shaped for scoring: {"text", "tool_calls", "tokens", "latency_ms"}."""

import json
import time


def _arguments(raw: str | None):
    try:
        value = json.loads(raw or "{}")
    except json.JSONDecodeError:
        return raw
    return value


def chat_complete(client, *, model: str, case_input: dict, config: dict | None = None) -> dict:
    """Send `case_input` ({"messages", "tools"}) to `model`; never raises for API errors (they go in "error")."""
    import openai

    kwargs = {"model": model, "messages": case_input["messages"]}
    if case_input.get("tools"):
        kwargs["tools"] = case_input["tools"]
    for name in ("temperature", "max_completion_tokens"):
        if config and config.get(name) is not None:
            kwargs[name] = config[name]
    started = time.monotonic()
    try:
        response = client.chat.completions.create(**kwargs)
    except (openai.OpenAIError, ValueError) as exc:
        return {"text": "", "tool_calls": [], "tokens": 0, "error": f"{type(exc).__name__}: {str(exc)[:300]}"}
    latency_ms = int((time.monotonic() - started) * 1000)
    message = response.choices[0].message
    calls = [
        {"name": call.function.name, "arguments": _arguments(call.function.arguments)}
        for call in (message.tool_calls or [])
        if getattr(call, "function", None) is not None
    ]
    tokens = response.usage.total_tokens if response.usage else 0
    return {
        "text": message.content or message.refusal or "",
        "tool_calls": calls,
        "tokens": tokens,
        "latency_ms": latency_ms,
    }
