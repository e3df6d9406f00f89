// aero eval --model CKPT_DIR --data SHARD: loss and perplexity of a checkpoint on a shard, over
// consecutive windows or (--examples) one document per row.
#include <cstdio>
#include <memory>

#include "cli/commands.h"
#include "core/error.h"
#include "core/threads.h"
#include "models/load.h"
#include "train/trainer.h"

namespace aero::cli {

void add_eval(CLI::App& app) {
  struct Args {
    std::string model, data;
    int batch_size = 8, batches = 0, threads = 0, mc = 1, seed = 0;
    bool final_only = false, examples = false;
    std::vector<int> buckets;
  };
  auto a = std::make_shared<Args>();
  auto* cmd = app.add_subcommand("eval", "Loss and perplexity of a checkpoint on a token shard");
  cmd->add_option("--model,-m", a->model, "Checkpoint or run directory (its latest)")->required();
  cmd->add_option("--data,-d", a->data, "Token shard (aero data prepare)")->required();
  cmd->add_option("--batch-size", a->batch_size, "Sequences per batch")->capture_default_str();
  cmd->add_option("--batches", a->batches,
                  "Batches of consecutive windows from the start; 0: the whole shard")
      ->capture_default_str();
  cmd->add_flag("--final", a->final_only, "Loss on the final token of each window only");
  cmd->add_flag("--examples", a->examples,
                "One document (up to its end-of-text) per row, padded, as data.mode = examples");
  cmd->add_option("--buckets", a->buckets, "With --examples: padding boundaries (e.g. 32 64)");
  cmd->add_option("--threads", a->threads, "Threads (default: all usable CPUs)");
  cmd->add_option("--mc", a->mc,
                  "Diffusion model: Monte-Carlo draws (t and masks) per batch of the bound")
      ->capture_default_str();
  cmd->add_option("--seed", a->seed, "Diffusion model: seed of the Monte-Carlo draws")
      ->capture_default_str();
  cmd->callback([a] {
    AERO_CHECK(a->batch_size > 0 && a->batches >= 0, "[eval] --batch-size must be > 0");
    if (a->threads > 0) set_num_threads(a->threads);
    LoadedModel m = load_model(a->model);
    Tape tape;
    EvalOptions eo;
    eo.batch_size = a->batch_size;
    eo.batches = a->batches;
    eo.final_only = a->final_only;
    eo.seed = uint64_t(a->seed);
    eo.examples = a->examples;
    eo.buckets = a->buckets;
    eo.mc = a->mc;
    const EvalResult r = evaluate_shard(*m.model, m.cfg, tape, a->data, eo);
    if (m.cfg.arch().family == ModelFamily::masked_lm)
      // The diffusion loss is an upper bound on the negative log-likelihood (the negative ELBO).
      std::printf(
          "loss bound %.4f nats/token  perplexity bound %.2f  (%d MC draws, %lld tokens, %s)\n",
          r.loss, r.ppl, a->mc, static_cast<long long>(r.tokens), m.dir.c_str());
    else
      std::printf("loss %.4f  perplexity %.2f  (%lld tokens, %s)\n", r.loss, r.ppl,
                  static_cast<long long>(r.tokens), m.dir.c_str());
  });
}

}  // namespace aero::cli
