"""clients/node: its `node --test` suite, with the live-server tests pointed at this app."""

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from traces.models import Trace
from traces.services import agent_create

NODE_CLIENT = Path(__file__).resolve().parents[1] / "clients" / "node"


@pytest.mark.django_db(transaction=True)
def test_the_node_clients_tests_pass_against_the_live_server(live_server):
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed")
    _agent, token = agent_create(name="node-agent")
    env = {**os.environ, "ZEKE_URL": live_server.url, "ZEKE_TOKEN": token}

    run = subprocess.run(
        [node, "--test", "test/"], cwd=NODE_CLIENT, env=env, capture_output=True, text=True, timeout=300
    )

    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    assert "# skipped 0" in run.stdout and "# fail 0" in run.stdout
    assert Trace.objects.filter(conversation_id="node-conv-1").count() == 3
    assert Trace.objects.get(conversation_id="node-conv-2").tool_calls[0]["args"] == {"to": "contact_42"}
