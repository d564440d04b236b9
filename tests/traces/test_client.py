"""zeke_rft.client against the real app (live_server) and against a loopback server that fails on purpose."""

import json
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from traces.models import Trace
from traces.services import agent_create
from zeke_rft.client import ZekeClient, ZekeError

ROOT = Path(__file__).resolve().parents[2]


class ScriptedServer:
    """Answers POSTs from a script of (status, headers, body); after the script, 201 with one result per trace."""

    def __init__(self, script=()):
        self.script = list(script)
        self.bodies: list[dict] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                outer.bodies.append(body)
                step = outer.script.pop(0) if outer.script else None
                if step == "drop":
                    self.close_connection = True
                    self.connection.shutdown(2)
                    return
                if step == "truncate":  # headers promise more body than arrives, then the connection closes
                    self.send_response(201)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", "1000")
                    self.end_headers()
                    self.wfile.write(b'{"results": [')
                    self.close_connection = True
                    return
                if step == "html":  # a proxy's page instead of the app's JSON
                    self.send_response(200)
                    self.send_header("Content-Type", "text/html")
                    self.send_header("Content-Length", "13")
                    self.end_headers()
                    self.wfile.write(b"<html></html>")
                    return
                status, headers, payload = step or (201, {}, _accepted(body))
                data = json.dumps(payload).encode()
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def _accepted(body):
    results = [
        {"index": i, "external_id": t["external_id"], "status": "accepted", "id": i + 1}
        for i, t in enumerate(body["traces"])
    ]
    return {"accepted": len(results), "duplicate": 0, "rejected": 0, "results": results}


@pytest.fixture
def scripted():
    servers = []

    def start(*script):
        server = ScriptedServer(script)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.close()


def client_for(server, **options) -> tuple[ZekeClient, list[float]]:
    client = ZekeClient(server.url, token="zk_test", **options)
    sleeps: list[float] = []
    client.sleep = sleeps.append
    return client, sleeps


TRACE = {"conversation_id": "c1", "user_message": "hi", "final_response": "hello"}


def test_it_retries_5xx_with_exponential_backoff_and_the_same_external_ids(scripted):
    server = scripted((503, {}, {"detail": "busy"}), (500, {}, {}), (502, {}, {}))
    client, sleeps = client_for(server, backoff=0.5)
    client.add(TRACE)
    client.add(TRACE)

    results = client.flush()

    assert [r["status"] for r in results] == ["accepted", "accepted"]
    assert len(server.bodies) == 4
    ids = [[t["external_id"] for t in body["traces"]] for body in server.bodies]
    assert ids[0] == ids[1] == ids[2] == ids[3] and len(set(ids[0])) == 2
    assert 0.5 <= sleeps[0] <= 0.55 and 1.0 <= sleeps[1] <= 1.1 and 2.0 <= sleeps[2] <= 2.2  # x2 each, +<=10% jitter


def test_it_honours_retry_after_on_429(scripted):
    server = scripted((429, {"Retry-After": "3"}, {"detail": "slow down"}))
    client, sleeps = client_for(server)

    client.post([dict(TRACE, external_id="a")])

    assert sleeps == [3.0]
    assert len(server.bodies) == 2


def test_it_retries_a_dropped_connection(scripted):
    server = scripted("drop")
    client, sleeps = client_for(server)

    results = client.post([dict(TRACE, external_id="a")])

    assert results[0]["external_id"] == "a"
    assert len(server.bodies) == 2 and len(sleeps) == 1


def test_it_retries_a_response_cut_off_mid_body(scripted):
    server = scripted("truncate")
    client, sleeps = client_for(server)

    results = client.post([dict(TRACE, external_id="a")])

    assert results[0]["status"] == "accepted"
    assert [body["traces"][0]["external_id"] for body in server.bodies] == ["a", "a"]


def test_an_answer_that_is_not_json_is_a_zeke_error(scripted):
    server = scripted("html")
    client, _sleeps = client_for(server)

    with pytest.raises(ZekeError, match="HTTP 200: the answer is not JSON") as caught:
        client.post([dict(TRACE, external_id="a")])
    assert caught.value.status == 200


@pytest.mark.parametrize("retry_after", ["-5", "nan", "inf", "Wed, 21 Oct 2026 07:28:00 GMT"])
def test_an_unusable_retry_after_falls_back_to_backoff(scripted, retry_after):
    server = scripted((429, {"Retry-After": retry_after}, {"detail": "slow down"}))
    client, sleeps = client_for(server, backoff=0.5)

    client.post([dict(TRACE, external_id="a")])

    assert len(sleeps) == 1 and 0.5 <= sleeps[0] <= 0.55


def test_it_retries_when_nothing_listens(scripted):
    server = scripted()
    url = server.url
    server.close()
    client = ZekeClient(url, token="zk", max_retries=2, backoff=0.01)
    client.sleep = lambda seconds: None

    with pytest.raises(ZekeError, match="giving up after 3 attempts: network error"):
        client.post([TRACE])


def test_it_never_retries_a_4xx(scripted):
    server = scripted((401, {}, {"detail": "Unknown agent token."}))
    client, sleeps = client_for(server)

    with pytest.raises(ZekeError, match="HTTP 401: Unknown agent token.") as caught:
        client.post([TRACE])

    assert caught.value.status == 401
    assert len(server.bodies) == 1 and sleeps == []


def test_it_returns_the_results_when_every_item_is_rejected(scripted):
    rejected = {"accepted": 0, "duplicate": 0, "rejected": 1, "results": [{"status": "rejected", "errors": {}}]}
    server = scripted((400, {}, rejected))
    client, _ = client_for(server)

    assert client.post([TRACE])[0]["status"] == "rejected"
    assert len(server.bodies) == 1


def test_it_gives_up_after_max_retries(scripted):
    server = scripted(*[(503, {}, {})] * 10)
    client, sleeps = client_for(server, max_retries=3)

    with pytest.raises(ZekeError, match="giving up after 4 attempts: HTTP 503"):
        client.post([TRACE])

    assert len(server.bodies) == 4 and len(sleeps) == 3


def test_add_flushes_every_batch_size_traces(scripted):
    server = scripted()
    client, _ = client_for(server, batch_size=2)

    for _ in range(5):
        client.add(TRACE)

    assert [len(body["traces"]) for body in server.bodies] == [2, 2]
    client.flush()
    assert [len(body["traces"]) for body in server.bodies] == [2, 2, 1]
    assert client.pending == []


def test_the_client_module_does_not_import_django():
    # zeke_rft/__init__ imports the Celery app; load the file alone, as an agent would copy it.
    code = (
        "import importlib.util, sys; spec = importlib.util.spec_from_file_location('client', 'zeke_rft/client.py'); "
        "module = importlib.util.module_from_spec(spec); spec.loader.exec_module(module); "
        "print(any(name.split('.')[0] == 'django' for name in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"


@pytest.mark.django_db(transaction=True)
def test_it_posts_to_the_real_app_and_a_resend_stores_nothing_new(live_server):
    _agent, token = agent_create(name="live-agent")
    client = ZekeClient(live_server.url, token=token, batch_size=3)
    for n in range(4):
        client.add(dict(TRACE, user_message=f"message {n}"))
    first = client.flush()
    sent = [dict(TRACE, external_id=result["external_id"]) for result in first]

    again = client.post(sent)

    assert [r["status"] for r in first] == ["accepted"] * 4
    assert [r["status"] for r in again] == ["duplicate"] * 4
    assert [r["id"] for r in again] == [r["id"] for r in first]
    assert Trace.objects.count() == 4


@pytest.mark.django_db(transaction=True)
def test_a_revoked_token_raises_against_the_real_app(live_server):
    from traces.services import agent_revoke_token

    agent, token = agent_create(name="revoked-live")
    agent_revoke_token(agent=agent)

    with pytest.raises(ZekeError, match="revoked") as caught:
        ZekeClient(live_server.url, token=token).post([TRACE])
    assert caught.value.status == 401
