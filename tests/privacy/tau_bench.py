"""Agent traces built from tau-bench's retail data (tests/data/pii/tau_bench_retail, see SOURCE), and the two
figures that judge a scrubber on them (used by tests/privacy/test_structured_recall.py and bench/scrub.py):

- recall: every profile value (first and last name, full name, e-mail, street lines, zip, date of birth,
  phone) is gone from the scrubbed trace;
- integrity: every structured value that is not personal (order, user, item and product ids, product names,
  options, prices, statuses, cities, states, countries, brands, payment sources …) is unchanged.

Profiles get a date of birth and a phone number (deterministic, from the user id), which the data lacks.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

DATA = Path(__file__).resolve().parent.parent / "data" / "pii" / "tau_bench_retail"
# Personal: the profile values, and a card's last four digits (with the name they identify a card holder).
PERSONAL_KEYS = frozenset(
    {"first_name", "last_name", "email", "address1", "address2", "zip", "dob", "phone", "last_four"}
)
_USER_ID_RE = re.compile(r"^[a-z]+_[a-z]+_\d{4}$")


def load() -> tuple[dict, dict, list[str]]:
    users = json.loads((DATA / "users.json").read_text(encoding="utf-8"))
    orders = json.loads((DATA / "orders.json").read_text(encoding="utf-8"))
    lines = (DATA / "few_shot_trajectories.jsonl").read_text(encoding="utf-8").splitlines()
    return users, orders, [json.loads(line)["messages_display"] for line in lines if line.strip()]


def profile(user_id: str, user: dict) -> dict:
    """The user's profile as get_user_details returns it, with a date of birth and a phone number."""
    digest = int(hashlib.sha256(user_id.encode()).hexdigest()[:8], 16)
    year, month, day = 1950 + digest % 50, 1 + digest % 12, 1 + digest % 28
    extra = {"dob": f"{year}-{month:02d}-{day:02d}", "phone": f"+1 (555) {digest % 900 + 100}-{digest % 9000 + 1000}"}
    return {**user, **extra}


def profile_values(user_id: str, user: dict) -> list[str]:
    p = profile(user_id, user)
    first, last = p["name"]["first_name"], p["name"]["last_name"]
    address = p["address"]
    return [first, last, f"{first} {last}", p["email"], address["address1"], address["address2"], address["zip"],
            p["dob"], p["phone"]]  # fmt: skip


def profile_trace(user_id: str, user: dict, orders: dict, n: int) -> dict:
    """A customer-service trace: the user names themself, the agent looks them and an order up."""
    p = profile(user_id, user)
    first, last, zip_code = p["name"]["first_name"], p["name"]["last_name"], p["address"]["zip"]
    order = orders.get((p["orders"] or [""])[0]) or {}
    order_id = order.get("order_id", "#W0000000")
    address = order.get("address") or p["address"]
    return {
        "external_id": f"tau-{n}",
        "conversation_id": f"tau-conv-{n}",
        "user_message": f"Hi, I'm {first} {last}, zip {zip_code}, email {p['email']}. Where is my order {order_id}?",
        "context": {"channel": "web", "store": "retail", "locale": "en-US"},
        "selected_tools": ["find_user_id_by_name_zip", "get_user_details", "get_order_details"],
        "tool_calls": [
            _call("find_user_id_by_name_zip", {"first_name": first, "last_name": last, "zip": zip_code}, user_id),
            _call("get_user_details", {"user_id": user_id}, p),
            _call("get_order_details", {"order_id": order_id}, order),
        ],
        "final_response": f"Thanks {first}! Order {order_id} is {order.get('status', 'pending')} and ships to "
        f"{address['address1']}, {address['city']}, {address['state']} {address['zip']}.",
        "flags": [],
        "policy_id": "gpt-retail",
        "task_category": "other",
    }


def _call(name: str, args: dict, result) -> dict:
    return {"name": name, "args": args, "result": result, "error": None, "latency_ms": 40}


def trajectory_trace(text: str, users: dict, n: int) -> dict | None:
    """A trace from one few-shot conversation: user turns, tool results as JSON, the agent's last answer."""
    turns = [line.split(": ", 1) for line in text.splitlines() if ": " in line]
    users_said = [content for role, content in turns if role == "user"]
    answers = [content for role, content in turns if role == "assistant" and content != "None"]
    calls = [_trajectory_call(content, users) for role, content in turns if role == "tool"]
    if not users_said or not answers:
        return None
    return {
        "external_id": f"tau-t-{n}",
        "conversation_id": f"tau-t-conv-{n}",
        "user_message": users_said[0],
        "context": {"history": [{"role": role, "content": c} for role, c in turns[1:-1] if role != "tool"]},
        "selected_tools": sorted({call["name"] for call in calls}),
        "tool_calls": calls,
        "final_response": answers[-1],
        "flags": [],
        "policy_id": "gpt-retail",
        "task_category": "other",
    }


def _trajectory_call(content: str, users: dict) -> dict:
    try:
        result = json.loads(content)
    except ValueError:
        result = content
    if isinstance(result, dict) and "order_id" in result:
        return _call("get_order_details", {"order_id": result["order_id"]}, result)
    if isinstance(result, dict) and "email" in result:
        return _call("get_user_details", {"user_id": _user_id_of(result, users)}, result)
    if isinstance(result, dict) and "product_id" in result:
        return _call("get_product_details", {"product_id": result["product_id"]}, result)
    if isinstance(result, str) and _USER_ID_RE.match(result):
        return _call("find_user_id_by_email", {"email": (users.get(result) or {}).get("email", "")}, result)
    return _call("lookup", {}, result)


def _user_id_of(profile_json: dict, users: dict) -> str:
    for user_id, user in users.items():
        if user.get("email") == profile_json.get("email"):
            return user_id
    return "unknown"


def traces() -> tuple[list[dict], list[list[str]]]:
    """(traces, the profile values each must lose): profile traces for every user, then the conversations."""
    users, orders, conversations = load()
    out, values = [], []
    for n, (user_id, user) in enumerate(users.items()):
        out.append(profile_trace(user_id, user, orders, n))
        values.append(profile_values(user_id, user))
    for n, text in enumerate(conversations):
        trace = trajectory_trace(text, users, n)
        if trace is not None:
            out.append(trace)
            values.append(_values_in(trace, users))
    return out, values


def _values_in(trace: dict, users: dict) -> list[str]:
    """Profile values of the users whose profile a conversation's tool results show."""
    blob = json.dumps(trace)
    found = []
    for user in users.values():
        if user["email"] in blob:
            p = user["address"]
            found += [user["name"]["first_name"], user["name"]["last_name"], user["email"], p["address1"]]
            found += [p["address2"], p["zip"]]
    return found


def leaked(scrubbed: dict, values: list[str]) -> list[str]:
    """Profile values still in a scrubbed trace (names as whole words, case-sensitive)."""
    blob = json.dumps(scrubbed, ensure_ascii=False)
    blob_plain = blob.replace("\\", "")
    out = []
    for value in values:
        pattern = rf"(?<![\w]){re.escape(value)}(?![\w])"
        if re.search(pattern, blob) or re.search(pattern, blob_plain):
            out.append(value)
    return out


def structured_values(value, path=()):
    """(path, value) of every non-personal scalar in tool args and results: what training needs intact."""
    if isinstance(value, dict):
        for k, v in value.items():
            if k not in PERSONAL_KEYS:
                yield from structured_values(v, (*path, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from structured_values(v, (*path, i))
    elif value is not None and not isinstance(value, bool):
        yield path, value


def intact(original: dict, scrubbed: dict) -> tuple[int, int, list]:
    """(unchanged, total, changed examples) over the non-personal structured values of the tool calls."""
    unchanged, total, changed = 0, 0, []
    for i, call in enumerate(original.get("tool_calls") or []):
        for part in ("args", "result"):
            if not isinstance(call.get(part), dict | list):
                continue
            for path, value in structured_values(call[part]):
                total += 1
                now = _at(scrubbed["tool_calls"][i][part], path)
                if now == value:
                    unchanged += 1
                else:
                    changed.append((call["name"], path, value, now))
    return unchanged, total, changed


def _at(value, path):
    for step in path:
        try:
            value = value[step]
        except (KeyError, IndexError, TypeError):
            return None
    return value
