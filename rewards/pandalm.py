"""PandaLM's human-annotated test set (WeOpenML/PandaLM, Apache-2.0) as reward-model pairs.

Each record has instruction, input, response1, response2 and annotator1..3 in {0 tie, 1, 2}.
The winner is the majority vote (tie when there is none); `unanimous` marks pairs where all
three annotators picked the same response. Folds go by a hash of the prompt, so no prompt is
on both sides of a split.
"""

import json
from pathlib import Path

from zeke_rft.hashing import sha256_bytes


def _text(value) -> str:
    # A few responses in the file are JSON booleans, not strings.
    return value if isinstance(value, str) else ""


def pandalm_pairs(path: str | Path) -> list[dict]:
    records = json.loads(Path(path).read_text(encoding="utf-8"))
    pairs = []
    for record in records:
        votes = [record["annotator1"], record["annotator2"], record["annotator3"]]
        majority = max(set(votes), key=votes.count)
        winner = {0: "tie", 1: "a", 2: "b"}[majority] if votes.count(majority) >= 2 else "tie"
        prompt = record["instruction"] + (f"\n\n{record['input']}" if record.get("input") else "")
        pairs.append(
            {
                "key": f"pandalm:{record['idx']}",
                "prompt": prompt,
                "a": {"user_message": prompt, "final_response": _text(record["response1"])},
                "b": {"user_message": prompt, "final_response": _text(record["response2"])},
                "winner": winner,
                "unanimous": len(set(votes)) == 1 and votes[0] != 0,
                "domain": "other",
            }
        )
    return pairs


def prompt_fold(pair: dict, folds: int = 5) -> int:
    """Which of `folds` cross-validation folds a pair belongs to, by a hash of its prompt."""
    return int(sha256_bytes(pair["prompt"].encode("utf-8"))[:8], 16) % folds
