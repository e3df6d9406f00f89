#include "core/cpu.h"

#include <cpuid.h>
#include <omp.h>
#include <sched.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <fstream>
#include <mutex>

namespace aero {
namespace {

void cpuid(unsigned leaf, unsigned sub, unsigned r[4]) {
  __cpuid_count(leaf, sub, r[0], r[1], r[2], r[3]);
}

unsigned long long xgetbv0() {
  unsigned lo, hi;
  __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
  return (static_cast<unsigned long long>(hi) << 32) | lo;
}

// CPUs' worth of time a container may use (cgroup v2 cpu.max, else v1 CFS quota); 0: no limit.
double cgroup_cpu_quota() {
  std::ifstream v2("/sys/fs/cgroup/cpu.max");
  std::string quota;
  double period = 0;
  if (v2 >> quota >> period)
    return quota == "max" || period <= 0 ? 0 : std::atof(quota.c_str()) / period;
  std::ifstream q1("/sys/fs/cgroup/cpu/cpu.cfs_quota_us"),
      p1("/sys/fs/cgroup/cpu/cpu.cfs_period_us");
  double q = 0;
  if (q1 >> q && p1 >> period && q > 0 && period > 0) return q / period;
  return 0;
}

CpuInfo detect() {
  CpuInfo c;
  unsigned r[4];
  cpuid(0, 0, r);
  unsigned max_leaf = r[0];
  char vendor[13] = {};
  std::memcpy(vendor, &r[1], 4);
  std::memcpy(vendor + 4, &r[3], 4);
  std::memcpy(vendor + 8, &r[2], 4);
  c.vendor = vendor;

  cpuid(1, 0, r);
  unsigned base_family = (r[0] >> 8) & 0xf, base_model = (r[0] >> 4) & 0xf;
  c.family =
      static_cast<int>(base_family == 0xf ? base_family + ((r[0] >> 20) & 0xff) : base_family);
  c.model =
      static_cast<int>(base_family >= 0x6 ? base_model + (((r[0] >> 16) & 0xf) << 4) : base_model);
  bool osxsave = r[2] & (1u << 27);
  c.fma = r[2] & (1u << 12);
  c.f16c = r[2] & (1u << 29);
  bool avx = r[2] & (1u << 28);
  unsigned long long xcr0 = osxsave ? xgetbv0() : 0;
  bool os_avx = (xcr0 & 0x6) == 0x6;
  bool os_avx512 = (xcr0 & 0xe6) == 0xe6;
  bool os_amx = (xcr0 & 0x60000) == 0x60000;

  if (max_leaf >= 7) {
    cpuid(7, 0, r);
    unsigned ebx = r[1], ecx = r[2], edx = r[3];
    c.avx2 = avx && os_avx && (ebx & (1u << 5));
    if (os_avx512) {
      c.avx512f = ebx & (1u << 16);
      c.avx512dq = ebx & (1u << 17);
      c.avx512bw = ebx & (1u << 30);
      c.avx512vl = ebx & (1u << 31);
      c.avx512_vnni = ecx & (1u << 11);
    }
    // XCR0 bits 17/18 say the OS manages tile state; the process must still ask for it.
    c.amx_bf16 = os_amx && (edx & (1u << 22));
    c.amx_tile = os_amx && (edx & (1u << 24));
    c.amx_int8 = os_amx && (edx & (1u << 25));
    cpuid(7, 1, r);
    c.avx_vnni = os_avx && (r[0] & (1u << 4));
    c.avx512_bf16 = os_avx512 && (r[0] & (1u << 5));
  }
  c.avx = avx && os_avx;
  if (!c.fma || !os_avx) c.fma = false;

  cpuid(0x80000000, 0, r);
  if (r[0] >= 0x80000004) {
    char brand[49] = {};
    for (unsigned i = 0; i < 3; i++) {
      cpuid(0x80000002 + i, 0, r);
      std::memcpy(brand + 16 * i, r, 16);
    }
    c.brand = brand;
    while (!c.brand.empty() && c.brand.back() == ' ') c.brand.pop_back();
    size_t s = c.brand.find_first_not_of(' ');
    c.brand = s == std::string::npos ? "" : c.brand.substr(s);
  }

  cpu_set_t set;
  CPU_ZERO(&set);
  c.logical_cpus = sched_getaffinity(0, sizeof(set), &set) == 0
                       ? CPU_COUNT(&set)
                       : static_cast<int>(sysconf(_SC_NPROCESSORS_ONLN));
  // Under OMP_PROC_BIND libgomp binds the main thread to one place as it loads, before main():
  // this thread's mask then shows one CPU (aero ran on one thread, half speed), while
  // omp_get_num_procs() still counts the mask the process started with (taskset included).
  c.logical_cpus = std::max(c.logical_cpus, omp_get_num_procs());
  if (c.logical_cpus < 1) c.logical_cpus = 1;
  c.usable_cpus = c.logical_cpus;
  if (double q = cgroup_cpu_quota(); q > 0)
    c.usable_cpus = std::max(1, std::min(c.logical_cpus, static_cast<int>(std::ceil(q))));
  return c;
}

CpuInfo& mutable_info() {
  static CpuInfo info = detect();
  return info;
}

}  // namespace

const CpuInfo& cpu_info() { return mutable_info(); }

bool request_amx() {
  static std::once_flag once;
  static bool granted = false;
  std::call_once(once, [] {
    CpuInfo& c = mutable_info();
    c.amx_requested = true;
    if (!c.amx_tile) return;
#if defined(__linux__) && defined(SYS_arch_prctl)
    constexpr int kArchGetXcompPerm = 0x1022, kArchReqXcompPerm = 0x1023;
    constexpr int kXfeatureXtiledata = 18;
    unsigned long long perm = 0;
    // Granted only if the request succeeds and the permitted set then holds tile data.
    granted = syscall(SYS_arch_prctl, kArchReqXcompPerm, kXfeatureXtiledata) == 0 &&
              syscall(SYS_arch_prctl, kArchGetXcompPerm, &perm) == 0 &&
              (perm & (1ull << kXfeatureXtiledata));
#endif
    c.amx_enabled = granted;
  });
  return granted;
}

std::string CpuInfo::features() const {
  std::string s;
  auto add = [&](bool on, const char* name) {
    if (on) s += s.empty() ? name : std::string(" ") + name;
  };
  add(avx, "avx");
  add(avx2, "avx2");
  add(fma, "fma");
  add(f16c, "f16c");
  add(avx512f, "avx512f");
  add(avx512bw, "avx512bw");
  add(avx512vl, "avx512vl");
  add(avx512dq, "avx512dq");
  add(avx512_vnni, "avx512_vnni");
  add(avx512_bf16, "avx512_bf16");
  add(avx_vnni, "avx_vnni");
  if (amx_tile)
    s += std::string(" amx(") + (amx_int8 ? "int8 " : "") + (amx_bf16 ? "bf16 " : "") +
         (amx_enabled     ? "granted)"
          : amx_requested ? "refused by the kernel)"
                          : "not requested)");
  return s.empty() ? "none beyond x86-64 baseline" : s;
}

}  // namespace aero
