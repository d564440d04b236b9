"""The reward model as an OpenAI `python` grader: standard library only, its weights embedded, ≤ 256 kB.

`reward_model_python_grader(*, model) -> dict` is the public function (training's RFT grader and the open-weights
backend use it). The grader recomputes the model's features in pure Python — sklearn's HashingVectorizer
(MurmurHash3, the same token patterns, l2 norm per block) and the dense block, whose functions are copied from
rewards.features by `inspect` so they cannot drift — and scores with one linear model:

- the bootstrap members' reward weights are averaged (the in-app model averages their clipped outputs);
- the Bradley–Terry utility column is folded into the text weights (it is linear in the same features);
- the text weights are pruned by magnitude until the source fits `max_bytes`, and rounded to 4 significant digits.

Agreement with the in-app model is measured, not assumed: Spearman on held-out traces (tests/rewards).
"""

import inspect

import numpy as np

from rewards import features
from rewards.artifacts import artifact_load

GRADER_MAX_BYTES = 256_000  # the provider's limit on a python grader's source
_COPIED = (
    features._text,
    features._tool_calls,
    features.tool_summary,
    features._fraction,
    features._reply_statistics,
    features.dense_row,
)

RUNTIME = r'''

def _murmur3_32(data, seed=0):
    """MurmurHash3 x86 32-bit, signed, as sklearn.utils.murmurhash3_32."""
    c1, c2, length, h = 0xCC9E2D51, 0x1B873593, len(data), seed & 0xFFFFFFFF
    for start in range(0, length - length % 4, 4):
        k = int.from_bytes(data[start : start + 4], "little")
        k = (k * c1) & 0xFFFFFFFF
        k = ((k << 15) | (k >> 17)) & 0xFFFFFFFF
        h ^= (k * c2) & 0xFFFFFFFF
        h = ((h << 13) | (h >> 19)) & 0xFFFFFFFF
        h = (h * 5 + 0xE6546B64) & 0xFFFFFFFF
    tail, k = data[length - length % 4 :], 0
    for index in range(len(tail) - 1, -1, -1):
        k = (k << 8) | tail[index]
    if tail:
        k = (k * c1) & 0xFFFFFFFF
        k = ((k << 15) | (k >> 17)) & 0xFFFFFFFF
        h ^= (k * c2) & 0xFFFFFFFF
    h ^= length
    h ^= h >> 16
    h = (h * 0x85EBCA6B) & 0xFFFFFFFF
    h ^= h >> 13
    h = (h * 0xC2B2AE35) & 0xFFFFFFFF
    h ^= h >> 16
    return h - 2**32 if h >= 2**31 else h


def _hashed(tokens, n_features, offset):
    counts = {}
    for token in tokens:
        h = _murmur3_32(token.encode("utf-8"))
        index = (2147483647 - (n_features - 1)) % n_features if h == -(2**31) else abs(h) % n_features
        counts[offset + index] = counts.get(offset + index, 0.0) + 1.0
    norm = math.sqrt(sum(v * v for v in counts.values()))
    return {column: value / norm for column, value in counts.items()} if norm else {}


_TOKEN = re.compile(r"(?u)\b\w\w+\b")


def _words(text):
    return _TOKEN.findall(text.lower())


def reward_of(view):
    """The model's reward in [0, 1] for an item shaped like trace_scrubbed_view."""
    response, message = _words(_text(view.get("final_response"))), _words(_text(view.get("user_message")))
    x = _hashed(response + [a + " " + b for a, b in zip(response, response[1:])], 2**RESPONSE_BITS, 0)
    x.update(_hashed(message, 2**MESSAGE_BITS, 2**RESPONSE_BITS))
    x.update(_hashed(tool_summary(view).split(), 2**TOOL_BITS, 2**RESPONSE_BITS + 2**MESSAGE_BITS))
    score = INTERCEPT + sum(WEIGHTS.get(column, 0.0) * value for column, value in x.items())
    raw = dense_row(view)
    for index, value in enumerate(raw):
        if index == COMPLEXITY and raw[COMPLEXITY_MISSING] == 1.0:
            continue  # a missing complexity reads as the training mean, as in the app
        score += DENSE_WEIGHTS[index] * (value - DENSE_MEAN[index]) / DENSE_SCALE[index]
    if SIGMOID:
        return 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, score))))
    return min(1.0, max(0.0, score))


def _user_message(messages):
    for message in reversed(messages or []):
        if isinstance(message, dict) and message.get("role") == "user":
            content = message.get("content")
            return content if isinstance(content, str) else ""
    return ""


def _calls(raw):
    calls = []
    for call in raw or []:
        if isinstance(call, dict):
            function = call.get("function") if isinstance(call.get("function"), dict) else call
            calls.append({"name": function.get("name"), "error": None})
    return calls


def grade(sample, item):
    """RFT grader: the reward model scores the sampled reply to the item's last user turn."""
    view = {
        "user_message": _user_message(item.get("messages")),
        "final_response": sample.get("output_text") or "",
        "tool_calls": _calls(sample.get("output_tools")),
        "task_category": item.get("task_category"),
        "flags": [],
    }
    return round(reward_of(view), 6)
'''


def _linear(artifact: dict) -> tuple[np.ndarray, float, bool]:
    """One weight vector over the feature columns, its intercept, and whether to squash with a sigmoid."""
    n_columns = features.n_features()
    bt = None
    if artifact["bt_weights"] is not None:
        bt = np.asarray(artifact["bt_weights"].mean(axis=1)).ravel()
    if artifact["point_weights"] is None:  # preferences only: sigmoid(utility − median utility)
        return bt, -artifact["utility_center"], True
    members = artifact["hyperparameters"]["members"]
    weights = artifact["point_weights"].toarray()
    reward_columns = [member * 5 for member in range(members)]
    weight = weights[:n_columns, reward_columns].mean(axis=1)
    intercept = float(np.mean(artifact["point_intercepts"][reward_columns]))
    if bt is not None:  # the standardized utility column, folded in
        utility_weight = float(weights[n_columns, reward_columns].mean())
        weight = weight + utility_weight / artifact["utility_scale"] * bt
        intercept -= utility_weight * artifact["utility_mean"] / artifact["utility_scale"]
    return weight, intercept, False


def _number(value: float) -> str:
    return f"{value:.4g}"


def _source(*, text_weights: dict, dense: np.ndarray, intercept: float, sigmoid: bool, artifact: dict) -> str:
    copied = "\n\n".join(inspect.getsource(function) for function in _COPIED)
    columns = ",".join(f"{column}:{_number(weight)}" for column, weight in sorted(text_weights.items()))
    header = [
        '"""ZEKE reward model as an RFT python grader (generated by rewards.export; standard library only)."""',
        "import math",
        "import re",
        f"TASK_CATEGORIES = {features.TASK_CATEGORIES!r}",
        f"FLAG_NAMES = {features.FLAG_NAMES!r}",
        f"RESPONSE_BITS, MESSAGE_BITS, TOOL_BITS = {features.RESPONSE_BITS}, {features.MESSAGE_BITS}, "
        f"{features.TOOL_BITS}",
        f"COMPLEXITY, COMPLEXITY_MISSING = {features._COMPLEXITY}, {features._COMPLEXITY_MISSING}",
        f"_WORD = re.compile({features._WORD.pattern!r})",
        f"_LIST_MARKER = re.compile({features._LIST_MARKER.pattern!r}, re.MULTILINE)",
        f"SIGMOID = {sigmoid!r}",
        f"INTERCEPT = {intercept!r}",
        f"DENSE_MEAN = [{','.join(_number(v) for v in artifact['dense_mean'])}]",
        f"DENSE_SCALE = [{','.join(_number(v) for v in artifact['dense_scale'])}]",
        f"DENSE_WEIGHTS = [{','.join(_number(v) for v in dense)}]",
        f"WEIGHTS = {{{columns}}}",
    ]
    return "\n".join(header) + "\n\n\n" + copied + RUNTIME


def reward_model_grader_source(*, artifact: dict, max_bytes: int = GRADER_MAX_BYTES) -> tuple[str, dict]:
    """The grader's source and what pruning kept: {"columns_kept", "columns_total", "bytes"}."""
    weight, intercept, sigmoid = _linear(artifact)
    n_text = features.n_features() - len(features.DENSE_FEATURES)
    text, dense = weight[:n_text], weight[n_text:]
    order = np.argsort(-np.abs(text), kind="stable")
    nonzero = int(np.count_nonzero(text))
    keep = nonzero
    while True:
        kept = {int(column): float(text[column]) for column in order[:keep]}
        source = _source(text_weights=kept, dense=dense, intercept=intercept, sigmoid=sigmoid, artifact=artifact)
        size = len(source.encode())
        if size <= max_bytes or keep == 0:
            break
        # Each kept column costs about the same: shrink in proportion to the overshoot, then a little more.
        keep = max(0, min(keep - 1, int(keep * max_bytes / size * 0.98)))
    return source, {"columns_kept": keep, "columns_total": nonzero, "bytes": size}


def reward_model_python_grader(*, model, name: str = "reward_model", max_bytes: int = GRADER_MAX_BYTES) -> dict:
    """The reward model `model` (a rewards.RewardModel) as an OpenAI python grader dict."""
    source, _pruning = reward_model_grader_source(artifact=artifact_load(model), max_bytes=max_bytes)
    return {"type": "python", "name": name, "source": source}
