"""The seed's trace schema, mapped onto ours before the shape check.

ZEKE's agents were written against `user_message, context, selected_tools,
tool_args, tool_results, final_response, latency, flags, conversation_id`. This
module turns such a trace into our fields without losing anything:

- `tool_args` / `tool_results`: arrays parallel to `selected_tools`, or objects
  keyed by tool name → `tool_calls` (`{name, args, result, error, latency_ms}`).
- `latency` (milliseconds, a number) → `latency_ms`.
- `flags` as an object (`{"safety": true | "reason", "quality": "low"}`) → the
  list form (`["safety:reason", "quality:low"]`); `false`/`null` means not flagged.

Mixing the seed's shape with ours in one trace (`tool_calls` with `tool_args`,
`latency` with `latency_ms`, an array with an object) is refused, naming the field.
"""

SEED_FIELDS = ("tool_args", "tool_results", "latency")


def _kind(value) -> str:
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return "other"


def seed_normalize(data: dict) -> tuple[dict, dict]:
    """(the trace in our fields, field → messages). `data` is not modified."""
    if not any(name in data for name in SEED_FIELDS) and not isinstance(data.get("flags"), dict):
        return data, {}
    data, errors = dict(data), {}
    if data.get("tool_args") is not None or data.get("tool_results") is not None:
        calls, error_field, message = _seed_tool_calls(data)
        if message:
            errors[error_field] = [message]
        else:
            data["tool_calls"] = calls
    data.pop("tool_args", None)  # null: no tool run
    data.pop("tool_results", None)
    if "latency" in data:
        latency, message = _seed_latency(data)
        if message:
            errors["latency"] = [message]
        else:
            data["latency_ms"] = latency
        del data["latency"]
    if isinstance(data.get("flags"), dict):
        flags, message = seed_flags(data["flags"])
        if message:
            errors["flags"] = [message]
        else:
            data["flags"] = flags
    return data, errors


def _seed_tool_calls(data: dict) -> tuple[list | None, str, str]:
    """(tool calls, field at fault, message or "")."""
    args, results = data.get("tool_args"), data.get("tool_results")
    given = {name: value for name, value in (("tool_args", args), ("tool_results", results)) if value is not None}
    if "tool_calls" in data:
        field = next(iter(given), "tool_args")
        return None, field, "Send either tool_calls or tool_args/tool_results (the seed's shape), not both."
    kinds = {name: _kind(value) for name, value in given.items()}
    for name, kind in kinds.items():
        if kind == "other":
            return None, name, "Must be an array parallel to selected_tools or an object keyed by tool name."
    if len(set(kinds.values())) > 1:
        return (
            None,
            "tool_results",
            (f"tool_args is an {kinds['tool_args']} but tool_results is an {kinds['tool_results']}: use one shape."),
        )
    if "object" in kinds.values():
        return _keyed_calls(data, args or {}, results or {}), "", ""
    return _parallel_calls(data, args or [], results or [])


def _parallel_calls(data: dict, args: list, results: list) -> tuple[list | None, str, str]:
    tools = data.get("selected_tools")
    if not isinstance(tools, list) or not all(isinstance(name, str) for name in tools):
        return None, "selected_tools", "Must be an array of tool names when tool_args/tool_results are arrays."
    for name, values in (("tool_args", args), ("tool_results", results)):
        if len(values) > len(tools):
            return None, name, f"Has {len(values)} items but selected_tools names {len(tools)} tools."
    count = max(len(args), len(results))
    calls = [
        _call(tools[index], args[index] if index < len(args) else {}, results[index] if index < len(results) else None)
        for index in range(count)
    ]
    return calls, "", ""


def _keyed_calls(data: dict, args: dict, results: dict) -> list:
    tools = data.get("selected_tools") if isinstance(data.get("selected_tools"), list) else []
    names = [name for name in tools if isinstance(name, str) and (name in args or name in results)]
    names += [name for name in [*args, *results] if name not in names]
    return [_call(name, args.get(name, {}), results.get(name)) for name in dict.fromkeys(names)]


def _call(name: str, args, result) -> dict:
    error = result.get("error") if isinstance(result, dict) else None
    return {
        "name": name,
        "args": args,
        "result": result,
        "error": error if isinstance(error, str) and error else None,
        "latency_ms": None,
    }


def _seed_latency(data: dict) -> tuple[int | None, str]:
    value = data["latency"]
    if "latency_ms" in data:
        return None, "Send either latency (the seed's name) or latency_ms, not both."
    if value is None:
        return None, ""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None, "Must be a number of milliseconds."
    if not 0 <= value <= 2**31 - 1:
        return None, f"Must be between 0 and {2**31 - 1} milliseconds."
    return round(value), ""


def seed_flags(flags: dict) -> tuple[list | None, str]:
    """`{"safety": true | "reason", "quality": "low"}` → `["safety:reason", "quality:low"]` (false/null: not set)."""
    out = []
    for key, value in flags.items():
        if value is None or value is False:
            continue
        if value is True or value == "":
            out.append(key)
        elif isinstance(value, str) or (isinstance(value, int | float) and not isinstance(value, bool)):
            out.append(f"{key}:{value}")
        else:
            return None, f"{key!r}: a flag's value must be true, false, null, a string or a number."
    return out, ""
