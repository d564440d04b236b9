// The client against a scripted loopback server: batching, retries with the same ids, timeouts, errors.
import { test } from "node:test";
import assert from "node:assert/strict";
import { createServer } from "node:http";
import { spawn } from "node:child_process";

import { ZekeClient, ZekeError } from "../index.js";

const noSleep = async () => {};

/** A server answering from `script` ([status, headers, body] or "hang" or "drop"); then 201 per item. */
async function scripted(script = []) {
  const requests = [];
  const server = createServer((request, response) => {
    let raw = "";
    request.on("data", (chunk) => { raw += chunk; });
    request.on("end", () => {
      const body = raw ? JSON.parse(raw) : null;
      requests.push({ method: request.method, url: request.url, headers: request.headers, body });
      const step = script.shift();
      if (step === "hang") return;
      if (step === "drop") return request.socket.destroy();
      const [status, headers, answer] = step ?? [201, {}, {
        results: (body?.traces ?? []).map((trace, index) => ({ index, external_id: trace.external_id, status: "accepted", id: index + 1 })),
      }];
      response.writeHead(status, { "Content-Type": "application/json", ...headers });
      response.end(JSON.stringify(answer));
    });
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  const url = `http://127.0.0.1:${server.address().port}`;
  return { url, requests, close: () => { server.closeAllConnections(); server.close(); } };
}

const trace = (n) => ({ conversation_id: "c-1", user_message: `message ${n}`, final_response: "ok" });

test("add gives each trace an external_id and flush returns one result per trace in order", async () => {
  const server = await scripted();
  const client = new ZekeClient(server.url, { token: "zk_test", batchSize: 2, flushOnExit: false });
  const ids = [1, 2, 3, 4, 5].map((n) => client.add(trace(n)));
  const results = await client.flush();
  server.close();
  assert.deepEqual(results.map((r) => r.external_id), ids);
  assert.equal(server.requests.length, 3);
  assert.equal(server.requests[0].headers.authorization, "Bearer zk_test");
  assert.ok(server.requests[0].body.traces[0].occurred_at);
});

test("503, 429 and a dropped connection are retried with the same external_ids", async () => {
  const server = await scripted([[503, {}, {}], [429, { "Retry-After": "0" }, {}], "drop"]);
  const client = new ZekeClient(server.url, { token: "zk_test", flushOnExit: false, sleep: noSleep });
  client.add(trace(1));
  client.add(trace(2));
  const results = await client.flush();
  server.close();
  assert.equal(server.requests.length, 4);
  const sent = server.requests.map((r) => JSON.stringify(r.body.traces.map((t) => t.external_id)));
  assert.equal(new Set(sent).size, 1);
  assert.deepEqual(results.map((r) => r.status), ["accepted", "accepted"]);
});

test("Retry-After decides the wait on a 429", async () => {
  const waits = [];
  const server = await scripted([[429, { "Retry-After": "7" }, {}]]);
  const client = new ZekeClient(server.url, { token: "zk_test", flushOnExit: false, sleep: async (ms) => { waits.push(ms); } });
  await client.post([trace(1)]);
  server.close();
  assert.deepEqual(waits, [7000]);
});

test("a request with no answer times out and is retried", async () => {
  const server = await scripted(["hang"]);
  const client = new ZekeClient(server.url, { token: "zk_test", timeoutMs: 1500, flushOnExit: false, sleep: noSleep });
  const results = await client.post([trace(1)]);
  server.close();
  assert.equal(server.requests.length, 2);
  assert.equal(server.requests[0].body.traces[0].external_id, server.requests[1].body.traces[0].external_id);
  assert.equal(results[0].status, "accepted");
});

test("it gives up after maxRetries with a ZekeError carrying the last status", async () => {
  const server = await scripted([[502, {}, {}], [502, {}, {}], [502, {}, {}]]);
  const client = new ZekeClient(server.url, { token: "zk_test", maxRetries: 2, flushOnExit: false, sleep: noSleep });
  await assert.rejects(client.post([trace(1)]), (error) => error instanceof ZekeError && error.status === 502);
  server.close();
  assert.equal(server.requests.length, 3);
});

test("a 401 is not retried and says why", async () => {
  const server = await scripted([[401, {}, { detail: "Unknown or revoked token." }]]);
  const client = new ZekeClient(server.url, { token: "zk_bad", flushOnExit: false, sleep: noSleep });
  await assert.rejects(client.post([trace(1)]), /HTTP 401: Unknown or revoked token/);
  server.close();
  assert.equal(server.requests.length, 1);
});

test("a 400 whose items were all rejected returns their results", async () => {
  const rejected = { results: [{ index: 0, external_id: "x", status: "rejected", id: null, errors: { user_message: ["May not be blank."] } }] };
  const server = await scripted([[400, {}, rejected]]);
  const client = new ZekeClient(server.url, { token: "zk_test", flushOnExit: false });
  const results = await client.post([{ ...trace(1), user_message: "" }]);
  server.close();
  assert.deepEqual(results[0].errors, { user_message: ["May not be blank."] });
});

test("getPolicy sends modality and conversation_id and answers null on 404", async () => {
  const server = await scripted([[200, {}, { model: "gpt-x", policy_id: 3, rollout_id: null, arm: "baseline" }], [404, {}, { detail: "none" }]]);
  const client = new ZekeClient(server.url, { token: "zk_test", flushOnExit: false });
  const policy = await client.getPolicy({ modality: "sms", conversationId: "conv 1" });
  const none = await client.getPolicy({ modality: "voice" });
  server.close();
  assert.equal(policy.model, "gpt-x");
  assert.equal(none, null);
  assert.equal(server.requests[0].url, "/api/policy?modality=sms&conversation_id=conv+1");
});

test("traces added but never flushed are posted when the process exits", async () => {
  const server = await scripted();
  const script = `import { ZekeClient } from ${JSON.stringify(new URL("../index.js", import.meta.url).href)};
    const client = new ZekeClient(${JSON.stringify(server.url)}, { token: "zk_test" });
    client.add({ conversation_id: "c", user_message: "left behind" });`;
  // Not spawnSync: the server answering it runs in this process's event loop.
  const child = spawn(process.execPath, ["--input-type=module", "-e", script], { stdio: ["ignore", "ignore", "pipe"] });
  let stderr = "";
  child.stderr.on("data", (chunk) => { stderr += chunk; });
  const status = await new Promise((resolve) => child.on("close", resolve));
  server.close();
  assert.equal(status, 0, stderr);
  assert.equal(server.requests[0]?.body.traces[0].user_message, "left behind");
});
