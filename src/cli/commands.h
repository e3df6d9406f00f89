// Each subcommand lives in its own file and registers itself on the app.
#pragma once
#include <CLI/CLI.hpp>
#include <string>

#include "infer/generate.h"
#include "infer/sampler.h"

namespace aero::cli {

// --model --format --tokenizer --adapter: what load_inference (infer/engine.h) takes; generate and
// chat.
void add_model_options(CLI::App* cmd, std::string& model, std::string& format,
                       std::string& tokenizer, std::string& adapter);
// --adapter DIR: a LoRA adapter over --model (a PEFT directory or an aero LoRA fine-tune).
void add_adapter_option(CLI::App* cmd, std::string& adapter);
// --unmerged: the adapter kept apart from the weights (load_inference's `unmerged`).
void add_unmerged_option(CLI::App* cmd, bool& unmerged);
// --temperature --top-k --top-p --min-p --repeat-penalty --seed, shared by generate and chat.
void add_sampler_options(CLI::App* cmd, SamplerOpts& s, const std::string& seed_help);

// --beams --length-penalty --early-stopping --no-repeat-ngram (beam search: encoder-decoders).
void add_beam_options(CLI::App* cmd, BeamOpts& b);

void add_doctor(CLI::App& app);
void add_tokenizer(CLI::App& app);
void add_data(CLI::App& app);
void add_train(CLI::App& app);
void add_finetune(CLI::App& app);
void add_eval(CLI::App& app);
void add_info(CLI::App& app);
void add_plot(CLI::App& app);
void add_generate(CLI::App& app);
void add_quantize(CLI::App& app);
void add_chat(CLI::App& app);
void add_export(CLI::App& app);
void add_import(CLI::App& app);
void add_quickstart(CLI::App& app);
void add_serve(CLI::App& app);
void add_keys(CLI::App& app);
// Hidden: `aero completion bash` prints a completion script for every subcommand above.
void add_completion(CLI::App& app);

}  // namespace aero::cli
