// The scheduler thread with clients on their own threads, as aero serve runs it: continuous
// batching of many clients' jobs, cancellation from the client side, and drain (SIGTERM). Run
// under ThreadSanitizer by scripts/sanitize.sh tsan.
#include <gtest/gtest.h>

#include <omp.h>

#include <atomic>
#include <future>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "core/threads.h"
#include "infer/engine.h"
#include "models/gpt.h"
#include "server/scheduler.h"
#include "tokenizer/char_tokenizer.h"

namespace aero::server {
namespace {

using namespace std::chrono_literals;

// A random tiny GPT and a character tokenizer over its vocabulary.
struct TinyModel {
  GptConfig cfg;
  ParamStore store;
  std::unique_ptr<Gpt> gpt;
  std::shared_ptr<const InferenceModel> inf;
  std::shared_ptr<const Tokenizer> tok;
  TinyModel() {
    cfg.vocab_size = 24;
    cfg.block_size = 64;
    cfg.n_layer = 1;
    cfg.n_head = 2;
    cfg.n_embd = 16;
    cfg.ffn_hidden = 32;
    cfg.init_std = 0.3f;
    gpt = std::make_unique<Gpt>(cfg, store);
    store.finalize(5);
    inf = std::make_shared<InferenceModel>(gpt_model_config(cfg), store, WeightFormat::f32);
    std::set<char32_t> chars;
    for (char32_t c = U'a'; chars.size() + 4 < size_t(cfg.vocab_size); c++) chars.insert(c);
    tok = std::make_shared<CharTokenizer>(CharTokenizer::from_chars(chars));
  }
  std::vector<int32_t> prompt(int i) const {
    std::vector<int32_t> p;
    for (int k = 0; k < 2 + i % 7; k++)
      p.push_back(int32_t(4 + (i * 5 + k * 3) % (cfg.vocab_size - 4)));
    return p;
  }
};

GenerateOpts greedy(int max_new) {
  GenerateOpts g;
  g.max_new = max_new;
  g.stop_at_eos = false;
  g.sampler.temperature = 0;
  return g;
}

// What one job saw: its streamed text, its result, how often on_done ran. A job the client
// cancels mid-answer holds the scheduler thread at its first text until the client has set the
// ticket's flag (cancel_set), so the cancellation always lands while the job is running.
struct Seen {
  std::string streamed;
  JobResult result;
  int done_calls = 0, text_calls = 0;
  std::promise<void> first_text;
  std::shared_future<void> cancel_set;  // valid for a job the client cancels
};

// Submits a job whose callbacks fill `seen` (under `mu`) and fulfil `done`; all three outlive
// the job.
std::shared_ptr<JobTicket> submit(Scheduler& s, std::vector<int32_t> prompt, GenerateOpts opts,
                                  Seen& seen, std::mutex& mu, std::promise<void>& done) {
  Job job;
  job.prompt = std::move(prompt);
  job.opts = std::move(opts);
  job.deadline = std::chrono::steady_clock::now() + 1h;
  job.on_text = [seen = &seen, mu = &mu](const std::string& t) {
    bool first = false;
    {
      std::lock_guard lock(*mu);
      seen->streamed += t;
      first = seen->text_calls++ == 0;
    }
    if (first && seen->cancel_set.valid()) {
      seen->first_text.set_value();
      seen->cancel_set.wait();
    }
  };
  job.on_done = [seen = &seen, mu = &mu, done = &done](const JobResult& r) {
    {
      std::lock_guard lock(*mu);
      seen->result = r;
      seen->done_calls++;
    }
    done->set_value();
  };
  return s.submit(std::move(job));
}

void wait_ready(const Scheduler& s) {
  for (int i = 0; i < 2000 && !s.ready(); i++) std::this_thread::sleep_for(5ms);
  ASSERT_TRUE(s.ready()) << s.load_error();
}

TEST(ServerScheduler, ManyClientsBatchedAndCancelledEqualOneAtATime) {
  const TinyModel m;
  constexpr int kClients = 4, kJobs = 6, kMaxNew = 8;
  // Each prompt alone, greedy: what every uncancelled job must answer, however it was batched,
  // and in how many pieces its text streams.
  std::vector<std::string> want(kClients * kJobs);
  std::vector<int> pieces(kClients * kJobs, 0);
  for (int i = 0; i < kClients * kJobs; i++) {
    Engine alone(m.inf, m.tok, {.max_batch = 1});
    SeqRequest r;
    r.prompt = m.prompt(i);
    r.opts = greedy(kMaxNew);
    r.on_text = [&pieces, i](const std::string&) { return ++pieces[size_t(i)] > 0; };
    want[size_t(i)] = alone.run(std::move(r)).text;
  }
  Metrics metrics;
  Scheduler s([&] { return std::make_unique<Engine>(m.inf, m.tok, EngineOpts{.max_batch = 4}); },
              64, 4, metrics, nullptr);
  wait_ready(s);
  std::vector<Seen> seen(kClients * kJobs);
  std::vector<std::promise<void>> done(kClients * kJobs);
  std::mutex mu;
  std::vector<std::thread> clients;
  for (int c = 0; c < kClients; c++)
    clients.emplace_back([&, c] {
      for (int j = 0; j < kJobs; j++) {
        const int i = c * kJobs + j;
        const bool leave = j % 3 == 2;  // this client leaves after the first text
        std::promise<void> go;
        std::future<void> started;
        if (leave) {
          seen[size_t(i)].cancel_set = go.get_future().share();
          started = seen[size_t(i)].first_text.get_future();
        }
        std::future<void> finished = done[size_t(i)].get_future();
        auto ticket = submit(s, m.prompt(i), greedy(kMaxNew), seen[size_t(i)], mu, done[size_t(i)]);
        if (!ticket) {
          std::lock_guard lock(mu);
          seen[size_t(i)].result.finish = "rejected";
          continue;
        }
        if (leave) {
          while (started.wait_for(1ms) != std::future_status::ready &&
                 finished.wait_for(0s) != std::future_status::ready) {
          }
          if (started.wait_for(0s) == std::future_status::ready) ticket->cancelled = true;
          go.set_value();
        }
        finished.wait();
      }
    });
  for (std::thread& t : clients) t.join();
  int cancelled = 0;
  for (int i = 0; i < kClients * kJobs; i++) {
    SCOPED_TRACE("job " + std::to_string(i));
    const Seen& r = seen[size_t(i)];
    ASSERT_EQ(r.done_calls, 1);
    if (i % kJobs % 3 == 2 && pieces[size_t(i)] >= 2) {
      // Cancelled after its first piece of text, which came before its last token.
      cancelled++;
      EXPECT_EQ(r.result.finish, "cancelled");
      EXPECT_FALSE(r.streamed.empty());
      EXPECT_EQ(want[size_t(i)].rfind(r.streamed, 0), 0u) << "a cancelled job's text is a prefix";
      EXPECT_LT(r.streamed.size(), want[size_t(i)].size());
      continue;
    }
    EXPECT_EQ(r.result.finish, "length");
    EXPECT_EQ(r.result.completion_tokens, kMaxNew);
    EXPECT_EQ(r.result.text, want[size_t(i)]);
    EXPECT_EQ(r.streamed, r.result.text);
  }
  EXPECT_GT(cancelled, 0);
  EXPECT_EQ(metrics.queue_depth.load(), 0);
}

// OpenMP keeps its thread count per thread: a thread that never set it starts teams at the
// default. The scheduler's thread must run its kernels with the count the process set
// (aero serve --threads), not that default (two 1-thread replicas on 2 cores would otherwise
// run four spinning threads).
TEST(ServerScheduler, RunsKernelsWithTheProcessThreadCount) {
  const TinyModel m;
  int fresh = 0;
  std::thread([&] { fresh = omp_get_max_threads(); }).join();
  const int before = num_threads();
  set_num_threads(fresh + 1);
  std::atomic<int> seen{0};
  Metrics metrics;
  {
    Scheduler s(
        [&] {
          seen = omp_get_max_threads();
          return std::make_unique<Engine>(m.inf, m.tok, EngineOpts{.max_batch = 2});
        },
        64, 2, metrics, nullptr);
    wait_ready(s);
  }
  set_num_threads(before);
  EXPECT_EQ(seen.load(), fresh + 1);
}

TEST(ServerScheduler, DrainEndsEveryJobOnceAndRefusesNewOnes) {
  const TinyModel m;
  Metrics metrics;
  Scheduler s([&] { return std::make_unique<Engine>(m.inf, m.tok, EngineOpts{.max_batch = 2}); },
              64, 2, metrics, nullptr);
  wait_ready(s);
  // Two running and four queued behind them, long enough to be in flight when drain starts.
  constexpr int kJobs = 6;
  std::vector<Seen> seen(kJobs);
  std::vector<std::promise<void>> done(kJobs);
  std::mutex mu;
  for (int i = 0; i < kJobs; i++)
    ASSERT_NE(submit(s, m.prompt(i), greedy(40), seen[size_t(i)], mu, done[size_t(i)]), nullptr);
  std::thread drainer([&] { s.drain(0ms); });
  drainer.join();
  Seen late;
  std::promise<void> late_done;
  EXPECT_EQ(submit(s, m.prompt(0), greedy(4), late, mu, late_done), nullptr);
  for (int i = 0; i < kJobs; i++) {
    SCOPED_TRACE("job " + std::to_string(i));
    EXPECT_EQ(done[size_t(i)].get_future().wait_for(0s), std::future_status::ready);
    EXPECT_EQ(seen[size_t(i)].done_calls, 1);
    EXPECT_TRUE(seen[size_t(i)].result.finish == "cancelled" ||
                seen[size_t(i)].result.finish == "length")
        << seen[size_t(i)].result.finish;
  }
  EXPECT_EQ(metrics.active_sequences.load(), 0);
}

}  // namespace
}  // namespace aero::server
