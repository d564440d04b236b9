"""Features of one trace (or one candidate reply) for the reward model.

An item is shaped like `traces.selectors.trace_scrubbed_view` (scrubbed text only);
every key may be missing. Three hashed text blocks and one dense block:

- `final_response`: word 1–2-grams, HashingVectorizer (2**16 columns, l2 norm);
- `user_message`: word unigrams (2**14 columns, l2 norm);
- a tool-call summary, one token per call `tool:<name>` and `tool:<name>:error`
  when it failed (2**10 columns, l2 norm);
- dense structured features (DENSE_FEATURES, standardized with the training
  mean and deviation): latency, tool calls, tool errors, depth, flags, task
  category, complexity, and reply statistics (length, repetition, copying the
  prompt) that separate degenerate replies from useful ones.

The hashing vectorizers are stateless, so the same text always maps to the same
columns and a model needs no vocabulary: the artifact is coefficients only.
"""

import math
import re

import numpy as np
from scipy import sparse
from sklearn.feature_extraction.text import HashingVectorizer

FEATURE_VERSION = 2  # 2: a missing complexity is imputed with the training mean (traces to score never have one)
TASK_CATEGORIES = ("communication", "scheduling", "ops", "research", "memory", "other")
FLAG_NAMES = ("timeout", "tool_error", "incomplete", "safety", "shadow")
RESPONSE_BITS, MESSAGE_BITS, TOOL_BITS = 16, 14, 10

DENSE_FEATURES = (
    "latency_log_seconds",
    "latency_missing",
    "tool_calls",
    "tool_errors",
    "tool_error_rate",
    "tool_depth_log",
    "distinct_tools",
    *[f"flag_{name}" for name in FLAG_NAMES],
    *[f"category_{name}" for name in TASK_CATEGORIES],
    "complexity",
    "complexity_missing",
    "response_chars_log",
    "response_words_log",
    "message_chars_log",
    "length_ratio_log",
    "response_empty",
    "response_lines_log",
    "unique_word_ratio",
    "repeated_line_fraction",
    "repeated_trigram_fraction",
    "prompt_overlap",
    "prompt_coverage",
    "response_copies_prompt",
    "ends_with_punctuation",
    "question_marks",
    "digit_fraction",
    "uppercase_fraction",
    "non_ascii_fraction",
    "list_markers",
)

FEATURE_SET = {
    "version": FEATURE_VERSION,
    "text": {
        "final_response": {"vectorizer": "HashingVectorizer", "ngram_range": [1, 2], "n_features": 2**RESPONSE_BITS},
        "user_message": {"vectorizer": "HashingVectorizer", "ngram_range": [1, 1], "n_features": 2**MESSAGE_BITS},
        "tool_summary": {
            "vectorizer": "HashingVectorizer",
            "tokens": "tool:<name>[:error]",
            "n_features": 2**TOOL_BITS,
        },
    },
    "dense": list(DENSE_FEATURES),
}

_COMPLEXITY, _COMPLEXITY_MISSING = DENSE_FEATURES.index("complexity"), DENSE_FEATURES.index("complexity_missing")
_WORD = re.compile(r"\w+")
_LIST_MARKER = re.compile(r"^\s*(?:\d+[.)]|[-*•])\s", re.MULTILINE)

_response_vectorizer = HashingVectorizer(n_features=2**RESPONSE_BITS, ngram_range=(1, 2), alternate_sign=False)
_message_vectorizer = HashingVectorizer(n_features=2**MESSAGE_BITS, alternate_sign=False)
_tool_vectorizer = HashingVectorizer(
    n_features=2**TOOL_BITS, alternate_sign=False, lowercase=False, token_pattern=r"\S+"
)


def n_features() -> int:
    return 2**RESPONSE_BITS + 2**MESSAGE_BITS + 2**TOOL_BITS + len(DENSE_FEATURES)


def text_blocks() -> list[tuple[int, int]]:
    """Column ranges [start, stop) of the hashed text blocks: response, message, tool summary."""
    bounds = np.cumsum([0, 2**RESPONSE_BITS, 2**MESSAGE_BITS, 2**TOOL_BITS])
    return [(int(start), int(stop)) for start, stop in zip(bounds[:-1], bounds[1:], strict=True)]


def _text(value) -> str:
    if value is None or isinstance(value, bool):
        return ""
    return value if isinstance(value, str) else str(value)


def _tool_calls(item: dict) -> list[dict]:
    calls = item.get("tool_calls") or []
    if isinstance(calls, dict):
        calls = calls.get("tool_calls") or []
    return [call for call in calls if isinstance(call, dict)] if isinstance(calls, list) else []


def tool_summary(item: dict) -> str:
    tokens = []
    for call in _tool_calls(item):
        name = re.sub(r"\s+", "_", _text(call.get("name")) or "unknown")
        tokens.append(f"tool:{name}")
        if call.get("error"):
            tokens.append(f"tool:{name}:error")
    return " ".join(tokens)


def _fraction(count: int, total: int) -> float:
    return count / total if total else 0.0


def _reply_statistics(message: str, response: str) -> list[float]:
    words = _WORD.findall(response.lower())
    prompt_words = set(_WORD.findall(message.lower()))
    lines = [line.strip() for line in response.splitlines() if line.strip()]
    trigrams = list(zip(words, words[1:], words[2:], strict=False))
    chars = len(response)
    stripped = response.strip()
    return [
        math.log1p(chars),
        math.log1p(len(words)),
        math.log1p(len(message)),
        math.log((chars + 1) / (len(message) + 1)),
        float(not stripped),
        math.log1p(len(lines)),
        _fraction(len(set(words)), len(words)),
        _fraction(len(lines) - len(set(lines)), len(lines)),
        _fraction(len(trigrams) - len(set(trigrams)), len(trigrams)),
        _fraction(sum(1 for word in words if word in prompt_words), len(words)),
        _fraction(len(prompt_words & set(words)), len(prompt_words)),
        float(bool(stripped) and stripped.lower() in message.lower()),
        float(stripped[-1:] in (".", "!", "?", '"', ")")),
        math.log1p(response.count("?")),
        _fraction(sum(map(str.isdigit, response)), chars),
        _fraction(sum(map(str.isupper, response)), chars),
        _fraction(chars - len(response.encode("ascii", "ignore")), chars),
        math.log1p(len(_LIST_MARKER.findall(response))),
    ]


def dense_row(item: dict) -> list[float]:
    """The structured features of one item, in DENSE_FEATURES order (before scaling)."""
    calls = _tool_calls(item)
    errors = sum(1 for call in calls if call.get("error"))
    latency = item.get("latency_ms")
    latency_ok = isinstance(latency, (int, float)) and not isinstance(latency, bool) and latency >= 0
    flags = {str(flag) for flag in item.get("flags") or []}
    category = item.get("task_category") or "other"
    complexity = item.get("complexity")
    complexity_ok = isinstance(complexity, (int, float)) and not isinstance(complexity, bool)
    row = [
        math.log1p(latency / 1000) if latency_ok else 0.0,
        0.0 if latency_ok else 1.0,
        float(len(calls)),
        float(errors),
        _fraction(errors, len(calls)),
        math.log1p(len(calls)),
        float(len({_text(call.get("name")) for call in calls})),
        float("timeout" in flags),
        float("tool_error" in flags or errors > 0),
        float("incomplete" in flags),
        float(any(flag.startswith("safety") for flag in flags)),
        float("shadow" in flags),
        *[float(category == name) for name in TASK_CATEGORIES],
        float(complexity) / 3 if complexity_ok else 0.0,
        0.0 if complexity_ok else 1.0,
    ]
    row.extend(_reply_statistics(_text(item.get("user_message")), _text(item.get("final_response"))))
    return row


def dense_matrix(items: list[dict]) -> np.ndarray:
    return np.array([dense_row(item) for item in items], dtype=np.float64).reshape(len(items), len(DENSE_FEATURES))


def feature_matrix(
    items: list[dict], *, dense_mean: np.ndarray, dense_scale: np.ndarray, dense: np.ndarray | None = None
) -> sparse.csr_matrix:
    """The full sparse feature matrix: text blocks, then the standardized dense block
    (`dense`: the items' dense_matrix when the caller has it already)."""
    responses = [_text(item.get("final_response")) for item in items]
    messages = [_text(item.get("user_message")) for item in items]
    tools = [tool_summary(item) for item in items]
    raw = dense_matrix(items) if dense is None else dense
    dense = (raw - dense_mean) / dense_scale
    # Only reviewers rate complexity, so traces being scored never have it: a missing one reads as
    # the training mean (0 once standardized), not as 0 — else every scored trace looks "easy".
    dense[raw[:, _COMPLEXITY_MISSING] == 1.0, _COMPLEXITY] = 0.0
    return sparse.hstack(
        [
            _response_vectorizer.transform(responses),
            _message_vectorizer.transform(messages),
            _tool_vectorizer.transform(tools),
            sparse.csr_matrix(dense),
        ],
        format="csr",
    )


def dense_standardization(items: list[dict]) -> tuple[np.ndarray, np.ndarray]:
    """Mean and deviation of the dense block over training items (deviation 1 where constant)."""
    return dense_standardization_of(dense_matrix(items))


def dense_standardization_of(dense: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    if len(dense) == 0:
        return np.zeros(len(DENSE_FEATURES)), np.ones(len(DENSE_FEATURES))
    mean, scale = dense.mean(axis=0), dense.std(axis=0)
    rated = dense[dense[:, _COMPLEXITY_MISSING] == 0.0, _COMPLEXITY]
    if len(rated):  # the complexity of the items that have one (the others are imputed with it)
        mean[_COMPLEXITY], scale[_COMPLEXITY] = rated.mean(), rated.std()
    scale[scale < 1e-9] = 1.0
    return mean, scale
