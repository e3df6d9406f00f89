// The one thread that runs the Generator (any model's: infer/generator.h). Requests wait in one
// bounded queue; between engine steps the scheduler moves them into the engine (continuous
// batching, up to max_batch sequences), cancels those whose client left or whose deadline passed,
// and steps. Callbacks run on the scheduler thread and must only hand their data over (e.g.
// asio::post to a connection).
#pragma once
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "infer/generator.h"
#include "server/metrics.h"

namespace aero::server {

struct JobResult {
  std::string text;
  int prompt_tokens = 0;
  int completion_tokens = 0;
  std::string finish;  // "length" | "eos" | "stop" | "context" | "cancelled" | "timeout" | "error"
  std::string error;   // when finish is "error"
};

struct Job {
  std::vector<int32_t> prompt;
  GenerateOpts opts;
  std::chrono::steady_clock::time_point deadline;
  std::function<void(const std::string& text)> on_text;
  std::function<void(const std::string& draft)> on_draft;  // SeqRequest::on_draft; may be empty
  std::function<void(const JobResult&)> on_done;           // exactly once
  std::shared_ptr<const ServedAdapter> adapter;            // null: the base model
};

// What a connection keeps to cancel its job from any thread: the scheduler checks the flag
// between steps.
struct JobTicket {
  std::atomic<bool> cancelled{false};
};

class Scheduler {
 public:
  // `load` runs on the scheduler thread and returns the engine (model loading takes a while;
  // the server answers /health with 503 until it is done). If it throws, `on_load_failed` is
  // called on the scheduler thread with the message.
  Scheduler(std::function<std::unique_ptr<Generator>()> load, size_t max_queue, int max_batch,
            Metrics& metrics, std::function<void(const std::string&)> on_load_failed);
  ~Scheduler();

  bool ready() const { return ready_.load(); }
  // The message of a failed load, or empty while loading or once loaded.
  std::string load_error() const { return failed_.load() ? load_error_ : std::string(); }
  // nullptr when the queue is full or the scheduler is draining.
  std::shared_ptr<JobTicket> submit(Job job);
  // Stops taking jobs, lets running ones finish until `grace` has passed, then cancels the rest,
  // and joins the thread.
  void drain(std::chrono::steady_clock::duration grace);

 private:
  struct Entry {
    Job job;
    std::shared_ptr<JobTicket> ticket;
    bool timed_out = false;
    bool done = false;  // on_done was called
  };
  void run(std::function<std::unique_ptr<Generator>()> load);
  void finish_unstarted(Entry& e, const std::string& finish, const std::string& error = "");

  std::unique_ptr<Generator> engine_;
  size_t max_queue_;
  int max_batch_;
  Metrics& metrics_;
  std::atomic<bool> ready_{false}, failed_{false};
  std::string load_error_;  // written once, before failed_ is set
  std::function<void(const std::string&)> on_load_failed_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Entry> queue_;
  bool draining_ = false;
  std::chrono::steady_clock::time_point drain_deadline_;
  std::unordered_map<SeqId, std::shared_ptr<Entry>> running_;  // scheduler thread only
  std::thread thread_;
};

}  // namespace aero::server
