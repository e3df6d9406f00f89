// infer_bench: the inference engine on a GPT-2-124M-shaped model (12 layers, 768 wide, 12 heads,
// vocab 50257, learned positions, LayerNorm, GELU, tied head) with random weights, beside
// llama.cpp's numbers for the same shape on this machine (2 threads).
//
//   infer_bench [--formats f32,bf16,q8] [--decode N] [--repeat R] [--quick] [--cpu-time]
//
// Per format: prefill tokens/s at prompt 64 and 512 (logits of the last position only, as
// llama.cpp's prompt processing), decode tokens/s over N new tokens at batch 1, and the decode
// ceiling set by memory bandwidth (weights read per token / measured read GB/s). Batched decode:
// aggregate tokens/s with 8 sequences against 1. Best of R runs (the cores may be shared).
// --quick: a 2-layer model for a smoke test. --cpu-time: times by CPU time per thread (see
// bench/bandwidth), for a machine shared with other work.
#include <omp.h>

#include <unistd.h>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>

#include "core/threads.h"
#include "infer/engine.h"
#include "kernels/peak.h"
#include "kernels/quant.h"
#include "models/export_gguf.h"
#include "models/gpt.h"
#include "tokenizer/char_tokenizer.h"

using namespace aero;

namespace {

bool g_cpu_time = false;

// Wall clock, or with --cpu-time the process's CPU time divided by the thread count: an
// estimate of the idle-machine time when other work shares the cores (threads sleep at
// barriers: OMP_WAIT_POLICY=passive).
double now() {
  if (g_cpu_time) {
    timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double(ts.tv_sec) + 1e-9 * double(ts.tv_nsec)) / num_threads();
  }
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

struct Reference {
  double prefill64 = 0, prefill512 = 0, decode = 0;  // tokens/s, 2 threads, same shape
  std::string source;
  // Measured only (bench/llama_cpp_bench.mjs): decode by llama.cpp's own eval timer, and through
  // node-llama-cpp's evaluate() generator instead of the addon calls; 0 when absent.
  double decode_native = 0, decode_highlevel = 0;
};

// llama.cpp's numbers for the same shape on this machine as the issue gives them.
Reference llama_cpp_issue(WeightFormat f) {
  switch (f) {
    case WeightFormat::f32:
      return {0, 660, 45, "issue #5"};
    case WeightFormat::q8:
      return {0, 1070, 157, "issue #5"};
    default:
      return {};
  }
}

// llama.cpp measured now on the same weights: exported to GGUF (f32 / q8_0) and timed by
// bench/llama_cpp_bench.mjs through node-llama-cpp's prebuilt library (scripts/llama-cpp.sh).
Reference llama_cpp_measured(const GptConfig& cfg, const ParamStore& store, WeightFormat f,
                             const std::string& script, int threads, int decode, int repeat) {
  if (f == WeightFormat::bf16) return {};  // compared as f32 and q8_0 only
  const std::string dir = "/tmp/aero-infer-bench-" + std::to_string(getpid());
  std::filesystem::create_directories(dir);
  std::set<char32_t> chars;
  collect_chars("abcdefghijklmnopqrstuvwxyz .,\n", chars);  // llama.cpp needs "\n"
  CharTokenizer::from_chars(chars).save(dir + "/tok.json");
  GgufExportOptions opt;
  opt.type = f == WeightFormat::q8 ? "q8_0" : "f32";
  opt.tokenizer = dir + "/tok.json";
  const std::string gguf = dir + "/model-" + opt.type + ".gguf";
  export_gguf(cfg.spec(), store, gguf, opt);
  const char* llama_dir = std::getenv("AERO_NODE_LLAMA_CPP");  // bench/infer.sh sets it
  const std::string node = llama_dir ? std::string(llama_dir) + "/bin/node" : "node";
  const std::string cmd = "'" + node + "' '" + script + "' '" + gguf + "' " +
                          std::to_string(threads) + " " + std::to_string(decode) + " " +
                          std::to_string(repeat);
  std::string out;
  if (FILE* p = popen(cmd.c_str(), "r")) {
    char buf[4096];
    while (std::fgets(buf, sizeof buf, p)) out += buf;
    pclose(p);
  }
  if (!std::getenv("AERO_KEEP_GGUF")) std::filesystem::remove_all(dir);
  Reference r;
  try {
    auto j = nlohmann::json::parse(out);
    r = {j.at("prefill64"), j.at("prefill512"), j.at("decode"), "measured " + opt.type};
    r.decode_native = j.value("decode_native", 0.0);
    r.decode_highlevel = j.value("decode_highlevel", 0.0);
    if (!j.value("greedy_match", true))
      std::fprintf(stderr, "infer_bench: llama.cpp's two decode paths picked different tokens\n");
  } catch (const std::exception&) {
    std::fprintf(stderr, "infer_bench: llama.cpp run failed (%s); using the issue's numbers\n",
                 cmd.c_str());
    r = llama_cpp_issue(f);
  }
  return r;
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
  std::string llama_script;  // bench/llama_cpp_bench.mjs: run llama.cpp on the same weights
  for (int i = 1; i < argc; i++) {
    if (!std::strcmp(argv[i], "--formats") && i + 1 < argc) {
      formats = argv[++i];
    } else if (!std::strcmp(argv[i], "--decode") && i + 1 < argc) {
      decode = std::max(1, std::atoi(argv[++i]));
    } else if (!std::strcmp(argv[i], "--repeat") && i + 1 < argc) {
      repeat = std::max(1, std::atoi(argv[++i]));
    } else if (!std::strcmp(argv[i], "--quick")) {
      quick = true;
    } else if (!std::strcmp(argv[i], "--cpu-time")) {
      g_cpu_time = true;
    } else if (!std::strcmp(argv[i], "--llama-cpp") && i + 1 < argc) {
      llama_script = argv[++i];
    } else {
      std::fprintf(stderr,
                   "usage: infer_bench [--formats f32,bf16,q8] [--decode N] [--repeat R] "
                   "[--quick] [--cpu-time] [--llama-cpp bench/llama_cpp_bench.mjs]\n");
      return 2;
    }
  }
  if (g_cpu_time) {
    reexec_with_env(argv, "OMP_WAIT_POLICY", "passive");
    set_probe_clock(ProbeClock::cpu);
  }
  GptConfig cfg;
  cfg.vocab_size = 50257;
  cfg.block_size = 1024;
  cfg.n_layer = quick ? 2 : 12;
  cfg.n_head = 12;
  cfg.n_embd = 768;
  cfg.ffn_hidden = 3072;
  cfg.pos = PosKind::learned;
  cfg.norm = NormKind::layernorm;
  cfg.act = ActKind::gelu;
  cfg.bias = true;
  cfg.tie_head = true;
  ParamStore store;
  Gpt gpt(cfg, store);
  store.finalize(1, /*gradients=*/false);  // inference only, as aero generate loads it

  const int threads = num_threads();
  const double read_gbs = measure_bandwidth(threads).read_gbs;
  std::printf("GPT-2-124M shape (%d layers), %d threads, read bandwidth %.1f GB/s, %s\n",
              cfg.n_layer, threads, read_gbs, g_cpu_time ? "CPU time per thread" : "wall clock");
  std::printf("%-5s %-18s %9s %9s %9s %10s\n", "fmt", "engine", "pf64 t/s", "pf512 t/s", "dec t/s",
              "dec/ceiling");
  std::stringstream ss(formats);
  for (std::string name; std::getline(ss, name, ',');) {
    WeightFormat f = parse_weight_format(name);
    InferenceModel m(gpt_model_config(cfg), store, f);
    const std::string kernel = qmatmul_kernel(f == WeightFormat::f32    ? QFormat::f32
                                              : f == WeightFormat::bf16 ? QFormat::bf16
                                                                        : QFormat::q8);
    double pf64 = prefill_rate(m, 64, repeat);
    double pf512 = prefill_rate(m, 512, repeat);
    double dec = decode_rate(m, 1, decode, repeat);
    double ceiling = read_gbs * 1e9 / double(m.weight_bytes());
    std::printf("%-5s %-18s %9.1f %9.1f %9.1f %9.0f%%   (%s; %.1f MB/token, ceiling %.1f t/s)\n",
                name.c_str(), "aero", pf64, pf512, dec, 100.0 * dec / ceiling, kernel.c_str(),
                double(m.weight_bytes()) / 1e6, ceiling);
    Reference ref = llama_script.empty()
                        ? llama_cpp_issue(f)
                        : llama_cpp_measured(cfg, store, f, llama_script, threads, decode, repeat);
    if (ref.prefill512 > 0) {
      auto ratio = [](double a, double b) { return b > 0 ? a / b : 0.0; };
      std::printf("%-5s %-18s %9.1f %9.1f %9.1f\n", "", ("llama.cpp " + ref.source).c_str(),
                  ref.prefill64, ref.prefill512, ref.decode);
      std::printf("%-5s %-18s %8.2fx %8.2fx %8.2fx\n", "", "aero / llama.cpp",
                  ratio(pf64, ref.prefill64), ratio(pf512, ref.prefill512), ratio(dec, ref.decode));
      if (ref.decode_native > 0)
        std::printf(
            "      llama.cpp decode: %.1f t/s by its own eval timer, %.1f t/s through "
            "node-llama-cpp's evaluate()\n",
            ref.decode_native, ref.decode_highlevel);
    }
    double b1 = decode_rate(m, 1, decode / 2, repeat), b8 = decode_rate(m, 8, decode / 2, repeat);
    std::printf("      batched decode: 1 seq %.1f t/s, 8 seqs %.1f t/s aggregate (%.2fx)\n", b1, b8,
                b8 / b1);
  }
  return 0;
}
