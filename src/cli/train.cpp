// aero train --config C [--set section.key=value ...] [--resume [DIR]] [--help-config]
#include <cstdio>
#include <filesystem>
#include <memory>

#include "cli/commands.h"
#include "cli/share.h"
#include "core/error.h"
#include "core/log.h"
#include "train/plot.h"
#include "train/trainer.h"

namespace aero::cli {

void add_train(CLI::App& app) {
  struct Args {
    std::string config, resume;
    std::vector<std::string> sets;
    bool help_config = false;
  };
  auto a = std::make_shared<Args>();
  auto* cmd = app.add_subcommand("train", "Train a model from scratch on token shards");
  cmd->add_option("--config,-c", a->config,
                  "Run config (JSON with model, train, data sections), or the name of a ready one "
                  "(seed-tiny, char-small, ...)");
  cmd->add_option("--set", a->sets, "Override a field: section.key=value (repeatable)");
  auto* resume = cmd->add_option("--resume", a->resume,
                                 "Continue from the latest checkpoint of train.out_dir, or of "
                                 "DIR (a run directory or a checkpoint)")
                     ->expected(0, 1);
  cmd->add_flag("--help-config", a->help_config,
                "Print every config field with its type, default and help");
  cmd->callback([a, resume] {
    if (a->help_config) {
      std::printf("%s", run_config_help().c_str());
      return;
    }
    const bool resuming = resume->count() > 0;
    std::string ckpt;
    // Without --config, --resume DIR takes the config saved in the checkpoint.
    AERO_CHECK(!a->config.empty() || !a->resume.empty(),
               "[train] --config is required (or --resume DIR to continue with its config)");
    if (!a->resume.empty()) {
      ckpt = find_checkpoint(a->resume);
      AERO_CHECK(!ckpt.empty(), "[train] ", a->resume, " holds no checkpoint");
    }
    RunConfig cfg = a->config.empty() ? read_checkpoint_config(ckpt)
                                      : load_run_config(resolve_config(a->config));
    for (const auto& s : a->sets) apply_override(cfg, s);
    if (resuming && ckpt.empty() && std::filesystem::is_directory(cfg.train.out_dir))
      ckpt = find_checkpoint(cfg.train.out_dir);
    const nlohmann::json resolved = run_config_to_json(cfg);
    for (const auto& [section, fields] : resolved.items())
      std::printf("%s: %s\n", section.c_str(), fields.dump().c_str());
    std::fflush(stdout);
    Trainer trainer(cfg);
    // Charts follow the run: redrawn after every evaluation. A chart that cannot be written
    // is reported, never a reason to stop training.
    trainer.on_eval = [](const std::string& run_dir) {
      try {
        write_run_charts(run_dir);
      } catch (const Error& e) {
        log_warn("[train] charts not updated: ", e.what());
      }
    };
    if (!ckpt.empty()) {
      trainer.resume_from(ckpt);
      log_info("[train] resumed from ", ckpt, " at step ", trainer.state().step);
    } else if (resuming) {
      log_info("[train] no checkpoint in ", cfg.train.out_dir, "; starting at step 0");
    }
    const TrainResult r = trainer.run();
    std::printf("steps %lld%s%s, checkpoint %s\n", static_cast<long long>(r.steps),
                r.early_stopped ? " (early stop)" : "",
                r.time_limited  ? " (time limit)"
                : r.interrupted ? " (interrupted)"
                                : "",
                r.last_checkpoint.empty() ? "-" : r.last_checkpoint.c_str());
  });
}

}  // namespace aero::cli
