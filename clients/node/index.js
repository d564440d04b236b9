// ZEKE RFT client for Node agents: batching, an external_id per trace, retries that re-send the same ids.
// No runtime dependencies: Node 18+ (global fetch, AbortSignal.timeout, crypto.randomUUID).

import { randomUUID } from "node:crypto";

const RETRY_STATUSES = new Set([429, 500, 502, 503, 504]);

export class ZekeError extends Error {
  /** @param {string} message @param {{status?: number, body?: any}} [details] */
  constructor(message, { status = null, body = null } = {}) {
    super(message);
    this.name = "ZekeError";
    this.status = status;
    this.body = body;
  }
}

class Retryable extends Error {
  constructor(message, { status = null, retryAfter = null } = {}) {
    super(message);
    this.status = status;
    this.retryAfter = retryAfter;
  }
}

export class ZekeClient {
  /**
   * @param {string} baseUrl e.g. "http://127.0.0.1:8000"
   * @param {import("./index.d.ts").ZekeClientOptions} options
   */
  constructor(baseUrl, { token, batchSize = 500, maxRetries = 5, backoffMs = 500, maxBackoffMs = 30_000,
    timeoutMs = 10_000, flushOnExit = true, fetch: fetchImpl = globalThis.fetch, sleep = defaultSleep } = {}) {
    if (!token) throw new ZekeError("token is required (the agent's bearer token, zk_...)");
    this.baseUrl = baseUrl.replace(/\/+$/, "");
    this.token = token;
    this.batchSize = batchSize;
    this.maxRetries = maxRetries;
    this.backoffMs = backoffMs;
    this.maxBackoffMs = maxBackoffMs;
    this.timeoutMs = timeoutMs;
    this.fetch = fetchImpl;
    this.sleep = sleep;
    this.pending = [];
    this.results = [];
    this.inFlight = Promise.resolve();
    this.closed = false;
    this.onExit = () => { if (this.pending.length) this.flush().catch((error) => console.error("zeke: flush on exit failed:", error)); };
    if (flushOnExit) process.on("beforeExit", this.onExit);
  }

  /** Buffer one trace (an external_id and occurred_at are added if missing); posts when the batch is full. */
  add(trace) {
    if (this.closed) throw new ZekeError("the client is closed");
    const item = { ...trace };
    item.external_id ??= randomUUID();
    item.occurred_at ??= new Date().toISOString();
    this.pending.push(item);
    if (this.pending.length >= this.batchSize) this.#queuePending();
    return item.external_id;
  }

  /** Post every buffered trace; resolve to the results of all traces posted since the last flush(). */
  async flush() {
    this.#queuePending();
    await this.inFlight;
    const results = this.results;
    this.results = [];
    return results;
  }

  /** Flush, then stop listening for process exit. */
  async close() {
    const results = await this.flush();
    this.closed = true;
    process.removeListener("beforeExit", this.onExit);
    return results;
  }

  /** Post one batch now; resolve to its per-item results (rejected items say why and are not retried). */
  async post(traces) {
    const items = traces.map((trace) => ({ ...trace, external_id: trace.external_id ?? randomUUID() }));
    const body = JSON.stringify({ traces: items }); // built once: every retry re-sends the same ids
    const answer = await this.#send("/api/traces/", { method: "POST", body });
    return answer.results;
  }

  /** Which model to use: {model, policy_id, rollout_id, arm, shadow_model?}; null when no policy is active. */
  async getPolicy({ modality = "chat", conversationId } = {}) {
    const query = new URLSearchParams({ modality });
    if (conversationId !== undefined) query.set("conversation_id", conversationId);
    try {
      return await this.#send(`/api/policy?${query}`, { method: "GET" });
    } catch (error) {
      if (error instanceof ZekeError && error.status === 404) return null;
      throw error;
    }
  }

  #queuePending() {
    while (this.pending.length) {
      const batch = this.pending.splice(0, this.batchSize);
      // Batches go one after another, in order; a failed batch rejects this flush, not later ones.
      this.inFlight = this.inFlight.then(async () => { this.results.push(...(await this.post(batch))); });
    }
  }

  async #send(path, init) {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.#request(path, init);
      } catch (error) {
        if (!(error instanceof Retryable)) throw error;
        if (attempt > this.maxRetries) {
          throw new ZekeError(`giving up after ${attempt} attempts: ${error.message}`, { status: error.status });
        }
        await this.sleep(this.#delay(attempt, error.retryAfter));
      }
    }
  }

  async #request(path, init) {
    let response;
    try {
      response = await this.fetch(this.baseUrl + path, {
        ...init,
        headers: { Authorization: `Bearer ${this.token}`, "Content-Type": "application/json", Accept: "application/json" },
        signal: AbortSignal.timeout(this.timeoutMs),
      });
    } catch (error) {
      throw new Retryable(`network error: ${error.name === "TimeoutError" ? `no answer in ${this.timeoutMs} ms` : error.message}`);
    }
    let text;
    try {
      text = await response.text();
    } catch (error) {
      throw new Retryable(`network error reading the answer: ${error.message}`, { status: response.status });
    }
    if (RETRY_STATUSES.has(response.status)) {
      throw new Retryable(`HTTP ${response.status}`, { status: response.status, retryAfter: response.headers.get("Retry-After") });
    }
    const body = parseJson(text);
    if (response.ok || ((response.status === 400 || response.status === 413) && Array.isArray(body?.results))) return body;
    const detail = body?.detail ?? (text.slice(0, 200) || response.statusText);
    throw new ZekeError(`HTTP ${response.status}: ${detail}`, { status: response.status, body });
  }

  #delay(attempt, retryAfter) {
    const seconds = retryAfter === null || retryAfter === "" ? NaN : Number(retryAfter);
    if (Number.isFinite(seconds) && seconds >= 0) return Math.min(seconds * 1000, this.maxBackoffMs);
    const backoff = this.backoffMs * 2 ** (attempt - 1);
    return Math.min(backoff * (1 + Math.random() * 0.1), this.maxBackoffMs);
  }
}

function parseJson(text) {
  try {
    return JSON.parse(text || "{}");
  } catch {
    return null;
  }
}

function defaultSleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
