#include "kernels/gemm.h"

#include <dlfcn.h>
#include <omp.h>

#include <algorithm>
#include <cstdlib>
#include <cctype>
#include <cstring>
#include <string>
#include <mutex>
#include <vector>

#include "core/cpu.h"
#include "core/error.h"
#include "core/tensor.h"

namespace aero {
namespace {

// CBLAS enum values (cblas.h), so that no BLAS header is needed at build time.
constexpr int kCblasRowMajor = 101, kCblasNoTrans = 111, kCblasTrans = 112;
using SgemmFn = void (*)(int, int, int, int, int, int, float, const float*, int, const float*,
                         int, float, float*, int);
using SetThreadsFn = void (*)(int);
using GetStrFn = char* (*)();
using GetIntFn = int (*)();

struct Backend {
  GemmInfo info;
  SgemmFn sgemm = nullptr;
  SetThreadsFn set_threads = nullptr;
};

// OpenBLAS 0.3.21 does not know recent CPUs (Zen 4/5, some Xeons) and falls back to a slow
// generic kernel; it reads OPENBLAS_CORETYPE only when the library is loaded. So aero picks the
// kernel family from cpuid and loads OpenBLAS itself, after setting the variable.
const char* coretype_for_cpu(const CpuInfo& c) {
  if (c.avx512f && c.avx512bw && c.avx512vl && c.avx512dq) return "SkylakeX";
  if (c.avx2 && c.fma) return "Haswell";
  return nullptr;
}

// Width of the kernel family; unknown names rank high so that they are left alone.
int coretype_rank(const std::string& name) {
  std::string n;
  for (char ch : name) n += char(std::tolower(static_cast<unsigned char>(ch)));
  for (const char* weak : {"prescott", "core2", "penryn", "dunnington", "nehalem", "atom",
                           "barcelona", "bulldozer", "piledriver", "steamroller", "excavator",
                           "opteron", "katmai", "coppermine", "northwood", "banias"})
    if (n == weak) return 0;
  if (n == "sandybridge") return 1;
  if (n == "haswell" || n == "zen") return 2;
  return 3;  // skylakex, cooperlake, sapphirerapids, and anything newer
}

Backend load_backend() {
  Backend b;
  const char* force = std::getenv("AERO_GEMM");
  if (force && std::strcmp(force, "builtin") == 0) {
    b.info.backend = "builtin";
    b.info.note = "AERO_GEMM=builtin";
    return b;
  }
  // AERO_BLAS_CORETYPE forces a kernel. An inherited OPENBLAS_CORETYPE is kept unless it names
  // a narrower kernel than this CPU runs (seen in the wild: Haswell on AVX-512 machines, 1.8x
  // slower).
  const char* forced = std::getenv("AERO_BLAS_CORETYPE");
  const char* inherited = std::getenv("OPENBLAS_CORETYPE");
  const char* best = coretype_for_cpu(cpu_info());
  if (forced && *forced) {
    setenv("OPENBLAS_CORETYPE", forced, 1);
    b.info.note = std::string("OPENBLAS_CORETYPE=") + forced + " from AERO_BLAS_CORETYPE";
  } else if (inherited && *inherited && (!best || coretype_rank(inherited) >= coretype_rank(best))) {
    b.info.note = std::string("OPENBLAS_CORETYPE=") + inherited + " from the environment";
  } else if (best) {
    if (inherited && *inherited)
      b.info.note = std::string("OPENBLAS_CORETYPE=") + inherited +
                    " from the environment replaced by " + best +
                    " (this CPU supports it; AERO_BLAS_CORETYPE forces a kernel)";
    else
      b.info.note = std::string("OPENBLAS_CORETYPE=") + best + " chosen from cpuid";
    setenv("OPENBLAS_CORETYPE", best, 1);
  } else {
    b.info.note = "OpenBLAS picks its own kernel (no AVX2/AVX-512 on this CPU)";
  }
  // The OpenMP build shares aero's thread team; the pthread build has its own pool that spins.
  const char* candidates[] = {
      "/usr/lib/x86_64-linux-gnu/openblas-openmp/libopenblas.so.0",
      "/usr/lib/aarch64-linux-gnu/openblas-openmp/libopenblas.so.0",
      "libopenblas.so.0",
      "/usr/lib/x86_64-linux-gnu/openblas-pthread/libopenblas.so.0",
  };
  for (const char* path : candidates) {
    void* h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!h) continue;
    auto fn = reinterpret_cast<SgemmFn>(dlsym(h, "cblas_sgemm"));
    if (!fn) {
      dlclose(h);
      continue;
    }
    b.sgemm = fn;
    b.set_threads = reinterpret_cast<SetThreadsFn>(dlsym(h, "openblas_set_num_threads"));
    b.info.backend = "openblas";
    b.info.library = path;
    if (auto f = reinterpret_cast<GetStrFn>(dlsym(h, "openblas_get_corename"))) b.info.kernel = f();
    if (auto f = reinterpret_cast<GetStrFn>(dlsym(h, "openblas_get_config"))) b.info.config = f();
    if (auto f = reinterpret_cast<GetIntFn>(dlsym(h, "openblas_get_parallel")))
      b.info.threading = f() == 2 ? "openmp" : f() == 1 ? "pthread" : "serial";
    return b;
  }
  b.info.backend = "builtin";
  b.info.note = "no OpenBLAS found (apt-get install libopenblas0-openmp); using aero's kernel";
  return b;
}

Backend& backend() {
  static Backend b = load_backend();
  return b;
}

}  // namespace

const GemmInfo& gemm_info() { return backend().info; }

void gemm_set_threads(int n) {
  Backend& b = backend();
  if (b.set_threads) b.set_threads(n);
}

void sgemm(bool trans_a, bool trans_b, int M, int N, int K, float alpha, const float* A, int lda,
           const float* B, int ldb, float beta, float* C, int ldc) {
  if (M == 0 || N == 0) return;
  if (K == 0) {
    for (int i = 0; i < M; i++)
      for (int j = 0; j < N; j++) C[i * ldc + j] = beta == 0.0f ? 0.0f : beta * C[i * ldc + j];
    return;
  }
  Backend& b = backend();
  if (b.sgemm) {
    b.sgemm(kCblasRowMajor, trans_a ? kCblasTrans : kCblasNoTrans,
            trans_b ? kCblasTrans : kCblasNoTrans, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
  } else {
    sgemm_builtin(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
  }
}

void sgemm_ref(bool trans_a, bool trans_b, int M, int N, int K, float alpha, const float* A,
               int lda, const float* B, int ldb, float beta, float* C, int ldc) {
  for (int i = 0; i < M; i++)
    for (int j = 0; j < N; j++) {
      double acc = 0;
      for (int k = 0; k < K; k++) {
        double a = trans_a ? A[k * lda + i] : A[i * lda + k];
        double bv = trans_b ? B[j * ldb + k] : B[k * ldb + j];
        acc += a * bv;
      }
      float prev = beta == 0.0f ? 0.0f : beta * C[i * ldc + j];
      C[i * ldc + j] = static_cast<float>(alpha * acc) + prev;
    }
}

// Portable blocked kernel: packs op(A) rows and op(B) into contiguous panels, then runs an
// i-k-j loop that the compiler vectorises. Parallel over row blocks of C.
void sgemm_builtin(bool trans_a, bool trans_b, int M, int N, int K, float alpha, const float* A,
                   int lda, const float* B, int ldb, float beta, float* C, int ldc) {
  // B packed once as (K, N) row-major.
  std::vector<float> bp(static_cast<size_t>(K) * N);
  for (int k = 0; k < K; k++)
    for (int j = 0; j < N; j++) bp[static_cast<size_t>(k) * N + j] = trans_b ? B[j * ldb + k] : B[k * ldb + j];
  const int MB = 16;
#pragma omp parallel for schedule(dynamic, 1) if (!omp_in_parallel() && static_cast<long>(M) * N * K > 32768)
  for (int i0 = 0; i0 < M; i0 += MB) {
    int i1 = std::min(M, i0 + MB);
    std::vector<float> acc(static_cast<size_t>(N));
    for (int i = i0; i < i1; i++) {
      std::fill(acc.begin(), acc.end(), 0.0f);
      for (int k = 0; k < K; k++) {
        float a = trans_a ? A[k * lda + i] : A[i * lda + k];
        const float* brow = bp.data() + static_cast<size_t>(k) * N;
        float* ac = acc.data();
#pragma omp simd
        for (int j = 0; j < N; j++) ac[j] += a * brow[j];
      }
      float* c = C + static_cast<size_t>(i) * ldc;
      for (int j = 0; j < N; j++) c[j] = alpha * acc[j] + (beta == 0.0f ? 0.0f : beta * c[j]);
    }
  }
}

}  // namespace aero
