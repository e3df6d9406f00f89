// The ranks of a data-parallel run over processes: `mpirun -np N aero train ...` starts N copies
// of aero, each a rank holding the whole model and training its slice of every global batch.
// ProcessGroup itself is the one-rank group (a plain `aero train`); the MPI group
// (train/dist_mpi.cpp, built when Open MPI is found) overrides it. No other file includes mpi.h.
//
// Gradient sums are exact and ordered: the sum of x over ranks is ((x0 + x1) + x2) + ..., the
// order in which DataParallel adds the gradient replicas of its parts, so N ranks of one part
// each give the bits of one process training the same N parts (train.data_parallel = N).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace aero {

class ProcessGroup {
 public:
  virtual ~ProcessGroup() = default;
  virtual int rank() const { return 0; }
  virtual int size() const { return 1; }
  virtual std::string describe() const { return "1 process"; }

  // Gradient buckets. add_bucket registers n floats at data (summed in place); start_sum(b)
  // begins bucket b's sum without waiting. Every rank must register the same buckets and start
  // them in the same order. progress() lets started sums advance (called between backward ops);
  // wait_sums() returns when every started sum is done, the result in data on every rank.
  virtual int add_bucket(float* data, int64_t n) { return 0; }
  virtual void start_sum(int bucket) {}
  virtual void progress() {}
  virtual void wait_sums() {}

  // Small agreements (blocking; they time out, see dist_mpi.cpp). all_gather returns every
  // rank's values, rank after rank; broadcast copies rank 0's values to every rank; bit_or
  // combines flags.
  virtual std::vector<double> all_gather(const std::vector<double>& mine) { return mine; }
  virtual std::vector<uint64_t> all_gather(uint64_t mine) { return {mine}; }
  virtual void broadcast(double* data, int n) {}
  virtual uint64_t bit_or(uint64_t flags) { return flags; }

  // Ends the run's communication after a normal exit. A process that exits without it (an
  // error) aborts the whole run instead of leaving the other ranks waiting.
  virtual void finalize() {}
};

// The group of this process: the MPI group when this aero was started by mpirun (and built
// with MPI), else one rank. Started on first use; an error when mpirun started several copies of
// an aero built without MPI (they would all train alone into the same directory).
ProcessGroup& process_group();

// Whether this build can run over MPI.
bool mpi_built();

// Ranks the launcher says it started (Open MPI's OMPI_COMM_WORLD_SIZE, PMI_SIZE of MPICH and
// Slurm), 0 when not started by one.
int launcher_world_size();
// Ranks the launcher started on this machine (OMPI_COMM_WORLD_LOCAL_SIZE, MPI_LOCALNRANKS), 1
// when not started by one.
int launcher_local_size();

}  // namespace aero
