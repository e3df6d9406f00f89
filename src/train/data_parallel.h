// Data-parallel training passes, for models whose ops are too small for op-level threading to
// pay (char-small: a 768 x 128 x 128 matmul is over before two threads have met). The batch is
// cut into `parts` row ranges; part k runs forward and backward on its own thread with its own
// tape, every kernel inside single-threaded, and accumulates parameter gradients into its own
// replica (ParamStore::set_replicas). The replicas are then added into the store's gradients in
// part order, so the result depends on the number of parts but never on timing. One fork and one
// join per pass instead of one per op.
#pragma once
#include <omp.h>

#include <algorithm>
#include <exception>
#include <memory>
#include <vector>

#include "autograd/tape.h"
#include "nn/params.h"

namespace aero {

class DataParallel {
 public:
  // parts == 1: one tape on the caller's thread, kernels threaded as usual.
  DataParallel(ParamStore& store, int parts) : store_(store) {
    AERO_CHECK(parts >= 1, "[train] data-parallel parts must be at least 1, got ", parts);
    for (int k = 0; k < parts; k++) {
      tapes_.push_back(std::make_unique<Tape>());
      tapes_.back()->grad_replica = k;
    }
    store_.set_replicas(parts - 1);
  }
  int parts() const { return int(tapes_.size()); }
  Tape& tape(int k) { return *tapes_[size_t(k)]; }

  // Row range [begin, end) of part k when `rows` rows are cut into parts(): as even as can be,
  // earlier parts one longer.
  int64_t begin(int k, int64_t rows) const { return part_begin(k, parts(), rows); }
  // The same for part k of n (ranks over processes cut a batch into ranks x parts).
  static int64_t part_begin(int k, int n, int64_t rows) {
    const int64_t base = rows / n, extra = rows % n;
    return k * base + std::min<int64_t>(k, extra);
  }

  // Runs fn(k, tape(k)) for every part k (parts spread over the threads, each part on one), then
  // adds the gradient replicas into the store's gradients. An exception in any part is rethrown
  // here after all parts finish.
  template <typename F>
  void run(F&& fn) {
    const int n = parts();
    if (n == 1) {
      fn(0, tape(0));
      return;
    }
    std::vector<std::exception_ptr> errors(static_cast<size_t>(n));
    const int threads = std::max(1, std::min(n, omp_get_max_threads()));
#pragma omp parallel for num_threads(threads) schedule(static, 1)
    for (int k = 0; k < n; k++) {
      try {
        fn(k, tape(k));
      } catch (...) {
        errors[size_t(k)] = std::current_exception();
      }
    }
    for (auto& e : errors)
      if (e) std::rethrow_exception(e);
    store_.reduce_replicas();
  }

 private:
  ParamStore& store_;
  std::vector<std::unique_ptr<Tape>> tapes_;
};

}  // namespace aero
