import pytest

from tests.rollout.conftest import (  # noqa: F401 (fixtures)
    Oracle,
    _fast_passwords,
    active_reward_model,
    baseline,
    fake_openai,
    traces,
    zeke_suites_seeded,
)
from tests.training.conftest import make_trace, rubric  # noqa: F401 (fixtures)


class FineTunedAre:
    """Matches every fine-tuned model id (the fake names them ft:<base>:fake-org:<suffix>:<job>)."""

    def __contains__(self, model) -> bool:
        return str(model).startswith("ft:")


@pytest.fixture
def loop_settings(settings):
    settings.PIPELINE_APPROVALS = []
    settings.PIPELINE_MIN_EXAMPLES = 5
    settings.PIPELINE_POLL_SECONDS = 0
    settings.ROLLOUT_MONITOR_MIN_SAMPLES = 30
    settings.ROLLOUT_MONITOR_MIN_INTERVAL_SECONDS = 0
    # The promotion rule's exposure, shortened; its statistics (win-rate lower bound > 0.5) stay.
    settings.ROLLOUT_PROMOTION_MIN_HOURS = 0
    settings.ROLLOUT_PROMOTION_MIN_CONVERSATIONS = 30
    return settings


@pytest.fixture
def week_of_traces(make_trace, rubric):  # noqa: F811 (fixtures imported above)
    """Twenty-four rewarded, eligible chat traces: what a week of labeling leaves for the dataset."""
    replies = ["Booked it for 7pm.", "Sent the message to Ana.", "Your 3pm is moved to 4pm.", "Done."]
    for i in range(24):
        make_trace(
            message=f"Request {i}: please handle item {i}",
            response=replies[i % 4],
            reward=0.4 + 0.02 * i,
            category=["scheduling", "communication", "ops", "research"][i % 4],
        )


@pytest.fixture
def loop(loop_settings, fake_openai, zeke_suites_seeded, baseline, week_of_traces, active_reward_model):  # noqa: F811
    """Everything the weekly loop needs: traces with rewards, an active reward model, seeded suites, an active
    baseline, the fake API (answering every eval case correctly) — and no command typed."""
    oracle = Oracle().load_cases()
    fake_openai.chat_responder = oracle
    return oracle
