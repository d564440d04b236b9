// The client against the real app. tests/test_node_client.py serves it (live_server), creates an agent and
// runs `node --test` with ZEKE_URL and ZEKE_TOKEN; without them these tests skip.
import { test } from "node:test";
import assert from "node:assert/strict";

import { ZekeClient, ZekeError } from "../index.js";

const url = process.env.ZEKE_URL;
const token = process.env.ZEKE_TOKEN;
const live = { skip: url && token ? false : "set ZEKE_URL and ZEKE_TOKEN (tests/test_node_client.py does)" };

test("traces posted to the real app are accepted, and re-sent ones are duplicates with the same ids", live, async () => {
  const client = new ZekeClient(url, { token, batchSize: 2, flushOnExit: false });
  for (const n of [1, 2, 3]) {
    client.add({ conversation_id: "node-conv-1", user_message: `Book lunch ${n}`, final_response: "Booked.", task_category: "scheduling" });
  }
  const first = await client.flush();
  const again = await client.post(first.map((result, n) => ({ external_id: result.external_id, conversation_id: "node-conv-1", user_message: `Book lunch ${n + 1}` })));
  assert.deepEqual(first.map((r) => r.status), ["accepted", "accepted", "accepted"]);
  assert.deepEqual(again.map((r) => r.status), ["duplicate", "duplicate", "duplicate"]);
  assert.deepEqual(again.map((r) => r.id), first.map((r) => r.id));
});

test("a trace in the seed's shape with an agent reward is accepted", live, async () => {
  const client = new ZekeClient(url, { token, flushOnExit: false });
  const [result] = await client.post([{
    conversation_id: "node-conv-2", user_message: "Text Sam I'm late", selected_tools: ["sms.send"],
    tool_args: [{ to: "contact_42" }], tool_results: [{ status: "sent" }], final_response: "Sent.",
    latency: 812, flags: { safety: false }, reward: 1, reward_source: "thumbs_up", sdk: "node",
  }]);
  assert.equal(result.status, "accepted");
  assert.deepEqual(result.extra_fields, ["sdk"]);
});

test("a rejected item comes back with the field named", live, async () => {
  const client = new ZekeClient(url, { token, flushOnExit: false });
  const [result] = await client.post([{ conversation_id: "node-conv-3", user_message: "hi", reward: 2 }]);
  assert.equal(result.status, "rejected");
  assert.ok(result.errors.reward[0].includes("between 0 and 1"));
});

test("getPolicy answers null when no policy is active", live, async () => {
  const client = new ZekeClient(url, { token, flushOnExit: false });
  assert.equal(await client.getPolicy({ modality: "chat", conversationId: "node-conv-1" }), null);
});

test("a wrong token is a ZekeError with status 401", live, async () => {
  const client = new ZekeClient(url, { token: "zk_wrong", flushOnExit: false });
  await assert.rejects(client.post([{ conversation_id: "c", user_message: "x" }]), (error) => error instanceof ZekeError && error.status === 401);
});
