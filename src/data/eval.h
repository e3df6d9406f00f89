// What an evaluation reports, and the consecutive windows it reads: shared by the trainer's
// evaluation (autograd forward) and the engine's perplexity (KV-cache forward), so both count
// the same tokens the same way.
#pragma once
#include <cmath>
#include <cstdint>
#include <functional>

#include "core/error.h"
#include "data/shards.h"

namespace aero {

struct EvalResult {
  double loss = 0;     // mean cross-entropy per counted target, in nats
  double ppl = 0;      // exp(loss)
  int64_t tokens = 0;  // tokens read
};

// Running sums of an evaluation: add each batch's mean loss with its counts.
struct LossSum {
  double sum = 0;
  int64_t counted = 0, tokens = 0;
  void add(double mean_loss, int64_t batch_counted, int64_t batch_tokens) {
    add_total(mean_loss * double(batch_counted), batch_counted, batch_tokens);
  }
  void add_total(double total_loss, int64_t batch_counted, int64_t batch_tokens) {
    sum += total_loss;
    counted += batch_counted;
    tokens += batch_tokens;
  }
  EvalResult result() const {
    EvalResult r;
    r.loss = sum / double(counted > 0 ? counted : 1);
    r.ppl = std::exp(r.loss);
    r.tokens = tokens;
    return r;
  }
};

// Calls fn with each consecutive window of T + 1 tokens, [kT, kT + T] for k = 0, 1, ..., at most
// max_windows of them (0: all). The shard must hold at least one window (the error says so).
void for_each_window(const Shard& shard, const std::string& path, int T, int64_t max_windows,
                     const std::function<void(const int32_t* window)>& fn);

}  // namespace aero
