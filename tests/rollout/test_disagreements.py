import pytest

from labeling.models import LabelTask
from rollout.disagreements import disagreements_sample
from rollout.models import Rollout, RolloutState

from .conftest import BAD_REPLY, GOOD_REPLY

DEGRADED = {"error_rate": 1.0, "latency": (15000, 10)}


@pytest.fixture
def shadow(candidate, baseline):
    return Rollout.objects.create(
        modality="chat", candidate=candidate, baseline=baseline, state=RolloutState.SHADOW, salt="s"
    )


def _pairs(traces, rollout, n, *, shadow_reply, baseline_reply=GOOD_REPLY, prefix="conv", **shadow_kwargs):
    base = traces.make(
        rollout,
        "baseline",
        n,
        policy_id="gpt-4.1-mini",
        scrubbed=True,
        response=baseline_reply,
        conversation_prefix=prefix,
    )
    shadow = traces.make(
        rollout,
        "shadow",
        n,
        policy_id=rollout.candidate.model_id,
        scrubbed=True,
        response=shadow_reply,
        conversation_prefix=prefix,
        **shadow_kwargs,
    )
    # Same conversation and message for each pair, as an agent calling both models in parallel would post them.
    for b, s in zip(base, shadow, strict=True):
        s.conversation_id = b.conversation_id
        s.save(update_fields=["conversation_id"])
    return base, shadow


def test_the_pairs_that_differ_most_by_reward_go_to_the_queue_as_ab_items(shadow, traces, active_reward_model):
    base_bad, _ = _pairs(traces, shadow, 3, shadow_reply=BAD_REPLY, prefix="bad", **DEGRADED)
    _pairs(traces, shadow, 3, shadow_reply=GOOD_REPLY, prefix="same")

    result = disagreements_sample(rollout=shadow, limit=3)

    assert result["scored_by"] == "reward_model" and result["pairs"] == 6
    tasks = list(LabelTask.objects.filter(kind="preference", reason="disagreement"))
    assert {t.trace_id for t in tasks} == {t.pk for t in base_bad}
    for task in tasks:
        responses = {task.pair["a"]["response"], task.pair["b"]["response"]}
        assert responses == {GOOD_REPLY, BAD_REPLY}
        assert {task.pair["a"]["policy_id"], task.pair["b"]["policy_id"]} == {"gpt-4.1-mini", shadow.candidate.model_id}


def test_sampling_twice_queues_each_pair_once(shadow, traces, active_reward_model):
    _pairs(traces, shadow, 2, shadow_reply=BAD_REPLY, **DEGRADED)

    disagreements_sample(rollout=shadow)
    disagreements_sample(rollout=shadow)

    assert LabelTask.objects.filter(kind="preference").count() == 2


def test_without_a_reward_model_pairs_are_ranked_by_text_and_it_says_so(shadow, traces):
    _pairs(traces, shadow, 2, shadow_reply=BAD_REPLY)

    result = disagreements_sample(rollout=shadow)

    assert result["scored_by"].startswith("text_dissimilarity (no active reward model")
    assert result["added"] == 2


def test_unscrubbed_traces_are_never_sent_to_reviewers(shadow, traces):
    traces.make(shadow, "baseline", 2, policy_id="b")
    traces.make(shadow, "shadow", 2, policy_id="c")

    assert disagreements_sample(rollout=shadow) == {"pairs": 0, "added": 0, "scored_by": None}


def test_the_command_samples_every_running_rollout(shadow, traces, capsys):
    from django.core.management import call_command

    _pairs(traces, shadow, 2, shadow_reply=BAD_REPLY)

    call_command("sample_disagreements")

    assert f"rollout {shadow.pk}: 2 pairs, 2 queued (by text_dissimilarity" in capsys.readouterr().out
