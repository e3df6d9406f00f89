// aero generate --model CKPT --prompt P: sample text from a trained model, streamed or at once.
#include <cstdio>
#include <fstream>
#include <iostream>
#include <iterator>
#include <memory>

#include "cli/commands.h"
#include "core/error.h"
#include "core/threads.h"
#include "infer/generate.h"
#include "train/checkpoint.h"

namespace aero::cli {

void add_generate(CLI::App& app) {
  struct Args {
    std::string model, prompt, tokenizer;
    bool from_stdin = false, stream = false;
    int threads = 0;
    GenerateOpts gen;
  };
  auto a = std::make_shared<Args>();
  auto* cmd = app.add_subcommand("generate", "Generate text from a trained model");
  cmd->add_option("--model,-m", a->model, "Checkpoint or run directory (its latest)")->required();
  cmd->add_option("--prompt,-p", a->prompt, "Prompt text (default: read standard input)");
  cmd->add_option("--tokenizer", a->tokenizer,
                  "Tokenizer (default: the one named in the checkpoint's config)");
  cmd->add_option("--max-new", a->gen.max_new, "Tokens to generate at most")->capture_default_str();
  cmd->add_option("--temperature", a->gen.sampler.temperature, "0 = greedy")->capture_default_str();
  cmd->add_option("--top-k", a->gen.sampler.top_k, "Keep the k most likely (0 = off)")
      ->capture_default_str();
  cmd->add_option("--top-p", a->gen.sampler.top_p, "Nucleus: keep probability mass p (1 = off)")
      ->capture_default_str();
  cmd->add_option("--min-p", a->gen.sampler.min_p, "Drop below min-p × the top probability")
      ->capture_default_str();
  cmd->add_option("--repeat-penalty", a->gen.sampler.repetition_penalty,
                  "Penalty on tokens already in the context (1 = off)")
      ->capture_default_str();
  cmd->add_option("--seed", a->gen.sampler.seed, "Sampling seed (same seed, same text)")
      ->capture_default_str();
  cmd->add_option("--stop", a->gen.stop, "Stop before this string (repeatable)");
  cmd->add_flag("--stream", a->stream, "Print tokens as they are generated");
  cmd->add_option("--threads", a->threads, "Threads (default: all usable CPUs)");
  cmd->callback([a] {
    if (a->threads > 0) set_num_threads(a->threads);
    if (a->prompt.empty()) {
      a->prompt.assign(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
      while (!a->prompt.empty() && (a->prompt.back() == '\n' || a->prompt.back() == '\r'))
        a->prompt.pop_back();
    }
    LoadedModel m = load_model(a->model);
    auto tok = load_tokenizer(a->tokenizer.empty() ? m.cfg.data.tokenizer : a->tokenizer);
    std::fputs(a->prompt.c_str(), stdout);
    TextCallback print = [](const std::string& t) {
      std::fputs(t.c_str(), stdout);
      std::fflush(stdout);
      return true;
    };
    GenerateResult r =
        generate(*m.gpt, *tok, a->prompt, a->gen, a->stream ? print : TextCallback{});
    if (!a->stream) std::fputs(r.text.c_str(), stdout);
    std::fputs("\n", stdout);
    std::fprintf(stderr, "[%zu tokens, finished by %s]\n", r.tokens.size(), r.finish.c_str());
  });
}

}  // namespace aero::cli
