// The model family: every architecture is one row of a registry (models/registry.cpp), and the
// trainer, the engine, checkpoints, the server and the CLI reach a model only through the types
// here. Adding an architecture is one model file and one row (docs/adding-a-model.md).
#pragma once
#include <memory>
#include <nlohmann/json.hpp>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "autograd/tape.h"
#include "core/config.h"
#include "kernels/quant.h"
#include "nn/layers.h"
#include "nn/params.h"
#include "nn/token_rows.h"
#include "nn/transformer.h"

namespace aero {

// What a model is trained for and generated with: which objectives and which generator apply.
enum class ModelFamily : uint8_t {
  causal_lm,  // next-token prediction; KV-cache decoding
  masked_lm,  // masked diffusion; iterative unmasking
  seq2seq,    // encoder-decoder; encoder once, decoder with a KV cache
};
const EnumNames<ModelFamily>& family_names();

// The tensors one forward pass reads.
struct LoraWeights;

struct ModelInput {
  Tensor ids;          // (B, T) i32: the tokens (a seq2seq model: the decoder's input)
  Tensor source_ids;   // (B, S) i32: a seq2seq model's encoder input; undefined otherwise
  Tensor source_mask;  // (B, S) i32, 1 = token, 0 = padding; undefined: no padding
};

// An encoder-decoder's incremental decoding (family seq2seq): the encoder ran once when it was
// made; each step feeds one decoder token per row, with self-attention keys and values cached
// and cross-attention keys and values computed once.
class Seq2SeqDecoding {
 public:
  virtual ~Seq2SeqDecoding() = default;
  // ids (B, 1) i32, the next decoder input of every row -> logits (B, 1, vocab) (owning).
  virtual Tensor step(const Tensor& ids) = 0;
  virtual int32_t start_id() const = 0;  // the first decoder input
  virtual int32_t eos_id() const = 0;
};

// Rows of several requests decoded together (family seq2seq): continuous batching and beam
// search. Every row has its own encoder output (its source, unpadded) and its own
// self-attention cache; rows join, fork and leave between steps, and a step advances the rows
// it is given by one token each in one batched pass (one product per weight for all of them).
class Seq2SeqRows {
 public:
  virtual ~Seq2SeqRows() = default;
  // A new row decoding src (S) i32: the encoder runs once and the cross-attention keys and
  // values are computed once. `adapter`: a LoRA adapter the row answers with, over the
  // unmerged base (null: the base). Returns the row's handle.
  virtual int add(std::span<const int32_t> src, const LoraWeights* adapter = nullptr) = 0;
  // A new row with `row`'s decoder state so far, sharing its encoder output (a beam).
  virtual int fork(int row) = 0;
  virtual void remove(int row) = 0;
  virtual int length(int row) const = 0;  // decoder tokens the row has seen
  // ids[i] is the next decoder input of rows[i] (distinct rows) -> logits (n, vocab), owning.
  virtual Tensor step(std::span<const int> rows, std::span<const int32_t> ids) = 0;
  virtual int32_t start_id() const = 0;  // the first decoder input
  virtual int32_t eos_id() const = 0;
  // Bytes of weights one step reads whatever its rows (the decoder's matrices, scales and norms,
  // and the head): what bounds a step's speed at batch 1.
  virtual size_t step_weight_bytes() const = 0;
};

// A model built for training: its parameters live in the ParamStore it was built on.
class Model {
 public:
  virtual ~Model() = default;
  // -> logits (B, T, vocab)
  virtual Var forward(Tape& tape, const ModelInput& in) = 0;
  // Every Linear, named as PEFT would match it: where adapters (LoRA) attach.
  virtual std::vector<Linear*> linears() = 0;
  // The input embedding and the untied output head: where added tokens get rows.
  virtual TokenTables token_tables() { return {}; }
  // Seq2seq models: decoding of src (B, S) with mask (B, S) (undefined: no padding); nullptr
  // for other families.
  virtual std::unique_ptr<Seq2SeqDecoding> start_decoding(const Tensor& src, const Tensor& mask) {
    (void)src;
    (void)mask;
    return nullptr;
  }
  // Seq2seq models: an empty set of rows for continuous batching, the decoder's weights in
  // `weights` (the encoder runs in f32); nullptr for other families.
  virtual std::unique_ptr<Seq2SeqRows> start_rows(QFormat weights = QFormat::f32) {
    (void)weights;
    return nullptr;
  }
};

// Parameter counts by part, for `aero info`.
struct ParamReport {
  struct Row {
    std::string part;
    int64_t count = 0;
    int per = 0;  // > 0: a count per layer, repeated this many times
  };
  std::string summary;    // one or two lines describing the architecture
  std::vector<Row> rows;  // by part; norms and biases are separate totals
  int64_t weights = 0;    // everything but norms and biases
  int64_t norms = 0, biases = 0, total = 0;
};

// One architecture's config behind its field table (TableConfig below is the one
// implementation): what ModelConfig holds.
class ArchConfig {
 public:
  virtual ~ArchConfig() = default;
  virtual std::unique_ptr<ArchConfig> clone() const = 0;
  virtual void from_json(const nlohmann::json& j) = 0;  // unknown keys are errors
  virtual nlohmann::json to_json() const = 0;
  virtual void set(const std::string& key, const std::string& value) = 0;
  virtual std::string help() const = 0;
  virtual void validate() const = 0;
  virtual int vocab_size() const = 0;
  virtual int context() const = 0;
};

struct Arch;

// A model's configuration, whatever its architecture: {"arch": "gpt", ...the arch's fields}.
// A value type (copies are deep). Without "arch", a config is a GPT's, so every config and
// checkpoint written before architectures existed still loads.
class ModelConfig {
 public:
  ModelConfig();                                  // gpt, defaults
  explicit ModelConfig(const std::string& arch);  // that architecture's defaults
  ModelConfig(const ModelConfig& o);
  ModelConfig& operator=(const ModelConfig& o);
  ModelConfig(ModelConfig&&) noexcept = default;
  ModelConfig& operator=(ModelConfig&&) noexcept = default;

  // "arch" picks the row (default gpt); every other key must be one of its fields.
  static ModelConfig from_json(const nlohmann::json& j);
  nlohmann::json to_json() const;  // "arch" first, then every field
  // `--set model.key=value`; key "arch" switches to that architecture's defaults.
  void set(const std::string& key, const std::string& value);

  const Arch& arch() const { return *arch_; }
  int vocab_size() const { return cfg_->vocab_size(); }
  int context() const { return cfg_->context(); }
  void validate() const { cfg_->validate(); }
  const ArchConfig& fields() const { return *cfg_; }

  // The typed config, for the architecture's own file: as<GptConfig>().
  template <typename C>
  const C& as() const;
  template <typename C>
  C& as();

 private:
  const Arch* arch_;
  std::unique_ptr<ArchConfig> cfg_;
};

// A config struct C with its FieldTable. C provides validate(), vocab_size and context().
template <typename C>
class TableConfig final : public ArchConfig {
 public:
  explicit TableConfig(const FieldTable<C>& table) : table_(table) {}
  std::unique_ptr<ArchConfig> clone() const override {
    return std::make_unique<TableConfig>(*this);
  }
  void from_json(const nlohmann::json& j) override { table_.from_json(value, j); }
  nlohmann::json to_json() const override { return table_.to_json(value); }
  void set(const std::string& key, const std::string& v) override {
    table_.set_from_string(value, key, v);
  }
  std::string help() const override { return table_.help(); }
  void validate() const override { value.validate(); }
  int vocab_size() const override { return value.vocab_size; }
  int context() const override { return value.context(); }

  C value{};

 private:
  const FieldTable<C>& table_;
};

template <typename C>
const C& ModelConfig::as() const {
  const auto* t = dynamic_cast<const TableConfig<C>*>(cfg_.get());
  AERO_CHECK(t != nullptr, "[model] internal: config of another architecture");
  return t->value;
}
template <typename C>
C& ModelConfig::as() {
  auto* t = dynamic_cast<TableConfig<C>*>(cfg_.get());
  AERO_CHECK(t != nullptr, "[model] internal: config of another architecture");
  return t->value;
}

// A model read from another tool's files (`aero import NAME`): its config, its weights under
// aero's names and layout, and the tokenizer files that came with it.
struct ImportedModel {
  ModelConfig cfg;
  std::vector<std::pair<std::string, Tensor>> weights;
  std::vector<std::string> tokenizer_files;  // copied beside the checkpoint; the first is loaded
  std::vector<std::string> special_tokens;   // added to that tokenizer, in order (T5's sentinels)
};
struct Importer {
  const char* name;  // the `aero import` subcommand, e.g. "hf-gpt2"
  const char* help;
  ImportedModel (*read)(const std::string& dir);
};

// One architecture: its row in the registry.
struct Arch {
  const char* name;  // "gpt": the "arch" of configs and checkpoints
  const char* summary;
  ModelFamily family;
  std::unique_ptr<ArchConfig> (*new_config)();  // defaults
  // Declares every parameter in `store` (finalize() it afterwards) and returns the model.
  std::unique_ptr<Model> (*build)(const ModelConfig& cfg, ParamStore& store);
  // `aero info`: counts by part from the declared parameters.
  ParamReport (*report)(const ModelConfig& cfg, const ParamStore& store);
  // The stack the KV-cache engine and the GGUF exporter run; nullptr when the architecture is
  // not a single transformer stack.
  TransformerSpec (*stack)(const ModelConfig& cfg);
  std::vector<Importer> importers;
  // A small valid config (JSON fields over the defaults): what tests/unit/test_models.cpp holds
  // every row to, in well under a second.
  const char* tiny = "{}";
};

// Every architecture, in registry order.
const std::vector<const Arch*>& archs();
// The row named `name`; the error lists the known ones.
const Arch& find_arch(const std::string& name);
// The importer named `name` (an `aero import` subcommand) of any architecture.
const Importer& find_importer(const std::string& name);

// Builds cfg's model on a store (not finalized).
std::unique_ptr<Model> build_model(const ModelConfig& cfg, ParamStore& store);

}  // namespace aero
