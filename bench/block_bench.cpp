// One GPT transformer block (pre-LN, causal attention, GELU MLP), forward + backward, fp32.
// Prints the median time per step; bench/block.sh runs PyTorch's nanoGPT block beside it.
//   block_bench [B T C NH iters]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "autograd/ops.h"
#include "core/threads.h"
#include "kernels/gemm.h"

using namespace aero;

namespace {

struct Param {
  Tensor value, grad;
};

Param make(const Shape& s, float stddev, Rng& rng, float fill = 0.0f) {
  Param p{Tensor::empty(s), Tensor::zeros(s)};
  for (int64_t i = 0; i < p.value.numel(); i++)
    p.value.f32()[i] = stddev > 0 ? float(rng.normal() * stddev) : fill;
  return p;
}

}  // namespace

int main(int argc, char** argv) {
  aero::tune_openmp_runtime(argv);  // the same threading aero's CLI runs with
  int64_t B = argc > 1 ? std::atoi(argv[1]) : 4, T = argc > 2 ? std::atoi(argv[2]) : 256;
  int64_t C = argc > 3 ? std::atoi(argv[3]) : 768, NH = argc > 4 ? std::atoi(argv[4]) : 12;
  int iters = argc > 5 ? std::atoi(argv[5]) : 10;
  Rng rng(1);
  Param ln1w = make({C}, 0, rng, 1), ln1b = make({C}, 0, rng), ln2w = make({C}, 0, rng, 1),
        ln2b = make({C}, 0, rng);
  Param wq = make({C, C}, 0.02f, rng), bq = make({C}, 0, rng), wk = make({C, C}, 0.02f, rng),
        bk = make({C}, 0, rng), wv = make({C, C}, 0.02f, rng), bv = make({C}, 0, rng),
        wo = make({C, C}, 0.02f, rng), bo = make({C}, 0, rng);
  Param w1 = make({4 * C, C}, 0.02f, rng), b1 = make({4 * C}, 0, rng),
        w2 = make({C, 4 * C}, 0.02f, rng), b2 = make({C}, 0, rng);
  Tensor x0 = Tensor::empty({B, T, C});
  for (int64_t i = 0; i < x0.numel(); i++) x0.f32()[i] = float(rng.normal());
  Tensor dy = Tensor::full({B, T, C}, 1.0f / float(B * T * C));

  Tape tape(7);
  AttentionOpts opts;
  opts.n_head = int(NH);
  opts.causal = true;
  std::vector<double> times;
  for (int it = 0; it < iters + 2; it++) {
    auto t0 = std::chrono::steady_clock::now();
    tape.reset();
    auto P = [&](Param& p) { return tape.param(p.value, p.grad); };
    Var x = tape.leaf(x0, true);
    Var h = layer_norm(x, P(ln1w), P(ln1b));
    Var q = linear(h, P(wq), P(bq)), k = linear(h, P(wk), P(bk)), v = linear(h, P(wv), P(bv));
    x = add(x, linear(attention(q, k, v, opts), P(wo), P(bo)));
    h = layer_norm(x, P(ln2w), P(ln2b));
    Var y = add(x, linear(gelu(linear(h, P(w1), P(b1))), P(w2), P(b2)));
    tape.backward_from(y, dy);
    double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (it >= 2) times.push_back(s);
  }
  std::sort(times.begin(), times.end());
  double med = times[times.size() / 2];
  // Matmul FLOPs: 12·C² per token per pass for the linears (×3 with backward) plus attention.
  double flops = 3.0 * (2.0 * B * T * 12 * C * C + 2.0 * 2 * B * T * T * C / 2);
  std::printf(
      "aero  block B=%lld T=%lld C=%lld NH=%lld: %.2f ms/step fwd+bwd (%.1f GFLOP/s, %d threads, "
      "%s %s)\n",
      (long long)B, (long long)T, (long long)C, (long long)NH, med * 1e3, flops / med / 1e9,
      num_threads(), gemm_info().backend.c_str(), gemm_info().kernel.c_str());
  std::printf("RESULT aero_ms %.3f\n", med * 1e3);
  if (tape.profile) std::printf("%s", tape.profile_report().c_str());
  return 0;
}
