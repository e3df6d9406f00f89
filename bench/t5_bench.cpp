// t5_bench: T5 generation on random weights of a given shape (a config JSON's model section),
// the aero side of bench/t5.sh (bench/t5_torch.py is the PyTorch side, same shapes and counts).
//
//   t5_bench CONFIG.json [--src 64] [--new 32] [--repeat 2] [--format f32|bf16|q8]
//            [--clock wall|cpu]
//
// Prints one JSON line: encoder tokens/s (8 sources of --src tokens, one by one as requests
// join), greedy decoder tokens/s at batch 1 and 8 (--new steps, EOS ignored), and beam search
// with 4 beams at batch 1: output tokens/s (decoder steps of the 4 beams per second, the
// beams reordered every step as a real search does). Best of --repeat runs. --format: the
// decoder's matrices (the encoder runs in f32).
//
// Also in the JSON: the bytes of weights one decoder step reads (decoder layers and head, q8's
// scales included), the machine's read bandwidth on the same threads (the probe `aero doctor`
// uses, run after the model is freed), the ceiling that puts on greedy batch 1 (bandwidth /
// bytes) and the share of it reached, and the process's peak resident memory (ru_maxrss, taken
// before the probe allocates its buffer).
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "core/threads.h"
#include "infer/beam_search.h"
#include "kernels/peak.h"
#include "models/model.h"

using namespace aero;

namespace {

bool g_cpu_clock = false;  // --clock cpu

// Wall clock, or with --clock cpu the process's CPU time per thread: on cores shared with other
// work, an estimate of the rate on idle cores (as infer_bench; OMP_WAIT_POLICY=passive).
double now() {
  if (g_cpu_clock) {
    timespec ts{};
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double(ts.tv_sec) + double(ts.tv_nsec) * 1e-9) / num_threads();
  }
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

std::vector<int32_t> source(int S, int V, int seed) {
  std::vector<int32_t> s(static_cast<size_t>(S));
  for (int i = 0; i < S; i++) s[size_t(i)] = 2 + (seed * 7919 + i * 104729) % (V - 2);
  return s;
}

int32_t argmax(const float* p, int64_t V) { return int32_t(std::max_element(p, p + V) - p); }

double peak_rss_mb() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return double(u.ru_maxrss) / 1024.0;  // Linux: KiB
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: t5_bench CONFIG.json [--src N] [--new N] [--repeat R]\n");
    return 2;
  }
  int S = 64, N = 32, R = 2;
  std::string format = "f32";
  for (int i = 2; i + 1 < argc; i += 2) {
    const std::string a = argv[i];
    if (a == "--src") S = std::atoi(argv[i + 1]);
    if (a == "--new") N = std::atoi(argv[i + 1]);
    if (a == "--repeat") R = std::atoi(argv[i + 1]);
    if (a == "--format") format = argv[i + 1];
    if (a == "--clock") g_cpu_clock = std::string(argv[i + 1]) == "cpu";
  }
  set_num_threads(num_threads());  // AERO_THREADS for every OpenMP team from the start
  if (g_cpu_clock) set_probe_clock(ProbeClock::cpu);
  try {
    std::ifstream in(argv[1]);
    const nlohmann::json j = nlohmann::json::parse(in);
    ModelConfig cfg = ModelConfig::from_json(j.at("model"));
    cfg.set("dropout_rate", "0");
    const int V = cfg.vocab_size();
    auto store = std::make_unique<ParamStore>();
    auto model = build_model(cfg, *store);
    store->finalize(1, /*gradients=*/false);  // inference only, as aero generate loads it
    const int64_t params = store->count();
    double enc = 0, b1 = 0, b8 = 0, beam = 0;
    size_t step_bytes = 0;
    for (int r = 0; r < R; r++) {
      auto rows = model->start_rows(format == "q8"     ? QFormat::q8
                                    : format == "bf16" ? QFormat::bf16
                                                       : QFormat::f32);
      step_bytes = rows->step_weight_bytes();
      // Encoder: 8 requests join.
      std::vector<int> ids;
      double t0 = now();
      for (int i = 0; i < 8; i++) ids.push_back(rows->add(source(S, V, i)));
      enc = std::max(enc, 8.0 * S / (now() - t0));
      // Greedy decode at batch 1 and 8.
      for (int batch : {1, 8}) {
        std::vector<int> rs(ids.begin(), ids.begin() + batch);
        std::vector<int> fresh;
        for (int x : rs) fresh.push_back(rows->fork(x));  // a clean cache for this run
        std::vector<int32_t> in(size_t(batch), rows->start_id());
        t0 = now();
        for (int s = 0; s < N; s++) {
          const Tensor l = rows->step(fresh, in);
          for (int b = 0; b < batch; b++) in[size_t(b)] = argmax(l.f32() + int64_t(b) * V, V);
        }
        const double tps = double(batch) * N / (now() - t0);
        (batch == 1 ? b1 : b8) = std::max(batch == 1 ? b1 : b8, tps);
        for (int x : fresh) rows->remove(x);
      }
      // Beam search with 4 beams: N steps of the real search, EOS never ending it.
      BeamOpts bo{.num_beams = 4};
      BeamSearch search(bo, N, rows->start_id(), -1);
      std::vector<int> rs = {rows->fork(ids[0])};
      for (int b = 1; b < 4; b++) rs.push_back(rows->fork(rs[0]));
      t0 = now();
      int steps = 0;
      while (!search.done()) {
        std::vector<int32_t> in;
        for (int b = 0; b < 4; b++) in.push_back(search.inputs(b).back());
        const Tensor l = rows->step(rs, in);
        const std::vector<int> parents = search.step(l.f32(), V);
        steps++;
        if (!parents.empty()) rs = reorder_rows(*rows, rs, parents);
      }
      beam = std::max(beam, steps / (now() - t0));
    }
    const double rss = peak_rss_mb();
    model.reset();
    store.reset();
    const double read_gbs = measure_bandwidth(num_threads()).read_gbs;
    const double ceiling = read_gbs * 1e9 / double(step_bytes);
    nlohmann::json out = {
        {"side", "aero"},        {"threads", num_threads()}, {"format", format},
        {"params", params},      {"encoder_tok_s", enc},     {"greedy_b1_tok_s", b1},
        {"greedy_b8_tok_s", b8}, {"beam4_tok_s", beam},      {"step_weight_bytes", step_bytes},
        {"read_gbs", read_gbs},  {"ceiling_tok_s", ceiling}, {"b1_of_ceiling", b1 / ceiling},
        {"peak_rss_mb", rss}};
    std::printf("%s\n", out.dump().c_str());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s\n", e.what());
    return 1;
  }
}
