// The inference engine: a trained decoder-only transformer (nn/transformer.h: a GPT) turned into
// read-only weights in one format (f32, bf16 or
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
#include "infer/generator.h"
#include "models/model.h"
#include "tokenizer/tokenizer.h"

namespace aero {

enum class WeightFormat : uint8_t { f32, bf16, q8 };
const char* weight_format_name(WeightFormat f);          // "f32", "bf16", "q8"
WeightFormat parse_weight_format(const std::string& s);  // error names the accepted values

struct LoadedModel;

class InferenceModel {
 public:
  // From the parameters of a trained model, converted to `format`. The model's architecture
  // must be a causal transformer stack (its registry row has a `stack`).
  InferenceModel(const ModelConfig& cfg, const ParamStore& store, WeightFormat format);
  // From a checkpoint or run directory (f32 weights converted to `format`), or from a file
  // written by save() / `aero quantize` (its own format; `format` must match or be omitted).
  static std::shared_ptr<const InferenceModel> load(const std::string& path);
  static std::shared_ptr<const InferenceModel> load(const std::string& path, WeightFormat format);
  // From a model loaded from a checkpoint (load_model), its LoRA adapters merged first.
  static std::shared_ptr<const InferenceModel> from(LoadedModel& m, WeightFormat format);
  void save(const std::string& path) const;  // safetensors, atomically

  const TransformerSpec& config() const;  // the stack
  const ModelConfig& model_config() const;
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

// A model with its tokenizer, ready for a generator: `format` empty keeps the file's own (f32
// for a checkpoint), `tokenizer` empty takes the one recorded with the model (an error names the
// model when there is none), `adapter` a LoRA adapter over it (load_model(base, adapter): a PEFT
// directory or an aero LoRA run), merged into the weights, or with `unmerged` kept apart from
// them (as the server keeps several: ServedAdapter). A single transformer stack (causal_lm,
// masked_lm) is converted to an InferenceModel; an encoder-decoder (seq2seq) runs as the model
// itself, its decoder's matrices converted to `format` when the generator starts.
struct LoadedInference {
  std::shared_ptr<const InferenceModel> model;       // a transformer stack; null for seq2seq
  std::shared_ptr<LoadedModel> seq2seq;              // an encoder-decoder; null otherwise
  WeightFormat seq2seq_weights = WeightFormat::f32;  // its decoder's (the encoder runs in f32)
  std::shared_ptr<const Tokenizer> tok;              // the adapter's when there is one
  std::shared_ptr<const ServedAdapter> adapter;      // unmerged: every request answers with it

  const ModelConfig& model_config() const;
  WeightFormat format() const;
};
LoadedInference load_inference(const std::string& path, const std::string& format = "",
                               const std::string& tokenizer = "", const std::string& adapter = "",
                               bool unmerged = false);
// A LoRA adapter over the base model `base` (a checkpoint or run directory), for requests over
// one copy of the base (SeqRequest::adapter): `dir` as load_model(base, dir) takes it, checked
// against the base; its tokenizer is `tokenizer` when given, else the fine-tune's, else the
// base's. An adapter that adds tokens past the base's rows is refused (its tables would differ).
std::shared_ptr<const ServedAdapter> load_served_adapter(const std::string& base,
                                                         const std::string& dir,
                                                         const std::string& name,
                                                         const std::string& tokenizer = "");
// The generator for a loaded model: chosen by its architecture's family.
std::unique_ptr<Generator> make_generator(const LoadedInference& m, EngineOpts opts = {});

class Engine final : public Generator {
 public:
  Engine(std::shared_ptr<const InferenceModel> model, std::shared_ptr<const Tokenizer> tok,
         EngineOpts opts = {});
  ~Engine();

  // Generator: invalid requests (empty prompt, ids outside the vocabulary, bad sampler
  // settings) throw aero::Error naming the field. A step prefills waiting sequences (up to
  // max_batch active; each gets its first token from its prefill) and decodes one token for
  // every other active sequence in one batched pass.
  SeqId add(SeqRequest req) override;
  void cancel(SeqId id) override;
  int step() override;
  int active() const override;
  int waiting() const override;
  const Tokenizer& tokenizer() const override;
  int context() const override;

  const InferenceModel& model() const;

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
// Keeps the first `keep` cached positions, appends tokens and returns the logits of the new
// tokens listed in `rows` (rows.size(), vocab): the diffusion sampler's step, whose stack is
// bidirectional (every new token sees the kept cache and every new token).
std::vector<float> forward_rows(const InferenceModel& model, KvSeq& seq, int keep,
                                const std::vector<int32_t>& tokens, const std::vector<int>& rows);
// forward_rows of several sequences in one pass (one qmatmul per weight for all their tokens;
// attention per sequence against its own cache): logits of each one's rows in turn
// (sum of rows.size(), vocab). after > 0 (a bidirectional stack only): the cache already holds
// `after` positions past the new tokens, which are kept and seen too (the diffusion sampler's
// dual cache), so the cache must hold at least keep + tokens + after positions.
struct RowsInput {
  KvSeq* seq;
  int keep;
  const std::vector<int32_t>* tokens;
  const std::vector<int>* rows;
  int after = 0;
};
std::vector<float> forward_rows(const InferenceModel& model, const std::vector<RowsInput>& in);
// One new token for each of several sequences in one batched pass; logits (n, vocab).
std::vector<float> forward_batch(const InferenceModel& model, const std::vector<KvSeq*>& seqs,
                                 const std::vector<int32_t>& tokens);

}  // namespace aero
