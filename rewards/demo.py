"""Demo step for the rewards stage: train a reward model on the demo score cards and
preferences (bootstrapping with synthetic imported pairs when there are too few), then
score the eligible traces nobody labeled.

Run by `manage.py load_demo` after the labeling demo; idempotent (same labels → same
version, one model event per trace and version).
"""

import random

from django.conf import settings

from labeling.models import Preference, ScoreCard
from labeling.services import preference_import
from rewards.services import reward_model_train, traces_score
from rewards.synthetic import synthetic_pair
from zeke_rft.errors import ApplicationError

DEMO_PREFERENCES = 250


def _demo_preferences(stdout) -> None:
    """Too few demo labels to train on: import synthetic assistant-style chosen/rejected pairs
    (rewards.synthetic, fixed seed) through labeling's preference import, as a team would
    bootstrap from public preference data. Idempotent: the import is keyed by content."""
    rng = random.Random(11)
    created = 0
    for _ in range(DEMO_PREFERENCES):
        pair = synthetic_pair(rng)
        if pair["winner"] == "tie":
            continue
        chosen, rejected = (pair["a"], pair["b"]) if pair["winner"] == "a" else (pair["b"], pair["a"])
        if chosen["final_response"] == rejected["final_response"]:
            continue
        _, was_created = preference_import(
            prompt=chosen["user_message"],
            chosen=chosen["final_response"],
            rejected=rejected["final_response"],
            task_category=pair["domain"],
        )
        created += was_created
    stdout.write(f"rewards demo: imported {created} synthetic demo preferences (source import) to bootstrap")


def demo_load(*, stdout) -> None:
    cards, preferences = ScoreCard.objects.count(), Preference.objects.count()
    if cards < settings.REWARD_MIN_SCORE_CARDS and preferences < settings.REWARD_MIN_PREFERENCES:
        stdout.write(f"rewards demo: only {cards} score cards and {preferences} preferences, not enough to train")
        _demo_preferences(stdout)
    try:
        reward_model, created = reward_model_train()
    except ApplicationError as exc:
        stdout.write(f"rewards demo: skipped — {exc.message}")
        return
    overall = reward_model.metrics.get("overall", {})
    stdout.write(
        f"rewards demo: {'trained' if created else 'kept'} {reward_model.version} ({reward_model.status}) on "
        f"{reward_model.training_counts.get('train_cards')} labeled traces and "
        f"{reward_model.training_counts.get('train_pairs')} preferences; held-out {overall.get('n', 0)} traces "
        f"(spearman {overall.get('spearman')}, MAE {overall.get('mae')}), {overall.get('n_pairs', 0)} pairs "
        f"(pairwise accuracy {overall.get('pairwise_accuracy')})"
    )
    for domain, row in reward_model.metrics.get("by_domain", {}).items():
        stdout.write(
            f"  {domain}: traces={row.get('n', 0)} spearman={row.get('spearman')} mae={row.get('mae')} "
            f"pairs={row.get('n_pairs', 0)} accuracy={row.get('pairwise_accuracy')}"
        )
    if reward_model.status != "active":
        stdout.write(
            f"rewards demo: not scoring — {reward_model.version} is a candidate ({reward_model.status_reason})"
        )
        return
    result = traces_score(reward_model=reward_model)
    stdout.write(f"rewards demo: scored {result['scored']} unlabeled eligible traces with {reward_model.version}")
