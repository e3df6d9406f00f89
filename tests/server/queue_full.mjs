// A burst of streaming requests against a queue of one and a batch of one: the first runs, one
// waits, the rest get 503 with Retry-After and OpenAI's error shape; every admitted stream ends
// with [DONE]; afterwards the server serves again.
import assert from "node:assert/strict";

const url = process.env.AERO_URL + "/v1/chat/completions";
const headers = { Authorization: "Bearer " + process.env.AERO_KEY, "Content-Type": "application/json" };
const body = JSON.stringify({ messages: [{ role: "user", content: "tell me about the fox" }], max_tokens: 100, stream: true });

async function one() {
  const res = await fetch(url, { method: "POST", headers, body });
  const text = await res.text();
  return { status: res.status, retry: res.headers.get("retry-after"), text };
}
const results = await Promise.all(Array.from({ length: 40 }, one));
const by = {};
for (const r of results) by[r.status] = (by[r.status] || 0) + 1;
console.log("statuses:", by);
assert.ok(by[200] >= 1 && by[503] >= 1, "some served, some refused");
assert.equal(by[200] + by[503], results.length);
for (const r of results) {
  if (r.status === 200) assert.match(r.text, /data: \[DONE\]\n\n$/);
  else {
    assert.ok(Number(r.retry) >= 1);
    assert.match(JSON.parse(r.text).error.message, /queue is full/);
  }
}
const again = await one();
assert.equal(again.status, 200);
