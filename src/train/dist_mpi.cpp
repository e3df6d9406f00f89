// The MPI process group (train/dist.h), the only file that includes mpi.h. Built when CMake
// finds MPI (Debian's Open MPI).
//
// A gradient bucket of n floats is summed in nonblocking collectives: an all-to-all hands rank j
// every other rank's copy of its segment of the bucket (its own stays where it is), rank j adds
// them in rank order, and (for an all-reduce) an all-gather returns the sums to every rank; a
// reduce-scatter stops after the add. Unlike MPI_Allreduce, whose algorithms add in an order
// that depends on the segment and the number of ranks, every element is then ((x0 + x1) + x2)
// + ..., as the thread replicas are added (ParamStore::reduce_replicas). The traffic per rank is
// that of a ring all-reduce: 2 (N - 1) / N of the bucket each way (half of it for a
// reduce-scatter). Each bucket has its own communicator, and a progress thread tests the sums
// and gathers in flight while backward and the optimizer run (AERO_DIST_PROGRESS_US).
//
// Waits poll with a deadline (AERO_DIST_TIMEOUT seconds, default 600): a rank that hangs, or a
// link that goes silent, makes the others abort the run with an error naming the wait instead of
// hanging. A rank that dies is seen sooner by mpirun, which ends the others (Open MPI's default
// errors-are-fatal). A process that exits without finalize() (an error) aborts the run.
#include <mpi.h>
#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <memory>
#include <mutex>
#include <thread>

#include "core/error.h"
#include "train/dist.h"

namespace aero {

namespace {

void abort_unless_finalized() {
  int init = 0, fin = 0;
  MPI_Initialized(&init);
  MPI_Finalized(&fin);
  if (init && !fin) MPI_Abort(MPI_COMM_WORLD, 1);
}

class MpiGroup final : public ProcessGroup {
 public:
  MpiGroup() {
    int provided = 0;
    // The main thread and the progress thread call MPI, one at a time (mu_).
    MPI_Init_thread(nullptr, nullptr, MPI_THREAD_SERIALIZED, &provided);
    std::atexit(abort_unless_finalized);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
    MPI_Comm_size(MPI_COMM_WORLD, &size_);
    char host[MPI_MAX_PROCESSOR_NAME] = {};
    int len = 0;
    MPI_Get_processor_name(host, &len);
    host_.assign(host, size_t(len));
    if (const char* t = std::getenv("AERO_DIST_TIMEOUT")) {
      char* end = nullptr;
      timeout_s_ = std::strtod(t, &end);
      AERO_CHECK(end != t && *end == '\0' && timeout_s_ > 0,
                 "[dist] AERO_DIST_TIMEOUT must be a number of seconds above 0, got '", t, "'");
    }
    int pause_us = 100;
    if (const char* t = std::getenv("AERO_DIST_PROGRESS_US")) {
      char* end = nullptr;
      pause_us = int(std::strtol(t, &end, 10));
      AERO_CHECK(end != t && *end == '\0' && pause_us >= 0,
                 "[dist] AERO_DIST_PROGRESS_US must be microseconds (0: no progress thread), got '",
                 t, "'");
    }
    if (size_ > 1 && pause_us > 0 && provided >= MPI_THREAD_SERIALIZED)
      progress_thread_ = std::thread([this, pause_us] { progress_loop(pause_us); });
  }
  ~MpiGroup() override { stop_progress_thread(); }

  int rank() const override { return rank_; }
  int size() const override { return size_; }
  std::string describe() const override {
    char version[MPI_MAX_LIBRARY_VERSION_STRING] = {};
    int len = 0;
    MPI_Get_library_version(version, &len);
    std::string v(version, size_t(len));
    v = v.substr(0, v.find_first_of(",\n"));
    return cat(size_, size_ == 1 ? " rank" : " ranks", " (", v, ")");
  }

  int add_bucket(float* data, int64_t n, const std::vector<std::pair<int64_t, int64_t>>& seg,
                 bool scatter) override {
    AERO_CHECK(n < std::numeric_limits<int>::max(), "[dist] gradient bucket of ", n,
               " floats is too large for one MPI call; lower AERO_DIST_BUCKET_MB");
    AERO_CHECK(int(seg.size()) == size_, "[dist] a bucket needs one segment per rank");
    Bucket b;
    // Its own communicator: a bucket's all-gather starts when its exchange is done, at a moment
    // that differs between ranks, and collectives on one communicator must start in one order.
    MPI_Comm_dup(MPI_COMM_WORLD, &b.comm);
    b.data = data;
    b.n = n;
    b.scatter = scatter;
    for (const auto& [first, end] : seg) {
      b.displs.push_back(int(first));
      b.counts.push_back(int(end - first));
    }
    // Nothing travels to this rank itself: its own copy of its segment is the segment.
    const int mine = b.counts[size_t(rank_)];
    b.send_counts = b.counts;
    b.send_counts[size_t(rank_)] = 0;
    b.recv.assign(size_t(mine) * size_t(size_ - 1), 0.0f);
    for (int j = 0; j < size_; j++) {
      b.recv_counts.push_back(j == rank_ ? 0 : mine);
      b.recv_displs.push_back(recv_slot(j) * mine);
    }
    buckets_.push_back(std::move(b));
    return int(buckets_.size() - 1);
  }

  void start_sum(int i) override {
    Bucket& b = buckets_[size_t(i)];
    AERO_CHECK(b.stage == Stage::idle, "[dist] bucket ", i, " started twice in one step");
    std::lock_guard lock(mu_);
    MPI_Ialltoallv(b.data, b.send_counts.data(), b.displs.data(), MPI_FLOAT, b.recv.data(),
                   b.recv_counts.data(), b.recv_displs.data(), MPI_FLOAT, b.comm, &b.req);
    b.stage = Stage::exchanging;
    active_++;
    wake_.notify_one();
  }

  void start_gather(int i, const float* mine, float* all, int root) override {
    Bucket& b = buckets_[size_t(i)];
    AERO_CHECK(b.stage == Stage::idle, "[dist] bucket ", i, " gathered while busy");
    const int count = b.counts[size_t(rank_)];
    // MPI forbids a send buffer inside the receive buffer unless it says MPI_IN_PLACE.
    const bool receives = root < 0 || root == rank_;
    const void* send = receives && mine == all + b.displs[size_t(rank_)] ? MPI_IN_PLACE : mine;
    std::lock_guard lock(mu_);
    if (root < 0)
      MPI_Iallgatherv(send, count, MPI_FLOAT, all, b.counts.data(), b.displs.data(), MPI_FLOAT,
                      b.comm, &b.req);
    else
      MPI_Igatherv(send, count, MPI_FLOAT, all, b.counts.data(), b.displs.data(), MPI_FLOAT, root,
                   b.comm, &b.req);
    b.stage = Stage::gathering;
    active_++;
    wake_.notify_one();
  }

  // Between backward ops; skipped while the progress thread holds MPI.
  void progress() override {
    std::unique_lock lock(mu_, std::try_to_lock);
    if (lock.owns_lock()) progress_locked();
  }

  void progress_locked() {
    if (active_ == 0) return;
    for (Bucket& b : buckets_) {
      if (b.stage != Stage::exchanging && b.stage != Stage::gathering) continue;
      int done = 0;
      MPI_Test(&b.req, &done, MPI_STATUS_IGNORE);
      if (!done) continue;
      if (b.stage == Stage::exchanging) add_in_rank_order(b);
      if (b.stage == Stage::exchanging && !b.scatter) {
        MPI_Iallgatherv(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, b.data, b.counts.data(),
                        b.displs.data(), MPI_FLOAT, b.comm, &b.req);
        b.stage = Stage::gathering;
      } else {
        b.stage = Stage::done;
        active_--;
      }
    }
  }

  void wait_all() override {
    Poll poll(timeout_s_);
    for (;;) {
      {
        std::lock_guard lock(mu_);
        progress_locked();
        if (active_ == 0) break;
      }
      poll.pause(*this, "summing gradients or gathering weights");
    }
    for (Bucket& b : buckets_) b.stage = Stage::idle;
  }

  std::vector<double> all_gather(const std::vector<double>& mine) override {
    std::vector<double> all(mine.size() * size_t(size_));
    MPI_Request req;
    {
      std::lock_guard lock(mu_);
      MPI_Iallgather(mine.data(), int(mine.size()), MPI_DOUBLE, all.data(), int(mine.size()),
                     MPI_DOUBLE, MPI_COMM_WORLD, &req);
    }
    wait(req, "gathering the step's losses");
    return all;
  }
  std::vector<uint64_t> all_gather(uint64_t mine) override {
    std::vector<uint64_t> all(size_t(size_), 0);
    MPI_Request req;
    {
      std::lock_guard lock(mu_);
      MPI_Iallgather(&mine, 1, MPI_UINT64_T, all.data(), 1, MPI_UINT64_T, MPI_COMM_WORLD, &req);
    }
    wait(req, "comparing the ranks' weights");
    return all;
  }
  void broadcast(double* data, int n) override {
    MPI_Request req;
    {
      std::lock_guard lock(mu_);
      MPI_Ibcast(data, n, MPI_DOUBLE, 0, MPI_COMM_WORLD, &req);
    }
    wait(req, "waiting for rank 0's evaluation");
  }
  uint64_t bit_or(uint64_t flags) override {
    uint64_t all = 0;
    MPI_Request req;
    {
      std::lock_guard lock(mu_);
      MPI_Iallreduce(&flags, &all, 1, MPI_UINT64_T, MPI_BOR, MPI_COMM_WORLD, &req);
    }
    wait(req, "agreeing whether to stop");
    return all;
  }

  void bit_or(uint64_t* words, int64_t n) override {
    AERO_CHECK(n < std::numeric_limits<int>::max(), "[dist] ", n,
               " words are too many for one "
               "MPI call");
    MPI_Request req;
    {
      std::lock_guard lock(mu_);
      MPI_Iallreduce(MPI_IN_PLACE, words, int(n), MPI_UINT64_T, MPI_BOR, MPI_COMM_WORLD, &req);
    }
    wait(req, "combining the gradient norm's partial sums");
  }

  void finalize() override {
    stop_progress_thread();
    int fin = 0;
    MPI_Finalized(&fin);
    if (!fin) MPI_Finalize();
  }

 private:
  enum class Stage { idle, exchanging, gathering, done };
  struct Bucket {
    float* data = nullptr;
    int64_t n = 0;
    bool scatter = false;                       // reduce-scatter: no all-gather after the add
    std::vector<int> counts, displs;            // rank j's segment of the bucket: it sums it
    std::vector<int> send_counts;               // counts, but none to this rank itself
    std::vector<int> recv_counts, recv_displs;  // the other ranks' copies of this rank's segment
    std::vector<float> recv;                    // (size - 1, segment) floats, by recv_slot
    MPI_Comm comm = MPI_COMM_NULL;
    MPI_Request req = MPI_REQUEST_NULL;
    Stage stage = Stage::idle;
  };

  // Where rank j's copy of this rank's segment lands in Bucket::recv (j != rank_).
  int recv_slot(int j) const { return j < rank_ ? j : j - 1; }

  // This rank's segment = rank 0's copy + rank 1's + ..., in that order, element by element;
  // this rank's own copy is the segment itself. The ranks before it are summed in rank 0's slot.
  void add_in_rank_order(Bucket& b) const {
    const int64_t len = b.counts[size_t(rank_)];
    float* out = b.data + b.displs[size_t(rank_)];
    const auto copy = [&](int j) { return b.recv.data() + int64_t(recv_slot(j)) * len; };
    if (rank_ > 0) {
      float* before = copy(0);
      for (int j = 1; j < rank_; j++) {
        const float* x = copy(j);
#pragma omp simd
        for (int64_t i = 0; i < len; i++) before[i] += x[i];
      }
#pragma omp simd
      for (int64_t i = 0; i < len; i++) out[i] = before[i] + out[i];
    }
    for (int j = rank_ + 1; j < size_; j++) {
      const float* x = copy(j);
#pragma omp simd
      for (int64_t i = 0; i < len; i++) out[i] += x[i];
    }
  }

  // Polls as MPI_Wait would (each test moves the transfer on), yielding the core to whoever
  // needs it (a peer rank on the same core), for a second; then a test per millisecond (rank 0
  // evaluating, a slow peer); ends the run at the deadline.
  class Poll {
   public:
    explicit Poll(double timeout_s) : timeout_s_(timeout_s) {}
    void pause(const MpiGroup& g, const char* what) {
      if (++spins_ % 64 == 0) {
        const double s =
            std::chrono::duration<double>(std::chrono::steady_clock::now() - t0_).count();
        if (s > timeout_s_) g.abort_after_timeout(what, s);
        if (s > 1.0) ::usleep(1000);
      }
      ::sched_yield();
    }

   private:
    double timeout_s_;
    int64_t spins_ = 0;
    std::chrono::steady_clock::time_point t0_ = std::chrono::steady_clock::now();
  };

  // Small collectives, started and tested under mu_ (none runs while gradient sums do).
  void wait(MPI_Request& req, const char* what) {
    Poll poll(timeout_s_);
    for (;;) {
      int done = 0;
      {
        std::lock_guard lock(mu_);
        MPI_Test(&req, &done, MPI_STATUS_IGNORE);
      }
      if (done) return;
      poll.pause(*this, what);
    }
  }

  // Open MPI moves a nonblocking collective on only inside MPI calls: while sums are in flight
  // this thread tests them every pause_us, so they advance during backward's long ops too.
  void progress_loop(int pause_us) {
    std::unique_lock lock(mu_);
    while (!quit_) {
      if (active_ == 0) {
        wake_.wait(lock);
        continue;
      }
      progress_locked();
      lock.unlock();
      ::usleep(useconds_t(pause_us));
      lock.lock();
    }
  }
  void stop_progress_thread() {
    if (!progress_thread_.joinable()) return;
    {
      std::lock_guard lock(mu_);
      quit_ = true;
    }
    wake_.notify_one();
    progress_thread_.join();
  }

  [[noreturn]] void abort_after_timeout(const char* what, double s) const {
    std::fprintf(
        stderr,
        "aero: error: [dist] rank %d of %d (%s): no answer from the other ranks for %.0f s "
        "while %s; a rank died or hangs, or the network between them is down. Aborting "
        "the run (AERO_DIST_TIMEOUT=%g seconds)\n",
        rank_, size_, host_.c_str(), s, what, timeout_s_);
    std::fflush(stderr);
    MPI_Abort(MPI_COMM_WORLD, 1);
    std::_Exit(1);
  }

  int rank_ = 0, size_ = 1;
  std::string host_;
  double timeout_s_ = 600;
  std::vector<Bucket> buckets_;
  int active_ = 0;  // buckets started and not done (under mu_)
  std::mutex mu_;   // held around every MPI call once the progress thread runs
  std::condition_variable wake_;
  bool quit_ = false;
  std::thread progress_thread_;
};

}  // namespace

std::unique_ptr<ProcessGroup> make_mpi_group() { return std::make_unique<MpiGroup>(); }

}  // namespace aero
