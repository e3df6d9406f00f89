#include "server/scheduler.h"

#include "core/error.h"
#include "core/log.h"
#include "core/threads.h"

namespace aero::server {

using Clock = std::chrono::steady_clock;

Scheduler::Scheduler(std::function<std::unique_ptr<Generator>()> load, size_t max_queue,
                     int max_batch, Metrics& metrics,
                     std::function<void(const std::string&)> on_load_failed)
    : max_queue_(max_queue),
      max_batch_(max_batch),
      metrics_(metrics),
      on_load_failed_(std::move(on_load_failed)) {
  thread_ = std::thread([this, load = std::move(load)]() mutable {
    // OpenMP keeps the thread count per thread: this one would otherwise start its kernels'
    // teams at the CPU count whatever --threads said (two 1-thread replicas on 2 cores then
    // ran four spinning threads: 0.27x the speed of one).
    set_num_threads(num_threads());
    run(std::move(load));
  });
}

Scheduler::~Scheduler() { drain(std::chrono::seconds(0)); }

std::shared_ptr<JobTicket> Scheduler::submit(Job job) {
  auto ticket = std::make_shared<JobTicket>();
  {
    std::lock_guard lock(mu_);
    if (draining_ || !ready_ || queue_.size() >= max_queue_) return nullptr;
    queue_.push_back(Entry{std::move(job), ticket});
    metrics_.queue_depth = int(queue_.size());
  }
  cv_.notify_one();
  return ticket;
}

void Scheduler::drain(Clock::duration grace) {
  {
    std::lock_guard lock(mu_);
    if (!draining_) {
      draining_ = true;
      drain_deadline_ = Clock::now() + grace;
    }
  }
  cv_.notify_one();
  if (thread_.joinable()) thread_.join();
}

void Scheduler::finish_unstarted(Entry& e, const std::string& finish, const std::string& error) {
  if (e.done) return;
  e.done = true;
  JobResult r;
  r.prompt_tokens = int(e.job.prompt.size());
  r.finish = finish;
  r.error = error;
  e.job.on_done(r);
}

void Scheduler::run(std::function<std::unique_ptr<Generator>()> load) {
  try {
    engine_ = load();
    ready_ = true;
  } catch (const std::exception& e) {
    load_error_ = e.what();
    failed_ = true;
    {
      std::lock_guard lock(mu_);
      draining_ = true;
    }
    if (on_load_failed_) on_load_failed_(load_error_);
    return;
  }
  for (;;) {
    std::vector<Entry> incoming;
    bool past_grace = false;
    {
      std::unique_lock lock(mu_);
      const int busy = engine_->active() + engine_->waiting();
      if (busy == 0) {
        cv_.wait(lock, [&] { return !queue_.empty() || draining_; });
        if (queue_.empty() && draining_) break;
      }
      while (!queue_.empty() && int(incoming.size()) + busy < max_batch_) {
        incoming.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
      metrics_.queue_depth = int(queue_.size());
      past_grace = draining_ && Clock::now() >= drain_deadline_;
      if (past_grace) {  // what never started ends now
        for (Entry& e : queue_) incoming.push_back(std::move(e));
        queue_.clear();
      }
    }
    const auto now = Clock::now();
    for (Entry& in : incoming) {
      if (in.ticket->cancelled || past_grace) {
        finish_unstarted(in, "cancelled");
        continue;
      }
      if (now >= in.job.deadline) {
        finish_unstarted(in, "timeout");
        continue;
      }
      auto e = std::make_shared<Entry>(std::move(in));
      SeqRequest req;
      req.prompt = e->job.prompt;
      req.opts = e->job.opts;
      req.adapter = e->job.adapter;
      req.on_text = [e](const std::string& text) {
        if (e->ticket->cancelled) return false;
        e->job.on_text(text);
        return true;
      };
      if (e->job.on_draft)
        req.on_draft = [e](const std::string& draft) {
          if (!e->ticket->cancelled) e->job.on_draft(draft);
        };
      auto id_box = std::make_shared<SeqId>(-1);
      req.on_done = [this, e, id_box](const GenerateResult& g, int prompt_tokens) {
        if (e->done) return;
        e->done = true;
        JobResult r;
        r.text = g.text;
        r.prompt_tokens = prompt_tokens;
        r.completion_tokens = int(g.tokens.size());
        r.finish = e->timed_out && g.finish == "cancelled" ? "timeout" : g.finish;
        running_.erase(*id_box);
        e->job.on_done(r);
      };
      try {
        *id_box = engine_->add(std::move(req));
        running_[*id_box] = e;
      } catch (const Error& err) {
        finish_unstarted(*e, "error", err.what());
      }
    }
    for (auto& [id, e] : running_) {
      if (e->ticket->cancelled || past_grace) {
        engine_->cancel(id);
      } else if (!e->timed_out && now >= e->job.deadline) {
        e->timed_out = true;
        engine_->cancel(id);
      }
    }
    if (engine_->active() + engine_->waiting() > 0) {
      try {
        engine_->step();
      } catch (const std::exception& err) {
        // An engine failure ends every running sequence with an error instead of killing the
        // server.
        log_error("[server] engine step failed: ", err.what());
        auto running = std::move(running_);
        running_.clear();
        for (auto& [id, e] : running) {
          engine_->cancel(id);
          finish_unstarted(*e, "error", err.what());
        }
      }
    }
    metrics_.active_sequences = engine_->active();
  }
  metrics_.active_sequences = 0;
}

}  // namespace aero::server
