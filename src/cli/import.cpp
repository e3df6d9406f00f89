// aero import hf-gpt2 --in DIR --out RUN_DIR: a Hugging Face GPT-2 as an aero checkpoint.
#include <cstdio>
#include <memory>

#include "cli/commands.h"
#include "train/import_checkpoint.h"

namespace aero::cli {

void add_import(CLI::App& app) {
  struct Args {
    std::string in, out;
  };
  auto a = std::make_shared<Args>();
  auto* cmd = app.add_subcommand("import", "Import a model from another format");
  cmd->require_subcommand(1);
  auto* hf = cmd->add_subcommand(
      "hf-gpt2",
      "Hugging Face GPT-2 directory (config.json, model.safetensors, vocab.json, "
      "merges.txt)");
  hf->add_option("--in,-i", a->in, "Hugging Face model directory")->required();
  hf->add_option("--out,-o", a->out, "Run directory to create (checkpoint ckpt-0)")->required();
  hf->callback([a] {
    const ImportReport r = import_hf_gpt2(a->in, a->out);
    std::printf(
        "wrote %s: gpt2, %d layers, %d heads, n_embd %d, context %d, vocab %d, %lld "
        "parameters\n",
        r.ckpt.c_str(), r.cfg.n_layer, r.cfg.n_head, r.cfg.n_embd, r.cfg.block_size,
        r.cfg.vocab_size, static_cast<long long>(r.params));
    if (r.tokenizer.empty())
      std::printf("no vocab.json + merges.txt in %s: give --tokenizer when generating\n",
                  a->in.c_str());
    else
      std::printf("tokenizer: %s\n", r.tokenizer.c_str());
  });
}

}  // namespace aero::cli
