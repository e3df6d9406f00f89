// aero import NAME --in DIR --out RUN_DIR: a model in another tool's format as an aero
// checkpoint. One subcommand per importer of the model registry (hf-gpt2, ...).
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <memory>

#include "cli/commands.h"
#include "models/load.h"
#include "models/model.h"
#include "models/peft.h"
#include "train/checkpoint.h"
#include "train/import_checkpoint.h"

namespace aero::cli {

void add_import(CLI::App& app) {
  struct Args {
    std::string in, out;
  };
  auto a = std::make_shared<Args>();
  auto* cmd = app.add_subcommand("import", "Import a model from another format");
  cmd->require_subcommand(1);
  struct PeftArgs {
    std::string base, adapter, out;
  };
  auto p = std::make_shared<PeftArgs>();
  auto* peft = cmd->add_subcommand("peft", "A PEFT LoRA adapter directory over an aero base model");
  peft->add_option("--base,-b", p->base, "The base model's checkpoint or run directory")
      ->required();
  peft->add_option("--adapter", p->adapter, "PEFT adapter directory")->required();
  peft->add_option("--out,-o", p->out, "Run directory to create (checkpoint ckpt-0)")->required();
  peft->callback([p] {
    const PeftAdapter ad = read_peft_adapter(p->adapter);
    const std::string base = find_checkpoint(p->base);
    AERO_CHECK(!base.empty(), "[import] --base ", p->base, " holds no checkpoint");
    RunConfig rc = read_checkpoint_config(base);
    rc.lora = ad.lora;
    rc.lora.trainable_tokens = ad.token_ids();
    // Added tokens past the base's rows: the tables grow to hold them.
    const int vocab = peft_vocab_size(ad, rc.model.vocab_size());
    if (vocab > rc.model.vocab_size()) rc.model.set("vocab_size", std::to_string(vocab));
    ParamStore store;
    BuiltModel m = build_model(rc.model, rc.lora, store);
    store.finalize(0);
    load_checkpoint_weights(base, rc.model.arch().name, store, /*init=*/true);
    load_peft_weights(ad, *m.lora);
    if (m.rows) load_peft_token_rows(ad, *m.rows);
    const std::string abs_base = std::filesystem::absolute(base).lexically_normal().string();
    rc.train.init_from = abs_base;
    const std::string ck =
        save_checkpoint(p->out, store, nullptr, rc, TrainState{}, 1, true, abs_base);
    std::printf("wrote %s: %zu adapted modules over %s\n", ck.c_str(), m.lora->modules.size(),
                abs_base.c_str());
  });
  for (const Arch* arch : archs())
    for (const Importer& imp : arch->importers) {
      auto* sub = cmd->add_subcommand(imp.name, imp.help);
      sub->add_option("--in,-i", a->in, "Model directory to read")->required();
      sub->add_option("--out,-o", a->out, "Run directory to create (checkpoint ckpt-0)")
          ->required();
      sub->callback([a, name = std::string(imp.name)] {
        const ImportReport r = import_model(name, a->in, a->out);
        const ParamReport rep = [&] {
          ParamStore store;
          build_model(r.cfg, store);
          return r.cfg.arch().report(r.cfg, store);
        }();
        std::printf("wrote %s: %s; %lld parameters\n", r.ckpt.c_str(),
                    rep.summary.substr(0, rep.summary.find('\n')).c_str(),
                    static_cast<long long>(r.params));
        if (r.tokenizer.empty())
          std::printf("no tokenizer in %s: give --tokenizer when generating\n", a->in.c_str());
        else
          std::printf("tokenizer: %s\n", r.tokenizer.c_str());
        if (!r.tokenizer.empty() && r.tokenizer_vocab < r.cfg.vocab_size())
          std::printf("%d tokens; %lld spare embedding rows kept (new tokens take them first)\n",
                      r.tokenizer_vocab,
                      static_cast<long long>(r.cfg.vocab_size() - r.tokenizer_vocab));
      });
    }
}

}  // namespace aero::cli
