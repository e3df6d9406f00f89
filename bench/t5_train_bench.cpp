// One full seq2seq training step of a T5 on random weights of a config's shape, as aero train
// runs it: encoder over (B, S) source ids with a padding mask, decoder over shift_right(labels)
// (B, T), cross-entropy over labels != -100 (mean over the counted labels), backward, AdamW
// (weight decay on matrices), zero_grad; fp32, dropout at the config's rate. Prints the median
// tokens/s over the timed steps (tokens = B * (S + T) positions, source and target, padding
// included) and peak RSS. bench/t5_train.sh runs bench/t5_train_torch.py beside it.
//   t5_train_bench CONFIG.json [B] [STEPS] [WARMUP] [PARTS] [S] [T]
// B: rows per step (default 16 for a model under 16M parameters, else 4). S, T: source and
// target length (default 256 and 64, the seed's max_input and max_target). PARTS: batch parts
// trained side by side (train.data_parallel); 0 or absent: what aero train picks.
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/threads.h"
#include "kernels/gemm.h"
#include "models/model.h"
#include "train/objective.h"
#include "train/optimizer.h"
#include "train/trainer.h"

using namespace aero;

namespace {

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

int arg_or(int argc, char** argv, int i, int def) {
  return argc > i && *argv[i] && std::atoi(argv[i]) > 0 ? std::atoi(argv[i]) : def;
}

// Row r of B keeps len - r * len / (2B) tokens: the batch runs from full rows down to just over
// half full, as length-grouped dynamic padding leaves it. Same rule in t5_train_torch.py.
int64_t row_length(int64_t len, int64_t r, int64_t B) { return len - r * len / (2 * B); }

// A batch as the pairs reader builds it: source ids in [2, V) then pad (0) with mask 0; labels
// in [2, V), EOS (1) last, then -100; the decoder input is shift_right(labels) with -100 -> pad.
struct Batch {
  std::vector<int32_t> src, mask, dec, labels;  // (B, S) (B, S) (B, T) (B, T)
  TrainBatch view;
};

void fill(Batch& b, Rng& rng, int64_t B, int64_t S, int64_t T, int V) {
  b.src.assign(size_t(B * S), 0);
  b.mask.assign(size_t(B * S), 0);
  b.labels.assign(size_t(B * T), kIgnoreIndex);
  b.dec.assign(size_t(B * T), 0);
  int64_t targets = 0, tokens = 0;
  auto id = [&] { return int32_t(2 + rng.next_u64() % uint64_t(V - 2)); };
  for (int64_t r = 0; r < B; r++) {
    const int64_t ns = row_length(S, r, B), nt = row_length(T, r, B);
    for (int64_t i = 0; i < ns; i++) b.src[size_t(r * S + i)] = id(), b.mask[size_t(r * S + i)] = 1;
    for (int64_t i = 0; i < nt; i++) b.labels[size_t(r * T + i)] = i + 1 < nt ? id() : 1;
    for (int64_t i = 1; i < T; i++) {
      const int32_t l = b.labels[size_t(r * T + i - 1)];
      b.dec[size_t(r * T + i)] = l == kIgnoreIndex ? 0 : l;
    }
    targets += nt;
    tokens += ns + nt;
  }
  TrainBatch& v = b.view;
  v.rows = B, v.cols = T, v.src_cols = S;
  v.x = b.dec.data(), v.y = b.labels.data(), v.src = b.src.data(), v.src_mask = b.mask.data();
  v.targets = targets, v.tokens = tokens;
}

}  // namespace

int main(int argc, char** argv) {
  aero::tune_openmp_runtime(argv);  // the same threading aero's CLI runs with
  if (argc < 2) {
    std::fprintf(stderr,
                 "usage: t5_train_bench CONFIG.json [B] [STEPS] [WARMUP] [PARTS] [S] [T]\n");
    return 2;
  }
  try {
    std::ifstream in(argv[1]);
    AERO_CHECK(in.good(), "[t5_train_bench] cannot open ", argv[1]);
    const nlohmann::json j = nlohmann::json::parse(in);
    const ModelConfig cfg = ModelConfig::from_json(j.at("model"));
    AERO_CHECK(cfg.arch().family == ModelFamily::seq2seq, "[t5_train_bench] ", argv[1],
               " is not an encoder-decoder");
    ParamStore store;
    auto model = build_model(cfg, store);
    store.finalize(1);
    const bool small = store.count() <= 16'000'000;
    const int64_t B = arg_or(argc, argv, 2, small ? 16 : 4);
    const int steps = arg_or(argc, argv, 3, small ? 20 : 3);
    const int warmup = argc > 4 && *argv[4] ? std::atoi(argv[4]) : (small ? 2 : 1);
    const int64_t S = arg_or(argc, argv, 6, 256), T = arg_or(argc, argv, 7, 64);
    const int V = cfg.vocab_size();

    OptimConfig oc;
    oc.kind = OptimKind::adamw;
    oc.lr = 1e-4f;
    oc.weight_decay = 0.01f;
    Optimizer opt(store, oc);
    const int parts =
        arg_or(argc, argv, 5, auto_data_parallel_parts(store.count(), int(B), num_threads()));
    DataParallel dp(store, parts);
    auto objective = make_objective(ObjectiveKind::seq2seq, cfg);

    Rng rng(3);
    Batch batch;
    std::vector<double> times, opt_times;  // whole step; AdamW + zero_grad
    float loss = 0;
    for (int it = 0; it < warmup + steps; it++) {
      fill(batch, rng, B, S, T, V);
      const float divisor = float(batch.view.targets);
      auto t0 = std::chrono::steady_clock::now();
      std::vector<float> part_loss(static_cast<size_t>(parts));
      dp.run([&](int k, Tape& tape) {
        const int64_t b = DataParallel::part_begin(k, parts, B),
                      e = DataParallel::part_begin(k + 1, parts, B);
        tape.reset();
        tape.training = true;
        Var l = objective->loss(*model, tape, batch.view.rows_slice(b, e), divisor);
        tape.backward(l);
        part_loss[size_t(k)] = l.value().f32()[0];
      });
      const auto t_opt = std::chrono::steady_clock::now();
      opt.step();
      store.zero_grad();
      const double s = seconds_since(t0);
      if (it >= warmup) opt_times.push_back(seconds_since(t_opt));
      loss = 0;
      for (float v : part_loss) loss += v;
      if (it >= warmup) times.push_back(s);
    }
    std::sort(times.begin(), times.end());
    std::sort(opt_times.begin(), opt_times.end());
    const double med = times[times.size() / 2], opt_med = opt_times[opt_times.size() / 2];
    const double tok_s = double(B * (S + T)) / med;
    rusage ru{};
    getrusage(RUSAGE_SELF, &ru);
    const double rss_mb = double(ru.ru_maxrss) / 1024.0;
    size_t act = 0;
    for (int k = 0; k < parts; k++) act += dp.tape(k).peak_bytes();
    std::printf(
        "aero  %s B=%lld S=%lld T=%lld: %.0f tokens/s (source + target positions; %.1f ms/step, "
        "AdamW + zero_grad %.1f ms, median of %d), loss %.3f, %.1fM parameters, peak RSS %.0f MB, "
        "activations %.0f MB (%d "
        "threads, %d parts, %s %s, fp32, dropout %.2f)\n",
        argv[1], (long long)B, (long long)S, (long long)T, tok_s, med * 1e3, opt_med * 1e3, steps,
        loss, double(store.count()) / 1e6, rss_mb, double(act) / (1 << 20), num_threads(), parts,
        gemm_info().backend.c_str(), gemm_info().kernel.c_str(),
        cfg.to_json().value("dropout_rate", 0.0));
    std::printf("RESULT aero_tok_s %.1f rss_mb %.1f act_mb %.1f\n", tok_s, rss_mb,
                double(act) / (1 << 20));
    if (dp.tape(0).profile) std::printf("%s", dp.tape(0).profile_report().c_str());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s\n", e.what());
    return 1;
  }
  return 0;
}
