#include "infer/perplexity.h"

#include <cmath>
#include <vector>

namespace aero {

EvalResult shard_perplexity(const InferenceModel& model, const std::string& shard,
                            int max_windows) {
  AERO_CHECK(max_windows >= 0, "[eval] max_windows must be >= 0, got ", max_windows);
  const TransformerSpec& cfg = model.config();
  const int T = cfg.block_size, V = cfg.vocab_size;
  Shard s(shard);
  AERO_CHECK(s.vocab_size() <= uint32_t(V), "[eval] ", shard, " has a vocabulary of ",
             s.vocab_size(), " but the model has ", V);
  LossSum sum;
  KvSeq seq(model);
  for_each_window(s, shard, T, max_windows, [&](const int32_t* window) {
    seq.clear();
    std::vector<float> logits =
        forward_tokens(model, seq, std::vector<int32_t>(window, window + T));
    double nll = 0;
    for (int t = 0; t < T; t++) {
      const float* l = logits.data() + size_t(t) * V;
      double m = l[0];
      for (int v = 1; v < V; v++) m = std::max(m, double(l[v]));
      double z = 0;
      for (int v = 0; v < V; v++) z += std::exp(double(l[v]) - m);
      nll += m + std::log(z) - double(l[window[t + 1]]);
    }
    sum.add_total(nll, T, T);
  });
  return sum.result();
}

}  // namespace aero
