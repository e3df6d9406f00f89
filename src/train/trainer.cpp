#include "train/trainer.h"

#include <signal.h>
#include <sys/resource.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <thread>

#include "core/log.h"
#include "core/rng.h"
#include "core/threads.h"
#include "data/batching.h"
#include "io/atomic_file.h"
#include "kernels/gemm_bf16.h"
#include "kernels/peak.h"
#include "tokenizer/tokenizer.h"
#include "train/schedule.h"

namespace aero {

namespace fs = std::filesystem;

namespace {

using Clock = std::chrono::steady_clock;

// Ctrl-C / SIGTERM: finish the step, write a checkpoint and stop; a second one kills at once.
volatile sig_atomic_t g_stop_requested = 0;

extern "C" void request_stop(int sig) {
  if (g_stop_requested) {
    ::signal(sig, SIG_DFL);
    ::raise(sig);
  }
  g_stop_requested = 1;
}

class StopSignals {
 public:
  StopSignals() {
    g_stop_requested = 0;
    struct sigaction sa {};
    sa.sa_handler = request_stop;
    sigemptyset(&sa.sa_mask);
    ::sigaction(SIGINT, &sa, &old_int_);
    ::sigaction(SIGTERM, &sa, &old_term_);
  }
  ~StopSignals() {
    ::sigaction(SIGINT, &old_int_, nullptr);
    ::sigaction(SIGTERM, &old_term_, nullptr);
  }
  bool requested() const { return g_stop_requested != 0; }

 private:
  struct sigaction old_int_ {
  }, old_term_{};
};

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

// The log line of train.precision = bf16: the kernel the products run on, or the fp32 fallback.
// On the avx512-bf16 kernel it measures vdpbf16ps against the FMA on one thread (~0.15 s): CPUs
// that issue it at a fraction of the FMA's rate (Intel's without AMX) multiply faster in fp32.
std::string bf16_precision_line(bool hardware) {
  if (!hardware)
    return "[train] precision bf16 asked for, but this CPU has no bf16 units (AVX512-BF16 or "
           "AMX): training in fp32";
  const Bf16Kernel k = bf16_kernel();
  std::string line = "[train] precision bf16: linear layers multiply bf16 with fp32 sums on ";
  line += bf16_kernel_name(k);
  if (k == Bf16Kernel::avx512) {
    const double ratio = measure_bf16_dot_peak(1, 0.05).gflops / measure_fma_peak(1, 0.05).gflops;
    if (ratio < 1) {
      char note[200];
      std::snprintf(note, sizeof note,
                    "; this CPU's vdpbf16ps gives %.2fx the FLOPs of its fp32 FMA, so "
                    "train.precision=fp32 multiplies faster here",
                    ratio);
      line += note;
    }
  }
  return line;
}

double peak_rss_mb() {
  rusage ru{};
  ::getrusage(RUSAGE_SELF, &ru);
  return double(ru.ru_maxrss) / 1024.0;  // Linux: kilobytes
}

void check_vocab(const std::string& what, const std::string& path, uint32_t shard_vocab,
                 int model_vocab) {
  AERO_CHECK(int64_t(shard_vocab) == model_vocab, "[train] ", what, " ", path, " has vocab size ",
             shard_vocab, " but model.vocab_size is ", model_vocab,
             "; set model.vocab_size to the tokenizer's size");
}

// The parameters' bits, hashed (FNV-1a over 32-bit words): ranks compare it before training.
uint64_t weights_digest(const ParamStore& store) {
  const float* v = store.values_data();
  uint64_t h = 1469598103934665603ULL;
  for (int64_t i = 0, n = store.buffer_floats(); i < n; i++) {
    uint32_t w;
    std::memcpy(&w, v + i, sizeof w);
    h = (h ^ w) * 1099511628211ULL;
  }
  const uint16_t* b = store.values_bf16_data();  // a frozen base stored in bf16
  for (int64_t i = 0, n = store.buffer_bf16(); i < n; i++) h = (h ^ b[i]) * 1099511628211ULL;
  return h;
}

std::string hms(double s) {
  int64_t t = int64_t(s);
  char buf[32];
  if (t >= 3600)
    std::snprintf(buf, sizeof buf, "%lld:%02lld:%02lld", (long long)(t / 3600),
                  (long long)(t / 60 % 60), (long long)(t % 60));
  else
    std::snprintf(buf, sizeof buf, "%lld:%02lld", (long long)(t / 60), (long long)(t % 60));
  return buf;
}

// Metrics as JSON Lines: {"step": 10, "loss": ...}, flushed line by line.
class MetricsLog {
 public:
  // On resume, lines past the checkpoint's step are dropped: those steps run again.
  // An empty path writes nothing (ranks other than 0).
  MetricsLog(const std::string& path, int64_t resume_step, bool resumed) {
    if (path.empty()) return;
    if (resumed && fs::exists(path)) {
      std::ifstream in(path);
      std::string line, kept;
      while (std::getline(in, line)) {
        try {
          auto j = nlohmann::json::parse(line);
          // A test line closed the earlier invocation; the continued run writes its own.
          if (j.at("step").get<int64_t>() <= resume_step && !j.contains("test_loss"))
            kept += line + "\n";
        } catch (const nlohmann::json::exception&) {
          // a line cut short by the kill: dropped
        }
      }
      write_file_atomic(path, kept);
    }
    out_.open(path, resumed ? std::ios::app : std::ios::trunc);
    AERO_CHECK(out_, "[train] cannot write ", path);
  }
  void write(const nlohmann::ordered_json& j) {
    if (!out_.is_open()) return;
    out_ << j.dump() << "\n";
    out_.flush();
    AERO_CHECK(out_, "[train] write failed on metrics.jsonl");
  }

 private:
  std::ofstream out_;
};

// One line redrawn in place on a terminal; a plain line per log interval otherwise.
class Progress {
 public:
  // Disabled, it prints nothing (ranks other than 0).
  explicit Progress(bool enabled) : on_(enabled), tty_(enabled && ::isatty(2)) {}
  ~Progress() { clear(); }
  void bar(int64_t step, int64_t max, double loss, double tok_s, double eta_s) {
    if (!tty_) return;
    const double now = seconds_since(t0_);
    if (step < max && now - last_ < 0.2) return;
    last_ = now;
    const int width = 24, filled = int(double(width) * double(step) / double(max));
    std::fprintf(stderr, "\r\033[Kstep %lld/%lld [%s%s] loss %.4f  %.0f tok/s  ETA %s",
                 (long long)step, (long long)max, std::string(size_t(filled), '=').c_str(),
                 std::string(size_t(width - filled), ' ').c_str(), loss, tok_s, hms(eta_s).c_str());
    std::fflush(stderr);
    shown_ = true;
  }
  // A line that stays: on a terminal it replaces the bar, which is redrawn on the next step.
  void line(const std::string& s) {
    if (!on_) return;
    clear();
    std::fprintf(stderr, "%s\n", s.c_str());
  }
  // Interval lines only when there is no bar.
  void log_line(const std::string& s) {
    if (on_ && !tty_) line(s);
  }

 private:
  void clear() {
    if (shown_) std::fprintf(stderr, "\r\033[K");
    shown_ = false;
  }
  bool on_, tty_, shown_ = false;
  Clock::time_point t0_ = Clock::now();
  double last_ = -1;
};

}  // namespace

EvalResult evaluate_shard(Model& model, const ModelConfig& cfg, Tape& tape,
                          const std::string& shard, const EvalOptions& opt) {
  ObjectiveOptions oo;
  oo.mc = opt.mc;
  const auto objective = make_objective(eval_objective(cfg, opt.final_only), cfg, oo);
  if (!opt.pairs) {
    Shard s(shard);
    check_vocab("shard", shard, s.vocab_size(), cfg.vocab_size());
  }
  const bool was_training = tape.training;
  tape.training = false;
  NoGrad no_grad(tape);
  LossSum sum;
  EvalOptions o = opt;
  o.pair.sft = cfg.arch().family == ModelFamily::masked_lm;
  o.pair.causal = cfg.arch().family == ModelFamily::causal_lm;
  for_each_eval_batch(shard, cfg.context(), o, [&](const TrainBatch& b) {
    tape.reset();
    const float counted = float(std::max<int64_t>(b.targets, 1));
    Var loss = objective->loss(model, tape, b, counted);
    sum.add(double(loss.value().f32()[0]), b.targets, b.tokens);
    tape.reset();
  });
  tape.training = was_training;
  return sum.result();
}

PairsOptions pair_options(const DataConfig& d) {
  PairsOptions p;
  p.tokenizer = d.tokenizer;
  p.input_column = d.input_column;
  p.target_column = d.target_column;
  p.max_input = d.max_input;
  p.max_target = d.max_target;
  p.multiple = d.pad_multiple;
  return p;
}

int auto_data_parallel_parts(int64_t params, int batch_size, int threads) {
  constexpr int64_t kMaxParams = 16'000'000;
  return params <= kMaxParams ? std::max(1, std::min(threads, batch_size)) : 1;
}

Trainer::Trainer(const RunConfig& cfg)
    : cfg_(cfg), group_(process_group()), dropout_rng_(uint64_t(cfg.train.seed)) {
  const TrainConfig& t = cfg_.train;
  cfg_.model.validate();
  t.validate();
  if (t.threads > 0) {
    set_num_threads(t.threads);
  } else if (group_.size() > 1 && !std::getenv("AERO_THREADS") && !std::getenv("OMP_NUM_THREADS")) {
    // Ranks on one machine share its cores (mpirun --bind-to none, or a socket per rank).
    const int cpus = int(std::thread::hardware_concurrency()), local = launcher_local_size();
    if (local > 1) set_num_threads(std::min(num_threads(), std::max(1, cpus / local)));
  }
  const int V = cfg_.model.vocab_size(), T = cfg_.model.context();
  objective_ = make_objective(t.objective, cfg_.model,
                              {.antithetic = t.antithetic, .random_length = t.random_length});
  // Each data file is opened once here, so a wrong path fails before any training, naming the
  // config key that holds it.
  const auto check_file = [&](const std::string& key, const std::string& path, auto vocab_of) {
    AERO_CHECK(!path.empty(), "[train] ", key, " is empty; set it with --set ", key, "=PATH");
    uint32_t vocab = 0;
    try {
      vocab = vocab_of(path);
    } catch (const Error& e) {
      std::string msg = e.what();  // "[data] cannot open ..." -> "cannot open ..."
      if (msg.rfind('[', 0) == 0 && msg.find("] ") != std::string::npos)
        msg = msg.substr(msg.find("] ") + 2);
      fail("[train] ", key, ": ", msg, " (set it with --set ", key, "=PATH)");
    }
    check_vocab(key, path, vocab, V);
  };
  const bool examples = cfg_.data.mode == DataMode::examples;
  const bool pairs = cfg_.data.mode == DataMode::pairs;
  const auto window_vocab = [&](const std::string& p) {
    return examples ? Shard(p).vocab_size() : WindowSampler({p}, T, 0).vocab_size();
  };
  if (pairs) {
    // Text files encoded at start: the tokenizer must fit the model (T5's has spare rows).
    AERO_CHECK(!cfg_.data.tokenizer.empty(), "[train] data.mode = pairs needs data.tokenizer");
    const int vocab = load_tokenizer(cfg_.data.tokenizer)->vocab_size();
    AERO_CHECK(vocab <= V, "[train] data.tokenizer ", cfg_.data.tokenizer, " has ", vocab,
               " tokens but model.vocab_size is ", V);
    for (const auto& [key, path] :
         {std::pair{"data.train", cfg_.data.train}, std::pair{"data.val", cfg_.data.val},
          std::pair{"data.test", cfg_.data.test}})
      AERO_CHECK(path.empty() || fs::exists(path), "[train] ", key, ": no such file ", path,
                 " (set it with --set ", key, "=PATH)");
  } else {
    check_file("data.train", cfg_.data.train, window_vocab);
    if (t.eval_every > 0) check_file("data.val", cfg_.data.val, window_vocab);
    if (!cfg_.data.test.empty())
      check_file("data.test", cfg_.data.test,
                 [](const std::string& p) { return Shard(p).vocab_size(); });
  }
  if (!cfg_.data.tokenizer.empty() && !pairs)
    check_file("data.tokenizer", cfg_.data.tokenizer,
               [](const std::string& p) { return uint32_t(load_tokenizer(p)->vocab_size()); });
  BatchOptions bo;
  bo.batch_size = t.batch_size;
  bo.block_size = T;
  bo.final_only = t.objective == ObjectiveKind::final;
  bo.seed = uint64_t(t.seed);
  bo.grad_accum = t.grad_accum;
  bo.examples = examples;
  bo.buckets = cfg_.data.buckets;
  bo.pairs = pairs;
  bo.pair = pair_options(cfg_.data);
  bo.pair.sft = cfg_.model.arch().family == ModelFamily::masked_lm;
  bo.pair.causal = cfg_.model.arch().family == ModelFamily::causal_lm;
  batches_ = open_train_batches(cfg_.data.train, bo);
  if (t.epochs > 0) {  // Hugging Face's num_train_epochs: the schedule spans them
    const uint64_t per_epoch =
        (batches_->epoch_batches() + uint64_t(t.grad_accum) - 1) / uint64_t(t.grad_accum);
    cfg_.train.max_steps = int(std::max(1.0, std::ceil(t.epochs * double(per_epoch))));
    log_info("[train] ", t.epochs, " epochs of ", per_epoch, " steps: max_steps ", t.max_steps);
  }
  if (t.warmup_ratio > 0) cfg_.train.warmup_steps = int(std::lround(t.warmup_ratio * t.max_steps));
  BuiltModel built = build_model(cfg_.model, cfg_.lora, store_);
  model_ = std::move(built.model);
  lora_ = std::move(built.lora);
  rows_ = std::move(built.rows);
  const TokenTables tables = model_->token_tables();
  if (!rows_ && !t.mean_init_tokens.empty()) {
    // Full fine-tuning with added tokens: the tables may be longer than the base's.
    const int first = *std::min_element(t.mean_init_tokens.begin(), t.mean_init_tokens.end());
    for (Param* p : {tables.embedding ? &tables.embedding->weight_param() : nullptr,
                     tables.head ? &tables.head->weight_param() : nullptr})
      if (p && first > 0) p->file_rows_min = first;
  }
  const bool bf16 = t.precision == Precision::bf16 && bf16_hardware();
  // Under LoRA in bf16 the frozen base is stored in bf16: it is only ever multiplied in bf16.
  store_.finalize(uint64_t(t.seed), /*gradients=*/true, /*frozen_bf16=*/bf16 && lora_);
  if (!t.init_from.empty()) {
    const std::string ck = find_checkpoint(t.init_from);
    AERO_CHECK(!ck.empty(), "[train] train.init_from: ", t.init_from, " holds no checkpoint");
    load_checkpoint_weights(ck, cfg_.model.arch().name, store_, /*init=*/true);
    base_ = std::filesystem::absolute(ck).lexically_normal().string();
  }
  // Trainable token rows start as their tables' rows (PEFT's init), added tokens at the mean.
  if (rows_) rows_->capture();
  if (!t.mean_init_tokens.empty()) {
    const std::vector<int32_t> ids(t.mean_init_tokens.begin(), t.mean_init_tokens.end());
    if (rows_)
      rows_->init_mean(ids, t.mean_init_rows);
    else
      init_rows_mean(tables, ids, t.mean_init_rows);
    log_info("[train] ", ids.size(), " token rows start at the mean of rows [0, ", t.mean_init_rows,
             ")");
  }
  if (rows_)
    log_info("[train] trainable token rows: ", rows_->embedding->ids().size(), " tokens, ",
             rows_->params, " parameters");
  if (lora_)
    log_info("[train] LoRA: ", lora_->modules.size(), " modules, ", lora_->params,
             " trainable parameters (", store_.count(), " in all",
             store_.buffer_bf16() > 0 ? "; the frozen base stored in bf16" : "", ")");
  if (group_.size() > 1)
    sync_ = std::make_unique<GradSync>(store_, group_, bucket_floats_from_env(), t.zero);
  opt_ = std::make_unique<Optimizer>(store_, t.optim, sync_ ? sync_->optim_shard() : OptimShard{});
  const int parts = t.data_parallel > 0
                        ? t.data_parallel
                        : auto_data_parallel_parts(store_.count(), t.batch_size, num_threads());
  dp_ = std::make_unique<DataParallel>(store_, parts);
  if (t.precision == Precision::bf16) log_info(bf16_precision_line(bf16));
  for (int k = 0; k < parts; k++) dp_->tape(k).bf16_products = bf16;
  if (parts > 1)
    log_info("[train] data parallel: each step trains ", parts,
             " parts of the batch side by side (train.data_parallel=1 threads each op instead)");
  if (sync_) {
    log_info("[dist] ", group_.describe(), ": each trains ", parts, " of the ",
             parts * group_.size(), " parts of every batch; gradients summed in ", sync_->buckets(),
             " bucket(s), rank 0 evaluates and writes");
    if (opt_->sharded()) {
      const double mb = double(sizeof(float)) / (1 << 20);
      char buf[200];
      std::snprintf(buf, sizeof buf,
                    "[dist] optimizer sharded (ZeRO-1, train.zero): each rank updates its share of "
                    "the parameters; moments %.4g MB on this rank instead of %.4g MB",
                    double(opt_->moment_floats()) * mb,
                    double(opt_->n_moments()) * double(store_.grad_floats()) * mb);
      log_info(buf);
    }
  }
  std::copy(std::begin(dropout_rng_.s_), std::end(dropout_rng_.s_), st_.tape_rng.begin());
  st_.data_seed = uint64_t(t.seed);
}

Trainer::~Trainer() = default;

void Trainer::resume_from(const std::string& ckpt_dir) {
  const RunConfig saved = read_checkpoint_config(ckpt_dir);
  const nlohmann::json mine = cfg_.model.to_json(), theirs = saved.model.to_json();
  for (auto it = mine.begin(); it != mine.end(); ++it)
    AERO_CHECK(theirs.contains(it.key()) && theirs.at(it.key()) == it.value(), "[checkpoint] ",
               ckpt_dir, "/config.json: model.", it.key(), " is ",
               theirs.contains(it.key()) ? theirs.at(it.key()).dump() : "absent",
               " but the config asks for ", it.value().dump(), "; the model must match to resume");
  AERO_CHECK(saved.train.optim.kind == cfg_.train.optim.kind, "[checkpoint] ", ckpt_dir,
             "/config.json: train.optimizer is ", optim_kind_name(saved.train.optim.kind),
             " but the config asks for ", optim_kind_name(cfg_.train.optim.kind));
  TrainState st = read_checkpoint_state(ckpt_dir);
  load_checkpoint(ckpt_dir, cfg_, store_, opt_.get());
  if (rows_) rows_->sync();
  st_ = st;
  std::copy(st_.tape_rng.begin(), st_.tape_rng.end(), std::begin(dropout_rng_.s_));
  resumed_ = true;
}

EvalResult Trainer::evaluate(const std::string& shard, const EvalOptions& opt) {
  EvalOptions o = opt;
  o.pairs = cfg_.data.mode == DataMode::pairs;
  o.pair = pair_options(cfg_.data);
  return evaluate_shard(*model_, cfg_.model, dp_->tape(0), shard, o);
}

void Trainer::share_eval(EvalResult& ev, double& score) {
  if (!sync_) return;
  double v[4] = {ev.loss, ev.ppl, double(ev.tokens), score};
  group_.broadcast(v, 4);
  ev = {v[0], v[1], int64_t(v[2])};
  score = v[3];
}

void Trainer::check_ranks_agree() {
  const std::vector<uint64_t> steps = group_.all_gather(uint64_t(st_.step));
  const std::vector<uint64_t> digests = group_.all_gather(weights_digest(store_));
  for (int r = 1; r < group_.size(); r++) {
    AERO_CHECK(steps[size_t(r)] == steps[0], "[dist] rank ", r, " starts at step ",
               steps[size_t(r)], " but rank 0 at step ", steps[0],
               ": every rank must resume from the same checkpoint (train.out_dir on a file "
               "system every machine sees, or a copy at the same path)");
    AERO_CHECK(digests[size_t(r)] == digests[0], "[dist] rank ", r,
               " holds other weights than rank 0 at step ", steps[0],
               ": every rank must run the same config (model, train.seed, train.init_from) and "
               "the same checkpoint");
  }
}

double Trainer::train_step(float lr, int64_t& tokens, double& grad_norm) {
  const TrainConfig& t = cfg_.train;
  const float clip = t.grad_clip > 0 ? t.grad_clip : std::numeric_limits<float>::infinity();
  opt_->set_lr(lr);
  const int checkpoint_every = t.checkpoint_every_block();
  // This rank's parts are parts [first, first + P) of the G parts of every batch.
  const int P = dp_->parts(), G = P * group_.size(), first = P * group_.rank();
  std::vector<double> part_loss(size_t(t.grad_accum * P), 0.0);  // (micro, part)
  for (int micro = 0; micro < t.grad_accum; micro++) {
    const TrainBatch& batch = batches_->get(st_.step, micro);
    // Each micro-batch contributes its mean / grad_accum.
    const float divisor = float(std::max<int64_t>(batch.targets, 1) * t.grad_accum);
    tokens += batch.tokens;
    // Every rank draws all G parts' dropout seeds, so part g drops the same units wherever it runs.
    for (int g = 0; g < G; g++) {
      const uint64_t seed = dropout_rng_.next_u64();
      if (g >= first && g < first + P) dp_->tape(g - first).rng().seed(seed);
    }
    // Over processes with one part, buckets start summing while backward goes on.
    const bool overlap = sync_ && P == 1 && micro + 1 == t.grad_accum;
    dp_->run([&](int k, Tape& tape) {
      const int64_t b = DataParallel::part_begin(first + k, G, batch.rows),
                    e = DataParallel::part_begin(first + k + 1, G, batch.rows);
      if (b == e) return;
      tape.reset();
      tape.training = true;
      tape.checkpoint_every = checkpoint_every;
      if (overlap) sync_->count(tape);
      Var loss = objective_->loss(*model_, tape, batch.rows_slice(b, e), divisor);
      part_loss[size_t(micro * P + k)] = double(loss.value().f32()[0]);
      if (overlap) sync_->arm(tape);
      tape.backward(loss);
    });
  }
  if (sync_) sync_->finish();
  // Summed as one process with G parts sums them: micro-batch by micro-batch, in part order.
  const std::vector<double> all = sync_ ? group_.all_gather(part_loss) : part_loss;
  double step_loss = 0;
  for (int micro = 0; micro < t.grad_accum; micro++)
    for (int r = 0; r < group_.size(); r++)
      for (int k = 0; k < P; k++) step_loss += all[size_t((r * t.grad_accum + micro) * P + k)];
  grad_norm = opt_->clip_grad_norm(clip);
  opt_->step();
  if (rows_) rows_->sync();  // the tables hold the rows' new values for every forward path
  store_.zero_grad();
  return step_loss;
}

// The state of one run(): its clocks, its log interval and its result.
struct Trainer::Loop {
  Clock::time_point t0 = Clock::now();
  double elapsed_before = 0;
  int64_t first_step = 0;
  TrainResult res;
  // Interval statistics for log lines.
  double loss_sum = 0, grad_norm = 0;
  int64_t interval_steps = 0, interval_tokens = 0;
  Clock::time_point interval_t0 = Clock::now();
  double train_s = 0, allreduce_wait_s = 0;  // over processes: the share the all-reduce waits
  int64_t allreduce_steps = 0;
};

TrainResult Trainer::run() {
  const TrainConfig& t = cfg_.train;
  const std::string& out = t.out_dir;
  const bool lead = group_.rank() == 0;  // evaluates, writes checkpoints, metrics and charts
  if (lead) {
    fs::create_directories(out);
    if (int n = clean_partial_checkpoints(out))
      log_warn("[train] removed ", n, " partial checkpoint(s) left in ", out, " by a killed save");
    AERO_CHECK(resumed_ || find_checkpoint(out).empty(), "[train] ", out,
               " already holds checkpoints; pass --resume to continue that run, or choose "
               "another train.out_dir");
  }
  if (sync_) check_ranks_agree();
  MetricsLog metrics(lead ? (fs::path(out) / "metrics.jsonl").string() : std::string(), st_.step,
                     resumed_);
  Progress progress(lead);
  StopSignals signals;
  const Schedule sched{t.schedule, t.optim.lr, t.min_lr, t.warmup_steps, t.max_steps};
  const bool final_only = t.objective == ObjectiveKind::final;
  const bool examples = cfg_.data.mode == DataMode::examples;
  const uint64_t val_seed = splitmix64(st_.data_seed ^ 0x7a1dULL);
  Loop L;
  L.elapsed_before = st_.elapsed_s;
  L.first_step = st_.step;
  L.res.val_loss = L.res.test_loss = std::numeric_limits<double>::quiet_NaN();

  while (st_.step < t.max_steps) {
    // 1) the step
    const float lr = sched.at(st_.step);
    int64_t step_tokens = 0;
    const double step_loss = train_step(lr, step_tokens, L.grad_norm);
    st_.step++;
    st_.tokens_seen += step_tokens;
    st_.elapsed_s = L.elapsed_before + seconds_since(L.t0);
    L.loss_sum += step_loss;
    L.interval_steps++;
    L.interval_tokens += step_tokens;

    // 2) progress and metrics
    const int64_t step = st_.step;
    const double session_s = seconds_since(L.t0);
    double eta = double(t.max_steps - step) * session_s / double(step - L.first_step);
    if (t.max_minutes > 0) eta = std::min(eta, std::max(0.0, t.max_minutes * 60.0 - session_s));
    progress.bar(step, t.max_steps, step_loss,
                 double(st_.tokens_seen) / std::max(1e-9, st_.elapsed_s), eta);
    if (step % t.log_every == 0 || step == t.max_steps) {
      const double secs = seconds_since(L.interval_t0);
      const double loss = L.loss_sum / double(L.interval_steps);
      const double tok_s = double(L.interval_tokens) / std::max(1e-9, secs);
      nlohmann::ordered_json j;
      j["step"] = step;
      j["loss"] = loss;
      j["lr"] = shortest_decimal(lr);
      j["grad_norm"] = L.grad_norm;
      j["tokens_per_s"] = tok_s;
      j["elapsed_s"] = st_.elapsed_s;
      j["peak_mem_mb"] = peak_rss_mb();
      size_t act = 0;  // activations and their gradients, every part's tape
      for (int k = 0; k < dp_->parts(); k++) act += dp_->tape(k).peak_bytes();
      j["peak_act_mb"] = double(act) / (1 << 20);
      if (sync_) {
        // Time the step waited for gradient sums after backward (communication not hidden).
        j["ranks"] = group_.size();
        j["allreduce_wait_ms"] =
            1e3 * sync_->wait_s() / double(std::max<int64_t>(1, sync_->steps()));
        j["allreduce_share"] = sync_->wait_s() / std::max(1e-9, secs);
        L.allreduce_wait_s += sync_->wait_s();
        L.train_s += secs;
        L.allreduce_steps += sync_->steps();
        sync_->take_wait();
      }
      metrics.write(j);
      char buf[200];
      std::snprintf(
          buf, sizeof buf, "step %lld/%lld  loss %.4f  lr %.3g  grad_norm %.3f  %.0f tok/s  ETA %s",
          (long long)step, (long long)t.max_steps, loss, lr, L.grad_norm, tok_s, hms(eta).c_str());
      progress.log_line(buf);
      L.loss_sum = 0;
      L.interval_steps = L.interval_tokens = 0;
      L.interval_t0 = Clock::now();
    }

    // 3) evaluation, stop decisions, checkpoint (not counted in tokens_per_s)
    bool checkpoint =
        step == t.max_steps || (t.checkpoint_every > 0 && step % t.checkpoint_every == 0);
    bool is_best = false, evaluated = false;
    const auto pause0 = Clock::now();
    if (t.eval_every > 0 && (step % t.eval_every == 0 || step == t.max_steps)) {
      EvalResult ev;
      std::map<std::string, double> scores;
      if (lead) {
        ev = evaluate(cfg_.data.val, {t.batch_size, t.eval_batches, true, final_only, val_seed,
                                      examples, cfg_.data.buckets});
        if (val_scores) scores = val_scores();
      }
      // The number that picks the best checkpoint: the loss (lower is better) or a score of the
      // generated answers (higher is better).
      const bool by_loss = t.best_metric == "loss";
      double score = ev.loss;
      if (!by_loss && lead) {
        const auto it = scores.find(t.best_metric);
        AERO_CHECK(it != scores.end(), "[train] best_metric ", t.best_metric,
                   " was not computed (it needs a seq2seq model and train.eval_generate > 0)");
        score = it->second;
      }
      share_eval(ev, score);
      L.res.val_loss = ev.loss;
      evaluated = checkpoint = true;
      nlohmann::ordered_json row = {{"step", step}, {"val_loss", ev.loss}, {"val_ppl", ev.ppl}};
      std::string shown;
      for (const auto& [name, value] : scores) {
        row["val_" + name] = value;
        shown += cat("  val_", name, " ", value);
      }
      metrics.write(row);
      if (by_loss ? score < st_.best_val_loss : score > st_.best_val_score) {
        (by_loss ? st_.best_val_loss : st_.best_val_score) = score;
        st_.best_step = step;
        st_.evals_since_best = 0;
        is_best = true;
      } else {
        st_.evals_since_best++;
      }
      char buf[160];
      std::snprintf(buf, sizeof buf, "step %lld  val_loss %.4f  val_ppl %.2f", (long long)step,
                    ev.loss, ev.ppl);
      progress.line(buf + shown + (is_best ? "  (best)" : ""));
    }
    if (t.early_stop > 0 && st_.evals_since_best >= t.early_stop) {
      L.res.early_stopped = checkpoint = true;
      progress.line(cat("early stop: no better val ", t.best_metric, " in ", t.early_stop,
                        " evaluations (best ",
                        t.best_metric == "loss" ? st_.best_val_loss : st_.best_val_score,
                        " at step ", st_.best_step, ")"));
    }
    // Over processes, a rank out of time or signalled stops every rank at this step.
    bool time_up =
             t.max_minutes > 0 && session_s >= double(t.max_minutes) * 60.0 && step < t.max_steps,
         stop = signals.requested();
    if (sync_) {
      const uint64_t f = group_.bit_or(uint64_t(time_up) | uint64_t(stop) << 1);
      time_up = f & 1, stop = (f & 2) != 0;
    }
    if (time_up) {
      L.res.time_limited = checkpoint = true;
      progress.line(cat("time limit of ", t.max_minutes, " minutes reached at step ", step));
    }
    if (stop) {
      L.res.interrupted = checkpoint = true;
      progress.line(cat("interrupted at step ", step, "; resume with --resume"));
    }
    if (checkpoint) opt_->gather_state();  // sharded: every rank's moments to rank 0
    if (checkpoint && lead) {
      std::copy(std::begin(dropout_rng_.s_), std::end(dropout_rng_.s_), st_.tape_rng.begin());
      st_.elapsed_s = L.elapsed_before + seconds_since(L.t0);
      L.res.last_checkpoint = save_checkpoint(out, store_, opt_.get(), cfg_, st_, t.keep_last,
                                              is_best, lora_ ? base_ : std::string());
    }
    opt_->release_state();
    if (evaluated && on_eval && lead) on_eval(out);
    L.interval_t0 += Clock::now() - pause0;
    if (L.res.early_stopped || L.res.time_limited || L.res.interrupted) break;
  }
  L.res.steps = st_.step;
  if (sync_ && L.train_s > 0) {
    char buf[160];
    std::snprintf(buf, sizeof buf,
                  "[dist] %d ranks: the steps waited for gradient sums %.1f%% of the time "
                  "(%.2f ms per step)",
                  group_.size(), 100 * L.allreduce_wait_s / L.train_s,
                  1e3 * L.allreduce_wait_s / double(std::max<int64_t>(1, L.allreduce_steps)));
    progress.line(buf);
  }

  // 4) the final test evaluation
  if (lead && !cfg_.data.test.empty() && !L.res.time_limited && !L.res.interrupted) {
    const EvalResult ev = evaluate(cfg_.data.test, {t.batch_size, t.test_batches, false, final_only,
                                                    0, examples, cfg_.data.buckets});
    L.res.test_loss = ev.loss;
    metrics.write({{"step", st_.step}, {"test_loss", ev.loss}, {"test_ppl", ev.ppl}});
    char buf[160];
    std::snprintf(buf, sizeof buf, "test_loss %.4f  test_ppl %.2f  (%lld tokens)", ev.loss, ev.ppl,
                  (long long)ev.tokens);
    progress.line(buf);
    if (on_eval) on_eval(out);
  }
  return L.res;
}

}  // namespace aero
