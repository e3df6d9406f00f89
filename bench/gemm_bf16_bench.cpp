// gemm_bf16_bench: GFLOP/s of aero's sgemm (fp32) next to gemm_bf16 with every bf16 kernel this
// CPU runs, on 1024³ and on the linear layers' three training products (forward x·Wᵀ, dX = dY·W,
// dW = dYᵀ·X) of a config, with the ratio bf16 / fp32 per shape.
//
//   gemm_bf16_bench [gpt2-124m|seed-100m|seed-tiny|char-small] [seconds per shape]
#include <omp.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "core/threads.h"
#include "kernels/gemm.h"
#include "kernels/gemm_bf16.h"

namespace {

using namespace aero;

struct Product {
  std::string name;
  bool ta, tb;
  int M, N, K;
};

double seconds_per_shape = 0.3;

template <typename F>
double gflops(const Product& p, F&& run) {
  run();  // warm up (packing buffers, OpenBLAS load, AMX permission)
  int reps = 0;
  auto t0 = std::chrono::steady_clock::now();
  double el = 0;
  do {
    run();
    reps++;
    el = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  } while (el < seconds_per_shape);
  return 2.0 * p.M * p.N * p.K * reps / el * 1e-9;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string config = argc > 1 ? argv[1] : "gpt2-124m";
  if (argc > 2) seconds_per_shape = std::atof(argv[2]);
  tune_openmp_runtime(argv);
  set_num_threads(num_threads());
  // Tokens per step, width, FFN width, vocabulary, as configs/.
  int T = 1024, C = 768, F = 3072, V = 50257;
  if (config == "seed-100m")
    T = 4096, V = 32000;
  else if (config == "seed-tiny")
    T = 4096, C = 64, F = 256, V = 10000;
  else if (config == "char-small")
    T = 768, C = 128, F = 512, V = 80;
  else if (config != "gpt2-124m") {
    std::fprintf(stderr, "gemm_bf16_bench: unknown config %s\n", config.c_str());
    return 2;
  }
  std::vector<Product> products = {{"square 1024^3", false, false, 1024, 1024, 1024}};
  struct Layer {
    const char* name;
    int in, out;
  };
  for (Layer l : {Layer{"qkv", C, 3 * C}, Layer{"attn.proj", C, C}, Layer{"fc", C, F},
                  Layer{"fc.proj", F, C}, Layer{"head", C, V}}) {
    products.push_back({std::string(l.name) + " fwd", false, true, T, l.out, l.in});
    products.push_back({std::string(l.name) + " dX", false, false, T, l.in, l.out});
    products.push_back({std::string(l.name) + " dW", true, false, l.out, l.in, T});
  }
  std::vector<Bf16Kernel> kernels;
  for (Bf16Kernel k : {Bf16Kernel::portable, Bf16Kernel::avx512, Bf16Kernel::amx})
    if (bf16_kernel_supported(k)) kernels.push_back(k);
  std::printf("%s, %d threads, GFLOP/s (ratio to fp32)\n%-16s %14s", config.c_str(),
              omp_get_max_threads(), "product", "fp32 sgemm");
  for (Bf16Kernel k : kernels) std::printf(" %20s", bf16_kernel_name(k));
  std::printf("\n");
  for (const Product& p : products) {
    const size_t a = size_t(p.M) * p.K, b = size_t(p.K) * p.N, c = size_t(p.M) * p.N;
    std::vector<float> A(a, 0.5f), B(b, 0.25f), Cm(c, 0.0f);
    const int lda = p.ta ? p.M : p.K, ldb = p.tb ? p.K : p.N;
    double f32 = gflops(p, [&] {
      sgemm(p.ta, p.tb, p.M, p.N, p.K, 1.0f, A.data(), lda, B.data(), ldb, 0.0f, Cm.data(), p.N);
    });
    std::printf("%-16s %14.1f", p.name.c_str(), f32);
    for (Bf16Kernel k : kernels) {
      double r = gflops(p, [&] {
        gemm_bf16_with(k, p.ta, p.tb, p.M, p.N, p.K, A.data(), lda, B.data(), ldb, 0.0f, Cm.data(),
                       p.N);
      });
      std::printf(" %12.1f (%5.2fx)", r, r / f32);
    }
    std::printf("\n");
    std::fflush(stdout);
  }
  return 0;
}
