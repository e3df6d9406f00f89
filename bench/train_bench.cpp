// One full training step of a GPT preset: forward on (B, T) random ids, cross_entropy over all
// positions, backward, AdamW (weight decay on matrices), zero_grad. Prints the median tokens/s
// over the timed steps, model FLOPs per token, MFU against this machine's measured sgemm rate
// and peak RSS. bench/train.sh runs bench/train_torch.py beside it.
//   train_bench PRESET [STEPS] [WARMUP] [PARTS] [PRECISION] [ACTIVATIONS]
// PRESET: seed-tiny | char-small | gpt2-124m | seed-100m. PARTS: batch parts trained side by
// side (train.data_parallel); 0 or absent: what aero train picks. PRECISION: fp32 (default) or
// bf16 (train.precision: linear layers multiply bf16 with fp32 sums). ACTIVATIONS: as
// train.checkpoint_activations (none | blocks | "every N"; default none).
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "core/threads.h"
#include "kernels/gemm.h"
#include "kernels/gemm_bf16.h"
#include "kernels/peak.h"
#include "models/gpt.h"
#include "train/optimizer.h"
#include "train/trainer.h"

using namespace aero;

namespace {

struct Preset {
  GptConfig cfg;
  int B = 0, T = 0, steps = 0;
};

// Same presets as bench/train_torch.py.
bool preset(const std::string& name, Preset& p) {
  GptConfig& c = p.cfg;
  if (name == "seed-tiny") {
    c.vocab_size = 10000, c.n_layer = 3, c.n_head = 4, c.n_embd = 64, c.ffn_hidden = 256;
    c.pos = PosKind::rope, c.bias = false, c.tie_head = false;
    p.B = 32, p.T = 128, p.steps = 30;
  } else if (name == "char-small") {
    c.vocab_size = 65, c.n_layer = 4, c.n_head = 4, c.n_embd = 128, c.ffn_hidden = 512;
    c.pos = PosKind::learned, c.bias = true, c.tie_head = false;
    p.B = 12, p.T = 64, p.steps = 100;
  } else if (name == "gpt2-124m") {
    c.vocab_size = 50257, c.n_layer = 12, c.n_head = 12, c.n_embd = 768, c.ffn_hidden = 3072;
    c.pos = PosKind::learned, c.bias = true, c.tie_head = true;
    p.B = 4, p.T = 256, p.steps = 5;
  } else if (name == "seed-100m") {  // configs/seed-100m.json
    c.vocab_size = 32000, c.n_layer = 12, c.n_head = 12, c.n_embd = 768, c.ffn_hidden = 3072;
    c.pos = PosKind::learned, c.bias = false, c.tie_head = true;
    p.B = 8, p.T = 512, p.steps = 3;
  } else {
    return false;
  }
  c.block_size = p.T;
  return true;
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

int main(int argc, char** argv) {
  aero::tune_openmp_runtime(argv);  // the same threading aero's CLI runs with
  Preset ps;
  std::string name = argc > 1 ? argv[1] : "seed-tiny";
  if (!preset(name, ps)) {
    std::fprintf(stderr,
                 "train_bench: unknown preset '%s' (seed-tiny, char-small, gpt2-124m, "
                 "seed-100m)\n",
                 name.c_str());
    return 2;
  }
  // An empty argument takes the default (bench/bf16.sh passes PARTS and PRECISION only).
  int steps = argc > 2 && *argv[2] ? std::atoi(argv[2]) : ps.steps;
  int warmup = argc > 3 && *argv[3] ? std::atoi(argv[3]) : 2;
  const GptConfig& c = ps.cfg;
  int64_t B = ps.B, T = ps.T, V = c.vocab_size, C = c.n_embd, L = c.n_layer, H = c.ffn();

  ParamStore store;
  Gpt model(c, store);
  store.finalize(1);
  OptimConfig oc;
  oc.kind = OptimKind::adamw;
  oc.lr = 1e-4f;
  oc.weight_decay = 0.1f;
  Optimizer opt(store, oc);

  // Peak: the best rate of a large square sgemm through aero's backend on these threads, probed
  // before and after the timed steps (the machine may be shared; the better probe is nearer
  // the idle rate).
  auto probe = [] { return measure_sgemm(false, false, 2048, 2048, 2048, 0.0f, 0.3).best_gflops; };
  double peak = probe();
  Rng rng(3);
  Tensor ids = Tensor::empty({B, T}, DType::i32), targets = Tensor::empty({B, T}, DType::i32);
  // Batch parts side by side, as aero train chooses them (train.data_parallel = 0) unless given.
  const int parts = argc > 4 && std::atoi(argv[4]) > 0
                        ? std::atoi(argv[4])
                        : auto_data_parallel_parts(store.count(), ps.B, num_threads());
  DataParallel dp(store, parts);
  const std::string precision = argc > 5 ? argv[5] : "fp32";
  if (precision != "fp32" && precision != "bf16") {
    std::fprintf(stderr, "train_bench: precision must be fp32 or bf16, got '%s'\n",
                 precision.c_str());
    return 2;
  }
  const bool bf16 = precision == "bf16" && bf16_hardware();
  for (int k = 0; k < parts; k++) dp.tape(k).bf16_products = bf16;
  TrainConfig tc;
  if (argc > 6) tc.checkpoint_activations = argv[6];
  const int checkpoint_every = tc.checkpoint_every_block();
  std::vector<double> times;
  float loss = 0;
  for (int it = 0; it < warmup + steps; it++) {
    for (int64_t i = 0; i < B * T; i++) {
      ids.i32()[i] = int32_t(rng.next_u64() % uint64_t(V));
      targets.i32()[i] = int32_t(rng.next_u64() % uint64_t(V));
    }
    auto t0 = std::chrono::steady_clock::now();
    std::vector<float> part_loss(static_cast<size_t>(parts));
    dp.run([&](int k, Tape& tape) {
      int64_t b = dp.begin(k, B), e = dp.begin(k + 1, B);
      Tensor x = Tensor::wrap(ids.i32() + b * T, {e - b, T}, DType::i32);
      Tensor y = Tensor::wrap(targets.i32() + b * T, {e - b, T}, DType::i32);
      CrossEntropyOpts o;
      o.divisor = float(B * T);
      tape.reset();
      tape.checkpoint_every = checkpoint_every;
      Var l = cross_entropy(model.forward(tape, x), y, o);
      tape.backward(l);
      part_loss[size_t(k)] = l.value().f32()[0];
    });
    opt.step();
    store.zero_grad();
    double s = seconds_since(t0);
    loss = 0;
    for (float v : part_loss) loss += v;
    if (it >= warmup) times.push_back(s);
  }
  std::sort(times.begin(), times.end());
  double med = times[times.size() / 2];
  double tok_s = double(B * T) / med;

  // Model FLOPs per token (PaLM appendix B convention): 6 per matmul weight (forward 2, backward
  // 4; the head counts, embedding lookups do not) plus 12·L·T·C for the attention scores and
  // the weighted sum over the full (not causal-halved) T×T.
  double n_matmul =
      double(L) * (4.0 * C * C + (c.act == ActKind::swiglu ? 3.0 : 2.0) * C * H) + V * C;
  double flops_tok = 6.0 * n_matmul + 12.0 * L * T * C;
  peak = std::max(peak, probe()) * 1e9;
  double mfu = tok_s * flops_tok / peak;
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  double rss_mb = double(ru.ru_maxrss) / 1024.0;
  size_t act = 0, act_grads = 0;  // values and saved buffers; gradients of intermediates
  for (int k = 0; k < parts; k++) {
    act += dp.tape(k).peak_bytes();
    act_grads += dp.tape(k).peak_grad_bytes();
  }

  std::printf(
      "aero  %s B=%lld T=%lld: %.0f tokens/s (%.1f ms/step, median of %d), loss %.3f, %.1f "
      "MFLOP/token, MFU %.1f%% of %.0f GFLOP/s sgemm, peak RSS %.0f MB, activations %.0f MB "
      "(gradients %.0f MB) (%d threads, %d parts, %s %s, %s, checkpoint_activations %s)\n",
      name.c_str(), (long long)B, (long long)T, tok_s, med * 1e3, steps, loss, flops_tok / 1e6,
      100 * mfu, peak / 1e9, rss_mb, double(act) / (1 << 20), double(act_grads) / (1 << 20),
      num_threads(), parts, gemm_info().backend.c_str(), gemm_info().kernel.c_str(),
      bf16 ? (std::string("bf16 on ") + bf16_kernel_name(bf16_kernel())).c_str() : "fp32",
      tc.checkpoint_activations.c_str());
  std::printf("RESULT aero_tok_s %.1f mfu %.4f rss_mb %.1f act_mb %.1f\n", tok_s, mfu, rss_mb,
              double(act) / (1 << 20));
  if (dp.tape(0).profile) std::printf("%s", dp.tape(0).profile_report().c_str());
  return 0;
}
