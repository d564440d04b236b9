import openai
import pytest

from tests.fakes.openai_server import FakeOpenAI


def test_the_real_openai_client_gets_a_chat_completion_from_the_fake_server():
    with FakeOpenAI() as fake:
        fake.chat_responder = lambda body: {"content": "It is 3pm."}
        client = openai.OpenAI(base_url=fake.base_url, api_key="test", max_retries=0)
        reply = client.chat.completions.create(model="m", messages=[{"role": "user", "content": "time?"}])
    assert reply.choices[0].message.content == "It is 3pm."


def test_an_injected_429_is_retried_by_the_client():
    with FakeOpenAI() as fake:
        fake.fail_next("/chat/completions", status=429, times=1)
        client = openai.OpenAI(base_url=fake.base_url, api_key="test", max_retries=2)
        client.chat.completions.create(model="m", messages=[{"role": "user", "content": "hi"}])
    assert len(fake.requests_to("/chat/completions")) == 2


def test_an_injected_500_surfaces_when_retries_are_off():
    with FakeOpenAI() as fake:
        fake.fail_next("/chat/completions", status=500, times=1)
        client = openai.OpenAI(base_url=fake.base_url, api_key="test", max_retries=0)
        with pytest.raises(openai.InternalServerError):
            client.chat.completions.create(model="m", messages=[{"role": "user", "content": "hi"}])
