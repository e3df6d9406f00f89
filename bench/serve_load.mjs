// Load client for aero serve: C concurrent clients, each sending streaming chat completions back
// to back for a fixed number of requests; prints aggregate generated tokens/s, p50/p95 latency
// and time to first token, and the error count, as one JSON line.
//   node serve_load.mjs URL KEY CONCURRENCY REQUESTS_PER_CLIENT MAX_TOKENS
const [url, key, conc, perClient, maxTokens] = process.argv.slice(2);
const C = Number(conc), N = Number(perClient), M = Number(maxTokens);
const headers = { "Content-Type": "application/json" };
if (key) headers.Authorization = "Bearer " + key;

async function one(i) {
  const body = JSON.stringify({
    messages: [{ role: "user", content: "tell me about the fox number " + i }],
    max_tokens: M, stream: true, temperature: 0.8, seed: i,
    stream_options: { include_usage: true },
  });
  const t0 = performance.now();
  const res = await fetch(url + "/v1/chat/completions", { method: "POST", headers, body });
  if (res.status !== 200) { await res.text(); return { error: res.status }; }
  let ttft = null, tokens = 0, buf = "", done = false;
  const dec = new TextDecoder();
  for await (const part of res.body) {
    buf += dec.decode(part, { stream: true });
    let at;
    while ((at = buf.indexOf("\n\n")) >= 0) {
      const line = buf.slice(0, at); buf = buf.slice(at + 2);
      if (!line.startsWith("data: ")) continue;
      if (line === "data: [DONE]") { done = true; continue; }
      const c = JSON.parse(line.slice(6));
      if (c.usage) tokens = c.usage.completion_tokens;
      if (ttft === null && c.choices.some((x) => x.delta && x.delta.content)) ttft = performance.now() - t0;
    }
  }
  if (!done) return { error: "cut" };
  return { latency: performance.now() - t0, ttft: ttft ?? performance.now() - t0, tokens };
}

const pct = (xs, p) => { const s = [...xs].sort((a, b) => a - b); return s[Math.min(s.length - 1, Math.floor(p * s.length))]; };
const results = [];
const t0 = performance.now();
await Promise.all(Array.from({ length: C }, async (_, c) => {
  for (let k = 0; k < N; k++) results.push(await one(c * N + k));
}));
const wall = (performance.now() - t0) / 1000;
const ok = results.filter((r) => !r.error);
const tokens = ok.reduce((a, r) => a + r.tokens, 0);
console.log(JSON.stringify({
  concurrency: C, requests: results.length, errors: results.length - ok.length,
  tokens, wall_s: +wall.toFixed(2), tokens_per_s: +(tokens / wall).toFixed(1),
  p50_ms: +pct(ok.map((r) => r.latency), 0.5).toFixed(0), p95_ms: +pct(ok.map((r) => r.latency), 0.95).toFixed(0),
  ttft_p50_ms: +pct(ok.map((r) => r.ttft), 0.5).toFixed(0),
  ttft_p95_ms: +pct(ok.map((r) => r.ttft), 0.95).toFixed(0),
}));
