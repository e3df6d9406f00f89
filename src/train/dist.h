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
#include <utility>
#include <vector>

namespace aero {

class ProcessGroup {
 public:
  virtual ~ProcessGroup() = default;
  virtual int rank() const { return 0; }
  virtual int size() const { return 1; }
  virtual std::string describe() const { return "1 process"; }

  // Gradient buckets. add_bucket registers n floats at data and the segment [first, second) of
  // them that each rank owns (seg[j]: rank j's; together they cover the bucket). start_sum(b)
  // begins bucket b's sum without waiting: every rank ends with the whole sum in data
  // (all-reduce), or with scatter, each rank with its own segment's sum only (reduce-scatter;
  // the rest of data is left as it was). Every rank must register the same buckets and start
  // them in the same order. progress() lets started sums advance (called between backward ops).
  virtual int add_bucket(float* data, int64_t n,
                         const std::vector<std::pair<int64_t, int64_t>>& seg, bool scatter);
  virtual void start_sum(int bucket) {}
  virtual void progress() {}
  // Begins gathering the segments of a buffer laid out like bucket b: `mine` holds this rank's
  // segment, `all` receives the bucket's n floats on every rank (root < 0: an all-gather) or on
  // rank `root` only (elsewhere it may be null). mine may be all's own segment (in place).
  virtual void start_gather(int bucket, const float* mine, float* all, int root);
  // Returns when every started sum and gather is done.
  virtual void wait_all() {}

  // Small agreements (blocking; they time out, see dist_mpi.cpp). all_gather returns every
  // rank's values, rank after rank; broadcast copies rank 0's values to every rank; bit_or
  // combines flags.
  virtual std::vector<double> all_gather(const std::vector<double>& mine) { return mine; }
  virtual std::vector<uint64_t> all_gather(uint64_t mine) { return {mine}; }
  virtual void broadcast(double* data, int n) {}
  virtual uint64_t bit_or(uint64_t flags) { return flags; }
  // Element by element over n words, in place (exact and in any order: the ranks' words are
  // combined bit by bit).
  virtual void bit_or(uint64_t* words, int64_t n) {}

  // Ends the run's communication after a normal exit. A process that exits without it (an
  // error) aborts the whole run instead of leaving the other ranks waiting.
  virtual void finalize() {}

 private:
  std::vector<int64_t> bucket_floats_;  // one rank: a bucket is its own segment
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
