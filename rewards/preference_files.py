"""Chosen/rejected JSONL files (`import_preferences`, `evaluate_reward_model --pairs`): parsing
and validation only, line by line, so one bad line is reported with its number and field
and never stops the others."""

import json

from traces.models import TaskCategory

PAIR_FIELDS = ("prompt", "chosen", "rejected")


def _line_record(line) -> tuple[dict | None, dict | None]:
    """(record, None) or (None, {"field", "message"}) for one JSONL line (bytes or str)."""
    if isinstance(line, bytes):
        try:
            line = line.decode("utf-8")
        except UnicodeDecodeError:
            return None, {"field": None, "message": "not valid UTF-8"}
    try:
        record = json.loads(line)
    except json.JSONDecodeError as exc:
        return None, {"field": None, "message": f"not valid JSON ({exc.msg})"}
    except (ValueError, RecursionError):  # an integer too long to parse, nesting too deep
        return None, {"field": None, "message": "not valid JSON (too deep or too large)"}
    if not isinstance(record, dict):
        return None, {"field": None, "message": "must be a JSON object"}
    return record, None


def _text_problem(value) -> str | None:
    if not isinstance(value, str) or not value.strip():
        return "must be a non-empty string"
    if "\x00" in value:
        return "must not contain NUL characters"
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return "must not contain unpaired surrogates"
    return None


def _record_problem(record: dict) -> dict | None:
    for field in PAIR_FIELDS:
        problem = "is missing" if field not in record else _text_problem(record[field])
        if problem:
            return {"field": field, "message": f"field {field!r} {problem}"}
    category = record.get("task_category")
    if category is not None and category not in TaskCategory.values:
        return {
            "field": "task_category",
            "message": f"field 'task_category' must be one of {', '.join(TaskCategory.values)}, got {category!r}",
        }
    return None


def preference_lines_parse(lines) -> tuple[list[tuple[int, dict]], list[dict]]:
    """Parse JSONL chosen/rejected lines (bytes or str): ([(line number, record)], [{"line", "field",
    "message"}]). Blank lines are skipped; a bad line is reported with its number and field and left out."""
    good, errors = [], []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        record, error = _line_record(line)
        error = error or _record_problem(record)
        if error:
            errors.append({"line": number, **error})
        else:
            good.append((number, record))
    return good, errors
