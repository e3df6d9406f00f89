// One thread that runs the store's writes in order, so an fsync or a round trip to PostgreSQL
// (with its retries) never blocks a connection's thread.
#pragma once
#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>

namespace aero::server {

class BackgroundWriter {
 public:
  BackgroundWriter();
  ~BackgroundWriter();  // runs what is queued, then joins
  BackgroundWriter(const BackgroundWriter&) = delete;
  BackgroundWriter& operator=(const BackgroundWriter&) = delete;

  void submit(std::function<void()> task);  // a task must not throw
  void flush();                             // returns when every task submitted so far ran

 private:
  void run();
  std::mutex mu_;
  std::condition_variable cv_, idle_cv_;
  std::deque<std::function<void()>> queue_;
  bool busy_ = false, stop_ = false;
  std::thread thread_;
};

}  // namespace aero::server
