// What the server's scheduler, `aero generate` and `aero chat` drive, whatever the model: a
// generator takes sequences, advances every active one together each step (continuous
// batching), and reports text and completion through callbacks. The KV-cache decoder (Engine)
// is one; seq2seq and diffusion generators are the others.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "infer/generate.h"
#include "nn/lora.h"
#include "tokenizer/tokenizer.h"

namespace aero {

// What happens when a sequence reaches the model's context window.
enum class ContextPolicy : uint8_t { stop, slide };  // slide: drop the oldest half, warn once

struct EngineOpts {
  int max_batch = 32;          // sequences decoded together in one step
  int max_prefill_tokens = 0;  // prompt tokens prefilled per step across sequences (0: no cap)
  ContextPolicy context = ContextPolicy::stop;
};

using SeqId = int64_t;

// A LoRA adapter over a generator's base model kept apart from it (unmerged), so that several
// share one copy of the base and each request chooses its own (SeqRequest::adapter).
struct ServedAdapter {
  std::string name;
  std::shared_ptr<const LoraWeights> weights;
  std::shared_ptr<const Tokenizer> tok;  // the fine-tune's, with the tokens it added
};

struct SeqRequest {
  std::vector<int32_t> prompt;  // token ids (not empty); beyond block_size, the newest are kept
  GenerateOpts opts;            // max_new, sampler, stop strings, stop_at_eos
  // Final text as it becomes available (whole UTF-8 characters, never part of a stop string);
  // returning false cancels the sequence.
  TextCallback on_text;
  // Generators that refine the whole answer in place (masked diffusion) call this after each
  // step with the answer so far, still-masked positions shown as "░"; others never do.
  std::function<void(const std::string& draft)> on_draft;
  // Called once when the sequence leaves, with finish "length" | "eos" | "stop" | "cancelled" |
  // "context" and the usage counts below.
  std::function<void(const GenerateResult&, int prompt_tokens)> on_done;
  // The adapter to answer with over the base model; null: the base itself. Its tokenizer
  // decodes the answer (the prompt's ids must come from it too).
  std::shared_ptr<const ServedAdapter> adapter;
};

class Generator {
 public:
  virtual ~Generator() = default;
  // Queues a sequence; it starts at a following step(). Invalid requests throw aero::Error.
  virtual SeqId add(SeqRequest req) = 0;
  // The sequence leaves at the next step() with finish "cancelled" (no-op if already gone).
  virtual void cancel(SeqId id) = 0;
  // Advances every sequence, runs callbacks, retires finished ones. Returns the number of
  // sequences still active or waiting.
  virtual int step() = 0;
  virtual int active() const = 0;   // sequences being generated
  virtual int waiting() const = 0;  // added, not yet started
  virtual const Tokenizer& tokenizer() const = 0;
  virtual int context() const = 0;  // tokens of prompt and answer the model can see

  // Adds req and steps until nothing is active or waiting; its result (on_done still called).
  GenerateResult run(SeqRequest req);
};

}  // namespace aero
