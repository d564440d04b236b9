"""manage.py forget: a conversation, an external id or a value leaves no trace in any table, partition or dataset."""

import io
import json

import pandas as pd
import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from labeling.models import LabelQueue, LabelTask, RewardEvent, ScoreCard
from traces.models import ForgetRequest, OtelPendingSpan, Trace
from traces.partitions import partition_export, partition_key
from training.datasets import dataset_build
from training.models import DatasetBuild
from zeke_rft.forgetting import forget_run
from zeke_rft.storage import get_storage

pytestmark = pytest.mark.django_db

SECRET_TEXT = "Kestrel Lane 14"


@pytest.fixture
def world(make_trace, rubric, correct, agent):
    """Two conversations, scored, queued, exported to today's partition and built into a dataset."""
    forgotten = [
        make_trace(message=f"Ship the parcel to {SECRET_TEXT}", conversation="conv-forget"),
        make_trace(message="And confirm by text", conversation="conv-forget"),
    ]
    kept = [make_trace(message=f"Remind me at {n}", conversation=f"conv-keep-{n}") for n in range(3)]
    correct(forgotten[0], correction=f"Shipping to {SECRET_TEXT} now.")
    queue = LabelQueue.objects.create(day=timezone.localdate(), size=40)
    LabelTask.objects.create(queue=queue, trace=forgotten[1])
    OtelPendingSpan.objects.create(
        agent=agent, trace_id="a" * 32, span_id="b" * 16, span={"attributes": {"gen_ai.conversation.id": "conv-forget"}}
    )
    partition_export(day=timezone.localdate())
    build, _created = dataset_build(stage=1, modality="chat")
    return {"forgotten": forgotten, "kept": kept, "build": build}


def storage_text() -> str:
    storage = get_storage()
    chunks = []
    for key in storage.list():
        data = storage.read_bytes(key)
        if key.endswith(".parquet"):
            chunks.append(pd.read_parquet(io.BytesIO(data)).to_json())
        else:
            chunks.append(data.decode("utf-8", "replace"))
    return "\n".join(chunks)


def test_forgetting_a_conversation_deletes_its_traces_and_everything_derived(world):
    assert SECRET_TEXT in storage_text()
    ids = [trace.pk for trace in world["forgotten"]]

    record = forget_run(selector="conversation", value="conv-forget", reason="ticket 41")

    assert not Trace.objects.filter(pk__in=ids).exists()
    assert not RewardEvent.objects.filter(trace_id__in=ids).exists()
    assert not ScoreCard.objects.filter(trace_id__in=ids).exists()
    assert not ScoreCard.history.filter(trace_id__in=ids).exists()
    assert not LabelTask.objects.filter(trace_id__in=ids).exists()
    assert not OtelPendingSpan.objects.exists()
    assert Trace.objects.count() == 3
    assert record.counts == {
        "datasets_marked_stale": 1, "reward_events": 2, "score_cards": 1, "label_tasks": 1, "preferences": 0,
        "traces": 2, "otel_pending_spans": 1, "partitions_rewritten": 1,
    }  # fmt: skip


def test_no_partition_or_dataset_file_holds_the_forgotten_text_afterwards(world):
    forget_run(selector="conversation", value="conv-forget")

    text = storage_text()
    assert SECRET_TEXT not in text and "conv-forget" not in text
    frame = pd.read_parquet(io.BytesIO(get_storage().read_bytes(partition_key(timezone.localdate()))))
    assert sorted(frame["id"]) == sorted(trace.pk for trace in world["kept"])


def test_datasets_that_included_them_are_marked_stale_and_say_so(world):
    listed = world["build"].manifest["trace_ids"]
    included = {trace.pk for trace in world["forgotten"]}.intersection(listed["train"] + listed["validation"])
    total = len(listed["train"]) + len(listed["validation"])

    forget_run(selector="conversation", value="conv-forget")

    build = DatasetBuild.objects.get(pk=world["build"].pk)
    assert build.stale and included
    assert f"{len(included)} of its traces were forgotten" in build.stale_reason
    train = get_storage().read_bytes(build.files["train"]["key"]).decode().splitlines()
    validation = get_storage().read_bytes(build.files["validation"]["key"]).decode().splitlines()
    assert len(train) + len(validation) == total - len(included)
    assert build.history.first().history_change_reason == f"forget: {len(included)} trace(s) removed"


def test_a_stale_dataset_cannot_start_training(world, fake_openai):
    from training.services import training_run_create
    from zeke_rft.errors import ApplicationError

    forget_run(selector="conversation", value="conv-forget")

    with pytest.raises(ApplicationError, match="stale"):
        training_run_create(dataset=DatasetBuild.objects.get(pk=world["build"].pk))


def test_the_record_says_who_when_and_how_many_but_not_what_was_asked(world, django_user_model):
    admin = django_user_model.objects.create_user("privacy-officer")

    record = forget_run(selector="text", value=SECRET_TEXT, user=admin, reason="GDPR art. 17")

    stored = ForgetRequest.objects.get(pk=record.pk)
    assert (stored.requested_by, stored.selector, stored.counts["traces"]) == (admin, "text", 1)
    assert SECRET_TEXT not in json.dumps([stored.value_sha256, stored.reason, stored.counts, stored.requested_by_name])


def test_forgetting_by_text_finds_a_value_inside_json_in_any_case(make_trace, rubric):
    call = {"name": "crm.lookup", "args": {"q": "x"}, "result": {"name": "Zoë Ångström"}}
    make_trace(message="Who is it?", tool_calls=[call])
    make_trace(message="Unrelated")

    record = forget_run(selector="text", value="zoë ångström")

    assert record.counts["traces"] == 1
    assert list(Trace.objects.values_list("user_message", flat=True)) == ["Unrelated"]


def test_the_command_forgets_by_external_id_and_prints_the_counts(make_trace, rubric, capsys):
    trace = make_trace(message="Cancel my 3pm")

    call_command("forget", "--external-id", trace.external_id, "--reason", "user request")

    assert "Forgot 1 trace(s) by external_id" in capsys.readouterr().out
    assert not Trace.objects.exists()
    assert ForgetRequest.objects.get().requested_by_name


def test_the_command_refuses_a_blank_value_and_an_unknown_user(db):
    with pytest.raises(CommandError, match="blank"):
        call_command("forget", "--conversation", "  ")
    with pytest.raises(CommandError, match="--user"):
        call_command("forget", "--conversation", "c", "--user", "nobody")
    assert not ForgetRequest.objects.exists()


def test_forgetting_twice_finds_nothing_the_second_time(world):
    forget_run(selector="conversation", value="conv-forget")

    again = forget_run(selector="conversation", value="conv-forget")

    assert again.counts["traces"] == 0 and Trace.objects.count() == 3
