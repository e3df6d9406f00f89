// LoRA (Hu et al. 2021, as Hugging Face PEFT implements it): a frozen Linear y = W·x + b gains
// a trainable low-rank path, y += scale · B·A·dropout(x), A (r, in) Kaiming-uniform and B (out, r)
// zero, so step 0 is the base model exactly. scale = alpha / r (rsLoRA: alpha / sqrt(r)).
// Modules are chosen by name as PEFT chooses them; the adapter's parameters are named
// "<module>.lora_A.weight" and "<module>.lora_B.weight" in the model's ParamStore.
#pragma once
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

}  // namespace aero
