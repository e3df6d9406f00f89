#include "train/dist.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <memory>

#include "core/error.h"

namespace aero {

#ifdef AERO_HAVE_MPI
std::unique_ptr<ProcessGroup> make_mpi_group();  // dist_mpi.cpp
bool mpi_built() { return true; }
#else
bool mpi_built() { return false; }
#endif

int ProcessGroup::add_bucket(float*, int64_t n, const std::vector<std::pair<int64_t, int64_t>>&,
                             bool) {
  bucket_floats_.push_back(n);
  return int(bucket_floats_.size() - 1);
}

void ProcessGroup::start_gather(int bucket, const float* mine, float* all, int) {
  if (all && mine != all)
    std::memcpy(all, mine, size_t(bucket_floats_[size_t(bucket)]) * sizeof(float));
}

int launcher_world_size() {
  for (const char* name : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_SIZE"})
    if (const char* v = std::getenv(name)) return std::atoi(v);
  return 0;
}

int launcher_local_size() {
  for (const char* name : {"OMPI_COMM_WORLD_LOCAL_SIZE", "MPI_LOCALNRANKS"})
    if (const char* v = std::getenv(name)) return std::max(1, std::atoi(v));
  return 1;
}

ProcessGroup& process_group() {
  static const std::unique_ptr<ProcessGroup> group = []() -> std::unique_ptr<ProcessGroup> {
    const int n = launcher_world_size();
#ifdef AERO_HAVE_MPI
    if (n > 0) return make_mpi_group();
#else
    AERO_CHECK(n <= 1, "[dist] started by mpirun as one of ", n,
               " processes, but this aero was built without MPI; install Open MPI "
               "(apt-get install libopenmpi-dev openmpi-bin) and rebuild");
#endif
    return std::make_unique<ProcessGroup>();
  }();
  return *group;
}

}  // namespace aero
