// Hugging Face PEFT's LoRA adapter directory, read and written without PEFT:
//   adapter_config.json        {"peft_type": "LORA", "r", "lora_alpha", "lora_dropout",
//                               "target_modules" (a list, or one regex string), "bias": "none",
//                               "fan_in_fan_out": false, "use_rslora", "task_type",
//                               "base_model_name_or_path", "modules_to_save", ...}
//   adapter_model.safetensors  base_model.model.<module>.lora_A.weight (r, in) and
//                              .lora_B.weight (out, r), f32 (f16 / bf16 read as well)
//   with added tokens (PEFT's trainable_token_indices, peft >= 0.15):
//                              base_model.model.<table>.token_adapter.trainable_tokens_delta
//                              (n, dim): the rows' values (not differences), and in the config
//                              "trainable_token_indices": {"<table>": [ids], ...} (<table>: the
//                              embedding, e.g. T5's "shared", and an untied head, "lm_head").
//                              Only those rows are written, never the whole matrices as
//                              "modules_to_save" would.
// Module names are the model's own (Hugging Face's for T5, so adapters move between aero and
// PEFT). Unknown config keys are ignored, as PEFT ignores them; options aero does not implement
// (DoRA, biases, fan_in_fan_out) are refused by name.
#pragma once
#include <map>
#include <string>
#include <utility>

#include "nn/lora.h"
#include "nn/token_rows.h"

namespace aero {

struct PeftAdapter {
  LoraConfig lora;
  std::string task_type;  // e.g. "SEQ_2_SEQ_LM", "CAUSAL_LM"
  std::string base_model;
  std::map<std::string, std::pair<Tensor, Tensor>> weights;  // module -> (A, B), f32
  // Trainable token rows: table module -> (token ids, their rows (n, dim) f32). A list-form
  // trainable_token_indices is stored under "" (the input embedding, whatever its name).
  std::map<std::string, std::pair<std::vector<int>, Tensor>> token_rows;
  // Whole modules saved beside the adapter (modules_to_save, or the embedding PEFT saves after
  // a resize): parameter name ("lm_head.weight") -> its value, f32.
  std::map<std::string, Tensor> modules;
  // The ids every table shares (empty without token rows); an error when tables disagree.
  std::vector<int> token_ids() const;
};

// Reads and checks a PEFT adapter directory; errors name the file and the key or tensor.
PeftAdapter read_peft_adapter(const std::string& dir);

// The vocabulary a base of `base_vocab` rows needs for the adapter's token ids: ids past the
// base are added tokens, and they must be the rows right after it (base_vocab, base_vocab + 1,
// ...), so the tables grow by no more than the rows the adapter holds.
int peft_vocab_size(const PeftAdapter& adapter, int base_vocab);

// Writes `att` (attached with `cfg`) as a PEFT adapter directory (atomically per file).
void write_peft_adapter(const std::string& dir, const LoraConfig& cfg, const LoraAttachment& att,
                        const std::string& task_type, const std::string& base_model,
                        const TokenRowsAttachment* rows = nullptr);

// Copies an adapter's A and B into an attachment made with the same modules: every adapted
// module must be in the adapter with the right shapes, and nothing else may be.
void load_peft_weights(const PeftAdapter& adapter, LoraAttachment& att);
// Copies the adapter's token rows into `rows` (made with adapter.token_ids()) and into their
// tables; every table of the adapter must be one of the model's.
void load_peft_token_rows(const PeftAdapter& adapter, TokenRowsAttachment& rows);
// Copies the adapter's whole modules over the model's parameters of the same names (the rest of
// a table with more rows than the saved one keeps the base's rows); an error names a tensor the
// model has no parameter for or whose shape differs.
void load_peft_modules(const PeftAdapter& adapter, ParamStore& store);

}  // namespace aero
