#include "train/trainer.h"

#include <signal.h>
#include <sys/resource.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <limits>

#include "core/log.h"
#include "core/rng.h"
#include "core/threads.h"
#include "data/batching.h"
#include "io/atomic_file.h"
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

// Seed of the sampler that draws the batches of step s: the data position is a function of
// (seed, step), so a resumed run draws exactly the batches the uninterrupted run would.
uint64_t step_seed(uint64_t data_seed, int64_t step) {
  return splitmix64(data_seed ^ splitmix64(uint64_t(step)));
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
  MetricsLog(const std::string& path, int64_t resume_step, bool resumed) {
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
  Progress() : tty_(::isatty(2)) {}
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
    clear();
    std::fprintf(stderr, "%s\n", s.c_str());
  }
  // Interval lines only when there is no bar.
  void log_line(const std::string& s) {
    if (!tty_) line(s);
  }

 private:
  void clear() {
    if (shown_) std::fprintf(stderr, "\r\033[K");
    shown_ = false;
  }
  bool tty_, shown_ = false;
  Clock::time_point t0_ = Clock::now();
  double last_ = -1;
};

}  // namespace

namespace {

PaddingOptions example_padding(const std::vector<int>& buckets, int block_size, int32_t pad_id) {
  for (size_t i = 0; i < buckets.size(); i++)
    AERO_CHECK(
        buckets[i] > 0 && buckets[i] <= block_size && (i == 0 || buckets[i] > buckets[i - 1]),
        "[train] data.buckets must be ascending lengths in 1..model.block_size (", block_size,
        "), got ", nlohmann::json(buckets).dump());
  PaddingOptions p;
  p.buckets = buckets;
  p.max_length = block_size + 1;  // x and y are one shorter
  p.pad_id = pad_id;
  return p;
}

// Loss of a next-token batch: the sum over its counted targets / divisor.
Var next_token_loss(Gpt& model, Tape& tape, NextTokenBatch& b, float divisor) {
  Tensor ids = Tensor::wrap(b.x.data(), {b.B, b.T}, DType::i32);
  Tensor tgt = Tensor::wrap(b.y.data(), {b.B, b.T}, DType::i32);
  CrossEntropyOpts o;
  o.ignore_index = kIgnoreIndex;
  o.divisor = divisor;
  return cross_entropy(model.forward(tape, ids), tgt, o);
}

EvalResult evaluate_examples(Gpt& model, Tape& tape, const std::string& shard,
                             const EvalOptions& opt) {
  const int T = model.config().block_size;
  Shard s(shard);
  check_vocab("shard", shard, s.vocab_size(), model.config().vocab_size);
  const PaddingOptions pad = example_padding(opt.buckets, T, int32_t(s.eot_id()));
  ExampleLoader loader(shard_documents(s), size_t(opt.batch_size), opt.seed);
  AERO_CHECK(loader.size() > 0, "[eval] ", shard, " holds no document of 2 or more tokens");
  std::vector<std::vector<size_t>> batches;
  if (opt.random) {
    batches = loader.epoch(0);
  } else {
    for (size_t i = 0; i < loader.size(); i += size_t(opt.batch_size)) {
      batches.emplace_back();
      for (size_t j = i; j < std::min(loader.size(), i + size_t(opt.batch_size)); j++)
        batches.back().push_back(j);
    }
  }
  if (opt.batches > 0 && batches.size() > size_t(opt.batches)) batches.resize(size_t(opt.batches));
  const bool was_training = tape.training;
  tape.training = false;
  NoGrad no_grad(tape);
  double sum = 0;
  int64_t counted = 0, tokens = 0;
  for (const auto& idx : batches) {
    NextTokenBatch b = loader.next_token(idx, pad, opt.final_only);
    tape.reset();
    Var loss = next_token_loss(model, tape, b, float(std::max<int64_t>(b.targets, 1)));
    sum += double(loss.value().f32()[0]) * double(b.targets);
    counted += b.targets;
    tokens += b.tokens;
    tape.reset();
  }
  tape.training = was_training;
  EvalResult r;
  r.loss = sum / double(std::max<int64_t>(counted, 1));
  r.ppl = std::exp(r.loss);
  r.tokens = tokens;
  return r;
}

}  // namespace

EvalResult evaluate_shard(Gpt& model, Tape& tape, const std::string& shard,
                          const EvalOptions& opt) {
  if (opt.examples) return evaluate_examples(model, tape, shard, opt);
  const int batch_size = opt.batch_size, batches = opt.batches;
  const bool final_only = opt.final_only;
  AERO_CHECK(batch_size > 0 && batches >= 0 && (!opt.random || batches > 0),
             "[eval] batch size must be > 0, and random windows need a number of batches");
  const int T = model.config().block_size;
  const bool was_training = tape.training;
  tape.training = false;
  NoGrad no_grad(tape);
  double sum = 0;
  int64_t counted = 0, tokens = 0;
  std::vector<int32_t> x, y;
  auto run = [&](int B) {
    tape.reset();
    Tensor ids = Tensor::wrap(x.data(), {B, T}, DType::i32);
    Tensor tgt = Tensor::wrap(y.data(), {B, T}, DType::i32);
    CrossEntropyOpts o;
    o.final_only = final_only;
    Var loss = cross_entropy(model.forward(tape, ids), tgt, o);
    const int64_t n = final_only ? B : int64_t(B) * T;
    sum += double(loss.value().f32()[0]) * double(n);
    counted += n;
    tokens += int64_t(B) * T;
    tape.reset();
  };
  if (opt.random) {
    WindowSampler sampler({shard}, T, opt.seed);
    check_vocab("shard", shard, sampler.vocab_size(), model.config().vocab_size);
    for (int b = 0; b < batches; b++) {
      sampler.sample(batch_size, x, y);
      run(batch_size);
    }
  } else {
    // Every consecutive window: tokens [kT, kT + T] for k = 0, 1, ...
    Shard s(shard);
    check_vocab("shard", shard, s.vocab_size(), model.config().vocab_size);
    AERO_CHECK(s.size() > uint64_t(T), "[eval] ", shard, " holds ", s.size(),
               " tokens, fewer than block_size + 1 = ", T + 1);
    std::vector<int32_t> window(size_t(T) + 1);
    int B = 0, done = 0;
    for (uint64_t start = 0; start + uint64_t(T) + 1 <= s.size(); start += uint64_t(T)) {
      s.read(start, window.size(), window.data());
      x.resize(size_t(B + 1) * size_t(T));
      y.resize(size_t(B + 1) * size_t(T));
      std::copy(window.begin(), window.end() - 1, x.begin() + ptrdiff_t(B) * T);
      std::copy(window.begin() + 1, window.end(), y.begin() + ptrdiff_t(B) * T);
      if (++B == batch_size) {
        run(B);
        B = 0;
        if (batches > 0 && ++done == batches) break;
      }
    }
    if (B > 0) run(B);
  }
  tape.training = was_training;
  EvalResult r;
  r.loss = sum / double(std::max<int64_t>(counted, 1));
  r.ppl = std::exp(r.loss);
  r.tokens = tokens;
  return r;
}

int auto_data_parallel_parts(int64_t params, int batch_size, int threads) {
  constexpr int64_t kMaxParams = 16'000'000;
  return params <= kMaxParams ? std::max(1, std::min(threads, batch_size)) : 1;
}

Trainer::Trainer(const RunConfig& cfg) : cfg_(cfg), dropout_rng_(uint64_t(cfg.train.seed)) {
  const TrainConfig& t = cfg_.train;
  cfg_.model.validate();
  t.validate();
  if (t.threads > 0) set_num_threads(t.threads);
  const int V = cfg_.model.vocab_size, T = cfg_.model.block_size;
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
  AERO_CHECK(cfg_.data.mode == "windows" || cfg_.data.mode == "examples",
             "[train] data.mode must be windows or examples, got '", cfg_.data.mode, "'");
  const bool examples = cfg_.data.mode == "examples";
  const auto window_vocab = [&](const std::string& p) {
    return examples ? Shard(p).vocab_size() : WindowSampler({p}, T, 0).vocab_size();
  };
  check_file("data.train", cfg_.data.train, window_vocab);
  if (t.eval_every > 0) check_file("data.val", cfg_.data.val, window_vocab);
  if (!cfg_.data.test.empty())
    check_file("data.test", cfg_.data.test,
               [](const std::string& p) { return Shard(p).vocab_size(); });
  if (!cfg_.data.tokenizer.empty())
    check_file("data.tokenizer", cfg_.data.tokenizer,
               [](const std::string& p) { return uint32_t(load_tokenizer(p)->vocab_size()); });
  if (examples) {
    Shard train(cfg_.data.train);
    padding_ = example_padding(cfg_.data.buckets, T, int32_t(train.eot_id()));
    examples_ = std::make_unique<ExampleLoader>(shard_documents(train), size_t(t.batch_size),
                                                uint64_t(t.seed));
    AERO_CHECK(examples_->size() > 0, "[train] data.train ", cfg_.data.train,
               " holds no document of 2 or more tokens (data.mode = examples)");
  }
  model_ = std::make_unique<Gpt>(cfg_.model, store_);
  store_.finalize(uint64_t(t.seed));
  OptimConfig oc;
  oc.kind = parse_optim_kind(t.optimizer);
  oc.lr = t.lr;
  oc.beta1 = t.beta1;
  oc.beta2 = t.beta2;
  oc.eps = t.eps;
  oc.momentum = t.momentum;
  oc.weight_decay = t.weight_decay;
  opt_ = std::make_unique<Optimizer>(store_, oc);
  const int parts = t.data_parallel > 0
                        ? t.data_parallel
                        : auto_data_parallel_parts(store_.count(), t.batch_size, num_threads());
  dp_ = std::make_unique<DataParallel>(store_, parts);
  if (parts > 1)
    log_info("[train] data parallel: each step trains ", parts,
             " parts of the batch side by side (train.data_parallel=1 threads each op instead)");
  std::copy(std::begin(dropout_rng_.s_), std::end(dropout_rng_.s_), st_.tape_rng.begin());
  st_.data_seed = uint64_t(t.seed);
}

Trainer::~Trainer() = default;

void Trainer::resume_from(const std::string& ckpt_dir) {
  const RunConfig saved = read_checkpoint_config(ckpt_dir);
  const auto mine = gpt_config_fields().to_json(cfg_.model);
  const auto theirs = gpt_config_fields().to_json(saved.model);
  for (auto it = mine.begin(); it != mine.end(); ++it)
    AERO_CHECK(theirs.at(it.key()) == it.value(), "[checkpoint] ", ckpt_dir, "/config.json: model.",
               it.key(), " is ", theirs.at(it.key()).dump(), " but the config asks for ",
               it.value().dump(), "; the model must match to resume");
  AERO_CHECK(saved.train.optimizer == cfg_.train.optimizer, "[checkpoint] ", ckpt_dir,
             "/config.json: train.optimizer is ", saved.train.optimizer,
             " but the config asks for ", cfg_.train.optimizer);
  TrainState st = read_checkpoint_state(ckpt_dir);
  load_checkpoint_weights(ckpt_dir, store_, opt_.get());
  st_ = st;
  std::copy(st_.tape_rng.begin(), st_.tape_rng.end(), std::begin(dropout_rng_.s_));
  resumed_ = true;
}

TrainResult Trainer::run() {
  const TrainConfig& t = cfg_.train;
  const std::string& out = t.out_dir;
  fs::create_directories(out);
  if (int n = clean_partial_checkpoints(out))
    log_warn("[train] removed ", n, " partial checkpoint(s) left in ", out, " by a killed save");
  AERO_CHECK(resumed_ || find_checkpoint(out).empty(), "[train] ", out,
             " already holds checkpoints; pass --resume to continue that run, or choose another "
             "train.out_dir");
  MetricsLog metrics((fs::path(out) / "metrics.jsonl").string(), st_.step, resumed_);
  Progress progress;
  StopSignals signals;
  const Schedule sched{t.schedule, t.lr, t.min_lr, t.warmup_steps, t.max_steps};
  const int B = t.batch_size, T = cfg_.model.block_size;
  const bool final_only = t.objective == "final";
  const float clip = t.grad_clip > 0 ? t.grad_clip : std::numeric_limits<float>::infinity();
  const uint64_t val_seed = splitmix64(st_.data_seed ^ 0x7a1dULL);
  const double elapsed_before = st_.elapsed_s;
  const int64_t first_step = st_.step;
  const auto t0 = Clock::now();
  TrainResult res;
  res.val_loss = res.test_loss = std::numeric_limits<double>::quiet_NaN();

  // Interval statistics for log lines.
  double loss_sum = 0, norm_last = 0;
  int64_t interval_steps = 0, interval_tokens = 0;
  auto interval_t0 = Clock::now();
  std::vector<int32_t> x, y;  // the tape reads the batch until backward: it lives out here
  NextTokenBatch nb;
  std::unique_ptr<WindowSampler> sampler;  // opened once, reseeded every step
  if (!examples_) sampler = std::make_unique<WindowSampler>(std::vector{cfg_.data.train}, T, 0);
  // Examples: micro-batch m of the run is batch m % n of epoch m / n, a function of the step
  // alone, so a resumed run continues with exactly the batches it would have drawn.
  std::vector<std::vector<size_t>> epoch_batches;  // the same number in every epoch
  const uint64_t n_batches = examples_ ? examples_->epoch(0).size() : 0;
  uint64_t epoch_loaded = ~uint64_t(0);
  while (st_.step < t.max_steps) {
    const float lr = sched.at(st_.step);
    opt_->set_lr(lr);
    if (sampler) sampler->reseed(step_seed(st_.data_seed, st_.step));
    double step_loss = 0;
    int64_t step_tokens = 0;
    for (int micro = 0; micro < t.grad_accum; micro++) {
      // The micro-batch: `rows` rows of `cols` ids and targets, and the loss divisor that
      // makes each micro-batch contribute its mean / grad_accum.
      const int32_t *xs = nullptr, *ys = nullptr;
      int64_t rows = B, cols = T;
      CrossEntropyOpts o;
      if (examples_) {
        const uint64_t m = uint64_t(st_.step) * uint64_t(t.grad_accum) + uint64_t(micro);
        if (m / n_batches != epoch_loaded) {
          epoch_loaded = m / n_batches;
          epoch_batches = examples_->epoch(epoch_loaded);
        }
        nb = examples_->next_token(epoch_batches[m % n_batches], padding_, final_only);
        xs = nb.x.data(), ys = nb.y.data(), rows = nb.B, cols = nb.T;
        o.ignore_index = kIgnoreIndex;  // padding, and all but the last token when final
        o.divisor = float(std::max<int64_t>(nb.targets, 1) * t.grad_accum);
        step_tokens += nb.tokens;
      } else {
        sampler->sample(B, x, y);
        xs = x.data(), ys = y.data();
        o.final_only = final_only;
        o.divisor = float((final_only ? int64_t(B) : int64_t(B) * T) * t.grad_accum);
        step_tokens += int64_t(B) * T;
      }
      std::vector<double> part_loss(static_cast<size_t>(dp_->parts()), 0.0);
      for (int k = 0; k < dp_->parts(); k++) dp_->tape(k).rng().seed(dropout_rng_.next_u64());
      dp_->run([&](int k, Tape& tape) {
        const int64_t b = dp_->begin(k, rows), e = dp_->begin(k + 1, rows);
        if (b == e) return;
        tape.reset();
        tape.training = true;
        Tensor ids = Tensor::wrap(const_cast<int32_t*>(xs) + b * cols, {e - b, cols}, DType::i32);
        Tensor tgt = Tensor::wrap(const_cast<int32_t*>(ys) + b * cols, {e - b, cols}, DType::i32);
        Var loss = cross_entropy(model_->forward(tape, ids), tgt, o);
        part_loss[size_t(k)] = double(loss.value().f32()[0]);
        tape.backward(loss);
      });
      for (double l : part_loss) step_loss += l;
    }
    norm_last = opt_->clip_grad_norm(clip);
    opt_->step();
    store_.zero_grad();
    st_.step++;
    st_.tokens_seen += step_tokens;
    st_.elapsed_s = elapsed_before + seconds_since(t0);
    loss_sum += step_loss;
    interval_steps++;
    interval_tokens += step_tokens;

    const int64_t step = st_.step;
    const double session_s = seconds_since(t0);
    double eta = double(t.max_steps - step) * session_s / double(step - first_step);
    if (t.max_minutes > 0) eta = std::min(eta, std::max(0.0, t.max_minutes * 60.0 - session_s));
    const double tok_s_now = double(st_.tokens_seen) / std::max(1e-9, st_.elapsed_s);
    progress.bar(step, t.max_steps, step_loss, tok_s_now, eta);
    if (step % t.log_every == 0 || step == t.max_steps) {
      const double secs = seconds_since(interval_t0);
      nlohmann::ordered_json j;
      j["step"] = step;
      j["loss"] = loss_sum / double(interval_steps);
      j["lr"] = shortest_decimal(lr);
      j["grad_norm"] = norm_last;
      j["tokens_per_s"] = double(interval_tokens) / std::max(1e-9, secs);
      j["elapsed_s"] = st_.elapsed_s;
      j["peak_mem_mb"] = peak_rss_mb();
      metrics.write(j);
      char buf[200];
      std::snprintf(buf, sizeof buf,
                    "step %lld/%lld  loss %.4f  lr %.3g  grad_norm %.3f  %.0f tok/s  ETA %s",
                    (long long)step, (long long)t.max_steps, loss_sum / double(interval_steps), lr,
                    norm_last, double(interval_tokens) / std::max(1e-9, secs), hms(eta).c_str());
      progress.log_line(buf);
      loss_sum = 0;
      interval_steps = interval_tokens = 0;
      interval_t0 = Clock::now();
    }

    bool checkpoint =
        step == t.max_steps || (t.checkpoint_every > 0 && step % t.checkpoint_every == 0);
    bool is_best = false, evaluated = false;
    const auto pause0 = Clock::now();  // evaluating, saving, on_eval: not in tokens_per_s
    if (t.eval_every > 0 && (step % t.eval_every == 0 || step == t.max_steps)) {
      const EvalResult ev = evaluate_shard(
          *model_, dp_->tape(0), cfg_.data.val,
          {B, t.eval_batches, true, final_only, val_seed, bool(examples_), cfg_.data.buckets});
      res.val_loss = ev.loss;
      evaluated = checkpoint = true;
      metrics.write({{"step", step}, {"val_loss", ev.loss}, {"val_ppl", ev.ppl}});
      if (ev.loss < st_.best_val_loss) {
        st_.best_val_loss = ev.loss;
        st_.best_step = step;
        st_.evals_since_best = 0;
        is_best = true;
      } else {
        st_.evals_since_best++;
      }
      char buf[160];
      std::snprintf(buf, sizeof buf, "step %lld  val_loss %.4f  val_ppl %.2f%s", (long long)step,
                    ev.loss, ev.ppl, is_best ? "  (best)" : "");
      progress.line(buf);
    }
    if (t.early_stop > 0 && st_.evals_since_best >= t.early_stop) {
      res.early_stopped = checkpoint = true;
      progress.line(cat("early stop: no better val loss in ", t.early_stop, " evaluations (best ",
                        st_.best_val_loss, " at step ", st_.best_step, ")"));
    }
    if (t.max_minutes > 0 && session_s >= double(t.max_minutes) * 60.0 && step < t.max_steps) {
      res.time_limited = checkpoint = true;
      progress.line(cat("time limit of ", t.max_minutes, " minutes reached at step ", step));
    }
    if (signals.requested()) {
      res.interrupted = checkpoint = true;
      progress.line(cat("interrupted at step ", step, "; resume with --resume"));
    }
    if (checkpoint) {
      std::copy(std::begin(dropout_rng_.s_), std::end(dropout_rng_.s_), st_.tape_rng.begin());
      st_.elapsed_s = elapsed_before + seconds_since(t0);
      res.last_checkpoint =
          save_checkpoint(out, store_, opt_.get(), cfg_, st_, t.keep_last, is_best);
    }
    if (evaluated && on_eval) on_eval(out);
    interval_t0 += Clock::now() - pause0;
    if (res.early_stopped || res.time_limited || res.interrupted) break;
  }
  res.steps = st_.step;

  if (!cfg_.data.test.empty() && !res.time_limited && !res.interrupted) {
    const EvalResult ev = evaluate_shard(
        *model_, dp_->tape(0), cfg_.data.test,
        {B, t.test_batches, false, final_only, 0, bool(examples_), cfg_.data.buckets});
    res.test_loss = ev.loss;
    metrics.write({{"step", st_.step}, {"test_loss", ev.loss}, {"test_ppl", ev.ppl}});
    char buf[160];
    std::snprintf(buf, sizeof buf, "test_loss %.4f  test_ppl %.2f  (%lld tokens)", ev.loss, ev.ppl,
                  (long long)ev.tokens);
    progress.line(buf);
    if (on_eval) on_eval(out);
  }
  return res;
}

}  // namespace aero
