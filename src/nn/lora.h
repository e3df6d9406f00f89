// LoRA (Hu et al. 2021, as Hugging Face PEFT implements it): a frozen Linear y = W·x + b gains
// a trainable low-rank path, y += scale · B·A·dropout(x), A (r, in) Kaiming-uniform and B (out, r)
// zero, so step 0 is the base model exactly. scale = alpha / r (rsLoRA: alpha / sqrt(r)).
// Modules are chosen by name as PEFT chooses them; the adapter's parameters are named
// "<module>.lora_A.weight" and "<module>.lora_B.weight" in the model's ParamStore.
#pragma once
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/config.h"
#include "nn/layers.h"

namespace aero {

struct LoraConfig {
  int r = 0;  // rank; 0: no adapters (a run config's default)
  float alpha = 8.0f;
  float dropout = 0.0f;  // on the LoRA path's input, training only
  bool rslora = false;   // scale alpha / sqrt(r) instead of alpha / r
  // PEFT's target_modules: a list of names, each matching a module named exactly so or ending
  // in "." + name ("q" matches "encoder.block.0.layer.0.SelfAttention.q", not "wo"); or, when
  // target_regex is set instead, a regular expression the whole module name must match.
  std::vector<std::string> targets;
  std::string target_regex;
  // PEFT's trainable_token_indices: token ids whose rows of the (frozen) embedding and untied
  // head train on their own (nn/token_rows.h), e.g. the ids of added tokens.
  std::vector<int> trainable_tokens;

  float scale() const;
  void validate() const;
};

// The "lora" section of a run config: r, alpha, dropout, rslora, targets, target_regex.
const FieldTable<LoraConfig>& lora_config_fields();

// Whether PEFT would adapt the module named `module`.
bool lora_matches(const LoraConfig& cfg, const std::string& module);

class LoraAdapter final : public LinearAdapter {
 public:
  // Declares A and B for `base` in `store`.
  LoraAdapter(ParamStore& store, const Linear& base, const LoraConfig& cfg);
  // x (..., in) -> scale · B·A·dropout(x) (..., out)
  Var forward(Tape& tape, Var x) const override;
  // W += scale · B·A (merge) or W -= it (unmerge), in f32: a base stored in bf16 gets an f32
  // value first (its bf16 values widened), which it keeps.
  void fold_into(Param& weight, float sign) const;

  Param& a() const { return *a_; }
  Param& b() const { return *b_; }
  float scale() const { return scale_; }

 private:
  ParamStore* store_;
  Param* a_;
  Param* b_;
  float scale_, dropout_;
};

// The adapters of a model: attached to its Linears, owned here (a Linear only points at its
// adapter), with the counts the trainable-parameter report prints.
struct LoraAttachment {
  std::vector<Linear*> modules;  // the adapted Linears, in model order
  std::vector<std::unique_ptr<LoraAdapter>> adapters;
  int64_t params = 0;  // trainable values in A and B
  bool merged = false;

  // Folds every adapter into its base weight and detaches it (forward is then the plain
  // Linear), or undoes that. Merged and unmerged outputs agree to rounding.
  void merge();
  void unmerge();
};

// Attaches an adapter to every Linear of `linears` whose name matches, declaring A and B in
// `store` (before finalize()), and freezes every parameter the adapters do not own. An error
// names the targets when nothing matches.
LoraAttachment attach_lora(const std::vector<Linear*>& linears, ParamStore& store,
                           const LoraConfig& cfg);

struct TokenRowsAttachment;

// An adapter apart from any model, for serving several over one base without merging them: the
// A and B of each adapted module (by name) with the scale, and the token rows it trains. A
// generator adds each module's product to its base matrix's after the base product, and reads
// the rows in place of the base's (SeqRequest::adapter).
struct LoraWeights {
  struct Module {
    Tensor a, b;  // (r, in), (out, r) f32
    float scale = 1;
    // y (n, out; row stride ldy) += scale · (x (n, in; row stride ldx) · Aᵀ) · Bᵀ
    void add_to(const float* x, int64_t ldx, int n, float* y, int64_t ldy) const;
  };
  std::map<std::string, Module> modules;
  std::vector<int32_t> token_ids;  // rows the adapter trains (its added tokens)
  Tensor embedding_rows;           // (n, C): their input embedding rows; undefined without
  Tensor head_rows;                // (n, C): their untied head rows; undefined when tied or none

  // For each token id below `vocab`, 1 + its row in token_ids, or 0.
  std::vector<int32_t> token_slots(int64_t vocab) const;
  int64_t bytes() const;
};

// Copies an attachment's A and B and the trainable rows' values (rows may be null) out of the
// model's store.
LoraWeights detach_lora(const LoraAttachment& att, const TokenRowsAttachment* rows);

// One module of detached weights as a Linear's adapter on a tape (no dropout: inference), for
// paths that run on the tape, such as an encoder.
class LoraWeightsAdapter final : public LinearAdapter {
 public:
  explicit LoraWeightsAdapter(const LoraWeights::Module& m) : m_(&m) {}
  Var forward(Tape& tape, Var x) const override;

 private:
  const LoraWeights::Module* m_;
};

}  // namespace aero
