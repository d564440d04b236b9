import threading

import pytest
from django.db import connection

from labeling import services
from labeling.models import LabelTask, RewardEvent, ScoreCard
from tests.labeling.conftest import SCORES
from zeke_rft.errors import ApplicationError


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_two_reviewers_racing_for_one_item_leave_one_card(on_postgres, traces_factory, reviewer, second_reviewer):
    trace = traces_factory(1)[0]
    services.label_tasks_add(trace_ids=[trace.pk], reason="stratified")
    task = LabelTask.objects.get(trace=trace)
    barrier = threading.Barrier(2)
    outcomes = []

    def submit(user):
        try:
            barrier.wait()
            services.scorecard_submit(task=task, reviewer=user, **SCORES)
            outcomes.append("scored")
        except ApplicationError:
            outcomes.append("refused")
        finally:
            connection.close()

    threads = [threading.Thread(target=submit, args=(user,)) for user in (reviewer, second_reviewer)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["refused", "scored"]
    assert ScoreCard.objects.count() == 1 and RewardEvent.objects.filter(source="human").count() == 1


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_two_queue_builds_at_once_build_one_queue(on_postgres, traces_factory):
    from datetime import date

    traces_factory(40)
    barrier = threading.Barrier(2)
    added = []

    def build():
        try:
            barrier.wait()
            added.append(services.label_queue_build(day=date(2026, 12, 2))[1])
        finally:
            connection.close()

    threads = [threading.Thread(target=build) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(added) == [0, 44]
    assert LabelTask.objects.count() == 44
