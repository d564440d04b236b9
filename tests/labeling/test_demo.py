import io

from django.contrib.auth import get_user_model

from labeling.demo import demo_load
from labeling.models import Preference, RewardEvent, ScoreCard


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
