// The ws package against /ws: one message streams token messages then an end message with the
// session id and usage; a second message on the same session continues it; a bad message gets
// an error message and the connection keeps serving; a client that closes mid-reply cancels it.
import assert from "node:assert/strict";
import fs from "node:fs";
import WebSocket from "ws";

const url = process.env.AERO_URL.replace("http", "ws") + "/ws";
const headers = { Authorization: "Bearer " + process.env.AERO_KEY };

function open(opts = { headers }) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, opts);
    ws.once("open", () => resolve(ws));
    ws.once("unexpected-response", (_req, res) => reject(new Error("status " + res.statusCode)));
    ws.once("error", reject);
  });
}

// Sends one message; resolves with {tokens, end} or {error}.
function turn(ws, msg) {
  return new Promise((resolve) => {
    const tokens = [];
    const onMessage = (data) => {
      const m = JSON.parse(data.toString());
      if (m.type === "token") tokens.push(m.text);
      if (m.type === "end" || m.type === "error") {
        ws.off("message", onMessage);
        resolve({ tokens, end: m.type === "end" ? m : null, error: m.type === "error" ? m.error : null });
      }
    };
    ws.on("message", onMessage);
    ws.send(typeof msg === "string" ? msg : JSON.stringify(msg));
  });
}

await assert.rejects(open({}), /status 401/);
await assert.rejects(open({ headers: { Authorization: "Bearer sk-aero-bad" } }), /status 401/);

const ws = await open();
const a = await turn(ws, { message: "tell me about the moon", max_tokens: 12, temperature: 0.5, seed: 3 });
assert.equal(a.error, null);
assert.ok(a.tokens.length >= 1, "token messages");
assert.match(a.end.session_id, /^[A-Za-z0-9_-]+$/);
assert.equal(a.end.usage.completion_tokens > 0, true);
assert.ok(["stop", "length"].includes(a.end.finish_reason));
console.log("turn 1:", JSON.stringify(a.tokens.join("")), a.end.usage);

const b = await turn(ws, { session_id: a.end.session_id, message: "and the star?", max_tokens: 8 });
assert.equal(b.end.session_id, a.end.session_id);
assert.ok(b.end.usage.prompt_tokens > a.end.usage.prompt_tokens, "history is in the prompt");

const bad = await turn(ws, "{not json");
assert.match(bad.error.message, /malformed JSON/);
const bad2 = await turn(ws, { message: "hi", top_k: -1 });
assert.match(bad2.error.message, /top_k/);
const c = await turn(ws, { message: "tell me about the sun", max_tokens: 4 });
assert.ok(c.end, "still serving after errors");
ws.close();

const res = await fetch(process.env.AERO_URL + "/v1/sessions/" + a.end.session_id, { headers });
const s = await res.json();
assert.equal(s.messages.length, 4);
assert.equal(s.messages[1].content, a.tokens.join(""));

// Clients that leave while their request waits behind others (the server runs with a batch of
// one): their jobs end as "cancelled" (with no tokens when still queued), over WebSocket and HTTP.
const long = JSON.stringify({ messages: [{ role: "user", content: "tell me about the river" }], max_tokens: 180, stream: true });
const hdrs = { ...headers, "Content-Type": "application/json" };
let firstToken;
const started = new Promise((r) => (firstToken = r));
const blockers = Array.from({ length: 100 }, async () => {
  const res = await fetch(process.env.AERO_URL + "/v1/chat/completions", { method: "POST", headers: hdrs, body: long });
  for await (const _ of res.body) firstToken();
});
await started;
// Wait until many of the others are queued: the jobs below then wait behind >= 40 × 180 tokens.
let depth = 0;
for (const t0 = Date.now(); depth < 40 && Date.now() - t0 < 20000; ) {
  const text = await (await fetch(process.env.AERO_URL + "/metrics", { headers })).text();
  depth = Number(/^aero_queue_depth (\d+)$/m.exec(text)[1]);
}
assert.ok(depth >= 40, "the queue filled up");
// Each stream starts when its request is admitted ("start" / the SSE headers): leave right then.
const ws2 = await open();
await new Promise((resolve) => {
  ws2.on("message", (data) => { if (JSON.parse(data.toString()).type === "start") resolve(); });
  ws2.send(JSON.stringify({ message: "tell me about the river", max_tokens: 100 }));
});
ws2.terminate();
const abort = new AbortController();
const leaving = await fetch(process.env.AERO_URL + "/v1/chat/completions", { method: "POST", headers: hdrs, body: long, signal: abort.signal });
assert.equal(leaving.status, 200);
abort.abort();
await Promise.all(blockers);
let audit = [];
for (let i = 0; i < 100; i++) {  // the two cancelled jobs end when the scheduler reaches them
  audit = fs.readFileSync(process.env.AERO_AUDIT, "utf8").trim().split("\n").map((l) => JSON.parse(l));
  if (audit.filter((l) => l.finish === "cancelled").length >= 2) break;
  await new Promise((r) => setTimeout(r, 50));
}
const wsCancelled = audit.find((l) => l.endpoint === "/ws" && l.finish === "cancelled");
const httpCancelled = audit.find((l) => l.endpoint === "/v1/chat/completions" && l.finish === "cancelled");
assert.ok(wsCancelled, "a cancelled /ws entry in the audit log");
assert.ok(httpCancelled, "a cancelled /v1/chat/completions entry in the audit log");
assert.ok(wsCancelled.completion_tokens < 100, "stopped early");
assert.ok(httpCancelled.completion_tokens < 180, "stopped early");
const finished = audit.filter((l) => l.endpoint === "/v1/chat/completions" && l.status === 200 && l.completion_tokens > 0);
assert.equal(finished.length, 100, "the others ran to their end");
console.log("cancelled while queued: /ws and HTTP; 100 others finished");
console.log("ws ok");
