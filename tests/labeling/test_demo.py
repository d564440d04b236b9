import io
import random

from django.contrib.auth import get_user_model

from labeling.demo import demo_load
from labeling.models import DIMENSIONS, Preference, RewardEvent, ScoreCard


def test_the_demo_without_traces_creates_reviewers_and_says_it_skipped(db):
    out = io.StringIO()
    demo_load(stdout=out)
    assert "no eligible traces" in out.getvalue()
    assert get_user_model().objects.get(username="nate").groups.filter(name="reviewers").exists()
    assert not ScoreCard.objects.exists()


def test_the_demo_scores_queues_with_rewards_and_preferences_and_is_idempotent(traces_factory):
    traces_factory(200, flags=[])
    out = io.StringIO()
    demo_load(stdout=out)
    cards = ScoreCard.objects.count()
    assert cards >= 100
    assert RewardEvent.objects.filter(source="human").count() == cards
    assert Preference.objects.filter(source="human").count() == 3
    assert ScoreCard.objects.values("trace").distinct().count() < cards  # overlap items scored by a second reviewer
    assert "nate / review-demo" in out.getvalue()
    demo_load(stdout=io.StringIO())
    assert ScoreCard.objects.count() == cards and Preference.objects.count() == 3


def test_the_demo_scores_volume_traces_from_their_hidden_quality(agent):
    from labeling.demo import _synthetic_scores
    from labeling.services import reward_from_scores
    from tests.labeling.conftest import make_trace

    rng = random.Random(1)
    mean = {}
    for n, quality in enumerate(("excellent", "good", "terse", "off_tone", "wrong")):
        trace = make_trace(agent, external_id=f"demo-vol-ops-{n:03d}-{quality}")
        cards = [_synthetic_scores(trace, rng) for _ in range(50)]
        rewards = [reward_from_scores(**{d: card[d] for d in DIMENSIONS}) for card in cards]
        mean[quality] = sum(rewards) / len(rewards)

    assert mean["excellent"] > mean["good"] > mean["terse"] > mean["wrong"]
    assert mean["off_tone"] < mean["good"]
