// llama.cpp itself (the prebuilt CPU library of npm's node-llama-cpp, see scripts/llama-cpp.sh)
// timed on a GGUF, for bench/infer_bench to print beside aero's numbers:
//   prefill tokens/s for prompts of 64 and 512 tokens, decode tokens/s over N greedy tokens,
// best of R runs, on `threads` threads. Prints one JSON line.
// Usage: AERO_NODE_LLAMA_CPP=DIR node llama_cpp_bench.mjs FILE.gguf THREADS DECODE REPEAT
import path from "node:path";

const dir = process.env.AERO_NODE_LLAMA_CPP;
const {getLlama, LlamaLogLevel} =
    await import(path.join(dir, "node_modules/node-llama-cpp/dist/index.js"));
const [modelPath, threads, decode, repeat] =
    [process.argv[2], +process.argv[3], +process.argv[4], +process.argv[5]];
const llama = await getLlama({gpu: false, build: "never", logLevel: LlamaLogLevel.error,
                              maxThreads: threads});
const model = await llama.loadModel({modelPath});
const context = await model.createContext({contextSize: 1024, batchSize: 512, threads});
const vocab = model.tokens.count ?? 256;
// Token ids 10.. (no special tokens), the same for every run.
const prompt = (n) => Array.from({length: n}, (_, i) => 10 + (i * 7919) % (vocab - 10));
const greedy = {temperature: 0};

async function run(n, newTokens) {
  const seq = context.getSequence();
  const t0 = performance.now();
  let t1 = 0, got = 0;
  for await (const _ of seq.evaluate(prompt(n), greedy)) {
    if (got === 0) t1 = performance.now();  // first token: the prompt is processed
    if (++got > newTokens) break;
  }
  const t2 = performance.now();
  seq.dispose();
  return {prefill: n / ((t1 - t0) / 1e3), decode: newTokens / ((t2 - t1) / 1e3)};
}

const best = {prefill64: 0, prefill512: 0, decode: 0};
for (let r = 0; r < repeat; r++) {
  best.prefill64 = Math.max(best.prefill64, (await run(64, 0)).prefill);
  const long = await run(512, 0);
  best.prefill512 = Math.max(best.prefill512, long.prefill);
  best.decode = Math.max(best.decode, (await run(64, decode)).decode);
}
console.log(JSON.stringify(best));
process.exit(0);
