// A training run's configuration: the model, the optimisation, the data and optional LoRA
// adapters, each with its own field table, loaded from one JSON file
// {"model": {...}, "train": {...}, "data": {...}, "lora": {...}} and
// overridden with `--set section.key=value`. The resolved config is saved in every checkpoint.
#pragma once
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/config.h"
#include "models/model.h"
#include "nn/lora.h"
#include "train/optimizer.h"
#include "train/schedule.h"

namespace aero {

// What the loss is computed on (train/objective.h).
enum class ObjectiveKind : uint8_t {
  all,        // next token at every position
  final,      // next token at the final position only (seed 002)
  seq2seq,    // an encoder-decoder's target tokens (labels != -100), decoder fed shift_right
  diffusion,  // masked diffusion (LLaDA): masked tokens predicted, weighted 1/t (masked_lm)
};
const EnumNames<ObjectiveKind>& objective_names();

// How linear layers multiply. bf16: inputs rounded to bf16, sums in fp32, on the CPU's bf16
// units (AMX or AVX512-BF16; fp32 with a log line on CPUs without them); master weights,
// optimizer moments, norms, softmax, losses and reductions stay fp32; no loss scaling.
enum class Precision : uint8_t { fp32, bf16 };
const EnumNames<Precision>& precision_names();

struct TrainConfig {
  int batch_size = 32;  // sequences per micro-batch (B)
  int grad_accum = 1;   // micro-batches per optimizer step
  int max_steps = 1000;
  double epochs = 0;  // > 0: max_steps = ceil(epochs × micro-batches per epoch / grad_accum)
  float max_minutes = 0.0f;  // wall-clock limit of one invocation; 0: none
  // The optimizer (kind, peak lr, betas, eps, momentum, weight decay only on matrices, never
  // norms and biases), with a run's defaults: AdamW, beta2 0.95, decay 0.1 (nanoGPT's).
  OptimConfig optim{.kind = OptimKind::adamw, .lr = 1e-3f, .beta2 = 0.95f, .weight_decay = 0.1f};
  float min_lr = 1e-4f;  // where cosine / linear decay ends
  int warmup_steps = 0;
  double warmup_ratio = 0;  // > 0: warmup_steps = round(warmup_ratio × max_steps)
  ScheduleKind schedule = ScheduleKind::cosine;
  float grad_clip = 1.0f;  // global-norm clipping; 0: off
  ObjectiveKind objective = ObjectiveKind::all;
  bool antithetic = false;      // diffusion: t stratified across the batch (lower variance)
  float random_length = 0.01f;  // diffusion: fraction of batches cropped to a random length
  int eval_every = 100;         // 0: no evaluation during training
  int eval_batches = 20;
  int test_batches = 100;    // final test evaluation; 0: the whole test shard
  int checkpoint_every = 0;  // also at every evaluation and at the end; 0: only those
  int log_every = 10;
  int seed = 1337;
  std::string out_dir = "runs/run";
  // A checkpoint (or run directory) whose weights start the run instead of random ones: the base
  // of a fine-tune. With LoRA, checkpoints then hold only the adapters and name this base.
  std::string init_from;
  int keep_last = 3;   // checkpoints kept (the best one is always kept)
  int early_stop = 0;  // stop after this many evaluations without a better best_metric; 0: off
  // Seq2seq: validation rows decoded greedily at each evaluation for BLEU and ROUGE (0: none).
  int eval_generate = 0;
  // What picks the best checkpoint and drives early_stop: loss (lower is better) or, with
  // eval_generate, bleu / rouge1 / rouge2 / rougeL (higher is better).
  std::string best_metric = "loss";
  int threads = 0;  // 0: AERO_THREADS / OMP_NUM_THREADS / all usable CPUs
  // Batch parts trained side by side, one per thread (train/data_parallel.h); 1: every op
  // threaded instead; 0: auto (auto_data_parallel_parts in train/trainer.h).
  int data_parallel = 0;
  // Over MPI ranks: each rank updates, and keeps optimizer moments for, its own share of the
  // parameters (ZeRO-1); false: every rank runs the whole optimizer.
  bool zero = true;
  // Activation checkpointing: "none", "blocks" (every block recomputed in backward) or
  // "every N" (blocks 0, N, 2N, ...): less memory for more compute, identical gradients.
  std::string checkpoint_activations = "none";
  // Added tokens (aero finetune --add-tokens): the strings, and the rows that start at the mean
  // of the base's rows [0, mean_init_rows) once init_from is loaded.
  std::vector<std::string> add_tokens;
  std::vector<int> mean_init_tokens;
  int mean_init_rows = 0;
  Precision precision = Precision::fp32;

  void validate() const;
  // checkpoint_activations as Tape::checkpoint_every (0: none).
  int checkpoint_every_block() const;
};

// windows: random block_size windows over the token stream (pretraining); examples: one
// document (up to its end-of-text id) per row, cut to block_size + 1 tokens, padded per batch.
// pairs: (input, target) rows of a CSV or JSON Lines file, tokenized at start (seq2seq; on a
// decoder-only model prompt ++ answer rows with the loss on the answer).
enum class DataMode : uint8_t { windows, examples, pairs };
const EnumNames<DataMode>& data_mode_names();

// Shards written by `aero data prepare` (docs/data.md) and the tokenizer that made them.
struct DataConfig {
  DataMode mode = DataMode::windows;
  std::vector<int> buckets;  // examples: pad rows up to the first boundary >= the longest
  std::string train = "data/shards/train.bin";
  std::string val = "data/shards/val.bin";
  std::string test = "data/shards/test.bin";       // "" skips the final test evaluation
  std::string tokenizer = "data/tokenizer.model";  // "" skips the vocabulary check
  // pairs: the columns (CSV) or fields (JSONL) read, and the longest input and target in tokens
  // (EOS included; longer ones are cut, keeping the EOS); rows are padded to a multiple of
  // pad_multiple (0: off) or to `buckets`.
  std::string input_column = "input_text";
  std::string target_column = "target_text";
  int max_input = 256;
  int max_target = 64;
  int pad_multiple = 8;
};

const FieldTable<TrainConfig>& train_config_fields();
const FieldTable<DataConfig>& data_config_fields();

struct RunConfig {
  ModelConfig model;
  TrainConfig train;
  DataConfig data;
  LoraConfig lora;  // r = 0: no adapters, every parameter trains
};

// From {"model": {...}, "train": {...}, "data": {...}}; `where` (a file name) prefixes errors.
RunConfig run_config_from_json(const nlohmann::json& j, const std::string& where);
// Parses a JSON file; errors name the file and the key.
RunConfig load_run_config(const std::string& path);
nlohmann::json run_config_to_json(const RunConfig& c);
// "train.lr=3e-4" -> c.train.lr = 3e-4.
void apply_override(RunConfig& c, const std::string& assignment);
// Every field of every section with its type, default and help (`aero train --help-config`).
std::string run_config_help();

}  // namespace aero
