#include "infer/seq2seq_generator.h"

#include <algorithm>
#include <deque>

#include "core/log.h"
#include "infer/beam_search.h"
#include "infer/seq_output.h"
#include "models/load.h"
#include "tokenizer/stream_decoder.h"

namespace aero {

namespace {

struct Seq : SeqOutput {
  SeqId id;
  Sampler sampler;
  std::vector<int> rows;             // decoding rows, once admitted: one, or one per beam
  std::unique_ptr<BeamSearch> beam;  // num_beams > 1
  int32_t pending = -1;              // the next decoder input (without beams)
  bool cancelled = false;

  // ctx: the decoder's inputs, the start token then the answer.
  Seq(SeqId i, SeqRequest r, const Tokenizer& tok)
      : SeqOutput(std::move(r), tok, /*continuation=*/false), id(i), sampler(req.opts.sampler) {}
};

class Seq2SeqGenerator final : public Generator {
 public:
  Seq2SeqGenerator(std::shared_ptr<LoadedModel> model, std::shared_ptr<const Tokenizer> tok,
                   EngineOpts opts, QFormat weights)
      : model_(std::move(model)), tok_(std::move(tok)), opts_(opts) {
    rows_ = model_->model->start_rows(weights);
    AERO_CHECK(rows_ != nullptr, "[seq2seq] a '", model_->cfg.arch().name,
               "' model is not an encoder-decoder");
    AERO_CHECK(opts.max_batch >= 1, "[seq2seq] max_batch must be >= 1, got ", opts.max_batch);
    if (tok_->eos_id() >= 0 && tok_->eos_id() != rows_->eos_id())
      log_warn("[seq2seq] the tokenizer's end-of-sequence id is ", tok_->eos_id(),
               " but the model's eos_token_id is ", rows_->eos_id(), "; answers end at ",
               rows_->eos_id(), " (train with model.eos_token_id=", tok_->eos_id(), ")");
  }

  SeqId add(SeqRequest req) override {
    const int V = model_->cfg.vocab_size();
    AERO_CHECK(!req.prompt.empty(), "[seq2seq] prompt is empty (give at least one token)");
    for (int32_t id : req.prompt)
      AERO_CHECK(id >= 0 && id < V, "[seq2seq] prompt token ", id, " is outside the model's ",
                 "vocabulary of ", V, " (tokenizer and model do not match)");
    AERO_CHECK(req.opts.max_new >= 0, "[seq2seq] max_new must be >= 0, got ", req.opts.max_new);
    req.opts.sampler.validate();
    req.opts.beam.validate();
    AERO_CHECK(!req.opts.diffusion.any(), "[seq2seq] diffusion settings are for masked-diffusion ",
               "models; an encoder-decoder decodes token by token");
    const SeqId id = next_id_++;
    waiting_.push_back(std::make_unique<Seq>(id, std::move(req), *tok_));
    return id;
  }

  void cancel(SeqId id) override {
    for (auto* q : {&active_, &waiting_})
      for (auto& s : *q)
        if (s->id == id) s->cancelled = true;
  }

  int step() override {
    for (auto& s : waiting_)
      if (s->cancelled) {
        s->res.finish = "cancelled";
        retire(s);
      }
    std::erase(waiting_, nullptr);
    for (auto& s : active_)
      if (s->cancelled && !s->done) {
        s->done = true;
        s->res.finish = "cancelled";
      }
    while (!waiting_.empty() && int(active_.size()) < opts_.max_batch) {
      Seq& s = *waiting_.front();
      active_.push_back(std::move(waiting_.front()));
      waiting_.pop_front();
      s.ctx = {rows_->start_id()};
      s.pending = rows_->start_id();
      if (s.req.opts.max_new == 0) {
        s.finish("length");
        continue;
      }
      s.rows = {rows_->add(encoder_input(s.req.prompt),
                           s.req.adapter ? s.req.adapter->weights.get() : nullptr)};
      if (s.req.opts.beam.num_beams > 1) {
        s.beam =
            std::make_unique<BeamSearch>(s.req.opts.beam, s.req.opts.max_new, rows_->start_id(),
                                         rows_->eos_id(), s.req.opts.sampler.repetition_penalty);
        for (int b = 1; b < s.beam->num_beams(); b++) s.rows.push_back(rows_->fork(s.rows[0]));
      }
    }
    // One pass for the rows of every active sequence (a beam search's rows are consecutive).
    std::vector<Seq*> work;
    std::vector<int> rows;
    std::vector<int32_t> ids;
    for (auto& s : active_)
      if (!s->done) {
        work.push_back(s.get());
        rows.insert(rows.end(), s->rows.begin(), s->rows.end());
        if (s->beam)
          for (int b = 0; b < s->beam->num_beams(); b++) ids.push_back(s->beam->inputs(b).back());
        else
          ids.push_back(s->pending);
      }
    if (!work.empty()) {
      const Tensor logits = rows_->step(rows, ids);  // (rows, V)
      const int64_t V = logits.size(1);
      const float* at = logits.f32();
      for (Seq* s : work) {
        const size_t n = s->rows.size();
        if (s->beam)
          take_beams(*s, at, V);
        else
          take(*s, {at, size_t(V)});
        at += int64_t(n) * V;
      }
    }
    for (auto& s : active_)
      if (s->done) retire(s);
    std::erase(active_, nullptr);
    return int(active_.size() + waiting_.size());
  }

  int active() const override { return int(active_.size()); }
  int waiting() const override { return int(waiting_.size()); }
  const Tokenizer& tokenizer() const override { return *tok_; }
  int context() const override { return model_->cfg.context(); }

 private:
  // The prompt, its first tokens when it is longer than the context, then EOS.
  std::vector<int32_t> encoder_input(const std::vector<int32_t>& prompt) const {
    const int eos = tok_->eos_id();
    std::vector<int32_t> src = prompt;
    if (eos >= 0 && src.back() == eos) src.pop_back();
    const size_t room = size_t(std::max(1, context() - (eos >= 0 ? 1 : 0)));
    if (src.size() > room) src.resize(room);
    if (eos >= 0) src.push_back(eos);
    return src;
  }

  bool is_eos(int32_t t) const { return t == rows_->eos_id(); }

  // One sampled token: streamed, checked against every end condition, then the next input.
  void take(Seq& s, std::span<const float> logits) {
    // Rows past the tokenizer's (mT5's spare rows) are never sampled: no text decodes them.
    const Tokenizer& tok = s.req.adapter && s.req.adapter->tok ? *s.req.adapter->tok : *tok_;
    logits = logits.first(std::min(logits.size(), size_t(std::max(tok.vocab_size(), 1))));
    std::vector<float> banned;
    if (s.req.opts.beam.no_repeat_ngram_size > 0) {
      banned.assign(logits.begin(), logits.end());
      ban_repeated_ngrams(banned, s.ctx, s.req.opts.beam.no_repeat_ngram_size);
      logits = banned;
    }
    push(s, s.sampler.sample(logits, s.ctx));
  }

  // A token of the answer; false when the sequence ended with it.
  bool push(Seq& s, int32_t t) {
    if (s.req.opts.stop_at_eos && is_eos(t)) {
      s.finish("eos");
      return false;
    }
    if (!s.append(t)) return false;
    s.pending = t;
    return true;
  }

  // A beam search step over the logits of its rows (num_beams, V); once it is done, its answer
  // is streamed whole through the same end conditions.
  void take_beams(Seq& s, const float* logits, int64_t V) {
    const std::vector<int> parents = s.beam->step(logits, V);
    if (!s.beam->done()) {
      s.rows = reorder_rows(*rows_, s.rows, parents);
      return;
    }
    const BeamSearch::Answer a = s.beam->best();
    for (int32_t t : a.tokens)
      if (!push(s, t)) return;
    s.finish(a.eos ? "eos" : "length");
  }

  void retire(std::unique_ptr<Seq>& s) {
    for (int r : s->rows) rows_->remove(r);
    s->rows.clear();
    if (s->req.on_done) s->req.on_done(s->res, int(s->req.prompt.size()));
    s.reset();
  }

  std::shared_ptr<LoadedModel> model_;
  std::shared_ptr<const Tokenizer> tok_;
  EngineOpts opts_;
  std::unique_ptr<Seq2SeqRows> rows_;
  SeqId next_id_ = 1;
  std::deque<std::unique_ptr<Seq>> waiting_;
  std::deque<std::unique_ptr<Seq>> active_;
};

}  // namespace

std::unique_ptr<Generator> make_seq2seq_generator(std::shared_ptr<LoadedModel> model,
                                                  std::shared_ptr<const Tokenizer> tok,
                                                  EngineOpts opts, QFormat weights) {
  AERO_CHECK(model && model->model && tok, "[seq2seq] needs a model and a tokenizer");
  return std::make_unique<Seq2SeqGenerator>(std::move(model), std::move(tok), opts, weights);
}

}  // namespace aero
