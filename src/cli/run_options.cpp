#include "cli/commands.h"

namespace aero::cli {

void add_adapter_option(CLI::App* cmd, std::string& adapter) {
  cmd->add_option("--adapter", adapter,
                  "LoRA adapter over --model, merged at load: a PEFT adapter directory or an "
                  "aero LoRA fine-tune (run or checkpoint)")
      ->type_name("DIR");
}

void add_unmerged_option(CLI::App* cmd, bool& unmerged) {
  cmd->add_flag("--unmerged", unmerged,
                "Keep --adapter apart from the model's weights (added to each product, as the "
                "server runs several adapters over one model) instead of merging it");
}

void add_model_options(CLI::App* cmd, std::string& model, std::string& format,
                       std::string& tokenizer, std::string& adapter) {
  cmd->add_option("--model,-m", model,
                  "Checkpoint, run directory (its latest) or quantized file (aero quantize)")
      ->required();
  cmd->add_option("--format", format,
                  "Weights: f32, bf16 or q8 (default: f32, or the quantized file's own)");
  cmd->add_option("--tokenizer", tokenizer, "Tokenizer (default: the one recorded with the model)");
  add_adapter_option(cmd, adapter);
}

void add_sampler_options(CLI::App* cmd, SamplerOpts& s, const std::string& seed_help) {
  cmd->add_option("--temperature", s.temperature, "0 = greedy")->capture_default_str();
  cmd->add_option("--top-k", s.top_k, "Keep the k most likely (0 = off)")->capture_default_str();
  cmd->add_option("--top-p", s.top_p, "Nucleus: keep probability mass p (1 = off)")
      ->capture_default_str();
  cmd->add_option("--min-p", s.min_p, "Drop below min-p × the top probability")
      ->capture_default_str();
  cmd->add_option("--repeat-penalty", s.repetition_penalty,
                  "Penalty on tokens already in the context (1 = off)")
      ->capture_default_str();
  cmd->add_option("--seed", s.seed, seed_help)->capture_default_str();
}

void add_beam_options(CLI::App* cmd, BeamOpts& b) {
  cmd->add_option("--beams", b.num_beams,
                  "Beam search with N beams (encoder-decoder models; 1 = sample / greedy)")
      ->capture_default_str();
  cmd->add_option("--length-penalty", b.length_penalty,
                  "Beam search: a finished answer scores sum(log p) / length^this")
      ->capture_default_str();
  cmd->add_flag("--early-stopping", b.early_stopping,
                "Beam search: stop as soon as N answers are finished");
  cmd->add_option("--no-repeat-ngram", b.no_repeat_ngram_size,
                  "Never repeat an n-gram of this size in the answer (0 = off)")
      ->capture_default_str();
}

}  // namespace aero::cli
