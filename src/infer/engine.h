// The inference engine: a trained GPT turned into read-only weights in one format (f32, bf16 or
// int8 with per-block scales), run without a tape. A prompt is prefilled in one pass, then
// every step decodes one token for each active sequence against its own KV cache. Sequences
// join and leave between steps (continuous batching): the server keeps one Engine and calls
// step() in a loop; `aero generate` and `aero chat` use the same path.
//
// Threading: an Engine is used by one thread at a time (the caller's); the work inside step()
// runs on aero's OpenMP threads. InferenceModel is immutable and may be shared.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "infer/generate.h"
#include "models/gpt.h"
#include "tokenizer/tokenizer.h"

namespace aero {

enum class WeightFormat : uint8_t { f32, bf16, q8 };
const char* weight_format_name(WeightFormat f);          // "f32", "bf16", "q8"
WeightFormat parse_weight_format(const std::string& s);  // error names the accepted values

class InferenceModel {
 public:
  // From the parameters of a trained model (names as in models/gpt.h), converted to `format`.
  InferenceModel(const GptConfig& cfg, const ParamStore& store, WeightFormat format);
  // From a checkpoint or run directory (f32 weights converted to `format`), or from a file
  // written by save() / `aero quantize` (its own format; `format` must match or be omitted).
  static std::shared_ptr<const InferenceModel> load(const std::string& path);
  static std::shared_ptr<const InferenceModel> load(const std::string& path, WeightFormat format);
  void save(const std::string& path) const;  // safetensors, atomically

  const GptConfig& config() const;
  WeightFormat format() const;
  size_t weight_bytes() const;  // bytes of weights read per decoded token
  // Tokenizer path recorded with the weights (the training config's data.tokenizer).
  const std::string& tokenizer_path() const;

  struct Impl;
  const Impl& impl() const { return *impl_; }

 private:
  InferenceModel() = default;
  std::shared_ptr<Impl> impl_;
};

// A model with its tokenizer, ready for an Engine: `format` empty keeps the file's own (f32 for
// a checkpoint), `tokenizer` empty takes the one recorded with the model (an error names the
// model when there is none).
struct LoadedInference {
  std::shared_ptr<const InferenceModel> model;
  std::shared_ptr<const Tokenizer> tok;
};
LoadedInference load_inference(const std::string& path, const std::string& format = "",
                               const std::string& tokenizer = "");

// What happens when a sequence reaches the model's context window.
enum class ContextPolicy : uint8_t { stop, slide };  // slide: drop the oldest half, warn once

struct EngineOpts {
  int max_batch = 32;          // sequences decoded together in one step
  int max_prefill_tokens = 0;  // prompt tokens prefilled per step across sequences (0: no cap)
  ContextPolicy context = ContextPolicy::stop;
};

using SeqId = int64_t;

struct SeqRequest {
  std::vector<int32_t> prompt;  // token ids (not empty); beyond block_size, the newest are kept
  GenerateOpts opts;            // max_new, sampler, stop strings, stop_at_eos
  // Final text as it becomes available (whole UTF-8 characters, never part of a stop string);
  // returning false cancels the sequence.
  TextCallback on_text;
  // Called once when the sequence leaves, with finish "length" | "eos" | "stop" | "cancelled" |
  // "context" and the usage counts below.
  std::function<void(const GenerateResult&, int prompt_tokens)> on_done;
};

class Engine {
 public:
  Engine(std::shared_ptr<const InferenceModel> model, std::shared_ptr<const Tokenizer> tok,
         EngineOpts opts = {});
  ~Engine();

  // Queues a sequence; it is prefilled at a following step(). Invalid requests (empty prompt,
  // ids outside the vocabulary, bad sampler settings) throw aero::Error naming the field.
  SeqId add(SeqRequest req);
  // The sequence leaves at the next step() with finish "cancelled" (no-op if already gone).
  void cancel(SeqId id);
  // Prefills waiting sequences (up to max_batch active; each gets its first token from its
  // prefill), decodes one token for every other active sequence in one batched pass, runs
  // callbacks, retires finished ones. Returns the number of sequences still
  // active or waiting.
  int step();
  // Adds req and steps until nothing is active or waiting; its result (on_done still called).
  GenerateResult run(SeqRequest req);
  int active() const;   // sequences with a KV cache
  int waiting() const;  // added, not yet prefilled

  const InferenceModel& model() const;
  const Tokenizer& tokenizer() const;

 private:
  struct State;
  std::unique_ptr<State> s_;
};

// Low-level access for tests and benchmarks: logits of every position of `tokens` appended to
// a KV cache of this sequence. A KvSeq holds the cache of one sequence.
class KvSeq {
 public:
  explicit KvSeq(const InferenceModel& model);
  ~KvSeq();
  int length() const;  // tokens in the cache
  void clear();
  struct Impl;
  Impl& impl() { return *impl_; }

 private:
  std::unique_ptr<Impl> impl_;
};
// Appends tokens to one sequence and returns logits (tokens.size(), vocab) of each position, or
// with all_logits false only those of the last position (1, vocab): what prefill needs.
std::vector<float> forward_tokens(const InferenceModel& model, KvSeq& seq,
                                  const std::vector<int32_t>& tokens, bool all_logits = true);
// One new token for each of several sequences in one batched pass; logits (n, vocab).
std::vector<float> forward_batch(const InferenceModel& model, const std::vector<KvSeq*>& seqs,
                                 const std::vector<int32_t>& tokens);

}  // namespace aero
