// aero train --config C [--set section.key=value ...] [--resume [DIR]] [--help-config]
// aero finetune --base RUN [--config C] [--lora r=16,alpha=32,dropout=0.1,targets=q,v] [--set ...]
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <memory>

#include "cli/commands.h"
#include "cli/share.h"
#include "core/error.h"
#include "core/log.h"
#include "data/metrics.h"
#include "data/readers.h"
#include "infer/predictions.h"
#include "tokenizer/tokenizer.h"
#include "train/plot.h"
#include "train/trainer.h"

namespace aero::cli {

namespace fs = std::filesystem;

namespace {

// train.eval_generate: BLEU and ROUGE (unicode tokenization, F-measures) of greedy answers to
// the first eval_generate rows of data.val, answered as `aero eval` answers them.
std::function<std::map<std::string, double>()> seq2seq_val_scores(Trainer& trainer) {
  const RunConfig& cfg = trainer.config();
  AERO_CHECK(cfg.model.arch().family == ModelFamily::seq2seq,
             "[train] eval_generate needs an "
             "encoder-decoder model (",
             cfg.model.arch().name, " has no generated answers to score)");
  auto inputs = std::make_shared<std::vector<std::string>>();
  auto targets = std::make_shared<std::vector<std::string>>();
  ReadStats st;
  read_pairs(
      cfg.data.val, cfg.data.input_column, cfg.data.target_column,
      [&](TextPair&& p) {
        if (int(inputs->size()) >= cfg.train.eval_generate) return;
        inputs->push_back(std::move(p.input));
        targets->push_back(std::move(p.target));
      },
      st);
  AERO_CHECK(!inputs->empty(), "[train] eval_generate: ", cfg.data.val, " has no rows");
  std::shared_ptr<const Tokenizer> tok = load_tokenizer(cfg.data.tokenizer);
  PredictOptions po;
  po.batch_size = cfg.train.batch_size;
  po.max_input = cfg.data.max_input;
  po.max_new = cfg.data.max_target;
  return [&trainer, inputs, targets, tok, po] {
    const std::vector<std::string> hyps = predict_seq2seq(trainer.model(), *tok, *inputs, po);
    const BleuScore b = corpus_bleu(hyps, {*targets});
    const RougeScores r = corpus_rouge(hyps, *targets, RougeTokenize::unicode);
    return std::map<std::string, double>{
        {"bleu", b.score}, {"rouge1", r.rouge1.f}, {"rouge2", r.rouge2.f}, {"rougeL", r.rougeL.f}};
  };
}

// Prints the resolved config, trains (resuming from ckpt when given), redraws the charts after
// every evaluation and prints where the run ended.
// Under mpirun every rank runs this; rank 0 alone prints (the others log warnings and errors).
void run_training(const RunConfig& cfg, const std::string& ckpt, bool resuming) {
  ProcessGroup& group = process_group();
  const bool lead = group.rank() == 0;
  if (!lead) set_log_level(std::max(log_level(), LogLevel::warn));
  const nlohmann::json resolved = run_config_to_json(cfg);
  if (lead)
    for (const auto& [section, fields] : resolved.items())
      std::printf("%s: %s\n", section.c_str(), fields.dump().c_str());
  std::fflush(stdout);
  Trainer trainer(cfg);
  // A chart that cannot be written is reported, never a reason to stop training.
  trainer.on_eval = [](const std::string& run_dir) {
    try {
      write_run_charts(run_dir);
    } catch (const Error& e) {
      log_warn("[train] charts not updated: ", e.what());
    }
  };
  if (cfg.train.eval_generate > 0 && cfg.train.eval_every > 0 && lead)
    trainer.val_scores = seq2seq_val_scores(trainer);
  if (!ckpt.empty()) {
    trainer.resume_from(ckpt);
    log_info("[train] resumed from ", ckpt, " at step ", trainer.state().step);
  } else if (resuming) {
    log_info("[train] no checkpoint in ", cfg.train.out_dir, "; starting at step 0");
  }
  const TrainResult r = trainer.run();
  group.finalize();
  if (!lead) return;
  std::printf("steps %lld%s%s, checkpoint %s\n", static_cast<long long>(r.steps),
              r.early_stopped ? " (early stop)" : "",
              r.time_limited  ? " (time limit)"
              : r.interrupted ? " (interrupted)"
                              : "",
              r.last_checkpoint.empty() ? "-" : r.last_checkpoint.c_str());
}

// "r=16,alpha=32,dropout=0.1,targets=q,k,v" -> lora fields; `targets` takes every item after
// it that is not itself key=value.
void parse_lora_spec(const std::string& spec, RunConfig& cfg) {
  std::vector<std::string> items;
  for (size_t b = 0; b <= spec.size();) {
    const size_t e = std::min(spec.find(',', b), spec.size());
    if (e > b) items.push_back(spec.substr(b, e - b));
    b = e + 1;
  }
  std::vector<std::string> targets;
  bool in_targets = false;
  for (const std::string& it : items) {
    const size_t eq = it.find('=');
    if (eq == std::string::npos) {
      AERO_CHECK(in_targets, "[finetune] --lora: '", it,
                 "' is not key=value (e.g. r=16,alpha=32,targets=q,v)");
      targets.push_back(it);
      continue;
    }
    const std::string key = it.substr(0, eq), value = it.substr(eq + 1);
    in_targets = key == "targets";
    if (in_targets)
      targets.push_back(value);
    else
      apply_override(cfg, "lora." + key + "=" + value);
  }
  if (!targets.empty()) cfg.lora.targets = targets;
}

// --add-tokens / train.add_tokens: adds the tokens to a copy of the base's tokenizer in the run
// directory (data.tokenizer then names it), gives each new id a row (spare rows first, else the
// tables grow to fit), starts the new rows at the mean of the base's token rows and, under LoRA,
// makes exactly those rows trainable (lora.trainable_tokens).
void add_tokens_to_run(RunConfig& cfg) {
  const std::vector<std::string>& tokens = cfg.train.add_tokens;
  AERO_CHECK(!cfg.data.tokenizer.empty(),
             "[finetune] --add-tokens needs the base's tokenizer (data.tokenizer is empty)");
  const std::string src = cfg.data.tokenizer;
  auto tok = load_tokenizer(src);
  const int n_old = tok->vocab_size();
  const std::vector<int> ids = tok->add_special_tokens(tokens);
  const fs::path out = cfg.train.out_dir;
  fs::create_directories(out);
  AERO_CHECK(fs::is_regular_file(src), "[finetune] --add-tokens: the tokenizer ", src,
             " is not a single file (SentencePiece .model or char .json)");
  const fs::path dst = out / ("tokenizer" + fs::path(src).extension().string());
  if (fs::absolute(dst).lexically_normal() != fs::absolute(src).lexically_normal())
    fs::copy_file(src, dst, fs::copy_options::overwrite_existing);
  tok->save_added(dst.string());
  cfg.data.tokenizer = dst.string();
  std::vector<int> fresh;
  for (int id : ids)
    if (id >= n_old) fresh.push_back(id);
  const int rows = cfg.model.vocab_size();
  const int needed = *std::max_element(ids.begin(), ids.end()) + 1;
  std::string where = "spare rows of " + std::to_string(rows);
  if (needed > rows) {
    cfg.model.set("vocab_size", std::to_string(needed));
    where = "tables grown from " + std::to_string(rows) + " to " + std::to_string(needed) + " rows";
  }
  std::string list;
  for (size_t i = 0; i < tokens.size(); i++)
    list += (i ? ", " : "") + tokens[i] + " = " + std::to_string(ids[i]);
  log_info("[finetune] tokens ", list, " (", fresh.size(), " new; ", where, ") -> ",
           cfg.data.tokenizer);
  cfg.train.mean_init_tokens = fresh;
  cfg.train.mean_init_rows = n_old;
  if (cfg.lora.r > 0) cfg.lora.trainable_tokens = ids;
}

}  // namespace

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
    run_training(cfg, ckpt, resuming);
  });
}

void add_finetune(CLI::App& app) {
  struct Args {
    std::string base, config, lora, out, add_tokens;
    std::vector<std::string> sets;
    bool resume = false;
  };
  auto a = std::make_shared<Args>();
  auto* cmd = app.add_subcommand(
      "finetune", "Fine-tune a trained model: LoRA adapters (--lora) or every weight, from --base");
  cmd->add_option("--base,-b", a->base, "Checkpoint or run directory of the model to start from")
      ->required();
  cmd->add_option("--config,-c", a->config,
                  "Run config for the fine-tune (data, train); default: the base's own, with its "
                  "data");
  cmd->add_option("--lora", a->lora,
                  "Adapters instead of full fine-tuning: r=16,alpha=32,dropout=0.1,"
                  "targets=attn_q,attn_v (names matched as PEFT matches them)");
  cmd->add_option("--out,-o", a->out, "Run directory to write (train.out_dir)")->required();
  cmd->add_option("--add-tokens", a->add_tokens,
                  "Special tokens to add, comma-separated (\"<A>,<B>\"): never split, rows at "
                  "the mean of the base's, trainable under LoRA and saved with the adapter");
  cmd->add_option("--set", a->sets, "Override a field: section.key=value (repeatable)");
  cmd->add_flag("--resume", a->resume,
                "Continue the fine-tune in --out from its latest checkpoint");
  cmd->callback([a] {
    const std::string base = find_checkpoint(a->base);
    AERO_CHECK(!base.empty(), "[finetune] --base ", a->base, " holds no checkpoint");
    RunConfig cfg = a->config.empty() ? read_checkpoint_config(base)
                                      : load_run_config(resolve_config(a->config));
    // The architecture is the base's: only what a fine-tune may change comes from --config.
    const RunConfig base_cfg = read_checkpoint_config(base);
    cfg.model = base_cfg.model;
    if (a->config.empty()) {
      cfg.train = TrainConfig{};
      cfg.train.optim.lr = 1e-4f;  // a fine-tune moves from trained weights, gently
      cfg.train.objective = base_cfg.train.objective;  // what the model is (seq2seq for T5)
    }
    cfg.train.init_from = base;
    cfg.train.out_dir = a->out;
    cfg.lora = LoraConfig{};
    if (!a->lora.empty()) parse_lora_spec(a->lora, cfg);
    if (!a->add_tokens.empty()) {
      cfg.train.add_tokens.clear();
      for (size_t b = 0; b <= a->add_tokens.size();) {
        const size_t e = std::min(a->add_tokens.find(',', b), a->add_tokens.size());
        if (e > b) cfg.train.add_tokens.push_back(a->add_tokens.substr(b, e - b));
        b = e + 1;
      }
    }
    for (const auto& s : a->sets) apply_override(cfg, s);
    if (!cfg.train.add_tokens.empty()) add_tokens_to_run(cfg);
    std::string ckpt;
    if (a->resume && std::filesystem::is_directory(a->out)) ckpt = find_checkpoint(a->out);
    run_training(cfg, ckpt, a->resume);
  });
}

}  // namespace aero::cli
