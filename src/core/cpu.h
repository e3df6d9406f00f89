// What the CPU offers, read with cpuid/xgetbv (never by trying an instruction), so that
// every fast path can be chosen at run time without risking SIGILL.
#pragma once
#include <string>

namespace aero {

struct CpuInfo {
  std::string vendor;  // "GenuineIntel", "AuthenticAMD", ...
  std::string brand;   // "AMD EPYC 9B45", ...
  int family = 0, model = 0;
  bool avx = false, avx2 = false, fma = false, f16c = false;
  bool avx512f = false, avx512bw = false, avx512vl = false, avx512dq = false;
  bool avx512_vnni = false, avx512_bf16 = false, avx_vnni = false;
  bool amx_tile = false, amx_int8 = false, amx_bf16 = false;  // CPU support (cpuid)
  bool amx_requested = false;                                 // request_amx() was called
  bool amx_enabled = false;  // kernel granted AMX tile state to this process
  int logical_cpus = 1;      // CPUs this process may run on (affinity mask it started with)
  int usable_cpus = 1;       // logical_cpus capped by a cgroup CPU quota (containers)

  std::string features() const;  // "avx avx2 fma avx512f ... amx(int8 bf16 not requested)"
};

// Detected once; thread-safe.
const CpuInfo& cpu_info();

// Asks the Linux kernel for AMX tile state (ARCH_REQ_XCOMP_PERM). Returns true when AMX
// instructions may be used by this process. Safe to call on any CPU.
bool request_amx();

}  // namespace aero
