// aero import NAME --in DIR --out RUN_DIR: a model in another tool's format as an aero
// checkpoint. One subcommand per importer of the model registry (hf-gpt2, ...).
#include <cstdio>
#include <memory>

#include "cli/commands.h"
#include "models/model.h"
#include "train/import_checkpoint.h"

namespace aero::cli {

void add_import(CLI::App& app) {
  struct Args {
    std::string in, out;
  };
  auto a = std::make_shared<Args>();
  auto* cmd = app.add_subcommand("import", "Import a model from another format");
  cmd->require_subcommand(1);
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
