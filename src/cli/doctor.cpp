// aero doctor: what a user needs to know when something is slow. It prints what was detected and
// chosen, then measures this machine's limits (FMA peak, memory bandwidth) next to the sgemm
// rates that training actually gets, in about two seconds.
#include <cstdio>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "core/cpu.h"
#include "core/threads.h"
#include "kernels/gemm.h"
#include "kernels/gemm_bf16.h"
#include "kernels/peak.h"
#include "kernels/quant.h"

namespace aero::cli {
namespace {

struct GemmProbe {
  const char* label;
  bool ta, tb;
  int M, N, K;
};

// 1024^3 shows the BLAS at its best; 4096x192x64 is seed-tiny's qkv projection (32 x 128 tokens,
// C = 64), where small K is what training spends its time on.
const GemmProbe kProbes[] = {{"1024x1024x1024", false, false, 1024, 1024, 1024},
                             {"4096x192x64", false, true, 4096, 192, 64}};

// 1-minute load average, or -1 where /proc is missing.
double load_average() {
  double load = -1;
  if (std::FILE* f = std::fopen("/proc/loadavg", "r")) {
    if (std::fscanf(f, "%lf", &load) != 1) load = -1;
    std::fclose(f);
  }
  return load;
}

std::string amx_status(const CpuInfo& c) {
  if (!c.amx_tile) return "not available (CPU or OS)";
  return c.amx_enabled ? "requested, granted by the kernel" : "requested, refused by the kernel";
}

void run_doctor(bool json, bool measure) {
  request_amx();  // so that the AMX line reports what a training run would get
  const CpuInfo& c = cpu_info();
  const int threads = num_threads();
  const GemmInfo& g = gemm_info();

  std::vector<std::string> warnings;
  if (!g.warning.empty()) warnings.push_back(g.warning);
  if (threads > c.usable_cpus)
    warnings.push_back(std::to_string(threads) + " threads on " + std::to_string(c.usable_cpus) +
                       " usable CPUs: oversubscribed (AERO_THREADS / OMP_NUM_THREADS)");

  const double load = load_average();
  if (measure && load > c.usable_cpus + 0.5)  // the load average includes recent runs of aero
    warnings.push_back("load average " + std::to_string(load).substr(0, 4) + " on " +
                       std::to_string(c.usable_cpus) +
                       " CPUs: other work shares the cores, so the measured rates are low");
  FmaPeak fma1, fma, dot;  // dot: vdpbf16ps, where the CPU has it
  Bandwidth bw;
  std::vector<GemmRate> rates;
  // The bf16 kernel train.precision = bf16 would use ("none": that trains in fp32), measured on
  // the first probe's shape next to sgemm's rate.
  const bool bf16_hw = bf16_hardware();
  const std::string bf16_path = bf16_hw ? bf16_kernel_name(bf16_kernel()) : "none";
  GemmRate bf16_rate;
  if (measure) {
    fma1 = measure_fma_peak(1);
    fma = threads == 1 ? fma1 : measure_fma_peak(threads);
    dot = measure_bf16_dot_peak(threads);
    for (const GemmProbe& p : kProbes)
      rates.push_back(measure_sgemm(p.ta, p.tb, p.M, p.N, p.K, 0.0f, 0.25));
    if (bf16_hw)
      bf16_rate = measure_sgemm(kProbes[0].ta, kProbes[0].tb, kProbes[0].M, kProbes[0].N,
                                kProbes[0].K, 0.0f, 0.25, false, /*bf16=*/true);
    bw = measure_bandwidth(threads);
    if (fma.gflops > 0 && rates[0].best_gflops < 0.3 * fma.gflops)
      warnings.push_back("sgemm at 1024^3 reaches only " +
                         std::to_string(int(100 * rates[0].best_gflops / fma.gflops)) +
                         "% of the FMA peak (or the cores are busy: run again)");
  }

  if (json) {
    nlohmann::json j;
    j["version"] = AERO_VERSION;
    j["cpu"] = {
        {"brand", c.brand},
        {"vendor", c.vendor},
        {"family", c.family},
        {"model", c.model},
        {"features", c.features()},
        {"logical_cpus", c.logical_cpus},
        {"usable_cpus", c.usable_cpus},
        {"amx",
         {{"supported", c.amx_tile}, {"requested", c.amx_requested}, {"granted", c.amx_enabled}}}};
    j["threads"] = threads;
    j["engine_kernels"] = {qmatmul_kernel(QFormat::f32), qmatmul_kernel(QFormat::bf16),
                           qmatmul_kernel(QFormat::q8)};
    j["bf16"] = {{"kernel", bf16_path}};
    if (measure && bf16_hw) {
      j["bf16"]["shape"] = kProbes[0].label;
      j["bf16"]["gflops"] = bf16_rate.best_gflops;
      j["bf16"]["median_gflops"] = bf16_rate.median_gflops;
      j["bf16"]["ratio_to_sgemm"] = bf16_rate.best_gflops / rates[0].best_gflops;
    }
    if (measure && dot.gflops > 0) j["bf16"]["vdpbf16ps_peak_gflops"] = dot.gflops;
    j["load_average"] = load;
    j["gemm"] = {{"backend", g.backend}, {"library", g.library},     {"kernel", g.kernel},
                 {"config", g.config},   {"threading", g.threading}, {"note", g.note}};
    if (measure) {
      j["fma_peak_gflops"] = {
          {"1", fma1.gflops}, {std::to_string(threads), fma.gflops}, {"isa", fma.isa}};
      nlohmann::json s = nlohmann::json::array();
      for (size_t i = 0; i < rates.size(); i++)
        s.push_back({{"shape", kProbes[i].label},
                     {"trans_a", kProbes[i].ta},
                     {"trans_b", kProbes[i].tb},
                     {"gflops", rates[i].best_gflops},
                     {"median_gflops", rates[i].median_gflops},
                     {"percent_of_fma_peak", 100 * rates[i].best_gflops / fma.gflops}});
      j["sgemm"] = s;
      j["memory_gbs"] = {{"read", bw.read_gbs},
                         {"copy", bw.copy_gbs},
                         {"triad", bw.triad_gbs},
                         {"buffer_mib", bw.bytes >> 20}};
    }
    j["warnings"] = warnings;
    std::printf("%s\n", j.dump(2).c_str());
    return;
  }

  std::printf("aero %s\n", AERO_VERSION);
  std::printf("cpu:       %s (%s, family %d model %d)\n", c.brand.c_str(), c.vendor.c_str(),
              c.family, c.model);
  std::printf("features:  %s\n", c.features().c_str());
  std::printf("amx:       %s\n", amx_status(c).c_str());
  std::printf("threads:   %d (%d CPUs usable, %d in the affinity mask)\n", threads, c.usable_cpus,
              c.logical_cpus);
  std::printf("bf16:      %s\n",
              bf16_hw ? (bf16_path + " (train.precision = bf16 multiplies on it)").c_str()
                      : "none: no AVX512-BF16 or AMX (train.precision = bf16 trains in fp32)");
  std::printf("engine:    %s; %s; %s\n", qmatmul_kernel(QFormat::f32).c_str(),
              qmatmul_kernel(QFormat::bf16).c_str(), qmatmul_kernel(QFormat::q8).c_str());
  std::printf("gemm:      %s, kernel %s, threading %s\n", g.backend.c_str(),
              g.kernel.empty() ? "?" : g.kernel.c_str(), g.threading.c_str());
  if (!g.library.empty()) std::printf("library:   %s\n", g.library.c_str());
  if (!g.config.empty()) std::printf("config:    %s\n", g.config.c_str());
  if (!g.note.empty()) std::printf("chosen:    %s\n", g.note.c_str());
  if (measure) {
    std::printf("fma peak:  %.0f GFLOP/s on %d threads (%s), %.0f on 1 thread\n", fma.gflops,
                threads, fma.isa.c_str(), fma1.gflops);
    if (dot.gflops > 0)
      std::printf(
          "bf16 dot:  %.0f GFLOP/s on %d threads (vdpbf16ps peak, %.2fx the FMA's: the "
          "avx512-bf16 kernel's limit)\n",
          dot.gflops, threads, dot.gflops / fma.gflops);
    for (size_t i = 0; i < rates.size(); i++)
      std::printf("sgemm:     %-15s %s%s %6.0f GFLOP/s = %3.0f%% of the FMA peak\n",
                  kProbes[i].label, kProbes[i].ta ? "T" : "N", kProbes[i].tb ? "T" : "N",
                  rates[i].best_gflops, 100 * rates[i].best_gflops / fma.gflops);
    if (bf16_hw) {
      std::printf("bf16:      %-15s NN %6.0f GFLOP/s = %.2fx sgemm (kernel %s, fp32 sums",
                  kProbes[0].label, bf16_rate.best_gflops,
                  bf16_rate.best_gflops / rates[0].best_gflops, bf16_path.c_str());
      if (bf16_path == "avx512-bf16" && dot.gflops > 0)
        std::printf(", %.0f%% of the vdpbf16ps peak", 100 * bf16_rate.best_gflops / dot.gflops);
      std::printf(")\n");
    }
    std::printf("memory:    read %.1f GB/s, copy %.1f GB/s, triad %.1f GB/s (%zu MiB buffer)\n",
                bw.read_gbs, bw.copy_gbs, bw.triad_gbs, bw.bytes >> 20);
    std::printf("           (best of short repeats; other work on these cores lowers them)\n");
  }
  for (const std::string& w : warnings) std::printf("warning:   %s\n", w.c_str());
}

}  // namespace

void add_doctor(CLI::App& app) {
  auto* cmd = app.add_subcommand("doctor",
                                 "Show CPU features, the BLAS and kernels chosen, threads, "
                                 "and measured FMA peak, sgemm rate and memory bandwidth");
  static bool json = false, no_measure = false;
  cmd->add_flag("--json", json, "Print one JSON object instead of text");
  cmd->add_flag("--no-measure", no_measure, "Skip the measurements (about two seconds)");
  cmd->callback([] { run_doctor(json, !no_measure); });
}

}  // namespace aero::cli
