#include "train/config.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>

namespace aero {

const EnumNames<ObjectiveKind>& objective_names() {
  static const EnumNames<ObjectiveKind> n{{ObjectiveKind::all, "all"},
                                          {ObjectiveKind::final, "final"},
                                          {ObjectiveKind::seq2seq, "seq2seq"},
                                          {ObjectiveKind::diffusion, "diffusion"}};
  return n;
}

const EnumNames<Precision>& precision_names() {
  static const EnumNames<Precision> n{{Precision::fp32, "fp32"}, {Precision::bf16, "bf16"}};
  return n;
}

const EnumNames<DataMode>& data_mode_names() {
  static const EnumNames<DataMode> n{
      {DataMode::windows, "windows"}, {DataMode::examples, "examples"}, {DataMode::pairs, "pairs"}};
  return n;
}

void TrainConfig::validate() const {
  AERO_CHECK(batch_size > 0 && grad_accum > 0, "[train] batch_size and grad_accum must be > 0");
  AERO_CHECK(max_steps > 0, "[train] max_steps must be > 0, got ", max_steps);
  AERO_CHECK(optim.lr >= 0 && min_lr >= 0, "[train] lr and min_lr must be >= 0");
  AERO_CHECK(warmup_steps >= 0 && eval_every >= 0 && eval_batches > 0 && test_batches >= 0 &&
                 checkpoint_every >= 0 && log_every > 0 && keep_last > 0 && early_stop >= 0 &&
                 threads >= 0 && data_parallel >= 0 && max_minutes >= 0,
             "[train] warmup_steps, eval_every, test_batches, checkpoint_every, early_stop, "
             "threads, data_parallel and max_minutes must be >= 0; eval_batches, log_every, "
             "keep_last > 0");
  AERO_CHECK(!out_dir.empty(), "[train] out_dir must not be empty");
  AERO_CHECK(epochs >= 0 && warmup_ratio >= 0 && warmup_ratio < 1,
             "[train] epochs must be >= 0 and warmup_ratio in [0, 1), got ", epochs, " and ",
             warmup_ratio);
  AERO_CHECK(eval_generate >= 0, "[train] eval_generate must be >= 0, got ", eval_generate);
  AERO_CHECK(best_metric == "loss" || best_metric == "bleu" || best_metric == "rouge1" ||
                 best_metric == "rouge2" || best_metric == "rougeL",
             "[train] best_metric must be loss, bleu, rouge1, rouge2 or rougeL, got '", best_metric,
             "'");
  AERO_CHECK(best_metric == "loss" || (eval_generate > 0 && eval_every > 0), "[train] best_metric ",
             best_metric,
             " is computed from generated answers: set eval_every and eval_generate > 0");
  AERO_CHECK(random_length >= 0 && random_length <= 1,
             "[train] random_length must be in [0, 1], got ", random_length);
  (void)checkpoint_every_block();
}

int TrainConfig::checkpoint_every_block() const {
  const std::string& s = checkpoint_activations;
  if (s == "none") return 0;
  if (s == "blocks") return 1;
  const std::string prefix = "every ";
  if (s.rfind(prefix, 0) == 0) {
    const std::string n = s.substr(prefix.size());
    const bool digits = !n.empty() && n.size() <= 6 && std::all_of(n.begin(), n.end(), [](char c) {
      return c >= '0' && c <= '9';
    });
    if (digits && std::stoi(n) > 0) return std::stoi(n);
  }
  throw Error("[train] checkpoint_activations must be none, blocks or \"every N\" (N > 0), got \"" +
              s + "\"");
}

const FieldTable<TrainConfig>& train_config_fields() {
  static const FieldTable<TrainConfig> table = [] {
    using C = TrainConfig;
    FieldTable<C> t("train");
    t.add("batch_size", &C::batch_size, "sequences per micro-batch")
        .add("grad_accum", &C::grad_accum, "micro-batches per optimizer step")
        .add("max_steps", &C::max_steps, "optimizer steps")
        .add("max_minutes", &C::max_minutes,
             "stop cleanly (with a checkpoint) after this many minutes; 0: no limit")
        .add("lr", &C::optim, &OptimConfig::lr, "peak learning rate")
        .add("min_lr", &C::min_lr, "learning rate at the end of cosine / linear decay")
        .add("warmup_steps", &C::warmup_steps, "linear warmup from 0 to lr")
        .add("warmup_ratio", &C::warmup_ratio,
             "warmup as a fraction of max_steps (Hugging Face's warmup_ratio); > 0 overrides "
             "warmup_steps")
        .add("epochs", &C::epochs,
             "passes over the training data; > 0 sets max_steps (steps per epoch: micro-batches "
             "of the data / grad_accum)")
        .add("schedule", &C::schedule, "learning-rate schedule after warmup", schedule_names())
        .add("optimizer", &C::optim, &OptimConfig::kind, "optimizer", optim_kind_names())
        .add("beta1", &C::optim, &OptimConfig::beta1, "adam / adamw first-moment decay")
        .add("beta2", &C::optim, &OptimConfig::beta2, "adam / adamw second-moment decay")
        .add("eps", &C::optim, &OptimConfig::eps, "adam / adamw / rmsprop epsilon")
        .add("momentum", &C::optim, &OptimConfig::momentum, "momentum of the momentum optimizer")
        .add("weight_decay", &C::optim, &OptimConfig::weight_decay,
             "decay of matrices (never norms and biases)")
        .add("grad_clip", &C::grad_clip, "clip the global gradient norm to this; 0: off")
        .add("objective", &C::objective,
             "next token on every position (all), on the final one (final), an "
             "encoder-decoder's targets (seq2seq, for t5), or masked diffusion (diffusion, for "
             "a masked_lm model such as llada)",
             objective_names())
        .add("antithetic", &C::antithetic,
             "diffusion: t of the batch's rows spread evenly over (0, 1) from one draw")
        .add("random_length", &C::random_length,
             "diffusion: fraction of batches cropped to a uniformly drawn length")
        .add("eval_every", &C::eval_every, "steps between validation runs; 0: none")
        .add("eval_batches", &C::eval_batches, "validation batches per evaluation")
        .add("test_batches", &C::test_batches,
             "batches of consecutive test windows; 0: the whole shard")
        .add("checkpoint_every", &C::checkpoint_every,
             "steps between checkpoints (also at each evaluation and at the end); 0: only those")
        .add("log_every", &C::log_every, "steps between metrics lines")
        .add("seed", &C::seed, "seed of initialisation, batches and dropout")
        .add("out_dir", &C::out_dir, "run directory: checkpoints and metrics.jsonl")
        .add("init_from", &C::init_from,
             "checkpoint or run directory whose weights start the run (fine-tuning); with LoRA "
             "the checkpoints hold the adapters and name it as their base")
        .add("keep_last", &C::keep_last, "checkpoints to keep (the best is kept as well)")
        .add("early_stop", &C::early_stop,
             "stop after this many evaluations without a better best_metric; 0: off")
        .add("eval_generate", &C::eval_generate,
             "seq2seq: validation rows answered greedily at each evaluation, scored with BLEU and "
             "ROUGE (val_bleu, val_rouge1, val_rouge2, val_rougeL in the metrics); 0: none")
        .add("best_metric", &C::best_metric,
             "what picks the best checkpoint and drives early_stop: loss, or with eval_generate "
             "bleu, rouge1, rouge2 or rougeL")
        .add("threads", &C::threads, "threads; 0: AERO_THREADS or all usable CPUs")
        .add("data_parallel", &C::data_parallel,
             "batch parts trained side by side, one per thread; 1: thread each op instead; 0: "
             "auto (one part per thread for models up to 16M parameters)")
        .add("zero", &C::zero,
             "over MPI ranks: each rank updates, and keeps the optimizer moments of, its share "
             "of the parameters, then the ranks exchange the weights (ZeRO-1); false: every "
             "rank runs the whole optimizer")
        .add("checkpoint_activations", &C::checkpoint_activations,
             "none; blocks: drop each block's activations after forward and recompute them in "
             "backward (less memory, one more forward pass per block, the same gradients); "
             "\"every N\": blocks 0, N, 2N, ... only")
        .add("add_tokens", &C::add_tokens,
             "aero finetune: special tokens added to the base's tokenizer (never split); their "
             "ids take spare embedding rows first, then grow the tables")
        .add("mean_init_tokens", &C::mean_init_tokens,
             "token ids whose embedding (and untied head) rows start at the mean of the rows "
             "below mean_init_rows, after init_from is loaded (finetune --add-tokens sets it)")
        .add("mean_init_rows", &C::mean_init_rows,
             "rows [0, mean_init_rows) averaged for mean_init_tokens (the base's token count)")
        .add("precision", &C::precision,
             "matrix products of linear layers: fp32, or bf16 inputs with fp32 sums (weights, "
             "optimizer state and everything else stay fp32)",
             precision_names());
    return t;
  }();
  return table;
}

const FieldTable<DataConfig>& data_config_fields() {
  static const FieldTable<DataConfig> table = [] {
    using C = DataConfig;
    FieldTable<C> t("data");
    t.add("mode", &C::mode,
          "windows: random windows over the token stream; examples: one document per row, "
          "padded per batch; pairs: input/target rows of a CSV or JSONL file (seq2seq; prompt -> "
          "answer for a GPT)",
          data_mode_names())
        .add("buckets", &C::buckets,
             "examples: pad each batch to the first of these lengths >= its longest row "
             "(ascending, <= model.block_size); []: to the longest row")
        .add("train", &C::train, "training token shard (aero data prepare)")
        .add("val", &C::val, "validation token shard")
        .add("test", &C::test, "test token shard; empty: no final test evaluation")
        .add("tokenizer", &C::tokenizer, "tokenizer that made the shards (.model or .json)")
        .add("input_column", &C::input_column, "pairs: CSV column / JSONL field of the input")
        .add("target_column", &C::target_column, "pairs: CSV column / JSONL field of the target")
        .add("max_input", &C::max_input, "pairs: longest input in tokens, EOS included")
        .add("max_target", &C::max_target, "pairs: longest target in tokens, EOS included")
        .add("pad_multiple", &C::pad_multiple,
             "pairs: pad each batch to a multiple of this (0: to the longest row or buckets)");
    return t;
  }();
  return table;
}

namespace {

// Runs fn, prefixing any config error with the file it came from.
template <typename Fn>
void in_file(const std::string& where, Fn&& fn) {
  try {
    fn();
  } catch (const Error& e) {
    std::string msg = e.what();
    const std::string tag = "[config] ";
    if (msg.rfind(tag, 0) == 0) msg = msg.substr(tag.size());
    fail("[config] ", where, ": ", msg);
  }
}

}  // namespace

RunConfig run_config_from_json(const nlohmann::json& j, const std::string& where) {
  RunConfig c;
  in_file(where, [&] {
    AERO_CHECK(j.is_object(), "[config] expected a JSON object with model, train, data");
    for (auto it = j.begin(); it != j.end(); ++it) {
      if (it.key() == "model")
        c.model = ModelConfig::from_json(it.value());
      else if (it.key() == "train")
        train_config_fields().from_json(c.train, it.value());
      else if (it.key() == "data")
        data_config_fields().from_json(c.data, it.value());
      else if (it.key() == "lora")
        lora_config_fields().from_json(c.lora, it.value());
      else
        fail("[config] unknown section '", it.key(), "' (known: model, train, data, lora)");
    }
  });
  return c;
}

RunConfig load_run_config(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  AERO_CHECK(in, "[config] cannot open ", path);
  std::stringstream ss;
  ss << in.rdbuf();
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(ss.str());
  } catch (const nlohmann::json::exception& e) {
    fail("[config] ", path, ": invalid JSON: ", e.what());
  }
  return run_config_from_json(j, path);
}

nlohmann::json run_config_to_json(const RunConfig& c) {
  return {{"model", c.model.to_json()},
          {"lora", lora_config_fields().to_json(c.lora)},
          {"train", train_config_fields().to_json(c.train)},
          {"data", data_config_fields().to_json(c.data)}};
}

void apply_override(RunConfig& c, const std::string& assignment) {
  const size_t eq = assignment.find('='), dot = assignment.find('.');
  AERO_CHECK(eq != std::string::npos && dot != std::string::npos && dot < eq,
             "[config] --set expects section.key=value (e.g. train.lr=3e-4), got '", assignment,
             "'");
  // The resolved config is printed and saved as JSON, which holds valid UTF-8 only.
  try {
    (void)nlohmann::json(assignment).dump();
  } catch (const nlohmann::json::type_error&) {
    fail("[config] --set '", assignment, "' is not valid UTF-8");
  }
  const std::string section = assignment.substr(0, dot);
  const std::string key = assignment.substr(dot + 1, eq - dot - 1);
  const std::string value = assignment.substr(eq + 1);
  in_file("--set " + assignment, [&] {
    if (section == "model")
      c.model.set(key, value);
    else if (section == "train")
      train_config_fields().set_from_string(c.train, key, value);
    else if (section == "data")
      data_config_fields().set_from_string(c.data, key, value);
    else if (section == "lora")
      lora_config_fields().set_from_string(c.lora, key, value);
    else
      fail("[config] unknown section '", section, "' (known: model, train, data, lora)");
  });
}

std::string run_config_help() {
  std::string model;
  for (const Arch* a : archs()) {
    const ModelConfig defaults(a->name);
    model += "model (arch = " + std::string(a->name) + ": " + a->summary + "):\n" +
             defaults.fields().help();
  }
  return model + "train:\n" + train_config_fields().help() + "data:\n" +
         data_config_fields().help() + "lora:\n" + lora_config_fields().help();
}

}  // namespace aero
