// infer_bench: the inference engine on a GPT-2-124M-shaped model (12 layers, 768 wide, 12 heads,
// vocab 50257, learned positions, LayerNorm, GELU, tied head) with random weights, beside
// llama.cpp's numbers for the same shape on this machine (2 threads).
//
//   infer_bench [--formats f32,bf16,q8] [--decode N] [--repeat R] [--quick]
//
// Per format: prefill tokens/s at prompt 64 and 512 (logits of the last position only, as
// llama.cpp's prompt processing), decode tokens/s over N new tokens at batch 1, and the decode
// ceiling set by memory bandwidth (weights read per token / measured read GB/s). Batched decode:
// aggregate tokens/s with 8 sequences against 1. Best of R runs (the cores may be shared).
// --quick: a 2-layer model for a smoke test.
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <sstream>

#include "core/threads.h"
#include "infer/engine.h"
#include "kernels/peak.h"
#include "kernels/quant.h"

using namespace aero;

namespace {

double now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

struct Reference {
  double prefill512, decode;  // llama.cpp tokens/s, 2 threads, same shape (issue #5)
};

Reference llama_cpp(WeightFormat f) {
  switch (f) {
    case WeightFormat::f32:
      return {660, 45};
    case WeightFormat::q8:
      return {1070, 157};
    default:
      return {0, 0};  // llama.cpp has no bf16 number in the issue
  }
}

std::vector<int32_t> prompt(int n, int vocab) {
  std::vector<int32_t> p(static_cast<size_t>(n));
  for (int i = 0; i < n; i++) p[size_t(i)] = int32_t((i * 7919 + 13) % vocab);
  return p;
}

// Tokens/s of prefilling `n` tokens into a fresh cache.
double prefill_rate(const InferenceModel& m, int n, int repeat) {
  std::vector<int32_t> p = prompt(n, m.config().vocab_size);
  double best = 1e30;
  for (int r = 0; r < repeat; r++) {
    KvSeq seq(m);
    double t0 = now();
    forward_tokens(m, seq, p, false);
    best = std::min(best, now() - t0);
  }
  return n / best;
}

// Aggregate tokens/s of decoding `steps` tokens for each of `batch` sequences (after a
// 16-token prompt each), greedy.
double decode_rate(const InferenceModel& m, int batch, int steps, int repeat) {
  const int V = m.config().vocab_size;
  double best = 1e30;
  for (int r = 0; r < repeat; r++) {
    std::vector<std::unique_ptr<KvSeq>> seqs;
    std::vector<KvSeq*> ptrs;
    std::vector<int32_t> next;
    for (int b = 0; b < batch; b++) {
      seqs.push_back(std::make_unique<KvSeq>(m));
      ptrs.push_back(seqs.back().get());
      std::vector<float> l = forward_tokens(m, *seqs.back(), prompt(16 + b, V), false);
      next.push_back(int32_t(std::max_element(l.begin(), l.end()) - l.begin()));
    }
    double t0 = now();
    for (int s = 0; s < steps; s++) {
      std::vector<float> l = forward_batch(m, ptrs, next);
      for (int b = 0; b < batch; b++) {
        const float* row = l.data() + size_t(b) * V;
        next[size_t(b)] = int32_t(std::max_element(row, row + V) - row);
      }
    }
    best = std::min(best, now() - t0);
  }
  return double(batch) * steps / best;
}

}  // namespace

int main(int argc, char** argv) {
  tune_openmp_runtime(argv);
  std::string formats = "f32,bf16,q8";
  int decode = 128, repeat = 3;
  bool quick = false;
  for (int i = 1; i < argc; i++) {
    if (!std::strcmp(argv[i], "--formats") && i + 1 < argc) {
      formats = argv[++i];
    } else if (!std::strcmp(argv[i], "--decode") && i + 1 < argc) {
      decode = std::max(1, std::atoi(argv[++i]));
    } else if (!std::strcmp(argv[i], "--repeat") && i + 1 < argc) {
      repeat = std::max(1, std::atoi(argv[++i]));
    } else if (!std::strcmp(argv[i], "--quick")) {
      quick = true;
    } else {
      std::fprintf(stderr,
                   "usage: infer_bench [--formats f32,bf16,q8] [--decode N] [--repeat R] "
                   "[--quick]\n");
      return 2;
    }
  }
  GptConfig cfg;
  cfg.vocab_size = 50257;
  cfg.block_size = 1024;
  cfg.n_layer = quick ? 2 : 12;
  cfg.n_head = 12;
  cfg.n_embd = 768;
  cfg.ffn_hidden = 3072;
  cfg.pos = "learned";
  cfg.norm = "layernorm";
  cfg.act = "gelu";
  cfg.bias = true;
  cfg.tie_head = true;
  ParamStore store;
  Gpt gpt(cfg, store);
  store.finalize(1);

  const int threads = num_threads();
  const double read_gbs = measure_bandwidth(threads).read_gbs;
  std::printf("GPT-2-124M shape (%d layers), %d threads, read bandwidth %.1f GB/s\n", cfg.n_layer,
              threads, read_gbs);
  std::printf("%-5s %-11s %10s %10s %10s %10s %9s %10s %12s\n", "fmt", "kernel", "pf64 t/s",
              "pf512 t/s", "llama.cpp", "ratio", "dec t/s", "llama.cpp", "ratio / ceil");
  std::stringstream ss(formats);
  for (std::string name; std::getline(ss, name, ',');) {
    WeightFormat f = parse_weight_format(name);
    InferenceModel m(cfg, store, f);
    const std::string kernel = qmatmul_kernel(f == WeightFormat::f32    ? QFormat::f32
                                              : f == WeightFormat::bf16 ? QFormat::bf16
                                                                        : QFormat::q8);
    // The naive reference kernel is far too slow for full runs: a few tokens show its rate.
    const bool slow = kernel == "reference";
    const int rep = slow ? 1 : repeat;
    double pf64 = prefill_rate(m, slow ? 4 : 64, rep);
    double pf512 = slow ? 0 : prefill_rate(m, 512, rep);
    double dec = decode_rate(m, 1, slow ? 2 : decode, rep);
    double ceiling = read_gbs * 1e9 / double(m.weight_bytes());
    Reference ref = llama_cpp(f);
    auto ratio = [](double a, double b) { return b > 0 && a > 0 ? a / b : 0.0; };
    std::printf("%-5s %-11s %10.1f %10.1f %10.0f %9.2fx %9.1f %10.0f %5.2fx %4.0f%%\n",
                name.c_str(), kernel.c_str(), pf64, pf512, ref.prefill512,
                ratio(pf512, ref.prefill512), dec, ref.decode, ratio(dec, ref.decode),
                100.0 * dec / ceiling);
    std::printf("      weights %.1f MB per token, bandwidth ceiling %.1f tokens/s\n",
                double(m.weight_bytes()) / 1e6, ceiling);
    if (!slow) {
      double b1 = decode_rate(m, 1, decode / 2, rep), b8 = decode_rate(m, 8, decode / 2, rep);
      std::printf("      batched decode: 1 seq %.1f t/s, 8 seqs %.1f t/s aggregate (%.2fx)\n", b1,
                  b8, b8 / b1);
    }
  }
  std::printf(
      "llama.cpp (issue #5): same shape, 2 threads; prefill@512 660 f32 / 1,070 q8_0, "
      "decode 45 f32 / 157 q8_0 tokens/s\n");
  return 0;
}
