"""Beat jobs of the rewards app (queued by CELERY_BEAT_SCHEDULE)."""

from celery import shared_task

from rewards import services
from rewards.selectors import reward_model_active


@shared_task(name="rewards.tasks.score_traces_nightly")
def score_traces_nightly() -> dict:
    """Nightly (beat): the active model scores new eligible traces. Safe to run twice: one
    model event per (trace, version)."""
    if reward_model_active() is None:
        return {"skipped": "no active reward model"}
    return services.traces_score()


@shared_task(name="rewards.tasks.train_reward_model_weekly")
def train_reward_model_weekly() -> dict:
    """Weekly (beat): agreement check, spot checks, retrain, evaluate, maybe promote.
    Safe to run twice: same data hash → no new version; spot checks are not queued twice."""
    return services.reward_model_weekly()
