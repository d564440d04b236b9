"""A fake OpenAI API: a real HTTP server on 127.0.0.1 for the real `openai` client.

openai 3.x sends through httpx2, so httpx mocks do not intercept it; tests aim
`OPENAI_BASE_URL` at `FakeOpenAI.base_url` instead.

Usage:
    with FakeOpenAI() as fake:
        fake.chat_responder = lambda body: {"content": "Sure."}
        client = OpenAI(base_url=fake.base_url, api_key="test", max_retries=0)

Routes are registered in ROUTES as (method, regex) → handler(fake, match, body, query).
A handler returns (status, json_body). `fake.fail_next(path_regex, status, times)`
makes the next requests to a path fail (429/500) to test retries.
"""

import json
import re
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

ROUTES: list[tuple[str, re.Pattern, callable]] = []


def route(method: str, pattern: str):
    def register(handler):
        ROUTES.append((method, re.compile(f"^{pattern}$"), handler))
        return handler

    return register


def new_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:24]}"


def error(status: int, message: str, *, param: str | None = None, code: str | None = None):
    return status, {"error": {"message": message, "type": "invalid_request_error", "param": param, "code": code}}


def default_chat_responder(body: dict) -> dict:
    """Echo-ish assistant: answers with a short text; never calls tools."""
    last_user = next((m for m in reversed(body.get("messages", [])) if m.get("role") == "user"), {})
    content = last_user.get("content") if isinstance(last_user.get("content"), str) else ""
    return {"content": f"Done: {content[:80]}"}


@route("POST", "/v1/chat/completions")
def chat_completions(fake, match, body, query):
    """`fake.chat_responder(body)` returns {"content": str} and/or {"tool_calls": [{"name", "arguments"}]}."""
    if not body.get("model"):
        return error(400, "you must provide a model parameter", param="model")
    reply = fake.chat_responder(body)
    tool_calls = [
        {
            "id": new_id("call"),
            "type": "function",
            "function": {
                "name": call["name"],
                "arguments": call["arguments"] if isinstance(call["arguments"], str) else json.dumps(call["arguments"]),
            },
        }
        for call in reply.get("tool_calls") or []
    ]
    message = {"role": "assistant", "content": reply.get("content"), "refusal": None}
    if tool_calls:
        message["tool_calls"] = tool_calls
    prompt_tokens = sum(len(str(m.get("content") or "")) // 4 for m in body.get("messages", []))
    completion_tokens = len(reply.get("content") or "") // 4 + 1
    return 200, {
        "id": new_id("chatcmpl"),
        "object": "chat.completion",
        "created": int(time.time()),
        "model": body["model"],
        "choices": [
            {"index": 0, "message": message, "finish_reason": "tool_calls" if tool_calls else "stop", "logprobs": None}
        ],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
    }


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format, *args):  # keep test output quiet
        pass

    def _dispatch(self, method: str):
        fake: FakeOpenAI = self.server.fake
        parsed = urlparse(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        content_type = self.headers.get("Content-Type", "")
        body: dict | bytes
        if raw and content_type.startswith("application/json"):
            body = json.loads(raw)
        elif raw and content_type.startswith("multipart/form-data"):
            body = {"_multipart": raw, "_content_type": content_type}
        else:
            body = {}
        query = {k: v[-1] for k, v in parse_qs(parsed.query).items()}
        fake.requests.append({"method": method, "path": parsed.path, "body": body, "query": query})
        status, payload = fake.dispatch(method, parsed.path, body, query)
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        if status == 429:
            self.send_header("Retry-After", "0")
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        self._dispatch("GET")

    def do_POST(self):
        self._dispatch("POST")

    def do_DELETE(self):
        self._dispatch("DELETE")


class FakeOpenAI:
    """Start with `with FakeOpenAI() as fake:` (or start()/stop()); state lives on the instance."""

    def __init__(self):
        self.requests: list[dict] = []
        self.chat_responder = default_chat_responder
        self.state: dict = {}
        self._failures: list[list] = []  # [regex, status, remaining]
        self._lock = threading.Lock()
        self.lock = threading.RLock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._server.daemon_threads = True
        self._server.fake = self
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/v1"

    def start(self):
        self._thread.start()
        return self

    def stop(self):
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def fail_next(self, path_regex: str, status: int = 500, times: int = 1):
        """The next `times` requests whose path matches answer `status` (429 or 5xx) before any handler runs."""
        with self._lock:
            self._failures.append([re.compile(path_regex), status, times])

    def requests_to(self, path_regex: str) -> list[dict]:
        pattern = re.compile(path_regex)
        return [r for r in self.requests if pattern.search(r["path"])]

    def dispatch(self, method: str, path: str, body, query):
        with self._lock:
            for failure in self._failures:
                if failure[2] > 0 and failure[0].search(path):
                    failure[2] -= 1
                    return error(failure[1], f"injected failure {failure[1]}")
        for route_method, pattern, handler in ROUTES:
            match = pattern.match(path)
            if route_method == method and match:
                # Handlers that change shared state take `fake.lock` themselves.
                return handler(self, match, body, query)
        return error(404, f"no fake route for {method} {path}")
