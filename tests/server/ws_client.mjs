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
// one): their jobs end as "cancelled" with no tokens generated, over WebSocket and over HTTP.
const long = JSON.stringify({ messages: [{ role: "user", content: "tell me about the river" }], max_tokens: 180, stream: true });
const hdrs = { ...headers, "Content-Type": "application/json" };
let firstToken;
const started = new Promise((r) => (firstToken = r));
const blockers = Array.from({ length: 60 }, async () => {
  const res = await fetch(process.env.AERO_URL + "/v1/chat/completions", { method: "POST", headers: hdrs, body: long });
  for await (const _ of res.body) firstToken();
});
await started;  // the engine is busy and the queue is long
const ws2 = await open();
ws2.send(JSON.stringify({ message: "tell me about the river", max_tokens: 100 }));
const abort = new AbortController();
const leaving = fetch(process.env.AERO_URL + "/v1/chat/completions", { method: "POST", headers: hdrs, body: long, signal: abort.signal }).catch(() => null);
await new Promise((r) => setTimeout(r, 30));
ws2.terminate();
abort.abort();
await leaving;
await Promise.all(blockers);
const audit = fs.readFileSync(process.env.AERO_AUDIT, "utf8").trim().split("\n").map((l) => JSON.parse(l));
const wsCancelled = audit.find((l) => l.endpoint === "/ws" && l.finish === "cancelled");
const httpCancelled = audit.find((l) => l.endpoint === "/v1/chat/completions" && l.finish === "cancelled");
assert.ok(wsCancelled, "a cancelled /ws entry in the audit log");
assert.ok(httpCancelled, "a cancelled /v1/chat/completions entry in the audit log");
assert.equal(wsCancelled.completion_tokens, 0);
assert.equal(httpCancelled.completion_tokens, 0);
const finished = audit.filter((l) => l.endpoint === "/v1/chat/completions" && l.status === 200 && l.completion_tokens > 0);
assert.equal(finished.length, 60, "the others ran to their end");
console.log("cancelled while queued: /ws and HTTP; 60 others finished");
console.log("ws ok");
