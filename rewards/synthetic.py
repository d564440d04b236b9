"""Synthetic traces with rubric scores and preference pairs, for the benchmark and tests.

A latent quality drives both the text (helpful, specific replies vs. apologies and
errors), the tool calls (failures) and the scores, so a model has something to learn.
"""

import random

CATEGORIES = ("communication", "scheduling", "ops", "research", "memory")
REQUESTS = {
    "communication": ["Text Maya that I'm running late", "Email the landlord about the leak", "Reply to Sam's message"],
    "scheduling": [
        "Move my dentist appointment to Friday",
        "Book a table for two at 7",
        "Find time with Ana next week",
    ],
    "ops": ["Renew the car insurance", "Pay the electricity bill", "Order more printer ink"],
    "research": ["Compare flights to Lisbon", "Find a good plumber nearby", "Summarize the new lease terms"],
    "memory": ["Remember that Leo is allergic to nuts", "What is my passport number?", "Note the wifi password"],
}
GOOD = [
    "Done — {task} is handled. I confirmed the details and sent you a summary with the next steps.",
    "All set: {task}. I checked your calendar first, picked the slot that fits, and saved the confirmation.",
    "I took care of it ({task}). Here is what I did: checked the options, chose the best one, confirmed it.",
]
MEDIUM = [
    "I started on {task} but need you to confirm one detail before I finish.",
    "Here are a few options for {task}; tell me which one you prefer.",
]
BAD = [
    "Sorry, I couldn't do that.",
    "Error: something went wrong.",
    "I'm not sure what you mean by {task}.",
    "{task} {task} {task}",
]
TOOLS = {
    "communication": "send_message",
    "scheduling": "calendar_update",
    "ops": "payments",
    "research": "web_search",
    "memory": "memory_store",
}


def _score(rng: random.Random, quality: float) -> int:
    return max(1, min(5, round(quality * 4 + 1 + rng.gauss(0, 0.5))))


def synthetic_trace(rng: random.Random) -> tuple[dict, dict]:
    """One item (trace_scrubbed_view shape) and its rubric scores + complexity."""
    category = rng.choice(CATEGORIES)
    request = rng.choice(REQUESTS[category])
    quality = rng.random()
    tool_failed = rng.random() > quality + 0.3
    template = GOOD if quality > 0.66 else MEDIUM if quality > 0.33 else BAD
    calls = [
        {
            "name": TOOLS[category],
            "args": {"q": request},
            "result": None if tool_failed else "ok",
            "error": "timeout" if tool_failed else None,
            "latency_ms": rng.randint(50, 900),
        }
        for _ in range(rng.randint(0, 3))
    ]
    item = {
        "user_message": request,
        "final_response": rng.choice(template).format(task=request.lower()),
        "tool_calls": calls,
        "latency_ms": int(800 + (1 - quality) * rng.randint(0, 20000)),
        "flags": ["tool_error"] if tool_failed and calls else [],
        "task_category": category,
    }
    scores = {
        "success": _score(rng, quality - (0.3 if tool_failed and calls else 0)),
        "helpfulness": _score(rng, quality),
        "tone_alignment": _score(rng, 0.5 + quality / 2),
        "safety": 5 if rng.random() > 0.03 else 2,
        "complexity": rng.randint(1, 3),
    }
    return item, scores


def synthetic_pair(rng: random.Random) -> dict:
    """Two replies to one request; the better one wins (ties 5%)."""
    item_a, scores_a = synthetic_trace(rng)
    item_b = {**item_a}
    while True:
        other, scores_b = synthetic_trace(rng)
        if other["task_category"] == item_a["task_category"]:
            break
    item_b.update(final_response=other["final_response"], tool_calls=other["tool_calls"], flags=other["flags"])
    total_a = scores_a["success"] + scores_a["helpfulness"]
    total_b = scores_b["success"] + scores_b["helpfulness"]
    winner = "tie" if total_a == total_b and rng.random() < 0.5 else "a" if total_a >= total_b else "b"
    return {"a": item_a, "b": item_b, "winner": winner, "domain": item_a["task_category"]}


def synthetic_card(rng: random.Random) -> dict:
    """A training example shaped like rewards.selectors' score-card examples (reward from the rubric
    scores with labeling's weights; safety ≤ 2 caps it at 0.2)."""
    item, scores = synthetic_trace(rng)
    dimensions = {d: (scores[d] - 1) / 4 for d in ("success", "helpfulness", "tone_alignment", "safety")}
    reward = (
        0.4 * dimensions["success"]
        + 0.3 * dimensions["helpfulness"]
        + 0.1 * dimensions["tone_alignment"]
        + 0.2 * dimensions["safety"]
    )
    if scores["safety"] <= 2:
        reward = min(reward, 0.2)
    item["complexity"] = scores["complexity"]
    return {"item": item, "reward": reward, "dimensions": dimensions, "domain": item["task_category"]}


AMBIGUOUS = [
    ("Handle the thing from earlier", "I went ahead with the thing from earlier the way I understood it."),
    ("Deal with that whole situation", "I dealt with the situation as best I could guess."),
    ("Do the usual for tomorrow", "I did what I think the usual is for tomorrow."),
]
NOVEL = {
    # A vocabulary no synthetic_trace uses: replies a model trained on them has never seen.
    "good": "Erledigt: Termin verschoben, Bestätigung gespeichert und Zusammenfassung geschickt.",
    "bad": "Leider nicht möglich, Fehler beim Verbinden.",
}


def _with_reward(card: dict, reward: float) -> dict:
    return {**card, "reward": reward, "dimensions": dict.fromkeys(card["dimensions"], reward)}


def synthetic_hard_cards(rng: random.Random, *, n_train: int, n_test: int) -> tuple[list[dict], list[dict]]:
    """Cards where some items are genuinely harder, to measure whether uncertainty ranks errors:
    a quarter are ambiguous requests the reviewers disagree on (reward uniform in [0, 1]), and a
    fifth of the test items are replies in a vocabulary absent from training (reward from their
    quality). Each card carries "hard": "ambiguous" | "novel" | "" ."""

    def card(novel_allowed: bool) -> dict:
        base = {**synthetic_card(rng), "hard": ""}
        roll = rng.random()
        if roll < 0.25:
            request, reply = rng.choice(AMBIGUOUS)
            item = {**base["item"], "user_message": request, "final_response": reply}
            return {**_with_reward({**base, "item": item}, rng.random()), "hard": "ambiguous"}
        if novel_allowed and roll < 0.45:
            good = base["reward"] > 0.5
            item = {
                **base["item"],
                "user_message": "Bitte verschieb den Termin",
                "final_response": NOVEL["good" if good else "bad"],
            }
            return {**base, "item": item, "hard": "novel"}
        return base

    return [card(False) for _ in range(n_train)], [card(True) for _ in range(n_test)]
