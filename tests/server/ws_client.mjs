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

// Close in the middle of a long reply: the server cancels it, and the audit log says so.
const ws2 = await open();
await new Promise((resolve) => {
  ws2.on("message", (data) => {
    if (JSON.parse(data.toString()).type === "token") { ws2.terminate(); resolve(); }
  });
  ws2.send(JSON.stringify({ message: "tell me about the river", max_tokens: 180, temperature: 1 }));
});
let cancelled = null;
for (let i = 0; i < 100 && !cancelled; i++) {
  await new Promise((r) => setTimeout(r, 50));
  const lines = fs.readFileSync(process.env.AERO_AUDIT, "utf8").trim().split("\n").map((l) => JSON.parse(l));
  cancelled = lines.find((l) => l.endpoint === "/ws" && l.finish === "cancelled");
}
assert.ok(cancelled, "a cancelled /ws entry in the audit log");
assert.ok(cancelled.completion_tokens < 180, "stopped early");
console.log("cancelled after", cancelled.completion_tokens, "tokens");
console.log("ws ok");
