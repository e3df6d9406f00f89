// The official openai package against /v1/chat/completions: a plain call with usage, a
// streamed call assembled from chunks, the typed errors for a bad key (401) and a bad request
// (400), and /v1/models.
import assert from "node:assert/strict";
import OpenAI from "openai";

const client = new OpenAI({ baseURL: process.env.AERO_URL + "/v1", apiKey: process.env.AERO_KEY, maxRetries: 0 });
const messages = [{ role: "user", content: "tell me about the fox" }];

const models = await client.models.list();
assert.equal(models.data.length, 1);
const model = models.data[0].id;

const r = await client.chat.completions.create({ model, messages, max_tokens: 16, temperature: 0 });
assert.equal(r.object, "chat.completion");
assert.equal(r.choices.length, 1);
assert.equal(r.choices[0].message.role, "assistant");
assert.ok(r.usage.prompt_tokens > 0 && r.usage.completion_tokens > 0 && r.usage.completion_tokens <= 16);
assert.ok(["stop", "length"].includes(r.choices[0].finish_reason));
console.log("plain:", JSON.stringify(r.choices[0].message.content), r.usage);

const stream = await client.chat.completions.create({
  model, messages, max_tokens: 16, temperature: 0, stream: true, stream_options: { include_usage: true },
});
let text = "", chunks = 0, finish = null, usage = null;
for await (const chunk of stream) {
  chunks++;
  if (chunk.usage) usage = chunk.usage;
  for (const c of chunk.choices) {
    text += c.delta?.content ?? "";
    if (c.finish_reason) finish = c.finish_reason;
  }
}
console.log("streamed:", JSON.stringify(text), chunks, "chunks");
assert.ok(chunks >= 3);
assert.equal(text, r.choices[0].message.content, "greedy: streamed text equals the plain reply");
assert.equal(finish, r.choices[0].finish_reason);
assert.equal(usage.completion_tokens, r.usage.completion_tokens);

const bad = new OpenAI({ baseURL: process.env.AERO_URL + "/v1", apiKey: "sk-aero-nope", maxRetries: 0 });
await assert.rejects(bad.chat.completions.create({ model, messages }), (e) => e.status === 401 && /API key/.test(e.message));
await assert.rejects(client.chat.completions.create({ model, messages, max_tokens: -1 }),
  (e) => e.status === 400 && /max_tokens/.test(e.message));
await assert.rejects(client.chat.completions.create({ model, messages, n: 3 }), (e) => e.status === 400 && /n must be 1/.test(e.message));
console.log("errors: 401 and 400 as typed errors");
