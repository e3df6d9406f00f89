// aero as a library: load a trained model with its tokenizer, tokenize, generate text (streamed
// piece by piece), and train a model from a config, from any C++17 program.
//
//   find_package(aero REQUIRED)
//   target_link_libraries(app PRIVATE aero::aero)
//
//   auto model = aero::api::Model::load("runs/seed-tiny");
//   model.generate("Xin chào", {}, [](const std::string& piece) {
//     std::cout << piece << std::flush;
//     return true;  // false stops the generation
//   });
//
// These headers are the stable surface: they include nothing of aero's internal layout, which
// may change between versions. Errors are thrown as std::runtime_error (aero's own errors derive
// from it) with a message that starts with the module in brackets: "[checkpoint] ...".
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace aero::api {

// The library's version, "0.1.0".
const char* version();

// Text <-> token ids with the tokenizer a model was trained with (or any tokenizer file: a
// SentencePiece .model, a char tokenizer .json, a GPT-2 vocab.json).
class Tokenizer {
 public:
  static Tokenizer load(const std::string& path);
  Tokenizer(Tokenizer&&) noexcept;
  Tokenizer& operator=(Tokenizer&&) noexcept;
  ~Tokenizer();

  std::vector<int> encode(const std::string& text) const;
  std::string decode(const std::vector<int>& ids) const;
  int vocab_size() const;
  int eos_id() const;  // -1 when the tokenizer has none

  struct Impl;

 private:
  explicit Tokenizer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
  friend class Model;
};

struct LoadOptions {
  std::string weights;    // "f32", "bf16" or "q8"; empty: as stored (f32 for a checkpoint)
  std::string tokenizer;  // tokenizer file; empty: the one recorded with the model
  std::string adapter;    // a LoRA adapter over the model (PEFT directory or aero LoRA run)
  bool unmerged = false;  // keep the adapter apart from the weights instead of merging it
};

struct GenerateOptions {
  int max_new_tokens = 200;
  float temperature = 1.0f;  // 0: greedy
  int top_k = 0;             // 0: off
  float top_p = 1.0f;
  float min_p = 0.0f;
  float repetition_penalty = 1.0f;  // 1: off
  uint64_t seed = 0;
  std::vector<std::string> stop;  // generation ends before any of these strings
  bool stop_at_eos = true;
};

struct Generation {
  std::string text;         // generated text, without the prompt and any stop string
  std::vector<int> tokens;  // generated token ids
  std::string finish;       // "length", "eos", "stop", "cancelled" or "context"
};

// Receives generated text as soon as it is final (whole UTF-8 characters); false stops.
using TextCallback = std::function<bool(const std::string& piece)>;

// A trained model ready to generate. One Model may serve one thread at a time; load it once per
// thread for more.
class Model {
 public:
  // `path`: a run directory or checkpoint (as written by training), or a quantized file.
  static Model load(const std::string& path, const LoadOptions& opts = {});
  Model(Model&&) noexcept;
  Model& operator=(Model&&) noexcept;
  ~Model();

  const Tokenizer& tokenizer() const;
  int context_length() const;  // tokens the model sees at once

  // An empty prompt starts a new document.
  Generation generate(const std::string& prompt, const GenerateOptions& opts = {},
                      const TextCallback& on_text = {}) const;

  struct Impl;

 private:
  explicit Model(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

struct TrainResult {
  int64_t steps = 0;
  double val_loss = 0, test_loss = 0;  // last evaluation; NaN when none ran
  std::string run_dir;                 // holds metrics.jsonl and the checkpoints: Model::load it
  std::string checkpoint;              // the last checkpoint written
};

// Trains as `aero train --config PATH --set ...` does: `overrides` are "section.key=value".
TrainResult train(const std::string& config_path, const std::vector<std::string>& overrides = {});
// The same from the config's JSON text.
TrainResult train_json(const std::string& config_json,
                       const std::vector<std::string>& overrides = {});

}  // namespace aero::api
