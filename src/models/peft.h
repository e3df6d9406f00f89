// Hugging Face PEFT's LoRA adapter directory, read and written without PEFT:
//   adapter_config.json        {"peft_type": "LORA", "r", "lora_alpha", "lora_dropout",
//                               "target_modules" (a list, or one regex string), "bias": "none",
//                               "fan_in_fan_out": false, "use_rslora", "task_type",
//                               "base_model_name_or_path", "modules_to_save", ...}
//   adapter_model.safetensors  base_model.model.<module>.lora_A.weight (r, in) and
//                              .lora_B.weight (out, r), f32 (f16 / bf16 read as well)
// Module names are the model's own (Hugging Face's for T5, so adapters move between aero and
// PEFT). Unknown config keys are ignored, as PEFT ignores them; options aero does not implement
// (DoRA, biases, fan_in_fan_out) are refused by name.
#pragma once
#include <map>
#include <string>
#include <utility>

#include "nn/lora.h"

namespace aero {

struct PeftAdapter {
  LoraConfig lora;
  std::string task_type;  // e.g. "SEQ_2_SEQ_LM", "CAUSAL_LM"
  std::string base_model;
  std::map<std::string, std::pair<Tensor, Tensor>> weights;  // module -> (A, B), f32
};

// Reads and checks a PEFT adapter directory; errors name the file and the key or tensor.
PeftAdapter read_peft_adapter(const std::string& dir);

// Writes `att` (attached with `cfg`) as a PEFT adapter directory (atomically per file).
void write_peft_adapter(const std::string& dir, const LoraConfig& cfg, const LoraAttachment& att,
                        const std::string& task_type, const std::string& base_model);

// Copies an adapter's A and B into an attachment made with the same modules: every adapted
// module must be in the adapter with the right shapes, and nothing else may be.
void load_peft_weights(const PeftAdapter& adapter, LoraAttachment& att);

}  // namespace aero
