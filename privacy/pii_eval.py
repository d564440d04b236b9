"""Per-entity precision and recall of the scrubber on presidio-research's synthetic sentences.

Token level, as presidio-research's evaluator counts: the text is split into word tokens
(``\\w+``); each token gets its gold type (from the gold span covering it, mapped to our
names by GOLD_TO_OURS, "O" otherwise) and its predicted type (from our detection covering it).
For an entity type T: recall = tokens gold T predicted T / tokens gold T; precision = tokens
predicted T and gold T / tokens predicted T. Gold types we do not scrub (ORGANIZATION, GPE,
DATE_TIME, TITLE, …) count as "O": covering them is a false positive (an address block that
swallows its town counts against STREET_ADDRESS precision).

"Leak-free" recall, reported beside it: the share of gold spans of type T whose every token
is covered by some detection of any type (what matters for privacy: nothing of it survives).
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Callable
from pathlib import Path

GOLD_TO_OURS = {
    "PERSON": "PERSON",
    "STREET_ADDRESS": "STREET_ADDRESS",
    "ZIP_CODE": "STREET_ADDRESS",  # a postcode on its own line of an address block
    "CREDIT_CARD": "CREDIT_CARD",
    "PHONE_NUMBER": "PHONE_NUMBER",
    "EMAIL_ADDRESS": "EMAIL_ADDRESS",
    "IBAN_CODE": "IBAN_CODE",
    "US_SSN": "US_SSN",
    "IP_ADDRESS": "IP_ADDRESS",
}
REPORTED = [
    "EMAIL_ADDRESS",
    "PHONE_NUMBER",
    "CREDIT_CARD",
    "IBAN_CODE",
    "US_SSN",
    "IP_ADDRESS",
    "PERSON",
    "STREET_ADDRESS",
]
DEFAULT_DATASET = Path(__file__).resolve().parent.parent / "tests" / "data" / "pii" / "synth_dataset_v2.json"
_TOKEN = re.compile(r"\w+")


def load_samples(path: Path | str = DEFAULT_DATASET) -> list[dict]:
    return json.loads(Path(path).read_text(encoding="utf-8"))


def evaluate(
    samples: list[dict], detect: Callable[[list[str]], list[list[tuple[str, int, int]]]]
) -> dict[str, dict[str, float]]:
    """`detect(texts)` returns, per text, (entity_type, start, end) detections. Returns per-entity metrics."""
    texts = [s["full_text"] for s in samples]
    predictions = detect(texts)
    tp, gold_n, pred_n = Counter(), Counter(), Counter()
    spans_total, spans_covered = Counter(), Counter()
    for sample, detections in zip(samples, predictions, strict=True):
        text = sample["full_text"]
        gold_spans = [
            (GOLD_TO_OURS[s["entity_type"]], s["start_position"], s["end_position"])
            for s in sample["spans"]
            if s["entity_type"] in GOLD_TO_OURS
        ]
        for token in _TOKEN.finditer(text):
            start, end = token.span()
            gold = next((t for t, s, e in gold_spans if s <= start and end <= e), "O")
            pred = next((t for t, s, e in detections if s <= start and end <= e), "O")
            if gold != "O":
                gold_n[gold] += 1
            if pred != "O":
                pred_n[pred] += 1
            if gold != "O" and gold == pred:
                tp[gold] += 1
        for entity_type, start, end in gold_spans:
            tokens = [m.span() for m in _TOKEN.finditer(text, start, end)]
            spans_total[entity_type] += 1
            if all(any(s <= ts and te <= e for _, s, e in detections) for ts, te in tokens):
                spans_covered[entity_type] += 1
    report = {}
    for entity_type in REPORTED:
        report[entity_type] = {
            "gold_tokens": gold_n[entity_type],
            "precision": tp[entity_type] / pred_n[entity_type] if pred_n[entity_type] else 1.0,
            "recall": tp[entity_type] / gold_n[entity_type] if gold_n[entity_type] else 1.0,
            "leak_free_recall": (
                spans_covered[entity_type] / spans_total[entity_type] if spans_total[entity_type] else 1.0
            ),
        }
    return report


def scrubber_detect(scrubber=None) -> Callable:
    """`detect` for evaluate() using our scrubber: what it replaces in a text field (privacy/detections.py)."""
    from privacy.detections import leaf_detections
    from privacy.scrubbing import get_scrubber
    from privacy.walk import Leaf

    scrubber = scrubber or get_scrubber()

    def detect(texts):
        found = scrubber.analyze_many(texts)
        leaves = [Leaf(("user_message",), "", t, "text") for t in texts]
        return [[(d.entity_type, d.start, d.end) for d in leaf_detections(leaf, found[leaf.text])] for leaf in leaves]

    return detect


def format_report(report: dict) -> str:
    lines = [f"{'entity':16} {'tokens':>6} {'precision':>9} {'recall':>7} {'leak-free':>9}"]
    for entity_type, m in report.items():
        lines.append(
            f"{entity_type:16} {m['gold_tokens']:>6} {m['precision']:>9.3f} {m['recall']:>7.3f} "
            f"{m['leak_free_recall']:>9.3f}"
        )
    return "\n".join(lines)


if __name__ == "__main__":  # python -m privacy.pii_eval
    import os
    import time

    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "zeke_rft.settings")
    django.setup()
    samples = load_samples()
    t0 = time.perf_counter()
    print(format_report(evaluate(samples, scrubber_detect())))
    print(f"{len(samples)} sentences in {time.perf_counter() - t0:.1f} s")
