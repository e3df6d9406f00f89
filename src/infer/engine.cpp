// Engine: continuous batching over InferenceModel. Each step admits waiting sequences and runs
// their prompts together with one token of every other active sequence in a single forward pass
// (one qmatmul per weight for all rows; attention per sequence), samples, runs the text
// callbacks and retires the finished ones.
#include "infer/engine.h"

#include <algorithm>
#include <deque>
#include <map>

#include "core/log.h"
#include "infer/beam_search.h"
#include "infer/diffusion_generator.h"
#include "infer/engine_impl.h"
#include "infer/seq2seq_generator.h"
#include "infer/seq_output.h"
#include "tokenizer/stream_decoder.h"

namespace aero {

namespace {

struct Seq : SeqOutput {
  SeqId id;
  KvSeq kv;
  Sampler sampler;
  int32_t pending = -1;  // sampled and streamed, not yet in the cache
  bool cancelled = false, fresh = false;

  Seq(SeqId i, SeqRequest r, const InferenceModel& m, const Tokenizer& tok)
      : SeqOutput(std::move(r), tok, /*continuation=*/true),
        id(i),
        kv(m),
        sampler(req.opts.sampler) {}
};

}  // namespace

struct Engine::State {
  std::shared_ptr<const InferenceModel> model;
  std::shared_ptr<const Tokenizer> tok;
  EngineOpts opts;
  SeqId next_id = 1;
  std::deque<std::unique_ptr<Seq>> waiting;
  std::vector<std::unique_ptr<Seq>> active;
  bool warned_slide = false;
  // The adapters requests asked for, laid onto the model's matrices once each.
  std::map<const LoraWeights*, std::unique_ptr<EngineLora>> loras;

  // One sampled token: streamed, checked against every end condition, then pending.
  void take(Seq& s, const float* logits) {
    // Rows past the tokenizer's (a vocabulary padded for speed) are never sampled: no text
    // decodes them.
    const Tokenizer& text_tok = s.req.adapter && s.req.adapter->tok ? *s.req.adapter->tok : *tok;
    const int V = std::min(model->config().vocab_size, std::max(text_tok.vocab_size(), 1));
    std::span<const float> l(logits, size_t(V));
    std::vector<float> banned;
    if (s.req.opts.beam.no_repeat_ngram_size > 0) {
      banned.assign(l.begin(), l.end());
      ban_repeated_ngrams(banned, s.ctx, s.req.opts.beam.no_repeat_ngram_size);
      l = banned;
    }
    int32_t t = s.sampler.sample(l, s.ctx);
    if (s.req.opts.stop_at_eos && t == tok->eos_id()) return s.finish("eos");
    if (s.append(t)) s.pending = t;
  }

  // The newest `keep` tokens of the sequence, to prefill into a cleared cache.
  static std::vector<int32_t> tail(Seq& s, size_t keep) {
    s.kv.clear();
    return std::vector<int32_t>(s.ctx.end() - ptrdiff_t(std::min(keep, s.ctx.size())), s.ctx.end());
  }

  void retire(std::unique_ptr<Seq>& s) {
    if (s->req.on_done) s->req.on_done(s->res, int(s->req.prompt.size()));
    s.reset();
  }
};

Engine::Engine(std::shared_ptr<const InferenceModel> model, std::shared_ptr<const Tokenizer> tok,
               EngineOpts opts)
    : s_(std::make_unique<State>()) {
  AERO_CHECK(model && tok, "[engine] needs a model and a tokenizer");
  AERO_CHECK(model->config().causal, "[engine] a '", model->model_config().arch().name,
             "' model attends in both directions; the KV-cache engine decodes causal models");
  AERO_CHECK(opts.max_batch >= 1, "[engine] max_batch must be >= 1, got ", opts.max_batch);
  AERO_CHECK(opts.max_prefill_tokens >= 0, "[engine] max_prefill_tokens must be >= 0, got ",
             opts.max_prefill_tokens);
  s_->model = std::move(model);
  s_->tok = std::move(tok);
  s_->opts = opts;
}

Engine::~Engine() = default;

SeqId Engine::add(SeqRequest req) {
  const int V = s_->model->config().vocab_size;
  AERO_CHECK(!req.prompt.empty(), "[engine] prompt is empty (give at least one token)");
  for (int32_t id : req.prompt)
    AERO_CHECK(id >= 0 && id < V, "[engine] prompt token ", id, " is outside the model's ",
               "vocabulary of ", V, " (tokenizer and model do not match)");
  AERO_CHECK(req.opts.max_new >= 0, "[engine] max_new must be >= 0, got ", req.opts.max_new);
  req.opts.sampler.validate();
  req.opts.beam.validate();
  AERO_CHECK(req.opts.beam.num_beams == 1, "[engine] beam search (num_beams ",
             req.opts.beam.num_beams, ") is for encoder-decoder models; a '",
             s_->model->model_config().arch().name, "' model samples token by token");
  AERO_CHECK(!req.opts.diffusion.any(), "[engine] diffusion settings are for masked-diffusion ",
             "models; a '", s_->model->model_config().arch().name,
             "' model samples token by token");
  const EngineLora* lora = nullptr;
  if (req.adapter) {
    AERO_CHECK(req.adapter->weights, "[engine] adapter ", req.adapter->name, " has no weights");
    std::unique_ptr<EngineLora>& r = s_->loras[req.adapter->weights.get()];
    if (!r) r = resolve_lora(s_->model->impl(), req.adapter->weights);
    lora = r.get();
  }
  SeqId id = s_->next_id++;
  s_->waiting.push_back(std::make_unique<Seq>(id, std::move(req), *s_->model, *s_->tok));
  s_->waiting.back()->kv.impl().lora = lora;
  return id;
}

void Engine::cancel(SeqId id) {
  for (auto& s : s_->active)
    if (s->id == id) s->cancelled = true;
  for (auto& s : s_->waiting)
    if (s->id == id) s->cancelled = true;
}

int Engine::step() {
  State& st = *s_;
  const int block = st.model->config().block_size;
  // Cancelled sequences leave first, waiting or not.
  for (auto& s : st.waiting)
    if (s->cancelled) {
      s->res.finish = "cancelled";
      st.retire(s);
    }
  std::erase(st.waiting, nullptr);
  for (auto& s : st.active)
    if (s->cancelled && !s->done) {
      s->done = true;
      s->res.finish = "cancelled";
    }

  // Work of this step: prompts of admitted sequences, the pending token of every other active
  // sequence (or the newest half of it when its context is full and it slides). One pass.
  std::vector<Seq*> work;
  std::vector<KvSeq*> kvs;
  std::vector<std::vector<int32_t>> tokens;
  auto plan = [&](Seq& s, std::vector<int32_t> t) {
    work.push_back(&s);
    kvs.push_back(&s.kv);
    tokens.push_back(std::move(t));
  };
  int prefilled = 0;
  while (!st.waiting.empty() && int(st.active.size()) < st.opts.max_batch) {
    Seq& s = *st.waiting.front();
    int P = std::min(int(s.req.prompt.size()), block);
    if (st.opts.max_prefill_tokens > 0 && prefilled > 0 &&
        prefilled + P > st.opts.max_prefill_tokens)
      break;
    st.active.push_back(std::move(st.waiting.front()));
    st.waiting.pop_front();
    s.fresh = true;
    s.ctx = s.req.prompt;
    if (s.req.opts.max_new == 0) {
      s.finish("length");
      continue;
    }
    plan(s, State::tail(s, size_t(P)));  // a prompt longer than the context keeps its newest
    prefilled += P;
  }
  for (auto& sp : st.active) {
    Seq& s = *sp;
    if (s.done || s.fresh) continue;
    if (s.kv.length() < block) {
      plan(s, {s.pending});
    } else if (st.opts.context == ContextPolicy::stop) {
      s.finish("context");
    } else {
      if (!st.warned_slide) {
        log_warn("[engine] the context of ", block, " tokens is full: keeping the newest ",
                 std::max(1, block / 2), " tokens and going on (--context stop ends instead)");
        st.warned_slide = true;
      }
      plan(s, State::tail(s, size_t(std::max(1, block / 2))));
    }
  }
  if (!work.empty()) {
    std::vector<float> logits = forward_last(*st.model, kvs, tokens);
    const size_t V = size_t(st.model->config().vocab_size);
    for (size_t i = 0; i < work.size(); i++) st.take(*work[i], logits.data() + i * V);
  }

  for (auto& s : st.active) {
    s->fresh = false;
    if (s->done) st.retire(s);
  }
  std::erase(st.active, nullptr);
  return int(st.active.size() + st.waiting.size());
}

int Engine::active() const { return int(s_->active.size()); }
int Engine::waiting() const { return int(s_->waiting.size()); }
const InferenceModel& Engine::model() const { return *s_->model; }
const Tokenizer& Engine::tokenizer() const { return *s_->tok; }
int Engine::context() const { return s_->model->config().block_size; }

namespace {

// A generator whose requests answer with one adapter unless they name another: a model loaded
// with its adapter kept apart (load_inference(..., unmerged)).
class WithAdapter final : public Generator {
 public:
  WithAdapter(std::unique_ptr<Generator> g, std::shared_ptr<const ServedAdapter> adapter)
      : g_(std::move(g)), adapter_(std::move(adapter)) {}
  SeqId add(SeqRequest req) override {
    if (!req.adapter) req.adapter = adapter_;
    return g_->add(std::move(req));
  }
  void cancel(SeqId id) override { g_->cancel(id); }
  int step() override { return g_->step(); }
  int active() const override { return g_->active(); }
  int waiting() const override { return g_->waiting(); }
  const Tokenizer& tokenizer() const override { return *adapter_->tok; }
  int context() const override { return g_->context(); }

 private:
  std::unique_ptr<Generator> g_;
  std::shared_ptr<const ServedAdapter> adapter_;
};

std::unique_ptr<Generator> base_generator(const LoadedInference& m, EngineOpts opts) {
  switch (m.model_config().arch().family) {
    case ModelFamily::causal_lm:
      return std::make_unique<Engine>(m.model, m.tok, opts);
    case ModelFamily::masked_lm:
      return make_diffusion_generator(m.model, m.tok, diffusion_serve_opts(m.model_config(), opts));
    case ModelFamily::seq2seq:
      return make_seq2seq_generator(m.seq2seq, m.tok, opts, to_qformat(m.seq2seq_weights));
  }
  fail("[engine] no generator for a '", m.model_config().arch().name, "' model");
}

}  // namespace

std::unique_ptr<Generator> make_generator(const LoadedInference& m, EngineOpts opts) {
  std::unique_ptr<Generator> g = base_generator(m, opts);
  if (m.adapter) return std::make_unique<WithAdapter>(std::move(g), m.adapter);
  return g;
}

}  // namespace aero
