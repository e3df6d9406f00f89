// aero's fused attention, forward + backward of q, k, v, at the shapes of
// bench/attention_torch.py: B 4, NH 12, T 256, HS 64, causal, no dropout, fp32, 2 threads.
// Prints "aero_ms <median>" (and the forward / backward split on stderr).
// Usage: attention_bench [runs] [threads] [B NH T HS]   (other shapes: char-small's part is
// 6 4 64 32)
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <vector>

#include "autograd/ops.h"
#include "core/threads.h"

using namespace aero;

namespace {

Tensor random_tensor(const Shape& s, uint64_t seed) {
  Tensor t = Tensor::empty(s);
  Rng rng(seed);
  for (int64_t i = 0; i < t.numel(); i++) t.f32()[i] = float(rng.normal());
  return t;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

// Process CPU time (all threads): steadier than wall time on a shared machine.
double cpu_ms() {
  timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec * 1e-6;
}

double ms_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

int main(int argc, char** argv) {
  aero::tune_openmp_runtime(argv);  // the same threading aero's CLI runs with
  const int runs = argc > 1 ? std::atoi(argv[1]) : 30;
  set_num_threads(argc > 2 ? std::atoi(argv[2]) : 2);
  const bool shape = argc > 6;
  const int64_t B = shape ? std::atoi(argv[3]) : 4, NH = shape ? std::atoi(argv[4]) : 12;
  const int64_t T = shape ? std::atoi(argv[5]) : 256, HS = shape ? std::atoi(argv[6]) : 64;
  const int64_t C = NH * HS;
  Tensor q = random_tensor({B, T, C}, 1), k = random_tensor({B, T, C}, 2);
  Tensor v = random_tensor({B, T, C}, 3), dy = random_tensor({B, T, C}, 4);
  AttentionOpts opts;
  opts.n_head = int(NH);
  opts.causal = true;
  Tape tape;
  std::vector<double> total, fwd, bwd, cpu;
  for (int r = 0; r < runs + 3; r++) {
    tape.reset();
    const double c0 = cpu_ms();
    auto t0 = std::chrono::steady_clock::now();
    Var y = attention(tape.leaf(q, true), tape.leaf(k, true), tape.leaf(v, true), opts);
    double f = ms_since(t0);
    tape.backward_from(y, dy);
    double all = ms_since(t0);
    const double c = cpu_ms() - c0;
    if (r < 3) continue;  // warm-up
    total.push_back(all);
    fwd.push_back(f);
    bwd.push_back(all - f);
    cpu.push_back(c);
  }
  std::fprintf(stderr, "aero forward %.3f ms, backward %.3f ms, cpu time %.3f ms (medians of %d)\n",
               median(fwd), median(bwd), median(cpu), runs);
  std::printf("aero_ms %.3f\n", median(total));
  return 0;
}
