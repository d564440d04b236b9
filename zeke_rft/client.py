"""A small client for agents posting traces to ZEKE RFT. Standard library only; no Django.

    from zeke_rft.client import ZekeClient

    client = ZekeClient("http://127.0.0.1:8000", token="zk_...")
    client.add({"conversation_id": "conv-1", "user_message": "hi", "final_response": "hello"})
    results = client.flush()  # posts what is buffered (add() also posts every `batch_size` traces)
                              # and returns one result per trace added since the last flush()

Every trace gets an `external_id` when it is added (a uuid4 unless it has one),
so a retry after a timeout or a 5xx re-sends the same ids and the server stores
each trace once. Network errors, 429 (honouring Retry-After) and 5xx are retried
with exponential backoff; any other 4xx is the caller's to fix and raises at once.
"""

import http.client
import json
import random
import time
import urllib.error
import urllib.request
import uuid
from datetime import UTC, datetime

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


class ZekeError(Exception):
    """The server refused a request (a 4xx other than 429), or retries ran out."""

    def __init__(self, message: str, *, status: int | None = None, body: dict | None = None):
        super().__init__(message)
        self.status = status
        self.body = body or {}


class ZekeClient:
    def __init__(
        self,
        base_url: str,
        token: str,
        batch_size: int = 500,
        max_retries: int = 5,
        backoff: float = 0.5,
        timeout: float = 30.0,
        max_backoff: float = 30.0,
    ):
        if not 1 <= batch_size <= 1000:
            raise ValueError("batch_size must be between 1 and 1000 (the server's batch limit)")
        self.url = base_url.rstrip("/") + "/api/traces/"
        self.token = token
        self.batch_size = batch_size
        self.max_retries = max_retries
        self.backoff = backoff
        self.timeout = timeout
        self.max_backoff = max_backoff
        self.pending: list[dict] = []
        self._results: list[dict] = []
        self.sleep = time.sleep  # replaced in tests

    def add(self, trace: dict) -> str:
        """Buffer one trace (given an external_id and occurred_at if missing); flush when the batch is full."""
        trace = dict(trace)
        trace.setdefault("external_id", str(uuid.uuid4()))
        trace.setdefault("occurred_at", datetime.now(UTC).isoformat())
        self.pending.append(trace)
        if len(self.pending) >= self.batch_size:
            self._post_pending()
        return trace["external_id"]

    def flush(self) -> list[dict]:
        """Post every buffered trace; return the results of all traces posted since the last flush()."""
        self._post_pending()
        results, self._results = self._results, []
        return results

    def _post_pending(self) -> None:
        while self.pending:
            batch = self.pending[: self.batch_size]
            self._results.extend(self.post(batch))
            del self.pending[: len(batch)]

    def post(self, traces: list[dict]) -> list[dict]:
        """Post one batch now (retrying transient failures); return its per-item results.

        Items the server rejected come back with status "rejected" and their errors;
        they are not retried, since resending the same data cannot fix them.
        """
        traces = [dict(trace, external_id=trace.get("external_id") or str(uuid.uuid4())) for trace in traces]
        body = json.dumps({"traces": traces}).encode("utf-8")
        return self._send(body)["results"]

    def _send(self, body: bytes) -> dict:
        attempt = 0
        while True:
            try:
                return self._request(body)
            except _Retryable as exc:
                attempt += 1
                if attempt > self.max_retries:
                    raise ZekeError(f"giving up after {attempt} attempts: {exc}", status=exc.status) from None
                self.sleep(self._delay(attempt, exc.retry_after))

    def _request(self, body: bytes) -> dict:
        request = urllib.request.Request(
            self.url,
            data=body,
            method="POST",
            headers={
                "Authorization": f"Bearer {self.token}",
                "Content-Type": "application/json",
                "Accept": "application/json",
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                status, raw = response.status, response.read()
        except urllib.error.HTTPError as exc:
            payload = _json_or_empty(exc.read())
            if exc.code in RETRY_STATUSES:
                raise _Retryable(f"HTTP {exc.code}", status=exc.code, retry_after=exc.headers.get("Retry-After"))
            if exc.code in (400, 413) and "results" in payload:
                return payload  # every item rejected: the results say why
            detail = payload.get("detail") or exc.reason
            raise ZekeError(f"HTTP {exc.code}: {detail}", status=exc.code, body=payload) from None
        except (urllib.error.URLError, http.client.HTTPException, OSError) as exc:
            # HTTPException: a connection cut mid-answer (IncompleteRead) or a garbled status line.
            raise _Retryable(f"network error: {exc!r}") from None
        try:
            return json.loads(raw or b"{}")
        except ValueError:
            raise ZekeError(f"HTTP {status}: the answer is not JSON: {raw[:200]!r}", status=status) from None

    def _delay(self, attempt: int, retry_after: str | None) -> float:
        try:
            seconds = float(retry_after or "")
        except ValueError:
            seconds = -1.0  # absent, or an HTTP date: fall back to backoff
        if 0 <= seconds < float("inf"):  # also false for nan
            return min(seconds, self.max_backoff)
        delay = self.backoff * (2 ** (attempt - 1))
        return min(delay * (1 + random.random() * 0.1), self.max_backoff)


class _Retryable(Exception):
    def __init__(self, message: str, *, status: int | None = None, retry_after: str | None = None):
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after


def _json_or_empty(raw: bytes) -> dict:
    try:
        value = json.loads(raw or b"{}")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}
