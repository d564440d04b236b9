"""Reads for the rewards app (it reads labeling and traces models here, never writes them)."""

from collections import Counter, defaultdict

from django.db.models import Exists, OuterRef, QuerySet

from labeling.models import DIMENSIONS, Preference, RewardEvent, RewardSource, ScoreCard
from labeling.services import reward_from_scores
from rewards.models import AgreementCheck, RewardModel, RewardModelStatus
from traces.models import TraceStatus
from traces.selectors import trace_scrubbed_view, traces_eligible
from zeke_rft.hashing import sha256_bytes, sha256_json


def reward_model_active() -> RewardModel | None:
    return RewardModel.objects.filter(status=RewardModelStatus.ACTIVE).first()


def reward_model_alerts() -> list[dict]:
    """Open recalibration alerts: the newest agreement check of the active model, if it alerted."""
    active = reward_model_active()
    if active is None:
        return []
    check = AgreementCheck.objects.filter(reward_model=active).order_by("-created_at").first()
    if check is None or not check.alert:
        return []
    return [
        {
            "kind": "reward_model_agreement",
            "reward_model": active.version,
            "spearman": check.spearman,
            "threshold": check.threshold,
            "window_end": check.window_end,
            "message": f"Reward model {active.version} agrees with reviewers at Spearman {check.spearman:.2f}, "
            f"below {check.threshold:.2f}: retrain or recalibrate.",
        }
    ]


# --- training data ------------------------------------------------------------

TEST_SPLIT_MODULUS = 5  # one example in five (by a hash of its key) is held out, for every version alike


def example_is_held_out(key: str) -> bool:
    """The held-out split is a fixed function of an example's key, so every model version
    (and the active one, re-evaluated) is measured on the same examples and never trained on them."""
    return int(sha256_bytes(key.encode("utf-8"))[:8], 16) % TEST_SPLIT_MODULUS == 0


# Raw (unscrubbed) trace columns: never loaded here, the model reads the scrubbed ones.
RAW_TRACE_COLUMNS = ("user_message", "context", "tool_calls", "final_response")


def _card_examples() -> list[dict]:
    cards_by_trace = defaultdict(list)
    queryset = (
        ScoreCard.objects.filter(trace__status=TraceStatus.ELIGIBLE)
        .select_related("trace")
        .defer(*(f"trace__{column}" for column in RAW_TRACE_COLUMNS))
        .order_by("trace_id", "id")
    )
    for card in queryset:
        cards_by_trace[card.trace_id].append(card)
    examples = []
    for trace_id, cards in cards_by_trace.items():
        rewards = [
            reward_from_scores(
                success=c.success, helpfulness=c.helpfulness, tone_alignment=c.tone_alignment, safety=c.safety
            )
            for c in cards
        ]
        domain = Counter(c.task_category for c in cards).most_common(1)[0][0]
        item = trace_scrubbed_view(cards[0].trace)
        item["task_category"] = domain
        item["complexity"] = round(sum(c.complexity for c in cards) / len(cards), 4)
        examples.append(
            {
                "key": f"trace:{trace_id}",
                "item": item,
                "reward": round(sum(rewards) / len(rewards), 6),
                "dimensions": {
                    d: round(sum((getattr(c, d) - 1) / 4 for c in cards) / len(cards), 6) for d in DIMENSIONS
                },
                "domain": domain,
                "n_cards": len(cards),
            }
        )
    return examples


def _trajectory_calls(trajectory) -> list:
    if isinstance(trajectory, dict):
        return trajectory.get("tool_calls") or []
    return trajectory if isinstance(trajectory, list) else []


def preference_items(preference: Preference) -> tuple[dict, dict]:
    """The two replies of a preference as reward-model items."""
    return tuple(
        {
            "user_message": preference.prompt,
            "final_response": response,
            "tool_calls": _trajectory_calls(trajectory),
            "task_category": preference.task_category,
        }
        for response, trajectory in (
            (preference.response_a, preference.trajectory_a),
            (preference.response_b, preference.trajectory_b),
        )
    )


def _pair_examples() -> list[dict]:
    examples = []
    for preference in Preference.objects.order_by("id"):
        item_a, item_b = preference_items(preference)
        key = (
            f"trace:{preference.trace_id}"
            if preference.trace_id
            else f"preference:{preference.import_key or preference.pk}"
        )
        examples.append(
            {"key": key, "a": item_a, "b": item_b, "winner": preference.choice, "domain": preference.task_category}
        )
    return examples


def reward_training_examples() -> dict:
    """Score-card and preference examples split into train and held-out test, plus a data hash."""
    cards, pairs = _card_examples(), _pair_examples()
    split = {"train_cards": [], "test_cards": [], "train_pairs": [], "test_pairs": []}
    for example in cards:
        split["test_cards" if example_is_held_out(example["key"]) else "train_cards"].append(example)
    for example in pairs:
        split["test_pairs" if example_is_held_out(example["key"]) else "train_pairs"].append(example)
    split["data_hash"] = sha256_json({"cards": cards, "pairs": pairs})
    return split


# --- scoring and recalibration ------------------------------------------------

# The scrubbed columns the reward model reads, as trace_scrubbed_view names them.
_SCORING_COLUMNS = {
    "id": "id",
    "task_category": "task_category",
    "user_message": "scrubbed_user_message",
    "tool_calls": "scrubbed_tool_calls",
    "final_response": "scrubbed_final_response",
    "latency_ms": "latency_ms",
    "flags": "flags",
}


def traces_to_score(*, version: str) -> QuerySet:
    """Eligible traces with no human label and no event yet from this model version."""
    human = ScoreCard.objects.filter(trace_id=OuterRef("pk"))
    scored = RewardEvent.objects.filter(
        trace_id=OuterRef("pk"), source=RewardSource.MODEL, reward_model_version=version
    )
    return traces_eligible().select_related(None).filter(~Exists(human), ~Exists(scored)).order_by("id")


def traces_to_score_items(*, version: str, after_id: int = 0, limit: int = 5000) -> list[dict]:
    """The next `limit` traces to score (id > after_id) as items with the keys of trace_scrubbed_view
    the reward model reads, straight from the scrubbed columns: no model instances, no raw columns."""
    rows = traces_to_score(version=version).filter(id__gt=after_id).values_list(*_SCORING_COLUMNS.values())[:limit]
    keys = tuple(_SCORING_COLUMNS)
    return [dict(zip(keys, row, strict=True)) for row in rows]


def traces_for_spot_check(*, version: str, since) -> QuerySet:
    """Ids of the traces the model scored since `since` that no reviewer has labeled yet, by id
    (a queryset: the caller counts it and picks a few by position, never loading a week of ids)."""
    human = ScoreCard.objects.filter(trace_id=OuterRef("trace_id"))
    return (
        RewardEvent.objects.filter(source=RewardSource.MODEL, reward_model_version=version, created_at__gte=since)
        .filter(~Exists(human), trace__status=TraceStatus.ELIGIBLE, trace__quarantined=False)
        .order_by("trace_id")
        .values_list("trace_id", flat=True)
    )


def model_human_pairs(*, version: str, since, until) -> list[tuple[float, float]]:
    """(model reward, human reward) for traces that have both, the human cards written in [since, until).
    Starts from the window's cards (a few a day), never from the version's events (one per scored trace)."""
    model_events = RewardEvent.objects.filter(source=RewardSource.MODEL, reward_model_version=version)
    cards = (
        ScoreCard.objects.filter(created_at__gte=since, created_at__lt=until)
        .filter(Exists(model_events.filter(trace_id=OuterRef("trace_id"))))
        .order_by("trace_id")
        .values_list("trace_id", *DIMENSIONS)
    )
    human = defaultdict(list)
    for trace_id, success, helpfulness, tone_alignment, safety in cards:
        human[trace_id].append(
            reward_from_scores(success=success, helpfulness=helpfulness, tone_alignment=tone_alignment, safety=safety)
        )
    model_rewards = dict(model_events.filter(trace_id__in=list(human)).values_list("trace_id", "reward"))
    return [(model_rewards[trace_id], sum(values) / len(values)) for trace_id, values in sorted(human.items())]


def reward_models_list() -> QuerySet:
    return RewardModel.objects.select_related("created_by").order_by("-created_at", "-id")


def agreement_checks_for(reward_model: RewardModel) -> QuerySet:
    return AgreementCheck.objects.filter(reward_model=reward_model).order_by("-window_end")


def reward_model_history(reward_model: RewardModel, *, limit: int = 20) -> QuerySet:
    """The newest audit records of a version (who changed its status, and why)."""
    return reward_model.history.select_related("history_user").order_by("-history_date")[:limit]
