#include "infer/perplexity.h"

#include <cmath>
#include <vector>

#include "data/shards.h"

namespace aero {

PerplexityResult shard_perplexity(const InferenceModel& model, const std::string& shard,
                                  int max_windows) {
  AERO_CHECK(max_windows >= 0, "[eval] max_windows must be >= 0, got ", max_windows);
  const GptConfig& cfg = model.config();
  const int T = cfg.block_size, V = cfg.vocab_size;
  Shard s(shard);
  AERO_CHECK(s.vocab_size() <= uint32_t(V), "[eval] ", shard, " has a vocabulary of ",
             s.vocab_size(), " but the model has ", V);
  AERO_CHECK(s.size() > uint64_t(T), "[eval] ", shard, " holds ", s.size(),
             " tokens, fewer than block_size + 1 = ", T + 1);
  std::vector<int32_t> window(size_t(T) + 1);
  double sum = 0;
  int64_t n = 0;
  KvSeq seq(model);
  int windows = 0;
  for (uint64_t start = 0; start + uint64_t(T) + 1 <= s.size(); start += uint64_t(T)) {
    if (max_windows > 0 && windows++ == max_windows) break;
    s.read(start, window.size(), window.data());
    seq.clear();
    std::vector<float> logits =
        forward_tokens(model, seq, std::vector<int32_t>(window.begin(), window.end() - 1));
    for (int t = 0; t < T; t++) {
      const float* l = logits.data() + size_t(t) * V;
      double m = l[0];
      for (int v = 1; v < V; v++) m = std::max(m, double(l[v]));
      double z = 0;
      for (int v = 0; v < V; v++) z += std::exp(double(l[v]) - m);
      sum += m + std::log(z) - double(l[window[size_t(t) + 1]]);
      n++;
    }
  }
  PerplexityResult r;
  r.tokens = n;
  r.loss = sum / double(n);
  r.ppl = std::exp(r.loss);
  return r;
}

}  // namespace aero
