// llama.cpp itself (the prebuilt CPU library of npm's node-llama-cpp, see scripts/llama-cpp.sh)
// timed on a GGUF, for bench/infer_bench to print beside aero's numbers:
//   prefill tokens/s for prompts of 64 and 512 tokens, decode tokens/s over N greedy tokens after
// a 64-token prompt, best of R runs, on `threads` threads. Prints one JSON line:
//   {prefill64, prefill512, decode, decode_native, decode_highlevel, greedy_match}
// Usage: AERO_NODE_LLAMA_CPP=DIR node llama_cpp_bench.mjs FILE.gguf THREADS DECODE REPEAT
//
// prefill* and decode are timed on node-llama-cpp's lowest-level path, the addon's own calls
// (context._ctx: initBatch / addToBatch / decodeBatch, each decodeBatch one llama_decode +
// llama_synchronize on a libuv worker; sampleToken, llama.cpp's greedy sampler on the logits of
// the last position), in a tight loop: per decoded token one llama_decode of one token against
// the KV cache and its greedy pick, the same work aero's decode_rate times. The high-level
// LlamaContextSequence.evaluate() generator (batch scheduler, locks, token meter, EOG check) is
// timed too, as decode_highlevel, and its greedy tokens must equal the loop's (greedy_match).
// decode_native: llama.cpp's own eval timer (llama_perf_context, the time inside llama_decode of
// the single-token batches) over the same loop, i.e. tokens/s with no JS at all.
//
// libuv's thread pool is cut to one thread (the script re-runs itself with UV_THREADPOOL_SIZE=1):
// the addon runs every llama_decode as a libuv work item, and with the default pool of 4 the
// calls hop between 4 threads; then llama.cpp's own eval timer read 54-67 tokens/s for the q8_0
// decode on this 2-vCPU VM where a C program calling llama_decode from one thread on the same
// library got 160-199 (and the profile was >90% ggml_barrier: llama.cpp's 2 compute threads
// spinning, waiting for each other). With one pool thread llama_decode is always called from
// the same thread, as llama-bench calls it, and runs at that native speed.
import {spawnSync} from "node:child_process";
import path from "node:path";

if (process.env.UV_THREADPOOL_SIZE !== "1") {
  const child = spawnSync(process.execPath, process.argv.slice(1),
                          {stdio: "inherit", env: {...process.env, UV_THREADPOOL_SIZE: "1"}});
  process.exit(child.status ?? 1);
}

const dir = process.env.AERO_NODE_LLAMA_CPP;
const {getLlama, LlamaLogLevel} =
    await import(path.join(dir, "node_modules/node-llama-cpp/dist/index.js"));
const [modelPath, threads, decode, repeat] =
    [process.argv[2], +process.argv[3], +process.argv[4], +process.argv[5]];
// llama.cpp's info log is needed for llama_perf_context_print (decode_native); the lines are
// kept here, not printed: stdout must hold only the JSON line.
const logs = [];
const llama = await getLlama({gpu: false, build: "never", logLevel: LlamaLogLevel.info,
                              logger: (level, message) => logs.push(message), maxThreads: threads});
const model = await llama.loadModel({modelPath});
const context = await model.createContext({contextSize: 1024, batchSize: 512, threads,
                                           performanceTracking: true});
const vocab = model.tokens.count ?? 256;
// Token ids 10.. (no special tokens), the same for every run.
const prompt = (n) => Array.from({length: n}, (_, i) => 10 + (i * 7919) % (vocab - 10));
const now = () => performance.now();

// Milliseconds per single-token llama_decode since the last call, by llama.cpp's own timer
// ("eval time = X ms / N runs"; prompt batches count under "prompt eval time").
async function nativeEvalMs() {
  logs.length = 0;
  await context.printTimings();  // llama_perf_context_print + llama_perf_context_reset
  const m = logs.join("").match(/(?<!prompt )eval time =\s*([\d.]+) ms \/\s*(\d+) runs/);
  return m && +m[2] > 0 ? +m[1] / +m[2] : NaN;
}

// The addon's calls in a tight loop. Sampler: llama.cpp's greedy sampler (temperature 0).
const ctx = context._ctx;
const sampler = new llama._bindings.AddonSampler(model._model);
sampler.applyConfig({temperature: 0});

async function run(n, newTokens) {
  const seq = context.getSequence();  // reserves the sequence id; its KV cells start empty
  const id = seq._sequenceId;
  ctx.setThreads(threads);
  const tokens = [];
  const t0 = now();
  ctx.initBatch(n);
  const [logitIndex] = ctx.addToBatch(id, 0, Uint32Array.from(prompt(n)), Uint32Array.of(n - 1));
  await ctx.decodeBatch();
  let token = await ctx.sampleToken(logitIndex, sampler);
  const t1 = now();
  await nativeEvalMs();  // reset the counters: the decode steps only
  const t2 = now();
  tokens.push(token);
  for (let i = 0; i < newTokens; i++) {
    ctx.initBatch(1);
    ctx.addToBatch(id, n + i, Uint32Array.of(token), Uint32Array.of(0));
    await ctx.decodeBatch();
    token = await ctx.sampleToken(0, sampler);
    tokens.push(token);
  }
  const t3 = now();
  const native = newTokens > 0 ? await nativeEvalMs() : NaN;
  seq.dispose();  // frees its KV cells (llama_memory_seq_rm)
  return {prefill: n / ((t1 - t0) / 1e3), decode: newTokens / ((t3 - t2) / 1e3),
          native: 1e3 / native, tokens};
}

// The same through node-llama-cpp's public generator, for reference.
async function runHighLevel(n, newTokens) {
  const seq = context.getSequence();
  const tokens = [];
  let t1 = 0;
  for await (const token of seq.evaluate(prompt(n), {temperature: 0})) {
    if (tokens.length === 0) t1 = now();  // first token: the prompt is processed
    tokens.push(token);
    if (tokens.length > newTokens) break;
  }
  const t2 = now();
  seq.dispose();
  // evaluate() stops early at an end-of-generation token: count the steps that ran.
  return {decode: (tokens.length - 1) / ((t2 - t1) / 1e3), tokens};
}

const best = {prefill64: 0, prefill512: 0, decode: 0, decode_native: 0, decode_highlevel: 0,
              greedy_match: true};
for (let r = 0; r < repeat; r++) {
  best.prefill64 = Math.max(best.prefill64, (await run(64, 0)).prefill);
  best.prefill512 = Math.max(best.prefill512, (await run(512, 0)).prefill);
  const low = await run(64, decode);
  best.decode = Math.max(best.decode, low.decode);
  if (low.native > 0) best.decode_native = Math.max(best.decode_native, low.native);
  const high = await runHighLevel(64, decode);
  best.decode_highlevel = Math.max(best.decode_highlevel, high.decode);
  best.greedy_match &&= high.tokens.every((t, i) => t === low.tokens[i]);
}
if (!best.greedy_match)
  console.error("llama_cpp_bench: the addon loop's greedy tokens differ from evaluate()'s");
console.log(JSON.stringify(best));
process.exit(0);
