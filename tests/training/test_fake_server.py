"""The fake OpenAI server's training routes, driven by the real `openai` client."""

import openai
import pytest

from tests.fakes.openai_server import FakeOpenAI

GOOD_ROW = b'{"messages": [{"role": "developer", "content": "x"}, {"role": "user", "content": "hi"}]}\n'
GRADER = {"type": "string_check", "name": "s", "input": "{{sample.output_text}}", "reference": "x", "operation": "eq"}


@pytest.fixture
def fake_and_client():
    with FakeOpenAI() as fake:
        yield fake, openai.OpenAI(base_url=fake.base_url, api_key="test", max_retries=0)


def create_job(client, content=GOOD_ROW, **kwargs):
    file = client.files.create(file=("train.jsonl", content), purpose="fine-tune")
    method = {"type": "reinforcement", "reinforcement": {"grader": GRADER, "hyperparameters": {}}}
    return client.fine_tuning.jobs.create(model="base", training_file=file.id, method=method, **kwargs)


def test_an_uploaded_file_can_be_retrieved(fake_and_client):
    fake, client = fake_and_client
    file = client.files.create(file=("train.jsonl", GOOD_ROW), purpose="fine-tune")
    assert client.files.retrieve(file.id).bytes == len(GOOD_ROW)
    assert fake.files[file.id]["_content"] == GOOD_ROW


def test_listing_jobs_pages_through_and_ends(fake_and_client):
    fake, client = fake_and_client
    ids = [create_job(client, metadata={"n": str(n)}).id for n in range(5)]
    first_page = client.fine_tuning.jobs.list(limit=2)
    assert len(first_page.data) == 2 and first_page.has_more
    assert [job.id for job in client.fine_tuning.jobs.list(limit=2)] == list(reversed(ids))
    assert len(fake.requests_to("^/v1/fine_tuning/jobs$")) == 5 + 1 + 3  # creates, one page, three pages
    assert [job.id for job in client.fine_tuning.jobs.list(metadata={"n": "3"})] == [ids[3]]


@pytest.mark.parametrize(
    ("grader", "reason"),
    [
        ({"type": "nope", "name": "x"}, "unknown grader type"),
        ({**GRADER, "operation": "contains"}, "operation must be one of"),
        ({"type": "python", "name": "p", "source": "def grade(sample, item)\n  return 1"}, "does not compile"),
        ({"type": "python", "name": "p", "source": "def score(x):\n    return 1\n"}, "grade(sample, item)"),
        ({"type": "multi", "name": "m", "graders": {"a": GRADER}, "calculate_output": "a + b"}, "unknown graders"),
        ({"type": "multi", "name": "m", "graders": GRADER, "calculate_output": "a"}, "object of name"),
    ],
)
def test_an_invalid_grader_is_rejected_with_400_and_a_reason(fake_and_client, grader, reason):
    _, client = fake_and_client
    with pytest.raises(openai.BadRequestError) as excinfo:
        client.fine_tuning.alpha.graders.validate(grader=grader)
    assert reason in excinfo.value.message


def test_a_job_steps_through_its_lifecycle_with_metrics_and_checkpoints(fake_and_client):
    fake, client = fake_and_client
    fake.auto_advance = False
    job = create_job(client, suffix="zeke")
    assert [fake.advance_job(job.id) for _ in range(5)] == ["queued", "running", "running", "running", "succeeded"]
    job = client.fine_tuning.jobs.retrieve(job.id)
    assert job.fine_tuned_model.startswith("ft:base:fake-org:zeke:")
    events = list(client.fine_tuning.jobs.list_events(job.id, limit=2))
    metrics = [event.data for event in events if event.type == "metrics"]
    assert [m["step"] for m in metrics] == [3, 2, 1]  # newest first
    assert all("train_reward_mean" in m and "valid_reward_mean" in m for m in metrics)
    assert [c.step_number for c in client.fine_tuning.jobs.checkpoints.list(job.id)] == [3, 1]


def test_a_training_file_that_does_not_end_with_a_user_turn_fails_validation(fake_and_client):
    fake, client = fake_and_client
    bad = b'{"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}]}\n'
    job = create_job(client, content=bad)
    job = client.fine_tuning.jobs.retrieve(job.id)
    assert job.status == "failed" and job.error.code == "invalid_training_file"


def test_grader_run_answers_with_the_configured_reward(fake_and_client):
    fake, client = fake_and_client
    fake.grader_responder = lambda body: 0.25
    result = client.fine_tuning.alpha.graders.run(grader=GRADER, model_sample="x", item={})
    assert result.reward == 0.25 and result.metadata.errors.formula_parse_error is False
