"""Dataset builds: scored traces → OpenAI RFT JSONL (+ preference pairs and supervised JSONL).

The build is deterministic: the same traces, rewards, corrections, rubric and
settings give byte-identical files, so the manifest (with each file's sha256)
hashes to the same value and a second build returns the existing row.
"""

import json

from django.conf import settings
from django.db import IntegrityError, transaction

from labeling.models import Preference, PreferenceChoice
from training import prompts
from training.models import DatasetBuild, DatasetStatus
from training.selectors import dataset_candidates, reward_model_version_current, rubric_current
from zeke_rft.errors import ApplicationError
from zeke_rft.hashing import canonical_json, sha256_bytes, sha256_json
from zeke_rft.history import history_set
from zeke_rft.storage import get_storage

FORMAT = "zeke-rft-dataset/v1"
MAX_TRAIN = 50_000
MAX_VALIDATION = 1_000
STAGES = (1, 2, 3)


def build_filters(*, stage: int, modality: str) -> dict:
    """The selection rules of a curriculum stage (recorded in the manifest)."""
    if stage not in STAGES:
        raise ApplicationError(f"stage must be 1, 2 or 3, got {stage!r}", status=400)
    return {
        "stage": stage,
        "modality": modality,
        "high_reward": settings.TRAINING_HIGH_REWARD,
        "hard_uncertainty": settings.TRAINING_HARD_UNCERTAINTY,
        "max_tool_depth": 1 if stage == 1 else None,
        "include_hard_cases": stage == 3,
        "validation_percent": settings.TRAINING_VALIDATION_PERCENT,
        "max_train": MAX_TRAIN,
        "max_validation": MAX_VALIDATION,
        "quarantined": "excluded",
    }


def _tier(candidate: dict, filters: dict) -> str | None:
    """easy (stage 1), multi_step (stage 2), hard (stage 3) or None when the stage excludes the trace."""
    view = candidate["view"]
    safe = not any(str(flag).startswith("safety") for flag in view["flags"] or [])
    high = candidate["reward"] >= filters["high_reward"]
    uncertainty = candidate["uncertainty"]
    confident = (
        candidate["reward_source"] == "human" or uncertainty is None or uncertainty < filters["hard_uncertainty"]
    )
    corrected = bool(candidate["correction"]) or candidate["corrected_tool_calls"] is not None
    depth = len(view["tool_calls"] or [])
    if safe and high and confident and not corrected:
        if depth <= 1:
            return "easy"
        return "multi_step" if filters["stage"] >= 2 else None
    # Hard cases: reviewer-corrected (the correction is the reference) or high reward the model was unsure of.
    if filters["include_hard_cases"] and (corrected or (safe and high)):
        return "hard"
    return None


def _json_type(value) -> dict:
    for python_type, name in ((bool, "boolean"), (int, "integer"), (float, "number"), (str, "string")):
        if isinstance(value, python_type):
            return {"type": name}
    if isinstance(value, list):
        return {"type": "array"}
    if isinstance(value, dict):
        return {"type": "object"}
    return {}


def tool_schemas(calls: list[dict]) -> list[dict]:
    """JSON-schema function tools derived from the calls' arguments (a key is required when every call had it)."""
    by_name: dict[str, list[dict]] = {}
    for call in calls:
        if call.get("name"):
            by_name.setdefault(call["name"], []).append(call.get("args") if isinstance(call.get("args"), dict) else {})
    tools = []
    for name in sorted(by_name):
        arg_sets = by_name[name]
        properties = {}
        for args in arg_sets:
            for key in sorted(args):
                properties.setdefault(key, _json_type(args[key]))
        required = sorted(key for key in properties if all(key in args for args in arg_sets))
        parameters = {"type": "object", "properties": properties, "required": required}
        tools.append(
            {
                "type": "function",
                "function": {"name": name, "description": f"ZEKE tool {name}", "parameters": parameters},
            }
        )
    return tools


def _messages(view: dict) -> list[dict]:
    context = dict(view["context"] or {}) if isinstance(view["context"], dict) else {"context": view["context"]}
    history = context.pop("history", None) or []
    messages = [
        {
            "role": "developer",
            "content": prompts.developer_prompt(modality=view["modality"], task_category=view["task_category"]),
        }
    ]
    if context:
        messages.append({"role": "developer", "content": "Context:\n" + canonical_json(context)})
    for turn in history if isinstance(history, list) else []:
        if (
            isinstance(turn, dict)
            and turn.get("role") in ("user", "assistant")
            and isinstance(turn.get("content"), str)
        ):
            messages.append({"role": turn["role"], "content": turn["content"]})
    messages.append({"role": "user", "content": view["user_message"]})
    return messages


def rubric_text(rubric) -> str:
    if rubric is None:
        return "Success, helpfulness, tone and safety, each 1–5."
    parts = [f"{d.get('label', name)}: {d.get('question', '')}" for name, d in sorted(rubric.dimensions.items())]
    return f"{rubric.name} v{rubric.version}. " + " ".join(parts)


def example_from_candidate(candidate: dict, *, rubric: str) -> dict:
    """One RFT example: messages (ending with the user turn), tools, and the fields graders read."""
    view = candidate["view"]
    successful = [
        {"name": c.get("name"), "args": c.get("args") or {}} for c in view["tool_calls"] or [] if not c.get("error")
    ]
    corrected = candidate["corrected_tool_calls"]
    expected = (
        [{"name": c.get("name"), "args": c.get("args") or {}} for c in corrected]
        if corrected is not None
        else successful
    )
    example = {"messages": _messages(view)}
    tools = tool_schemas(list(view["tool_calls"] or []) + expected)
    if tools:
        example["tools"] = tools
    example.update(
        {
            "reference_answer": candidate["correction"] or view["final_response"],
            "expected_tool_calls": expected,
            "rubric": rubric,
            "reward": candidate["reward"],
            "reward_source": candidate["reward_source"],
            "task_category": view["task_category"],
            "trace_id": view["id"],
        }
    )
    return example


def _dedupe_key(example: dict) -> str:
    return sha256_json({"messages": example["messages"], "tools": example.get("tools")})


def _in_validation(conversation_id: str, percent: int) -> bool:
    return int(sha256_bytes(f"split:{conversation_id}".encode())[:8], 16) % 100 < percent


def _jsonl(rows: list[dict]) -> bytes:
    return "".join(canonical_json(row) + "\n" for row in rows).encode("utf-8")


def _preference_rows(examples: list[dict], candidates_by_trace: dict, preferences: dict) -> list[dict]:
    """chosen/rejected pairs: a reviewer's correction over the original reply, and A/B preferences on these traces."""
    rows = []
    for example in examples:
        prompt = [m for m in example["messages"]]
        original = candidates_by_trace[example["trace_id"]]["view"]["final_response"]
        if candidates_by_trace[example["trace_id"]]["correction"] and original.strip() != example["reference_answer"]:
            rows.append(
                {
                    "messages": prompt,
                    "chosen": example["reference_answer"],
                    "rejected": original,
                    "source": "correction",
                    "trace_id": example["trace_id"],
                }
            )
        for preference in preferences.get(example["trace_id"], []):
            chosen, rejected = (preference.response_a, preference.response_b)
            if preference.choice == PreferenceChoice.B:
                chosen, rejected = rejected, chosen
            rows.append(
                {
                    "messages": prompt,
                    "chosen": chosen,
                    "rejected": rejected,
                    "source": "preference",
                    "trace_id": example["trace_id"],
                }
            )
    return rows


def _supervised_rows(examples: list[dict]) -> list[dict]:
    rows = []
    for example in examples:
        assistant = {"role": "assistant", "content": example["reference_answer"]}
        if example["expected_tool_calls"]:
            assistant["tool_calls"] = [
                {
                    "id": f"call_{i}",
                    "type": "function",
                    "function": {"name": c["name"], "arguments": canonical_json(c["args"])},
                }
                for i, c in enumerate(example["expected_tool_calls"])
            ]
        row = {"messages": example["messages"] + [assistant]}
        if example.get("tools"):
            row["tools"] = example["tools"]
        rows.append(row)
    return rows


def dataset_examples(*, stage: int, modality: str) -> dict:
    """Select, convert, dedupe and split: {"filters", "reward_model_version", "train", "validation", "counts", ...}."""
    filters = build_filters(stage=stage, modality=modality)
    version = reward_model_version_current()
    rubric = rubric_current()
    candidates = dataset_candidates(modality=modality, reward_model_version=version)
    seen: dict[str, dict] = {}
    tiers: dict[int, str] = {}
    for candidate in candidates:
        tier = _tier(candidate, filters)
        if tier is None:
            continue
        example = example_from_candidate(candidate, rubric=rubric_text(rubric))
        key = _dedupe_key(example)
        # Keep the best-rewarded copy of a duplicate prompt (ties: the lowest trace id, candidates come sorted).
        if key not in seen or example["reward"] > seen[key]["reward"]:
            seen[key] = example
        tiers[example["trace_id"]] = tier
    examples = sorted(seen.values(), key=lambda e: e["trace_id"])
    conversation = {c["view"]["id"]: c["view"]["conversation_id"] for c in candidates}
    train = [e for e in examples if not _in_validation(conversation[e["trace_id"]], filters["validation_percent"])]
    validation = [e for e in examples if _in_validation(conversation[e["trace_id"]], filters["validation_percent"])]
    if not train:  # every conversation hashed to validation (tiny builds): train on them instead
        train, validation = validation, []
    if not validation and len({conversation[e["trace_id"]] for e in train}) > 1:
        # Small builds: move the conversation with the lowest split hash, so there is always a validation set.
        moved = min({conversation[e["trace_id"]] for e in train}, key=lambda c: sha256_bytes(f"split:{c}".encode()))
        validation = [e for e in train if conversation[e["trace_id"]] == moved]
        train = [e for e in train if conversation[e["trace_id"]] != moved]
    return {
        "filters": filters,
        "reward_model_version": version,
        "rubric_version": rubric.version if rubric else None,
        "candidates": candidates,
        "train": train[:MAX_TRAIN],
        "validation": validation[:MAX_VALIDATION],
        "counts": {
            "candidates": len(candidates),
            "selected": len(tiers),
            "duplicates_removed": len(tiers) - len(examples),
            "dropped_over_limit": max(0, len(train) - MAX_TRAIN) + max(0, len(validation) - MAX_VALIDATION),
        },
        "tiers": tiers,
        "conversations": conversation,
    }


def _check_refusal_policy(examples: list[dict]) -> None:
    missing = [e["trace_id"] for e in examples if not prompts.has_refusal_policy(e)]
    if missing:
        raise ApplicationError(
            f"{len(missing)} example(s) lack the mandatory refusal policy (finance, unauthorized access, data "
            f"deletion) in their developer message, e.g. trace {missing[0]}: the build fails."
        )


def dataset_build(*, stage: int = 1, modality: str = "chat", user=None) -> tuple[DatasetBuild, bool]:
    """Build (or find) the dataset for a stage and modality. Returns (build, created).

    Same inputs → same manifest hash → the existing build is returned. A build whose
    examples lack the refusal policy is recorded as failed and raises ApplicationError.
    """
    selection = dataset_examples(stage=stage, modality=modality)
    train, validation = selection["train"], selection["validation"]
    if not train:
        raise ApplicationError(
            f"no stage {stage} {modality} examples: need eligible traces with rewards (human labels or model scores)"
        )
    candidates_by_trace = {c["view"]["id"]: c for c in selection["candidates"]}
    preferences: dict[int, list] = {}
    trace_ids = [e["trace_id"] for e in train + validation]
    for preference in (
        Preference.objects.filter(trace_id__in=trace_ids).exclude(choice=PreferenceChoice.TIE).order_by("id")
    ):
        preferences.setdefault(preference.trace_id, []).append(preference)
    files = {
        "train": _jsonl(train),
        "validation": _jsonl(validation),
        "preferences_train": _jsonl(_preference_rows(train, candidates_by_trace, preferences)),
        "preferences_validation": _jsonl(_preference_rows(validation, candidates_by_trace, preferences)),
        "supervised_train": _jsonl(_supervised_rows(train)),
        "supervised_validation": _jsonl(_supervised_rows(validation)),
    }
    manifest = _manifest(selection, files)
    sha = sha256_json(manifest)
    existing = DatasetBuild.objects.filter(sha256=sha).first()
    if existing is not None:
        if existing.status == DatasetStatus.FAILED:
            raise ApplicationError(f"dataset {sha[:12]} failed before: {existing.error}")
        return existing, False
    try:
        _check_refusal_policy(train + validation)
    except ApplicationError as exc:
        _record(sha=sha, manifest=manifest, files={}, status=DatasetStatus.FAILED, error=exc.message, user=user)
        raise
    storage = get_storage()
    stored = {}
    for name, data in files.items():
        key = f"datasets/{sha}/{name}.jsonl"
        storage.write_bytes(key, data)
        stored[name] = {
            "key": key,
            "sha256": manifest["files"][name]["sha256"],
            "rows": manifest["files"][name]["rows"],
        }
    storage.write_bytes(f"datasets/{sha}/manifest.json", json.dumps(manifest, indent=2, sort_keys=True).encode())
    return _record(sha=sha, manifest=manifest, files=stored, status=DatasetStatus.SUCCEEDED, error="", user=user)


def _manifest(selection: dict, files: dict[str, bytes]) -> dict:
    train, validation, conversations = selection["train"], selection["validation"], selection["conversations"]
    tiers = selection["tiers"]
    by = {"tier": {}, "reward_source": {}, "task_category": {}}
    for example in train + validation:
        for field, value in (
            ("tier", tiers[example["trace_id"]]),
            ("reward_source", example["reward_source"]),
            ("task_category", example["task_category"]),
        ):
            by[field][value] = by[field].get(value, 0) + 1
    return {
        "format": FORMAT,
        "stage": selection["filters"]["stage"],
        "modality": selection["filters"]["modality"],
        "filters": selection["filters"],
        "reward_model_version": selection["reward_model_version"],
        "rubric_version": selection["rubric_version"],
        "counts": {**selection["counts"], "train": len(train), "validation": len(validation), **by},
        "splits": {
            "method": "sha256('split:' + conversation_id) % 100 < validation_percent",
            "train_conversations": len({conversations[e["trace_id"]] for e in train}),
            "validation_conversations": len({conversations[e["trace_id"]] for e in validation}),
        },
        "trace_ids": {"train": [e["trace_id"] for e in train], "validation": [e["trace_id"] for e in validation]},
        "files": {
            name: {"sha256": sha256_bytes(data), "rows": data.count(b"\n")} for name, data in sorted(files.items())
        },
    }


def _record(*, sha, manifest, files, status, error, user) -> tuple[DatasetBuild, bool]:
    build = DatasetBuild(
        sha256=sha,
        stage=manifest["stage"],
        modality=manifest["modality"],
        reward_model_version=manifest["reward_model_version"],
        manifest=manifest,
        files=files,
        status=status,
        error=error,
        created_by=user if getattr(user, "pk", None) else None,
    )
    history_set(build, user=user, reason=f"dataset build {status}")
    try:
        with transaction.atomic():
            build.save()
    except IntegrityError:  # a concurrent build with the same inputs won
        return DatasetBuild.objects.get(sha256=sha), False
    return build, True


def dataset_files_drop_traces(*, build, trace_ids: set[int]) -> None:
    """Rewrite a build's files without the rows of `trace_ids` (rows carry trace_id; supervised rows follow
    their split's rows one for one)."""
    storage = get_storage()
    for split in ("train", "validation"):
        if split not in build.files:
            continue
        rows = [json.loads(line) for line in storage.read_bytes(build.files[split]["key"]).splitlines() if line]
        keep = [row.get("trace_id") not in trace_ids for row in rows]
        _rewrite(build, split, lambda index, row, keep=keep: keep[index])
        _rewrite(build, f"supervised_{split}", lambda index, row, keep=keep: index >= len(keep) or keep[index])
        _rewrite(build, f"preferences_{split}", lambda index, row: row.get("trace_id") not in trace_ids)


def _rewrite(build, name: str, keep) -> None:
    entry = build.files.get(name)
    if not entry:
        return
    storage = get_storage()
    rows = [json.loads(line) for line in storage.read_bytes(entry["key"]).splitlines() if line]
    kept = [row for index, row in enumerate(rows) if keep(index, row)]
    if len(kept) != len(rows):
        data = _jsonl(kept)
        storage.write_bytes(entry["key"], data)
        build.files[name] = {**entry, "rows": len(kept), "sha256": sha256_bytes(data)}
