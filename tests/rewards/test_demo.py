from io import StringIO

from labeling.models import Preference, RewardEvent
from rewards.demo import demo_load
from rewards.models import RewardModel


def test_the_demo_bootstraps_trains_and_scores_once_when_run_twice(labels):
    labels.labeled(4)
    labels.unlabeled(3)
    first, second = StringIO(), StringIO()

    demo_load(stdout=first)
    preferences = Preference.objects.count()
    demo_load(stdout=second)

    assert "imported" in first.getvalue() and "trained rm-" in first.getvalue()
    assert "scored 3 unlabeled eligible traces" in first.getvalue()
    assert "kept rm-" in second.getvalue() and "scored 0" in second.getvalue()
    assert RewardModel.objects.count() == 1
    assert Preference.objects.count() == preferences
    assert RewardEvent.objects.filter(source="model").count() == 3


def test_the_demo_trains_on_real_labels_when_there_are_enough(labels):
    labels.labeled(40)

    out = StringIO()
    demo_load(stdout=out)

    assert "imported" not in out.getvalue()
    assert RewardModel.objects.get().training_counts["train_pairs"] == 0
