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

Besides chat completions it implements files (multipart upload, retrieve),
fine-tuning jobs (create, retrieve, list, events, checkpoints, cancel, pause,
resume; cursor pages honour `after` and end with has_more=false) and the alpha
graders (validate: 400 for an invalid grader; run: reward from
`fake.grader_responder(body)`).

A job's lifecycle: validating_files → queued → running (one `metrics` event per
step with train and valid reward) → succeeded (fine_tuned_model set, checkpoints
listed), or failed with `job_plan["error"]` at `job_plan["fail_at_step"]`, or a
training file that breaks the RFT rules fails at validation. Each retrieve moves
the job on one stage (`fake.auto_advance`); `fake.advance_job(job_id)` and
`fake.run_job(job_id)` step it by hand.

Azure OpenAI paths (`{endpoint}/openai/...?api-version=...`) are served by the
same routes, so `AzureOpenAI(azure_endpoint=fake.azure_endpoint, ...)` works too.
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


# Requests a well-behaved ZEKE refuses (its refusal policy: finance, unauthorized access, data deletion).
_REFUSE = re.compile(
    r"\b(transfer|wire|send)\b.*(\$|money|account)|\bpassword of\b|\bhack\b|\bdelete (all|every)", re.IGNORECASE
)
_ACT = re.compile(r"\b(put|add|schedule|book|move|remind|create|send|calendar)\b", re.IGNORECASE)


def default_chat_responder(body: dict) -> dict:
    """A plausible assistant, good enough for the rollout smoke tests (so `make run`'s demo and
    `rollout_step shadow` work against this server): refuses policy-breaking requests, calls the first
    offered tool for a routine action, otherwise answers with a short text."""
    last_user = next((m for m in reversed(body.get("messages", [])) if m.get("role") == "user"), {})
    content = last_user.get("content") if isinstance(last_user.get("content"), str) else ""
    if _REFUSE.search(content):
        return {"content": "I can't help with that: it is against ZEKE's refusal policy. I can suggest an alternative."}
    tools = [t.get("function", t) for t in body.get("tools") or [] if isinstance(t, dict)]
    if tools and _ACT.search(content) and tools[0].get("name"):
        return {"tool_calls": [{"name": tools[0]["name"], "arguments": {"title": content[:60]}}]}
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


# --- Files -------------------------------------------------------------------


def _parse_multipart(body: dict) -> dict:
    """{field: value} for text fields; {"file": (filename, bytes)} for the upload."""
    from email.parser import BytesParser
    from email.policy import HTTP

    raw = b"Content-Type: " + body["_content_type"].encode() + b"\r\n\r\n" + body["_multipart"]
    message = BytesParser(policy=HTTP).parsebytes(raw)
    fields: dict = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        filename = part.get_filename()
        payload = part.get_payload(decode=True) or b""
        fields[name] = (filename, payload) if filename else payload.decode()
    return fields


def _public(record: dict) -> dict:
    return {k: v for k, v in record.items() if not k.startswith("_")}


@route("POST", "/v1/files")
def files_create(fake, match, body, query):
    if "_multipart" not in body:
        return error(400, "files must be uploaded as multipart/form-data", param="file")
    fields = _parse_multipart(body)
    if "file" not in fields or not isinstance(fields["file"], tuple):
        return error(400, "missing file", param="file")
    purpose = fields.get("purpose")
    if purpose not in ("fine-tune", "assistants", "batch", "evals", "user_data", "vision"):
        return error(400, f"invalid purpose {purpose!r}", param="purpose")
    filename, content = fields["file"]
    record = {
        "id": new_id("file"),
        "object": "file",
        "bytes": len(content),
        "created_at": int(time.time()),
        "filename": filename,
        "purpose": purpose,
        "status": "processed",
        "status_details": None,
        "_content": content,
    }
    with fake.lock:
        fake.files[record["id"]] = record
    return 200, _public(record)


@route("GET", "/v1/files/(?P<file_id>[^/]+)")
def files_retrieve(fake, match, body, query):
    record = fake.files.get(match["file_id"])
    if record is None:
        return error(404, f"No such File object: {match['file_id']}", param="id")
    return 200, _public(record)


# --- Graders -------------------------------------------------------------------

GRADER_TYPES = {"string_check", "text_similarity", "python", "score_model", "multi", "label_model"}
STRING_CHECK_OPERATIONS = {"eq", "ne", "like", "ilike"}
SIMILARITY_METRICS = {
    "cosine", "fuzzy_match", "bleu", "gleu", "meteor", "rouge_1", "rouge_2", "rouge_3", "rouge_4", "rouge_5", "rouge_l",
}  # fmt: skip


def grader_problem(grader, *, inside_multi: bool = False) -> str | None:
    """Why the API would reject this grader (a short message), or None when it is valid."""
    if not isinstance(grader, dict):
        return "grader must be an object"
    kind = grader.get("type")
    if kind not in GRADER_TYPES:
        return f"unknown grader type {kind!r}"
    if not grader.get("name"):
        return f"{kind} grader needs a name"
    if kind == "label_model" and not inside_multi:
        return "label_model graders are only allowed inside a multi grader"
    if kind == "string_check":
        if grader.get("operation") not in STRING_CHECK_OPERATIONS:
            return f"string_check operation must be one of {sorted(STRING_CHECK_OPERATIONS)}"
        if "input" not in grader or "reference" not in grader:
            return "string_check needs input and reference"
    if kind == "text_similarity" and grader.get("evaluation_metric") not in SIMILARITY_METRICS:
        return f"text_similarity evaluation_metric must be one of {sorted(SIMILARITY_METRICS)}"
    if kind == "python":
        source = grader.get("source") or ""
        try:
            compile(source, "<grader>", "exec")
        except SyntaxError as exc:
            return f"python grader source does not compile: {exc.msg} (line {exc.lineno})"
        if not re.search(r"^def grade\(\s*sample\s*,\s*item\s*\)", source, re.MULTILINE):
            return "python grader must define grade(sample, item)"
    if kind in ("score_model", "label_model") and (not grader.get("model") or not grader.get("input")):
        return f"{kind} grader needs model and input"
    if kind == "multi":
        if inside_multi:
            return "multi graders cannot be nested"
        graders = grader.get("graders")
        if not isinstance(graders, dict) or not graders or isinstance(graders.get("type"), str):
            return "multi grader's graders must be a non-empty object of name → grader (not one grader)"
        for name, sub in graders.items():
            problem = grader_problem(sub, inside_multi=True)
            if problem:
                return f"graders.{name}: {problem}"
        formula = grader.get("calculate_output") or ""
        names = set(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", formula)) - {"min", "max", "abs"}
        unknown = names - set(graders)
        if not formula or unknown:
            return f"calculate_output refers to unknown graders {sorted(unknown)}" if unknown else "missing formula"
    return None


@route("POST", "/v1/fine_tuning/alpha/graders/validate")
def graders_validate(fake, match, body, query):
    problem = grader_problem(body.get("grader"))
    if problem:
        return error(400, f"Invalid grader: {problem}", param="grader", code="invalid_grader")
    return 200, {"grader": body["grader"]}


@route("POST", "/v1/fine_tuning/alpha/graders/run")
def graders_run(fake, match, body, query):
    problem = grader_problem(body.get("grader"))
    if problem:
        return error(400, f"Invalid grader: {problem}", param="grader", code="invalid_grader")
    if "model_sample" not in body:
        return error(400, "model_sample is required", param="model_sample")
    reward = float(fake.grader_responder(body))
    no_errors = dict.fromkeys(
        [
            "formula_parse_error", "invalid_variable_error", "model_grader_parse_error", "model_grader_refusal_error",
            "model_grader_server_error", "other_error", "python_grader_runtime_error", "python_grader_server_error",
            "sample_parse_error", "truncated_observation_error", "unresponsive_reward_error",
        ],
        False,
    )  # fmt: skip
    return 200, {
        "reward": reward,
        "sub_rewards": {},
        "model_grader_token_usage_per_model": {},
        "metadata": {
            "errors": no_errors,
            "execution_time": 0.01,
            "name": body["grader"].get("name", "grader"),
            "sampled_model_name": None,
            "scores": {},
            "token_usage": None,
            "type": body["grader"]["type"],
        },
    }


# --- Fine-tuning jobs ------------------------------------------------------------


def _page(items: list[dict], query: dict) -> dict:
    """A cursor page: items after `after` (by id), `limit` of them, has_more while more remain."""
    limit = max(1, min(int(query.get("limit") or 20), 100))
    start = 0
    if query.get("after"):
        ids = [item["id"] for item in items]
        start = ids.index(query["after"]) + 1 if query["after"] in ids else len(items)
    chunk = items[start : start + limit]
    return {"object": "list", "data": chunk, "has_more": start + limit < len(items)}


def _job_or_404(fake, job_id: str):
    job = fake.jobs.get(job_id)
    if job is None:
        return None, error(404, f"Could not find fine-tune: {job_id}", param="fine_tuning_job_id")
    return job, None


@route("POST", "/v1/fine_tuning/jobs")
def jobs_create(fake, match, body, query):
    for field in ("model", "training_file"):
        if not body.get(field):
            return error(400, f"Missing required parameter: '{field}'.", param=field)
    for field in ("training_file", "validation_file"):
        file_id = body.get(field)
        if file_id and (file_id not in fake.files or fake.files[file_id]["purpose"] != "fine-tune"):
            return error(400, f"invalid {field}: {file_id} is not a fine-tune file", param=field)
    method = body.get("method") or {"type": "supervised", "supervised": {}}
    if method.get("type") == "reinforcement":
        problem = grader_problem((method.get("reinforcement") or {}).get("grader"))
        if problem:
            return error(400, f"Invalid grader: {problem}", param="method.reinforcement.grader")
    hyperparameters = (method.get(method.get("type")) or {}).get("hyperparameters") or {}
    job = {
        "id": new_id("ftjob"),
        "object": "fine_tuning.job",
        "created_at": int(time.time()),
        "error": None,
        "fine_tuned_model": None,
        "finished_at": None,
        "hyperparameters": {
            k: hyperparameters.get(k, "auto") for k in ("batch_size", "learning_rate_multiplier", "n_epochs")
        },
        "model": body["model"],
        "organization_id": "org-fake",
        "result_files": [],
        "seed": body.get("seed") or 42,
        "status": "validating_files",
        "trained_tokens": None,
        "training_file": body["training_file"],
        "validation_file": body.get("validation_file"),
        "metadata": body.get("metadata"),
        "method": method,
        "suffix": body.get("suffix"),
        "integrations": None,
        "estimated_finish": None,
        "_step": 0,
        "_plan": dict(fake.job_plan),
    }
    with fake.lock:
        fake.jobs[job["id"]] = job
        fake.job_order.insert(0, job["id"])
        fake.events[job["id"]] = []
        fake.checkpoints[job["id"]] = []
        fake._event(job["id"], f"Created fine-tuning job: {job['id']}")
        fake._event(job["id"], f"Validating training file: {job['training_file']}")
    return 200, _public(job)


@route("GET", "/v1/fine_tuning/jobs")
def jobs_list(fake, match, body, query):
    jobs = [_public(fake.jobs[job_id]) for job_id in fake.job_order]
    wanted = {key[len("metadata[") : -1]: value for key, value in query.items() if key.startswith("metadata[")}
    if wanted:
        jobs = [job for job in jobs if all((job.get("metadata") or {}).get(k) == v for k, v in wanted.items())]
    return 200, _page(jobs, query)


@route("GET", "/v1/fine_tuning/jobs/(?P<job_id>[^/]+)")
def jobs_retrieve(fake, match, body, query):
    job, problem = _job_or_404(fake, match["job_id"])
    if problem:
        return problem
    if fake.auto_advance:
        fake.advance_job(job["id"])
    return 200, _public(job)


@route("GET", "/v1/fine_tuning/jobs/(?P<job_id>[^/]+)/events")
def jobs_events(fake, match, body, query):
    if match["job_id"] not in fake.jobs:
        return _job_or_404(fake, match["job_id"])[1]
    # Newest first, as the API lists them.
    return 200, _page(list(reversed(fake.events[match["job_id"]])), query)


@route("GET", "/v1/fine_tuning/jobs/(?P<job_id>[^/]+)/checkpoints")
def jobs_checkpoints(fake, match, body, query):
    if match["job_id"] not in fake.jobs:
        return _job_or_404(fake, match["job_id"])[1]
    return 200, _page(list(reversed(fake.checkpoints[match["job_id"]])), query)


@route("POST", "/v1/fine_tuning/jobs/(?P<job_id>[^/]+)/(?P<action>cancel|pause|resume)")
def jobs_action(fake, match, body, query):
    job, problem = _job_or_404(fake, match["job_id"])
    if problem:
        return problem
    action = match["action"]
    allowed = {
        "cancel": ("validating_files", "queued", "running", "paused"),
        "pause": ("running",),
        "resume": ("paused",),
    }[action]
    with fake.lock:
        if job["status"] not in allowed:
            return error(400, f"Cannot {action} a job that is {job['status']}", param="fine_tuning_job_id")
        job["status"] = {"cancel": "cancelled", "pause": "paused", "resume": "running"}[action]
        if action == "cancel":
            job["finished_at"] = int(time.time())
        fake._event(job["id"], {"cancel": "Job cancelled", "pause": "Job paused", "resume": "Job resumed"}[action])
    return 200, _public(job)


def _training_file_problem(fake, job: dict) -> str | None:
    """What the fake's file validation finds wrong in an RFT training file (the API's rules, in short)."""
    content = fake.files[job["training_file"]]["_content"].decode("utf-8", "replace")
    for number, line in enumerate(content.splitlines(), start=1):
        try:
            row = json.loads(line)
        except ValueError:
            return f"line {number} is not valid JSON"
        messages = row.get("messages")
        if not isinstance(messages, list) or not messages:
            return f"line {number}: messages is missing"
        if messages[-1].get("role") != "user":
            return f"line {number}: the last message must have role user"
    return None


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in separate writes; without TCP_NODELAY each response waits ~40 ms for an ACK.
    disable_nagle_algorithm = True

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

    def __init__(self, port: int = 0):
        self.requests: list[dict] = []
        self.chat_responder = default_chat_responder
        self.state: dict = {}
        self.files: dict[str, dict] = {}
        self.jobs: dict[str, dict] = {}
        self.job_order: list[str] = []  # newest first, as the API lists jobs
        self.events: dict[str, list[dict]] = {}  # job id → events, oldest first
        self.checkpoints: dict[str, list[dict]] = {}
        # How new jobs run: `steps` training steps; `fail_at_step` (with `error`) makes the job fail there.
        self.job_plan: dict = {"steps": 3, "eval_interval": 1, "fail_at_step": None, "error": None}
        # Each retrieve of a job moves it one stage on; set False and call advance_job() to step by hand.
        self.auto_advance = True
        self.grader_responder = lambda body: 0.5
        self._failures: list[list] = []  # [regex, status, remaining]
        self._lock = threading.Lock()
        self.lock = threading.RLock()
        self._server = ThreadingHTTPServer(("127.0.0.1", port), _Handler)
        self._server.daemon_threads = True
        self._server.fake = self
        # A short poll interval: stop() (shutdown) waits up to one interval, and every test stops a server.
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/v1"

    @property
    def azure_endpoint(self) -> str:
        return self.base_url.removesuffix("/v1")

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

    def _event(self, job_id: str, message: str, *, level: str = "info", data=None, type_: str = "message"):
        """Append an event (call with `self.lock` held)."""
        events = self.events[job_id]
        events.append(
            {
                "id": f"ftevent-{job_id[-8:]}-{len(events):04d}",
                "object": "fine_tuning.job.event",
                "created_at": int(time.time()),
                "level": level,
                "message": message,
                "data": data,
                "type": type_,
            }
        )

    def advance_job(self, job_id: str) -> str:
        """Move a job one stage (or one training step) on; paused and finished jobs stay put. Returns the status."""
        with self.lock:
            job = self.jobs[job_id]
            plan = job["_plan"]
            status = job["status"]
            if status == "validating_files":
                problem = _training_file_problem(self, job)
                if problem:
                    self._fail(job, {"code": "invalid_training_file", "message": problem, "param": "training_file"})
                else:
                    job["status"] = "queued"
                    self._event(job_id, "Files validated, moving job to queued state")
            elif status == "queued":
                job["status"] = "running"
                self._event(job_id, "Fine-tuning job started")
            elif status == "running":
                job["_step"] += 1
                step = job["_step"]
                if plan.get("fail_at_step") and step >= plan["fail_at_step"]:
                    error_body = plan.get("error") or {
                        "code": "server_error",
                        "message": "training failed",
                        "param": None,
                    }
                    self._fail(job, error_body)
                else:
                    self._step(job, step)
            return job["status"]

    def run_job(self, job_id: str, *, max_stages: int = 100) -> str:
        """Advance until the job is paused or finished."""
        for _ in range(max_stages):
            if self.jobs[job_id]["status"] in ("paused", "succeeded", "failed", "cancelled"):
                break
            self.advance_job(job_id)
        return self.jobs[job_id]["status"]

    def _step(self, job: dict, step: int):
        plan = job["_plan"]
        total = plan["steps"]
        data = {"step": step, "total_steps": total, "train_reward_mean": round(0.4 + 0.5 * step / total, 4)}
        if step % max(1, plan.get("eval_interval") or 1) == 0:
            data["valid_reward_mean"] = round(0.35 + 0.45 * step / total, 4)
        self._event(job["id"], f"Step {step}/{total}", data=data, type_="metrics")
        if step < total:
            return
        suffix = job.get("suffix") or "zeke"
        job["fine_tuned_model"] = f"ft:{job['model']}:fake-org:{suffix}:{job['id'][-8:]}"
        for checkpoint_step in sorted({max(1, total // 2), total}):
            self.checkpoints[job["id"]].append(
                {
                    "id": f"ftckpt-{job['id'][-8:]}-{checkpoint_step}",
                    "object": "fine_tuning.job.checkpoint",
                    "created_at": int(time.time()),
                    "fine_tuned_model_checkpoint": f"{job['fine_tuned_model']}:ckpt-step-{checkpoint_step}",
                    "fine_tuning_job_id": job["id"],
                    "metrics": {"step": checkpoint_step},
                    "step_number": checkpoint_step,
                }
            )
        job["status"] = "succeeded"
        job["finished_at"] = int(time.time())
        job["trained_tokens"] = 1000 * total
        self._event(job["id"], "The job has successfully completed")

    def _fail(self, job: dict, error_body: dict):
        job["status"] = "failed"
        job["error"] = {
            "code": error_body.get("code") or "error",
            "message": error_body["message"],
            "param": error_body.get("param"),
        }
        job["finished_at"] = int(time.time())
        self._event(job["id"], f"Job failed: {error_body['message']}", level="error")

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
        # Azure OpenAI: {endpoint}/openai/... (and /openai/deployments/<model>/... for model calls) → /v1/...
        if path.startswith("/openai/"):
            if not query.get("api-version"):
                return error(400, "Azure OpenAI requests need an api-version query parameter", param="api-version")
            path = re.sub(r"^/openai/(deployments/[^/]+/)?", "/v1/", path)
        for route_method, pattern, handler in ROUTES:
            match = pattern.match(path)
            if route_method == method and match:
                # Handlers that change shared state take `fake.lock` themselves.
                return handler(self, match, body, query)
        return error(404, f"no fake route for {method} {path}")


if __name__ == "__main__":
    # `python -m tests.fakes.openai_server [PORT]`: serve the fake until Ctrl-C (jobs advance on each retrieve).
    import sys

    server = FakeOpenAI(port=int(sys.argv[1]) if len(sys.argv) > 1 else 0)
    server.start()
    print(f"fake OpenAI API at {server.base_url} — OPENAI_BASE_URL={server.base_url} OPENAI_API_KEY=fake", flush=True)
    try:
        server._thread.join()
    except KeyboardInterrupt:
        server.stop()
