#include "infer/diffusion_generator.h"

#include <algorithm>
#include <cmath>
#include <deque>

#include "infer/engine.h"
#include "models/llada.h"

namespace aero {

DiffusionOpts diffusion_request_opts(const DiffusionServeOpts& serve, const GenerateOpts& req,
                                     int P, int ctx) {
  const DiffusionOverrides& d = req.diffusion;
  DiffusionOpts o = serve.defaults;
  o.temperature = req.sampler.temperature;
  o.seed = req.sampler.seed;
  o.stop_at_eos = req.stop_at_eos;
  d.apply(o);  // gen_length, block_length and steps are fitted below
  auto bad = [](const char* field, const auto&... msg) {
    throw DiffusionSettingError(std::string("diffusion.") + field,
                                cat("[diffusion] diffusion.", field, " ", msg...));
  };
  const int room = ctx - P;
  int G = std::min(std::max(0, req.max_new), room);
  if (d.gen_length) {
    if (*d.gen_length > room)
      bad("gen_length", *d.gen_length, " does not fit the context of ", ctx,
          " tokens after the prompt of ", P);
    G = *d.gen_length;
  }
  o.gen_length = 0;
  if (G <= 0) return o;
  int bl = o.block_length > 0 ? std::min(G, o.block_length) : G;  // 0: one block
  if (d.block_length) {
    bl = *d.block_length;
    if (bl > G) bad("block_length", bl, " is longer than the answer of ", G, " tokens");
  }
  if (d.gen_length && G % bl != 0)
    bad("gen_length", G, " is not divisible by diffusion.block_length ", bl);
  G = G / bl * bl;  // max_new: whole blocks
  const int blocks = G / bl;
  o.gen_length = G, o.block_length = bl;
  o.steps = serve.defaults.steps_for(G, blocks);
  if (d.steps) {
    o.steps = *d.steps;
    if (o.steps < blocks || o.steps % blocks != 0)
      bad("steps", o.steps, " must be a multiple of the ", blocks, " blocks (gen_length ", G,
          " / block_length ", bl, "): each block takes as many");
  }
  o.validate();
  return o;
}

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
      : model_(std::move(model)),
        tok_(std::move(tok)),
        opts_(opts),
        mask_id_(mask_id_of(model_->model_config())),
        batch_(engine_logits(model_), model_->config().vocab_size, mask_id_, tok_->eos_id()) {}

  SeqId add(SeqRequest req) override {
    AERO_CHECK(!req.prompt.empty(), "[diffusion] the prompt is empty");
    AERO_CHECK(!req.adapter, "[diffusion] a masked-diffusion model runs its adapter merged; ",
               "requests cannot choose one");
    req.opts.sampler.validate();
    auto s = std::make_unique<Seq>();
    s->id = next_id_++;
    // Room for the answer: the newest prompt tokens that leave max_new free, keeping at least
    // half the context of prompt.
    const int ctx = context();
    const int want = std::max(0, req.opts.diffusion.gen_length.value_or(req.opts.max_new));
    if (int(req.prompt.size()) + want > ctx)
      req.prompt.erase(req.prompt.begin(),
                       req.prompt.end() - std::max(1, std::max(ctx / 2, ctx - want)));
    s->o = diffusion_request_opts(opts_, req.opts, int(req.prompt.size()), ctx);
    s->stream = req.on_text && req.opts.stop.empty();
    s->req = std::move(req);
    waiting_.push_back(std::move(s));
    return waiting_.back()->id;
  }
  void cancel(SeqId id) override { cancelled_.push_back(id); }

  int step() override {
    for (SeqId id : cancelled_) {
      for (auto& s : active_)
        if (s->id == id) s->cancelled = true;
      for (auto& s : waiting_) {
        if (s && s->id == id) {
          finish_cancelled(*s, {});
          s.reset();
        }
      }
    }
    cancelled_.clear();
    std::erase(waiting_, nullptr);
    while (!waiting_.empty() && int(active_.size()) < opts_.max_batch) {
      std::unique_ptr<Seq> s = std::move(waiting_.front());
      waiting_.pop_front();
      if (s->o.gen_length <= 0) {  // nothing to sample
        GenerateResult res;
        res.finish = s->req.opts.max_new <= 0 ? "length" : "context";
        if (s->req.on_done) s->req.on_done(res, int(s->req.prompt.size()));
        continue;
      }
      s->row = batch_.add(s->req.prompt, s->o);
      active_.push_back(std::move(s));
    }
    retire();  // cancelled before this step
    if (batch_.running() > 0)
      batch_.step([&](int row, const DiffusionStep& st) { on_step(row, st); });
    retire();
    return int(active_.size() + waiting_.size());
  }
  int active() const override { return int(active_.size()); }
  int waiting() const override { return int(waiting_.size()); }
  const Tokenizer& tokenizer() const override { return *tok_; }
  int context() const override { return model_->config().block_size; }

 private:
  // One request: its settings, its row of the batch and how much of its text was sent.
  struct Seq {
    SeqId id = 0;
    SeqRequest req;
    DiffusionOpts o;
    int row = -1;
    bool stream = false;
    size_t sent = 0;  // bytes of text already streamed
    bool cancelled = false;
  };

  Seq& by_row(int row) {
    for (auto& s : active_)
      if (s->row == row) return *s;
    fail("[diffusion] no request for row ", row);
  }

  // Streams a block once it is final, and the draft after every step.
  void on_step(int row, const DiffusionStep& st) {
    Seq& s = by_row(row);
    if (s.cancelled) return;
    if (s.req.on_draft) s.req.on_draft(draft(*st.answer));
    if (!s.stream) return;
    const int bl = s.o.block_length, end = (st.block + 1) * bl;
    for (int i = st.block * bl; i < end; i++)  // final when none of it is masked
      if ((*st.answer)[size_t(i)] == mask_id_) return;
    send(s, decode(final_tokens(s, *st.answer, end)));
  }

  // The answer's committed tokens before position n, up to the first mask (and EOS, when it
  // stops there).
  std::vector<int32_t> final_tokens(const Seq& s, const std::vector<int32_t>& answer, int n) const {
    std::vector<int32_t> ids;
    for (int i = 0; i < n && answer[size_t(i)] != mask_id_; i++) {
      if (answer[size_t(i)] == tok_->eos_id() && s.o.stop_at_eos) break;
      ids.push_back(answer[size_t(i)]);
    }
    return ids;
  }
  std::string decode(const std::vector<int32_t>& tokens) const {
    return tok_->decode(std::vector<int>(tokens.begin(), tokens.end()));
  }

  // Sends what of `text` has not been sent, up to a whole UTF-8 character.
  void send(Seq& s, const std::string& text) {
    const size_t upto = whole_utf8(text);
    if (upto > s.sent && !s.cancelled) {
      s.cancelled = !s.req.on_text(text.substr(s.sent, upto - s.sent));
      s.sent = upto;
    }
  }

  // Requests that finished or were cancelled leave, their on_done called.
  void retire() {
    for (auto& s : active_) {
      if (s->cancelled) {
        std::vector<int32_t> done = final_tokens(*s, batch_.answer(s->row), s->o.gen_length);
        batch_.remove(s->row);
        finish_cancelled(*s, std::move(done));
      } else if (batch_.finished(s->row)) {
        finish(*s, batch_.take(s->row));
      } else {
        continue;
      }
      s.reset();
    }
    std::erase(active_, nullptr);
  }

  // A cancelled request ends with the answer's final part (what was or could be streamed).
  void finish_cancelled(Seq& s, std::vector<int32_t> tokens) {
    GenerateResult res;
    res.text = decode(tokens);
    res.tokens = std::move(tokens);
    res.finish = "cancelled";
    if (s.req.on_done) s.req.on_done(res, int(s.req.prompt.size()));
  }

  void finish(Seq& s, const DiffusionResult& r) {
    GenerateResult res;
    res.tokens = r.answer;
    res.text = decode(r.answer);
    res.finish = r.eos ? "eos" : "length";
    for (const std::string& stop : s.req.opts.stop) {
      const size_t at = res.text.find(stop);
      if (!stop.empty() && at != std::string::npos) {
        res.text.resize(at);
        res.finish = "stop";
      }
    }
    if (s.req.on_text && !s.cancelled) {
      if (s.stream) {
        if (res.text.size() > s.sent) s.req.on_text(res.text.substr(s.sent));
      } else {
        s.req.on_text(res.text);
      }
    }
    if (s.cancelled) res.finish = "cancelled";
    if (s.req.on_done) s.req.on_done(res, int(s.req.prompt.size()));
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
  DiffusionBatch batch_;
  std::deque<std::unique_ptr<Seq>> waiting_;
  std::vector<std::unique_ptr<Seq>> active_;
  std::vector<SeqId> cancelled_;
  SeqId next_id_ = 1;
};

}  // namespace

DiffusionServeOpts diffusion_serve_opts(const ModelConfig& cfg, const EngineOpts& opts) {
  DiffusionServeOpts d;
  d.defaults = cfg.as<LladaConfig>().sample;
  d.max_batch = opts.max_batch;
  return d;
}

std::unique_ptr<Generator> make_diffusion_generator(std::shared_ptr<const InferenceModel> model,
                                                    std::shared_ptr<const Tokenizer> tok,
                                                    DiffusionServeOpts opts) {
  AERO_CHECK(model && tok, "[diffusion] needs a model and a tokenizer");
  AERO_CHECK(opts.max_batch >= 1, "[diffusion] max_batch must be >= 1, got ", opts.max_batch);
  return std::make_unique<DiffusionGenerator>(std::move(model), std::move(tok), opts);
}

}  // namespace aero
