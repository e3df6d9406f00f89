#include "kernels/gemm.h"

#include <dlfcn.h>
#include <omp.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "core/cpu.h"
#include "core/log.h"
#include "core/threads.h"
#include "kernels/vec.h"

namespace aero {
namespace {

// CBLAS enum values (cblas.h), so that no BLAS header is needed at build time.
constexpr int kCblasRowMajor = 101, kCblasNoTrans = 111, kCblasTrans = 112;
using SgemmFn = void (*)(int, int, int, int, int, int, float, const float*, int, const float*, int,
                         float, float*, int);
using SetThreadsFn = void (*)(int);
using GetStrFn = char* (*)();
using GetIntFn = int (*)();

std::string lower(const std::string& s) {
  std::string out;
  for (char ch : s) out += char(std::tolower(static_cast<unsigned char>(ch)));
  return out;
}

// Instruction level an OpenBLAS kernel family needs: 0 baseline SSE, 1 AVX, 2 AVX2+FMA,
// 3 AVX-512 (F/BW/VL/DQ), 4 AVX-512 with BF16. -1: a name aero does not know.
int coretype_level(const std::string& name) {
  std::string n = lower(name);
  for (const char* s :
       {"katmai", "coppermine", "northwood", "prescott", "banias", "core2", "penryn", "dunnington",
        "nehalem", "atom", "opteron", "opteron_sse3", "barcelona", "nano"})
    if (n == s) return 0;
  for (const char* s : {"sandybridge", "bulldozer", "piledriver", "steamroller", "excavator"})
    if (n == s) return 1;
  if (n == "haswell" || n == "zen") return 2;
  if (n == "skylakex") return 3;
  if (n == "cooperlake" || n == "sapphirerapids") return 4;
  return -1;
}

int cpu_level(const CpuInfo& c) {
  bool avx512 = c.avx512f && c.avx512bw && c.avx512vl && c.avx512dq;
  if (avx512 && c.avx512_bf16) return 4;
  if (avx512) return 3;
  if (c.avx2 && c.fma) return 2;
  if (c.avx) return 1;
  return 0;
}

// Widest kernel for a level. Level 4 still gets SkylakeX: its sgemm is the same and the
// Cooperlake extras are bf16 routines aero does not call.
const char* best_coretype(int level) {
  if (level >= 3) return "SkylakeX";
  if (level == 2) return "Haswell";
  if (level == 1) return "SandyBridge";
  return nullptr;
}

}  // namespace

CoretypeChoice choose_coretype(const CpuInfo& cpu, const char* inherited, const char* forced) {
  const int level = cpu_level(cpu);
  const char* best = best_coretype(level);
  std::string prefix;
  if (forced && *forced) {
    int need = coretype_level(forced);
    if (need <= level)  // unknown names (-1) are passed through: OpenBLAS reports them itself
      return {forced, std::string("OPENBLAS_CORETYPE=") + forced + " from AERO_BLAS_CORETYPE"};
    prefix = std::string("AERO_BLAS_CORETYPE=") + forced + " ignored (this CPU cannot run it); ";
  }
  if (inherited && *inherited) {
    int have = coretype_level(inherited);
    bool runs = have <= level;
    bool narrower = best && have >= 0 && have < coretype_level(best);
    if (runs && !narrower)
      return {inherited, prefix + "OPENBLAS_CORETYPE=" + inherited + " from the environment"};
    std::string why = runs ? "this CPU supports a wider kernel; AERO_BLAS_CORETYPE forces one"
                           : std::string("this CPU cannot run ") + inherited;
    if (!best)
      return {"", prefix + "OPENBLAS_CORETYPE=" + inherited + " from the environment removed (" +
                      why + "); OpenBLAS picks its kernel"};
    return {best, prefix + "OPENBLAS_CORETYPE=" + inherited + " from the environment replaced by " +
                      best + " (" + why + ")"};
  }
  if (best) return {best, prefix + "OPENBLAS_CORETYPE=" + best + " chosen from cpuid"};
  return {"", prefix + "OpenBLAS picks its own kernel (no AVX on this CPU)"};
}

namespace {

struct Backend {
  GemmInfo info;
  bool small_k_builtin = false;  // AERO_GEMM=auto: see sgemm()
  bool amd = false;              // the shapes where the builtin kernel wins depend on the CPU
  SgemmFn sgemm = nullptr;
  SetThreadsFn set_threads = nullptr;
};

std::string builtin_kernel_name();
int builtin_nr();  // columns per micro-tile of the builtin kernel

// Opens path as OpenBLAS; false (and the handle closed) when it is not one.
bool try_openblas(Backend& b, const char* path) {
  void* h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
  if (!h) return false;
  auto fn = reinterpret_cast<SgemmFn>(dlsym(h, "cblas_sgemm"));
  if (!fn) {
    dlclose(h);
    return false;
  }
  b.sgemm = fn;
  b.set_threads = reinterpret_cast<SetThreadsFn>(dlsym(h, "openblas_set_num_threads"));
  // Another CBLAS (AERO_BLAS_LIB) works too; only OpenBLAS can say what it runs.
  b.info.backend = dlsym(h, "openblas_get_config") ? "openblas" : "cblas";
  b.info.threading = "unknown";
  b.info.library = path;
  if (auto f = reinterpret_cast<GetStrFn>(dlsym(h, "openblas_get_corename"))) b.info.kernel = f();
  if (auto f = reinterpret_cast<GetStrFn>(dlsym(h, "openblas_get_config"))) b.info.config = f();
  if (auto f = reinterpret_cast<GetIntFn>(dlsym(h, "openblas_get_parallel"))) {
    int p = f();
    b.info.threading = p == 2 ? "openmp" : p == 1 ? "pthread" : "serial";
  }
  while (!b.info.config.empty() && b.info.config.back() == ' ') b.info.config.pop_back();
  return true;
}

void use_builtin(Backend& b, const std::string& note) {
  b.info.backend = "builtin";
  b.info.kernel = builtin_kernel_name();
  b.info.threading = "openmp";
  b.info.note = note;
  b.info.warning =
      "builtin gemm in use: slower than OpenBLAS (apt-get install libopenblas0-openmp)";
}

Backend load_backend() {
  Backend b;
  std::string mode = std::getenv("AERO_GEMM") ? std::getenv("AERO_GEMM") : "";
  std::string bad_mode;
  if (mode == "builtin") {
    use_builtin(b, "AERO_GEMM=builtin");
    return b;
  }
  if (!mode.empty() && mode != "openblas" && mode != "auto") {
    bad_mode = "AERO_GEMM=" + mode + " not understood (auto, openblas, builtin); ";
    log_warn("[gemm] ", bad_mode, "using auto");
  }

  // OpenBLAS reads OPENBLAS_CORETYPE once, when it is loaded, so it is set before dlopen.
  CoretypeChoice ct = choose_coretype(cpu_info(), std::getenv("OPENBLAS_CORETYPE"),
                                      std::getenv("AERO_BLAS_CORETYPE"));
  if (ct.name.empty())
    unsetenv("OPENBLAS_CORETYPE");
  else
    setenv("OPENBLAS_CORETYPE", ct.name.c_str(), 1);

  // The OpenMP build shares aero's thread team; the pthread build has its own pool that spins
  // beside aero's threads, so it comes last.
  const char* user_lib = std::getenv("AERO_BLAS_LIB");
  const char* candidates[] = {
      user_lib && *user_lib ? user_lib : nullptr,
      "/usr/lib/x86_64-linux-gnu/openblas-openmp/libopenblas.so.0",
      "/usr/lib/aarch64-linux-gnu/openblas-openmp/libopenblas.so.0",
      "/usr/lib64/libopenblaso.so.0",  // Fedora's OpenMP build
      "libopenblas.so.0",
      "/usr/lib/x86_64-linux-gnu/openblas-pthread/libopenblas.so.0",
      "/usr/lib/aarch64-linux-gnu/openblas-pthread/libopenblas.so.0",
  };
  for (const char* path : candidates) {
    if (!path || !try_openblas(b, path)) continue;
    b.info.note = bad_mode + ct.note;
    b.small_k_builtin = mode != "openblas";
    b.amd = cpu_info().vendor == "AuthenticAMD";
    if (b.small_k_builtin)
      b.info.note += std::string("; ") + (b.amd ? "small-K, " : "") +
                     "narrow and in-cache shapes use the builtin kernel (AERO_GEMM=openblas: "
                     "never)";
    if (user_lib && *user_lib && std::strcmp(path, user_lib) != 0)
      b.info.note +=
          "; AERO_BLAS_LIB=" + std::string(user_lib) + " could not be loaded as OpenBLAS";
    if (!ct.name.empty() && !b.info.kernel.empty() && lower(ct.name) != lower(b.info.kernel))
      b.info.note += " (the library runs " + b.info.kernel + ": built without DYNAMIC_ARCH?)";
    if (b.info.threading == "pthread")
      b.info.warning =
          "OpenBLAS pthread build: its threads spin beside aero's OpenMP threads "
          "(apt-get install libopenblas0-openmp)";
    else if (int have = coretype_level(b.info.kernel);
             have >= 0 && have < std::min(cpu_level(cpu_info()), 3))
      b.info.warning = "OpenBLAS runs the narrow " + b.info.kernel +
                       " kernel on a CPU that supports a wider one";
    return b;
  }
  use_builtin(b, bad_mode + "no OpenBLAS found (apt-get install libopenblas0-openmp)");
  if (mode == "openblas") b.info.note = "AERO_GEMM=openblas but " + b.info.note;
  return b;
}

Backend& backend() {
  static Backend b = load_backend();
  return b;
}

// The BLAS runs on num_threads() threads: told again whenever that changed since its last call
// (core/threads.h knows nothing of the BLAS).
void sync_threads(Backend& b) {
  static std::atomic<int> told{0};  // what set_threads was last told
  static std::mutex mu;
  if (!b.set_threads) return;
  const int n = num_threads();
  if (told.load(std::memory_order_relaxed) == n) return;
  std::lock_guard<std::mutex> lock(mu);
  if (told.load() != n) {
    b.set_threads(n);
    told.store(n);
  }
}

}  // namespace

const GemmInfo& gemm_info() { return backend().info; }

namespace {

// beta == 0 overwrites C without reading it (BLAS semantics).
void scale_c(int M, int N, float beta, float* C, int ldc) {
  for (int i = 0; i < M; i++) {
    float* c = C + static_cast<ptrdiff_t>(i) * ldc;
    for (int j = 0; j < N; j++) c[j] = beta == 0.0f ? 0.0f : beta * c[j];
  }
}

// Small K with a large C: a shape that packing pays for (sgemm_uses_direct and sgemm read it).
bool small_k_large_c(int M, int N, int K) {
  return K <= 256 && static_cast<long>(M) * N >= (1L << 21);
}

}  // namespace

bool sgemm_uses_direct(int M, int N, int K) {
  // Small operands that stay in cache (char-small's layers, attention blocks of 32 query rows):
  // packing them costs about as much as the multiply, so A and B are read where they are.
  // char-small's training step (bench/train_bench, one thread, two parts, alternating runs)
  // 26.9 -> 26.4 ms, and 22.9 -> 22.7 with its K = 512 forward products too (whose bias then
  // comes in the same pass). Not for column counts that leave much of a micro-tile empty
  // (attention at HS 16 was 1.3x slower), nor for small K with a large C, which sgemm() packs
  // (in the builtin kernel or OpenBLAS); N <= 512 also bounds what a transposed B packs (1 MiB).
  const int nr = builtin_nr();
  return backend().small_k_builtin && !small_k_large_c(M, N, K) && M >= 16 &&
         (N % nr == 0 || N >= 4 * nr) && K <= 512 && N <= 512;
}

void sgemm(bool trans_a, bool trans_b, int M, int N, int K, float alpha, const float* A, int lda,
           const float* B, int ldb, float beta, float* C, int ldc) {
  if (M <= 0 || N <= 0) return;
  if (K <= 0 || alpha == 0.0f) return scale_c(M, N, beta, C, ldc);
  Backend& b = backend();
  // Shapes where the builtin kernel beat OpenBLAS 0.3.21. On every CPU seen: narrow row-major
  // products, which it runs without packing A (4096x64x10000: 1.3-1.9x on Zen 5, 1.1-1.3x on
  // Sapphire Rapids), and weight gradients of narrow layers, dW (M, N) = Aᵀ·B with N <= 64, a
  // long K (B·T rows) and up to ~1000 rows (seed-tiny's projections: 1.0-1.4x on Sapphire
  // Rapids). On Zen 5 also small K with a large C (4096x10000x64: 49% of peak against 95%:
  // OpenBLAS applies beta in a separate pass over C) and a narrow dW with a vocabulary's rows
  // (10000x64x4096: 1.15x); on Sapphire Rapids OpenBLAS wins both (0.8-1.0x and 0.6-0.8x on
  // one thread, alternated in one process). With beta = 1 OpenBLAS has no pass over C, and
  // small-K products that accumulate stay on it (Sapphire Rapids: 1.1-1.6x). AERO_GEMM=openblas
  // turns all of this off.
  const bool small_k = b.amd && small_k_large_c(M, N, K) && beta != 1.0f;
  const bool narrow = !trans_a && N <= 2 * builtin_nr() && M >= 512 && K >= 64;
  const bool narrow_dw =
      trans_a && !trans_b && N <= 2 * builtin_nr() && K >= 1024 && (b.amd || M <= 1024);
  if (sgemm_uses_direct(M, N, K))
    return sgemm_direct(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
  if (b.sgemm && !(b.small_k_builtin && (small_k || narrow || narrow_dw))) {
    sync_threads(b);
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
        double a = trans_a ? A[static_cast<ptrdiff_t>(k) * lda + i]
                           : A[static_cast<ptrdiff_t>(i) * lda + k];
        double bv = trans_b ? B[static_cast<ptrdiff_t>(j) * ldb + k]
                            : B[static_cast<ptrdiff_t>(k) * ldb + j];
        acc += a * bv;
      }
      float& c = C[static_cast<ptrdiff_t>(i) * ldc + j];
      float prev = beta == 0.0f ? 0.0f : beta * c;
      c = static_cast<float>(alpha * acc) + prev;
    }
}

// The builtin kernel follows Goto/BLIS: op(B) is packed into KC x NR panels that stay in L1,
// op(A) into MR x KC panels read from L2, and a micro-kernel keeps an MR x NR tile of C in
// vector registers. One micro-kernel per instruction set, picked from cpuid at run time, so the
// binary runs anywhere even when built without -march.
namespace {

using v4 = float __attribute__((vector_size(16)));
using v8 = float __attribute__((vector_size(32)));
using v16 = float __attribute__((vector_size(64)));

// Where element (i, k) of an A micro-panel lives.
enum ALayout { kPackedA = 0, kRowsA = 1, kColsA = 2 };  // a[k*MR+i], a[i*lda+k], a[k*lda+i]

// What the direct kernel adds to a tile of C as it stores it: bias (NV * W) on every row and
// the rows of another matrix (row stride ld_add), either may be null.
struct Extra {
  const float* bias = nullptr;
  const float* add = nullptr;
  ptrdiff_t ld_add = 0;
};

constexpr int kAhead = 16;  // rows of B prefetched ahead in the micro-kernels

// C(MR, NV * W) = alpha * a · b + bias + add + beta * C (bias and add from ex when given), b
// (kc, NV * W) with row stride ldb (NV * W when packed), a as kLayout says.
template <class V, int MR, int NV, int kLayout>
[[gnu::always_inline]] inline void micro_tile(int kc, const float* __restrict a, ptrdiff_t lda,
                                              const float* __restrict b, ptrdiff_t ldb, float* c,
                                              ptrdiff_t ldc, float alpha, float beta,
                                              const Extra* ex) {
  constexpr int W = sizeof(V) / sizeof(float);
  V acc[MR][NV];
#pragma GCC unroll 32
  for (int i = 0; i < MR; i++)
#pragma GCC unroll 8
    for (int j = 0; j < NV; j++) acc[i][j] = V{};
  // The tile of C read at the end (weight gradients accumulate) is fetched while the k loop
  // runs: it is often cold, last touched a whole step ago.
  if (beta != 0.0f)
#pragma GCC unroll 32
    for (int i = 0; i < MR; i++)
#pragma GCC unroll 8
      for (int j = 0; j < NV * W; j += 16) __builtin_prefetch(c + i * ldc + j, 1);
  for (int k = 0; k < kc; k++) {
    // B's row kAhead steps on: in place (sgemm_direct) its rows are ldb apart, a stride that
    // the hardware prefetchers follow late; the loads of B then took a third of the time.
    if (ldb != NV * W)
#pragma GCC unroll 8
      for (int j = 0; j < NV * W; j += 16) __builtin_prefetch(b + kAhead * ldb + j);
    V bv[NV];
#pragma GCC unroll 8
    for (int j = 0; j < NV; j++) std::memcpy(&bv[j], b + j * W, sizeof(V));
#pragma GCC unroll 32
    for (int i = 0; i < MR; i++) {
      // Broadcast: x - 0 folds to x, while 0 + x would stay (it turns -0 into +0).
      V ai = (kLayout == kPackedA ? a[k * MR + i]
              : kLayout == kRowsA ? a[i * lda + k]
                                  : a[k * lda + i]) -
             V{};
#pragma GCC unroll 8
      for (int j = 0; j < NV; j++) acc[i][j] += ai * bv[j];
    }
    b += ldb;
  }
#pragma GCC unroll 32
  for (int i = 0; i < MR; i++)
#pragma GCC unroll 8
    for (int j = 0; j < NV; j++) {
      float* cp = c + i * ldc + j * W;
      V cv = alpha * acc[i][j];
      if (ex && ex->bias) {
        V bv;
        std::memcpy(&bv, ex->bias + j * W, sizeof(V));
        cv += bv;
      }
      if (ex && ex->add) {
        V av;
        std::memcpy(&av, ex->add + i * ex->ld_add + j * W, sizeof(V));
        cv += av;
      }
      if (beta != 0.0f) {
        V old;
        std::memcpy(&old, cp, sizeof(V));
        cv += beta * old;
      }
      std::memcpy(cp, &cv, sizeof(V));
    }
}

using MicroFn = void (*)(int, const float*, ptrdiff_t, int, const float*, ptrdiff_t, float*,
                         ptrdiff_t, float, float, const Extra*);

template <class V, int MR, int NV>
[[gnu::always_inline]] inline void micro_either(int kc, const float* a, ptrdiff_t lda, int layout,
                                                const float* b, ptrdiff_t ldb, float* c,
                                                ptrdiff_t ldc, float alpha, float beta,
                                                const Extra* ex) {
  if (layout == kRowsA)
    micro_tile<V, MR, NV, kRowsA>(kc, a, lda, b, ldb, c, ldc, alpha, beta, ex);
  else if (layout == kColsA)
    micro_tile<V, MR, NV, kColsA>(kc, a, lda, b, ldb, c, ldc, alpha, beta, ex);
  else
    micro_tile<V, MR, NV, kPackedA>(kc, a, 0, b, ldb, c, ldc, alpha, beta, ex);
}

__attribute__((target("avx512f"))) void micro_avx512(int kc, const float* a, ptrdiff_t lda,
                                                     int layout, const float* b, ptrdiff_t ldb,
                                                     float* c, ptrdiff_t ldc, float alpha,
                                                     float beta, const Extra* ex) {
  micro_either<v16, 8, 2>(kc, a, lda, layout, b, ldb, c, ldc, alpha, beta, ex);
}

__attribute__((target("avx512f"))) void micro_avx512_tall(int kc, const float* a, ptrdiff_t lda,
                                                          int layout, const float* b, ptrdiff_t ldb,
                                                          float* c, ptrdiff_t ldc, float alpha,
                                                          float beta, const Extra* ex) {
  micro_either<v16, 12, 2>(kc, a, lda, layout, b, ldb, c, ldc, alpha, beta, ex);
}

__attribute__((target("avx2,fma"))) void micro_avx2(int kc, const float* a, ptrdiff_t lda,
                                                    int layout, const float* b, ptrdiff_t ldb,
                                                    float* c, ptrdiff_t ldc, float alpha,
                                                    float beta, const Extra* ex) {
  micro_either<v8, 6, 2>(kc, a, lda, layout, b, ldb, c, ldc, alpha, beta, ex);
}

void micro_sse(int kc, const float* a, ptrdiff_t lda, int layout, const float* b, ptrdiff_t ldb,
               float* c, ptrdiff_t ldc, float alpha, float beta, const Extra* ex) {
  micro_either<v4, 4, 2>(kc, a, lda, layout, b, ldb, c, ldc, alpha, beta, ex);
}

struct MicroKernel {
  MicroFn fn;
  int mr, nr;
  const char* name;
};

constexpr int kMaxTile = 16 * 32;  // largest MR * NR below
constexpr int kFewTiles = 4;       // sgemm_direct: up to this many row tiles share each B panel

// AERO_BUILTIN_ISA=avx2 or sse picks a narrower micro-kernel (to test it on a wider CPU); a
// wider one than the CPU has is never picked.
const MicroKernel& micro_kernel() {
  static const MicroKernel k = [] {
    const CpuInfo& c = cpu_info();
    const char* env = std::getenv("AERO_BUILTIN_ISA");
    const std::string want = env ? env : "";
    if (c.avx512f && want != "avx2" && want != "sse")
      return MicroKernel{micro_avx512, 8, 32, "avx512 8x32"};
    if (c.avx2 && c.fma && want != "sse") return MicroKernel{micro_avx2, 6, 16, "avx2 6x16"};
    return MicroKernel{micro_sse, 4, 8, "sse 4x8"};
  }();
  return k;
}

// For sgemm_direct on many rows: 12 x 32 tiles, 24 accumulators, fewer epilogues per FLOP.
// Null where the CPU (or AERO_BUILTIN_ISA) has no AVX-512.
const MicroKernel* tall_micro_kernel() {
  static const MicroKernel k{micro_avx512_tall, 12, 32, "avx512 12x32"};
  return micro_kernel().fn == micro_avx512 ? &k : nullptr;
}

std::string builtin_kernel_name() { return micro_kernel().name; }
int builtin_nr() { return micro_kernel().nr; }

// One MR x NR tile of C whose first m rows and n columns are real: straight into C when whole,
// else through a buffer whose real part is then added up in the whole tiles' order.
void run_tile(const MicroKernel& mk, int kc, const float* a, ptrdiff_t lda, int layout,
              const float* b, ptrdiff_t ldb, float* c, ptrdiff_t ldc, int m, int n, float alpha,
              float beta, const Extra* ex) {
  if (m == mk.mr && n == mk.nr) return mk.fn(kc, a, lda, layout, b, ldb, c, ldc, alpha, beta, ex);
  alignas(64) float tile[kMaxTile];
  mk.fn(kc, a, lda, layout, b, ldb, tile, mk.nr, alpha, 0.0f, nullptr);
  for (int i = 0; i < m; i++)
    for (int j = 0; j < n; j++) {
      float& cij = c[static_cast<ptrdiff_t>(i) * ldc + j];
      float v = tile[i * mk.nr + j] + (ex && ex->bias ? ex->bias[j] : 0.0f);
      v += ex && ex->add ? ex->add[static_cast<ptrdiff_t>(i) * ex->ld_add + j] : 0.0f;
      cij = v + (beta == 0.0f ? 0.0f : beta * cij);
    }
}

struct AlignedFree {
  void operator()(float* p) const { std::free(p); }
};
using Buffer = std::unique_ptr<float, AlignedFree>;

Buffer aligned_floats(size_t n) {
  size_t bytes = (n * sizeof(float) + 63) / 64 * 64;
  return Buffer(static_cast<float*>(std::aligned_alloc(64, bytes)));
}

// Rows [i0, i0 + MR) of op(A), columns [p0, p0 + kc) -> dst (kc, MR), zero-padded past M.
// Loops run along the source rows: sequential reads, writes into an L1-resident panel.
void pack_a(float* dst, const float* A, int lda, bool trans_a, int M, int i0, int p0, int kc,
            int MR) {
  const int m = std::min(MR, M - i0);
  if (trans_a) {
    for (int k = 0; k < kc; k++) {
      const float* s = A + static_cast<ptrdiff_t>(p0 + k) * lda + i0;
      float* d = dst + static_cast<ptrdiff_t>(k) * MR;
      for (int r = 0; r < m; r++) d[r] = s[r];
      for (int r = m; r < MR; r++) d[r] = 0.0f;
    }
    return;
  }
  for (int r = 0; r < m; r++) {
    const float* s = A + static_cast<ptrdiff_t>(i0 + r) * lda + p0;
    for (int k = 0; k < kc; k++) dst[static_cast<ptrdiff_t>(k) * MR + r] = s[k];
  }
  for (int r = m; r < MR; r++)
    for (int k = 0; k < kc; k++) dst[static_cast<ptrdiff_t>(k) * MR + r] = 0.0f;
}

// Rows [p0, p0 + kc) of op(B), columns [j0, j0 + NR) -> dst (kc, NR), zero-padded past N.
void pack_b(float* dst, const float* B, int ldb, bool trans_b, int N, int j0, int p0, int kc,
            int NR) {
  const int n = std::min(NR, N - j0);
  if (trans_b && n == NR && NR % kW == 0) {
    // Columns of op(B) are rows of B: whole kW x kW blocks transposed in registers, the last
    // rows (kc % kW) one element at a time.
    const int k_whole = kc / kW * kW;
    for (int c = 0; c < NR; c += kW)
      for (int k = 0; k < k_whole; k += kW)
        transpose_block(dst + static_cast<ptrdiff_t>(k) * NR + c, NR,
                        B + static_cast<ptrdiff_t>(j0 + c) * ldb + p0 + k, ldb);
    for (int c = 0; c < NR; c++)
      for (int k = k_whole; k < kc; k++)
        dst[static_cast<ptrdiff_t>(k) * NR + c] = B[static_cast<ptrdiff_t>(j0 + c) * ldb + p0 + k];
    return;
  }
  if (trans_b) {
    for (int c = 0; c < n; c++) {
      const float* s = B + static_cast<ptrdiff_t>(j0 + c) * ldb + p0;
      for (int k = 0; k < kc; k++) dst[static_cast<ptrdiff_t>(k) * NR + c] = s[k];
    }
    for (int c = n; c < NR; c++)
      for (int k = 0; k < kc; k++) dst[static_cast<ptrdiff_t>(k) * NR + c] = 0.0f;
    return;
  }
  for (int k = 0; k < kc; k++) {
    const float* s = B + static_cast<ptrdiff_t>(p0 + k) * ldb + j0;
    float* d = dst + static_cast<ptrdiff_t>(k) * NR;
    for (int c = 0; c < n; c++) d[c] = s[c];
    for (int c = n; c < NR; c++) d[c] = 0.0f;
  }
}

}  // namespace

void sgemm_builtin(bool trans_a, bool trans_b, int M, int N, int K, float alpha, const float* A,
                   int lda, const float* B, int ldb, float beta, float* C, int ldc) {
  if (M <= 0 || N <= 0) return;
  if (K <= 0 || alpha == 0.0f) return scale_c(M, N, beta, C, ldc);
  const MicroKernel& mk = micro_kernel();
  const int MR = mk.mr, NR = mk.nr;
  // With KC = 256: KC x NR of B (32 KiB) stays in L1, MC x KC of A (128 KiB) in L2, KC x NC of
  // B in L3.
  const int MC = 16 * MR, NC = 128 * NR;
  // Few tiles of C (weight gradients: small M and N, K = tokens) leave little work between two
  // barriers; longer K blocks, whose B panels then sit in L2, amortise them.
  const long tiles = static_cast<long>((M + MC - 1) / MC) * ((std::min(N, NC) + NR - 1) / NR);
  const int KC = tiles <= 2L * omp_get_max_threads() ? 1024 : 256;
  const int kc_max = std::min(K, KC);
  const int nc_max = std::min((N + NR - 1) / NR, NC / NR) * NR;
  Buffer bp = aligned_floats(static_cast<size_t>(nc_max) * kc_max);
  const double flops = 2.0 * M * N * K;
  const bool parallel = !omp_in_parallel() && omp_get_max_threads() > 1 && flops > 1e6;
  const int m_blocks = (M + MC - 1) / MC;
  // With at most two column panels a packed A block would serve only twice, and packing
  // costs about as much as the multiply: A is then read in place.
  const bool in_place_a = N <= 2 * NR;
  bool out_of_memory = !bp;

#pragma omp parallel if (parallel)
  {
    // Each thread packs the A blocks it needs into its own buffer, right before use, so they
    // are still in L2 when the micro-kernel reads them.
    Buffer ap = aligned_floats(static_cast<size_t>(MC) * kc_max);
    if (!ap) {
#pragma omp atomic write
      out_of_memory = true;
    }
#pragma omp barrier
    const int nt = omp_get_num_threads(), t = omp_get_thread_num();
    for (int jc = 0; jc < N && !out_of_memory; jc += NC) {
      const int nc = std::min(NC, N - jc);
      const int n_panels = (nc + NR - 1) / NR;
      for (int pc = 0; pc < K; pc += KC) {
        const int kc = std::min(KC, K - pc);
        const float beta_eff = pc == 0 ? beta : 1.0f;  // later K blocks accumulate
#pragma omp for schedule(static)
        for (int p = 0; p < n_panels; p++)
          pack_b(bp.get() + static_cast<ptrdiff_t>(p) * NR * kc, B, ldb, trans_b, N, jc + p * NR,
                 pc, kc, NR);
        // A contiguous share of the (row block, column panel) grid: with many row blocks the
        // threads split rows, with one (small M) they split column panels.
        const long items = static_cast<long>(m_blocks) * n_panels;
        int packed = -1;
        for (long it = items * t / nt; it < items * (t + 1) / nt; it++) {
          const int ib = static_cast<int>(it / n_panels), jr = static_cast<int>(it % n_panels);
          const int i_end = std::min(M, ib * MC + MC);
          if (!in_place_a && ib != packed) {
            for (int i0 = ib * MC; i0 < i_end; i0 += MR)
              pack_a(ap.get() + static_cast<ptrdiff_t>(i0 - ib * MC) * kc, A, lda, trans_a, M, i0,
                     pc, kc, MR);
            packed = ib;
          }
          const float* b = bp.get() + static_cast<ptrdiff_t>(jr) * NR * kc;
          const int j0 = jc + jr * NR, n = std::min(NR, N - j0);
          for (int i0 = ib * MC; i0 < i_end; i0 += MR) {
            const int m = std::min(MR, M - i0);
            const float* a = ap.get() + static_cast<ptrdiff_t>(i0 - ib * MC) * kc;
            ptrdiff_t a_ld = 0;
            int layout = kPackedA;
            if (in_place_a && m == MR) {
              a = trans_a ? A + static_cast<ptrdiff_t>(pc) * lda + i0
                          : A + static_cast<ptrdiff_t>(i0) * lda + pc;
              a_ld = lda;
              layout = trans_a ? kColsA : kRowsA;
            } else if (in_place_a) {  // the last rows: packed, zero-padded to MR
              pack_a(ap.get(), A, lda, trans_a, M, i0, pc, kc, MR);
              a = ap.get();
            }
            run_tile(mk, kc, a, a_ld, layout, b, NR, C + static_cast<ptrdiff_t>(i0) * ldc + j0, ldc,
                     m, n, alpha, beta_eff, nullptr);
          }
        }
#pragma omp barrier
      }
    }
  }
  // Out of memory for the packing buffers: the unpacked reference loop needs none.
  if (out_of_memory) sgemm_ref(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

void sgemm_direct(bool trans_a, bool trans_b, int M, int N, int K, float alpha, const float* A,
                  int lda, const float* B, int ldb, float beta, float* C, int ldc,
                  const float* bias, const float* add, int ld_add) {
  if (M <= 0 || N <= 0) return;
  if (K <= 0 || alpha == 0.0f) {
    scale_c(M, N, beta, C, ldc);
    for (int i = 0; i < M; i++)
      for (int j = 0; j < N; j++)
        C[static_cast<ptrdiff_t>(i) * ldc + j] +=
            (bias ? bias[j] : 0.0f) + (add ? add[static_cast<ptrdiff_t>(i) * ld_add + j] : 0.0f);
    return;
  }
  // Tall tiles where there are rows enough (char-small's step 24.1 -> 23.5 ms); attention's
  // 32-row blocks keep 8-row tiles, which divide them.
  const MicroKernel* tall = M >= 96 ? tall_micro_kernel() : nullptr;
  const MicroKernel& mk = tall ? *tall : micro_kernel();
  const int MR = mk.mr, NR = mk.nr;
  // Column panels of op(B) are read in place from the rows of B, except when B is transposed
  // (all packed) and for a last panel narrower than NR (packed, zero-padded).
  const int n_panels = (N + NR - 1) / NR, in_place = trans_b ? 0 : N / NR;
  thread_local std::vector<float> b_buf, a_buf;
  b_buf.resize(static_cast<size_t>(n_panels - in_place) * K * NR);
  float* const bp = b_buf.data();
  auto pack_panel = [&](int p) {
    pack_b(bp + static_cast<ptrdiff_t>(p - in_place) * K * NR, B, ldb, trans_b, N, p * NR, 0, K,
           NR);
  };
  const int m_tiles = (M + MR - 1) / MR;
  const bool parallel =
      !omp_in_parallel() && omp_get_max_threads() > 1 && m_tiles > 1 && 2.0 * M * N * K > 1e6;
  // Rows of op(A) are read in place (a row of A, or MR neighbours in a row of A when
  // transposed), except the last, partial tile: packed and zero-padded, once.
  const int m_last = M - (m_tiles - 1) * MR;
  const float* a_last = nullptr;
  if (m_last < MR) {
    a_buf.resize(static_cast<size_t>(K) * MR);
    pack_a(a_buf.data(), A, lda, trans_a, M, (m_tiles - 1) * MR, 0, K, MR);
    a_last = a_buf.data();
  }
  // Row tile t against column panels [p0, p1).
  auto tile = [&](int t, int p0, int p1) {
    const int i0 = t * MR, m = std::min(MR, M - i0);
    const float* a = trans_a ? A + i0 : A + static_cast<ptrdiff_t>(i0) * lda;
    ptrdiff_t a_ld = lda;
    int layout = trans_a ? kColsA : kRowsA;
    if (m < MR) a = a_last, a_ld = 0, layout = kPackedA;
    for (int p = p0; p < p1; p++) {
      const int j0 = p * NR, n = std::min(NR, N - j0);
      const float* b = p < in_place ? B + j0 : bp + static_cast<ptrdiff_t>(p - in_place) * K * NR;
      const ptrdiff_t b_ld = p < in_place ? ldb : NR;
      const Extra ex{bias ? bias + j0 : nullptr,
                     add ? add + static_cast<ptrdiff_t>(i0) * ld_add + j0 : nullptr, ld_add};
      run_tile(mk, K, a, a_ld, layout, b, b_ld, C + static_cast<ptrdiff_t>(i0) * ldc + j0, ldc, m,
               n, alpha, beta, bias || add ? &ex : nullptr);
    }
  };
  // Not `omp parallel for if (parallel)`: a region that does not fork still costs a team
  // allocation and a futex call, as much as a whole small product.
  if (!parallel) {
    for (int p = in_place; p < n_panels; p++) pack_panel(p);
    // A few row tiles (A in L1) take each panel of B in turn, so that B is read from L2 once
    // rather than once per tile.
    if (m_tiles <= kFewTiles) {
      for (int p = 0; p < n_panels; p++)
        for (int t = 0; t < m_tiles; t++) tile(t, p, p + 1);
    } else {
      for (int t = 0; t < m_tiles; t++) tile(t, 0, n_panels);
    }
    return;
  }
  // The packing of a transposed B is shared out too: on two threads a serial pack left the
  // other thread waiting for as long as the pack took.
#pragma omp parallel
  {
#pragma omp for schedule(static)
    for (int p = in_place; p < n_panels; p++) pack_panel(p);
#pragma omp for schedule(static)
    for (int t = 0; t < m_tiles; t++) tile(t, 0, n_panels);
  }
}

}  // namespace aero
