// llama.cpp itself (the prebuilt library of the npm package node-llama-cpp) on a GGUF: prints
// {"tokens": [...], "logprobs": [...]}: its tokenization of TEXT (no BOS, special tokens not
// parsed) and the log-probabilities of the next token after it (temperature 1, no filters).
// Usage: AERO_NODE_LLAMA_CPP=DIR node llama_cpp_probs.mjs FILE.gguf TEXT
// (DIR holds node_modules/node-llama-cpp; see tests/formats.cmake.)
import path from "node:path";

const dir = process.env.AERO_NODE_LLAMA_CPP;
const {getLlama, LlamaLogLevel} =
    await import(path.join(dir, "node_modules/node-llama-cpp/dist/index.js"));
const [modelPath, text] = [process.argv[2], process.argv[3]];
const llama = await getLlama({gpu: false, build: "never", logLevel: LlamaLogLevel.error});
const model = await llama.loadModel({modelPath});
const tokens = Array.from(model.tokenize(text, false));
const context = await model.createContext({contextSize: model.trainContextSize});
const options = {temperature: 1, topK: 0, topP: 1, minP: 0};
const gen = context.getSequence().evaluateWithMetadata(tokens, {probabilities: true}, options);
const {probabilities} = (await gen.next()).value;
const logprobs = [];
for (const [t, p] of probabilities) logprobs[t] = Math.log(p);
console.log(JSON.stringify({tokens, logprobs}));
process.exit(0);
