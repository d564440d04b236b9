import io

import pytest
from django.core.management import CommandError, call_command

from traces.models import Agent
from traces.tokens import token_hash

pytestmark = pytest.mark.django_db


def run(*args) -> str:
    out = io.StringIO()
    call_command("create_agent", *args, stdout=out)
    return out.getvalue()


def test_it_prints_the_token_as_the_last_line_and_stores_only_its_hash():
    output = run("texter", "--modality", "sms")

    token = output.strip().splitlines()[-1]
    agent = Agent.objects.get(name="texter")
    assert agent.modality == "sms"
    assert agent.token_hash == token_hash(token)
    assert token not in (agent.token_hash, agent.token_prefix)


def test_the_default_modality_is_chat():
    run("chatter")

    assert Agent.objects.get(name="chatter").modality == "chat"


def test_a_duplicate_name_is_a_clear_error():
    run("conductor")

    with pytest.raises(CommandError, match="name: an agent named 'conductor' already exists"):
        run("conductor")


def test_a_bad_modality_is_a_clear_error():
    with pytest.raises(CommandError, match="modality: must be one of chat, voice, sms, got 'fax'"):
        run("faxer", "--modality", "fax")
    assert not Agent.objects.exists()
