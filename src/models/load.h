// A model from a checkpoint directory, for any architecture: its config (config.json's "model",
// with "arch"), the tokenizer it was trained with, and its weights, checked name by name.
#pragma once
#include <memory>
#include <string>

#include "models/model.h"

namespace aero {

// config.json of a checkpoint: the model section and data.tokenizer.
struct CheckpointModelConfig {
  ModelConfig model;
  std::string tokenizer;  // "" when the run named none
};
CheckpointModelConfig read_checkpoint_model_config(const std::string& ckpt_dir);

// Loads the weights of a checkpoint into `store` (built from the checkpoint's config and
// finalized) after checking the format, the arch and every name and shape: every parameter must
// be in the file (or, for a checkpoint of the trainable part only, in its base), and nothing
// else may be. On any error the store is unchanged.
void load_checkpoint_weights(const std::string& ckpt_dir, const std::string& arch,
                             ParamStore& store);

// A trained model ready to run: the checkpoint found from `path` (a checkpoint or a run
// directory), its config and the model with its weights.
struct LoadedModel {
  std::string dir;
  ModelConfig cfg;
  std::string tokenizer;
  std::unique_ptr<ParamStore> store;  // the model keeps a reference: the address must not move
  std::unique_ptr<Model> model;
};
LoadedModel load_model(const std::string& path);

}  // namespace aero
