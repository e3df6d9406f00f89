// A model from a checkpoint directory, for any architecture: its config (config.json's "model",
// with "arch"), the tokenizer it was trained with, and its weights, checked name by name.
#pragma once
#include <memory>
#include <string>

#include "models/model.h"
#include "nn/lora.h"
#include "nn/token_rows.h"

namespace aero {

// config.json of a checkpoint: the model section, its adapters and data.tokenizer.
struct CheckpointModelConfig {
  ModelConfig model;
  LoraConfig lora;        // r = 0: none
  std::string tokenizer;  // "" when the run named none
  std::string base;       // train.init_from: the model a fine-tune started from ("" if none)
};

// A model built on a store (not finalized), with LoRA adapters attached when lora.r > 0 (the
// rest of the store is then frozen) and, with lora.trainable_tokens, those token rows trainable
// (their tables may then be loaded from a base with fewer rows: Param::file_rows_min).
struct BuiltModel {
  std::unique_ptr<Model> model;
  std::unique_ptr<LoraAttachment> lora;       // null without adapters
  std::unique_ptr<TokenRowsAttachment> rows;  // lora.trainable_tokens; null without
};
BuiltModel build_model(const ModelConfig& cfg, const LoraConfig& lora, ParamStore& store);
CheckpointModelConfig read_checkpoint_model_config(const std::string& ckpt_dir);

// Loads the weights of a checkpoint into `store` (built from the checkpoint's config and
// finalized) after checking the format, the arch and every name and shape: every parameter must
// be in the file (or, for a checkpoint of the trainable part only, in its base), and nothing
// else may be. With `init`, trainable parameters the file lacks keep their values (a base
// checkpoint starting a LoRA run has no adapters). On any error the store is unchanged.
// `base_dir`: the checkpoint a trainable-part checkpoint's other weights come from, in place of
// the one it names (a LoRA run over a base moved elsewhere: --adapter).
void load_checkpoint_weights(const std::string& ckpt_dir, const std::string& arch,
                             ParamStore& store, bool init = false,
                             const std::string& base_dir = "");

// A trained model ready to run: the checkpoint found from `path` (a checkpoint or a run
// directory), its config and the model with its weights (no gradient buffers: its parameters
// are constants on a tape).
struct LoadedModel {
  std::string dir;
  ModelConfig cfg;
  LoraConfig lora_cfg;
  std::string tokenizer;
  std::unique_ptr<ParamStore> store;  // the model keeps a reference: the address must not move
  std::unique_ptr<Model> model;
  std::unique_ptr<LoraAttachment> lora;       // the adapters, unmerged; null without
  std::unique_ptr<TokenRowsAttachment> rows;  // trainable token rows (synced); null without
};
LoadedModel load_model(const std::string& path);
// A base model with a LoRA adapter over it (--adapter): `adapter` is a PEFT adapter directory
// (adapter_config.json + adapter_model.safetensors) or an aero LoRA fine-tune (a run or checkpoint
// of `aero finetune --lora`), whose own record of its base is replaced by `base`. The adapters
// stay unmerged (LoraAttachment::merge folds them in); the tokenizer is the fine-tune's when it
// records one (its added tokens), else the base's. The adapter must fit the base: an error names
// the module or tensor that does not.
LoadedModel load_model(const std::string& base, const std::string& adapter);

// An adapter for `base`, detached to serve beside others over one copy of the base (unmerged):
// checked against the base as load_model(base, adapter) checks it (the base is read to do so),
// and refused when it grows the base's vocabulary (its tables would no longer be the base's).
struct DetachedAdapter {
  std::shared_ptr<const LoraWeights> weights;
  std::string tokenizer;  // the fine-tune's when it records one, else the base's ("" if none)
};
DetachedAdapter load_detached_adapter(const std::string& base, const std::string& adapter);

}  // namespace aero
