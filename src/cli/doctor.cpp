// aero doctor: what a user needs to know when something is slow.
#include <cstdio>

#include "cli/commands.h"
#include "core/cpu.h"
#include "core/threads.h"
#include "kernels/gemm.h"

namespace aero::cli {

void add_doctor(CLI::App& app) {
  auto* cmd = app.add_subcommand("doctor", "Show CPU features, the BLAS and kernels chosen, threads");
  cmd->callback([] {
    const CpuInfo& c = cpu_info();
    std::printf("aero %s\n", AERO_VERSION);
    std::printf("cpu:      %s (%s, family %d model %d), %d CPUs usable\n", c.brand.c_str(),
                c.vendor.c_str(), c.family, c.model, c.logical_cpus);
    std::printf("features: %s\n", c.features().c_str());
    std::printf("threads:  %d\n", num_threads());
    const GemmInfo& g = gemm_info();
    std::printf("gemm:     %s %s %s\n", g.backend.c_str(), g.kernel.c_str(), g.threading.c_str());
    if (!g.library.empty()) std::printf("          %s\n", g.library.c_str());
    if (!g.note.empty()) std::printf("          %s\n", g.note.c_str());
  });
}

}  // namespace aero::cli
