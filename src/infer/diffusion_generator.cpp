#include "infer/diffusion_generator.h"

#include <algorithm>
#include <cmath>
#include <deque>

#include "infer/engine.h"
#include "models/llada.h"

namespace aero {

namespace {

// Bytes of s that end on a whole UTF-8 character.
size_t whole_utf8(const std::string& s) {
  size_t n = s.size(), i = n;
  while (i > 0 && (static_cast<unsigned char>(s[i - 1]) & 0xC0) == 0x80) i--;
  if (i == 0) return n;
  const unsigned char lead = static_cast<unsigned char>(s[i - 1]);
  const size_t len = lead < 0x80 ? 1 : lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : lead >= 0xC0 ? 2 : 1;
  return (n - (i - 1)) >= len ? n : i - 1;
}

class DiffusionGenerator final : public Generator {
 public:
  DiffusionGenerator(std::shared_ptr<const InferenceModel> model,
                     std::shared_ptr<const Tokenizer> tok, DiffusionServeOpts opts)
      : model_(std::move(model)), tok_(std::move(tok)), opts_(opts) {
    mask_id_ = mask_id_of(model_->model_config());
    logits_ = engine_logits(model_, opts_.prefix_cache);
  }

  SeqId add(SeqRequest req) override {
    AERO_CHECK(!req.prompt.empty(), "[diffusion] the prompt is empty");
    req.opts.sampler.validate();
    const SeqId id = next_id_++;
    waiting_.push_back({id, std::move(req)});
    return id;
  }
  void cancel(SeqId id) override { cancelled_.push_back(id); }

  int step() override {
    if (waiting_.empty()) return 0;
    auto [id, req] = std::move(waiting_.front());
    waiting_.pop_front();
    active_ = 1;
    run(id, req);
    active_ = 0;
    return int(waiting_.size());
  }
  int active() const override { return active_; }
  int waiting() const override { return int(waiting_.size()); }
  const Tokenizer& tokenizer() const override { return *tok_; }
  int context() const override { return model_->config().block_size; }

 private:
  void run(SeqId id, SeqRequest& req) {
    GenerateResult res;
    const int ctx = context();
    std::vector<int32_t> prompt = req.prompt;
    DiffusionOpts o = opts_.defaults;
    // Room for the answer: the newest prompt tokens that leave max_new free, keeping at least
    // half the context of prompt.
    const int want = std::max(0, req.opts.max_new);
    if (int(prompt.size()) + want > ctx)
      prompt.erase(prompt.begin(), prompt.end() - std::max(1, std::max(ctx / 2, ctx - want)));
    const int P = int(prompt.size());
    const bool was_cancelled =
        std::find(cancelled_.begin(), cancelled_.end(), id) != cancelled_.end();
    int G = std::min(want, ctx - P);
    if (was_cancelled || G <= 0) {
      res.finish = was_cancelled ? "cancelled" : want == 0 ? "length" : "context";
      if (req.on_done) req.on_done(res, P);
      return;
    }
    // Whole blocks: a shorter answer than one block is one block of its length.
    const int bl = std::min(G, o.block_length > 0 ? o.block_length : 32);
    G = G / bl * bl;
    o.block_length = bl;
    o.gen_length = G;
    const int blocks = G / bl;
    o.steps = std::max(1, int(std::lround(double(G) * opts_.steps_per_token / blocks))) * blocks;
    o.temperature = req.opts.sampler.temperature;
    o.seed = req.opts.sampler.seed;
    o.stop_at_eos = req.opts.stop_at_eos;
    const bool stream = req.on_text && req.opts.stop.empty();
    size_t sent = 0;  // bytes of text already streamed
    bool cancelled = false;
    auto emit_upto = [&](const std::vector<int32_t>& answer, int n) {
      std::vector<int> ids;
      for (int i = 0; i < n; i++) {
        if (answer[size_t(i)] == tok_->eos_id() && o.stop_at_eos) break;
        ids.push_back(answer[size_t(i)]);
      }
      const std::string text = tok_->decode(ids);
      const size_t upto = whole_utf8(text);
      if (upto > sent && !cancelled) {
        cancelled = !req.on_text(text.substr(sent, upto - sent));
        sent = upto;
      }
    };
    const DiffusionResult r = diffusion_generate(
        logits_, model_->config().vocab_size, prompt, mask_id_, tok_->eos_id(), o,
        [&](const DiffusionStep& st) {
          if (req.on_draft && !cancelled) req.on_draft(draft(*st.answer));
          if (!stream) return;
          const int end = (st.block + 1) * bl;  // the block is final when none of it is masked
          for (int i = st.block * bl; i < end; i++)
            if ((*st.answer)[size_t(i)] == mask_id_) return;
          emit_upto(*st.answer, end);
        });
    res.tokens = r.answer;
    std::vector<int> ids(r.answer.begin(), r.answer.end());
    res.text = tok_->decode(ids);
    res.finish = r.eos ? "eos" : "length";
    for (const std::string& s : req.opts.stop) {
      const size_t at = res.text.find(s);
      if (!s.empty() && at != std::string::npos) {
        res.text.resize(at);
        res.finish = "stop";
      }
    }
    if (req.on_text && !cancelled) {
      if (stream) {
        if (res.text.size() > sent) req.on_text(res.text.substr(sent));
      } else {
        req.on_text(res.text);
      }
    }
    if (cancelled) res.finish = "cancelled";
    if (req.on_done) req.on_done(res, P);
  }

  // The answer as text, each still-masked position as "░" (runs of tokens decoded together).
  std::string draft(const std::vector<int32_t>& answer) const {
    std::string out;
    std::vector<int> run;
    auto flush = [&] {
      out += tok_->decode(run);
      run.clear();
    };
    for (int32_t t : answer) {
      if (t == mask_id_) {
        flush();
        out += "\xe2\x96\x91";  // U+2591 LIGHT SHADE
      } else {
        run.push_back(t);
      }
    }
    flush();
    return out;
  }

  std::shared_ptr<const InferenceModel> model_;
  std::shared_ptr<const Tokenizer> tok_;
  DiffusionServeOpts opts_;
  int mask_id_ = 0;
  DiffusionLogits logits_;
  std::deque<std::pair<SeqId, SeqRequest>> waiting_;
  std::vector<SeqId> cancelled_;
  SeqId next_id_ = 1;
  int active_ = 0;
};

}  // namespace

std::unique_ptr<Generator> make_diffusion_generator(std::shared_ptr<const InferenceModel> model,
                                                    std::shared_ptr<const Tokenizer> tok,
                                                    DiffusionServeOpts opts) {
  AERO_CHECK(model && tok, "[diffusion] needs a model and a tokenizer");
  opts.defaults.gen_length = std::max(1, opts.defaults.block_length);
  return std::make_unique<DiffusionGenerator>(std::move(model), std::move(tok), opts);
}

}  // namespace aero
