"""Dataset rows (the build's JSONL) → the rows TRL's trainers read. No torch here.

Open-weights chat templates differ in how they take tools and `developer` messages, so the prompt is
made plain: one system message (the developer messages, the tools as JSON schemas and the tool-call
format), then the conversation. Tool calls are written and read in the Hermes format that vLLM's
`--tool-call-parser hermes` and llama.cpp understand: `<tool_call>{"name": …, "arguments": {…}}</tool_call>`.
"""

import json
import re

from zeke_rft.hashing import canonical_json

TOOL_CALL = re.compile(r"<tool_call>\s*(.*?)\s*</tool_call>", re.S)
TOOL_FORMAT = 'To call a tool, write <tool_call>{"name": NAME, "arguments": {...}}</tool_call>.'
ITEM_EXCLUDED = ("messages", "tools")


def prompt_messages(messages: list[dict], tools: list[dict] | None = None) -> list[dict]:
    """One system message (developer/system turns + tools + the call format), then user/assistant turns."""
    system = [m.get("content") or "" for m in messages if m.get("role") in ("developer", "system")]
    if tools:
        schemas = [tool.get("function", tool) for tool in tools]
        system.append("Tools: " + canonical_json(schemas) + "\n" + TOOL_FORMAT)
    turns = [
        {"role": m["role"], "content": m.get("content") or ""}
        for m in messages
        if m.get("role") in ("user", "assistant")
    ]
    return ([{"role": "system", "content": "\n\n".join(system)}] if system else []) + turns


def tool_calls_text(calls: list[dict]) -> str:
    """Expected calls ([{"name", "args"}] or API-shaped) written as the model should write them."""
    blocks = []
    for call in calls or []:
        function = call.get("function") if isinstance(call.get("function"), dict) else call
        arguments = function.get("arguments", function.get("args", {}))
        if isinstance(arguments, str):
            try:
                arguments = json.loads(arguments)
            except ValueError:
                arguments = {}
        blocks.append(f"<tool_call>{json.dumps({'name': function.get('name'), 'arguments': arguments})}</tool_call>")
    return "".join(blocks)


def completion_text(completion) -> str:
    """A TRL completion (text, or conversational `[{"role": "assistant", "content": …}]`) as text."""
    if isinstance(completion, str):
        return completion
    if isinstance(completion, list) and completion:
        return str((completion[-1] or {}).get("content") or "")
    return ""


def completion_sample(text: str, *, depth: int) -> dict:
    """A completion as a grader sample; at most `depth` tool calls (episode_length) are read, the rest ignored."""
    calls = []
    for raw in TOOL_CALL.findall(text)[: max(0, depth)]:
        try:
            call = json.loads(raw)
        except ValueError:
            continue
        if isinstance(call, dict) and isinstance(call.get("name"), str):
            arguments = call.get("arguments") if isinstance(call.get("arguments"), dict) else {}
            calls.append({"name": call["name"], "arguments": arguments})
    return {"output_text": TOOL_CALL.sub("", text).strip(), "output_json": None, "output_tools": calls}


def item_of(row: dict) -> dict:
    """What graders see as `item`: every key of the dataset row besides messages and tools."""
    return {key: value for key, value in row.items() if key not in ITEM_EXCLUDED}


def grpo_rows(rows: list[dict]) -> list[dict]:
    """RFT rows → {"prompt": messages, "item": JSON of the grader-visible fields} (TRL passes "item" to rewards)."""
    return [
        {"prompt": prompt_messages(row["messages"], row.get("tools")), "item": canonical_json(item_of(row))}
        for row in rows
    ]


def dpo_rows(rows: list[dict]) -> list[dict]:
    """Preference rows ({"messages", "chosen", "rejected"}) → conversational DPO rows."""
    return [
        {
            "prompt": prompt_messages(row["messages"], row.get("tools")),
            "chosen": [{"role": "assistant", "content": str(row["chosen"])}],
            "rejected": [{"role": "assistant", "content": str(row["rejected"])}],
        }
        for row in rows
        if str(row.get("chosen") or "").strip() and row.get("chosen") != row.get("rejected")
    ]


def sft_rows(rows: list[dict]) -> list[dict]:
    """Supervised rows → {"messages"} with the assistant's tool calls written out as text."""
    result = []
    for row in rows:
        *context, assistant = row["messages"]
        content = tool_calls_text(assistant.get("tool_calls")) + (assistant.get("content") or "")
        result.append(
            {"messages": prompt_messages(context, row.get("tools")) + [{"role": "assistant", "content": content}]}
        )
    return result


def jsonl_rows(data: bytes) -> list[dict]:
    return [json.loads(line) for line in data.decode("utf-8").splitlines() if line.strip()]
