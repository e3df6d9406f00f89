#include "infer/generate.h"

#include "autograd/ops.h"
#include "tokenizer/stream_decoder.h"

namespace aero {

std::string StopMatcher::push(const std::string& text) {
  if (stopped_) return "";
  pending_ += text;
  for (const std::string& s : stops_) {
    size_t at = s.empty() ? std::string::npos : pending_.find(s);
    if (at != std::string::npos) {
      stopped_ = true;
      std::string out = pending_.substr(0, at);
      pending_.clear();
      return out;
    }
  }
  // Hold back the longest suffix of pending_ that is a prefix of some stop string.
  size_t hold = 0;
  for (const std::string& s : stops_)
    for (size_t n = std::min(s.size() - (s.empty() ? 0 : 1), pending_.size()); n > hold; n--)
      if (pending_.compare(pending_.size() - n, n, s, 0, n) == 0) {
        hold = n;
        break;
      }
  std::string out = pending_.substr(0, pending_.size() - hold);
  pending_.erase(0, pending_.size() - hold);
  return out;
}

std::string StopMatcher::flush() {
  std::string out;
  if (!stopped_) out.swap(pending_);
  return out;
}

GenerateResult generate(Gpt& model, const Tokenizer& tok, const std::string& prompt,
                        const GenerateOpts& opts, const TextCallback& on_text) {
  AERO_CHECK(opts.max_new >= 0, "[generate] max_new must be >= 0, got ", opts.max_new);
  const GptConfig& cfg = model.config();
  std::vector<int32_t> ctx;
  for (int id : tok.encode(prompt)) ctx.push_back(id);
  if (ctx.empty()) {
    int start = tok.eos_id() >= 0 ? tok.eos_id() : 0;  // an empty prompt starts a document
    ctx.push_back(start);
  }
  for (int32_t id : ctx)
    AERO_CHECK(id < cfg.vocab_size, "[generate] prompt token ", id, " is outside the model's ",
               "vocabulary of ", cfg.vocab_size, " (tokenizer and model do not match)");
  Sampler sampler(opts.sampler);
  TokenStreamDecoder decoder(tok);
  StopMatcher stops(opts.stop);
  GenerateResult res;
  res.finish = "length";
  auto emit = [&](const std::string& text) {
    if (text.empty()) return true;
    res.text += text;
    return !on_text || on_text(text);
  };
  Tape tape;
  tape.training = false;
  NoGrad no_grad(tape);
  for (int step = 0; step < opts.max_new; step++) {
    tape.reset();
    size_t T = std::min(ctx.size(), size_t(cfg.block_size));  // slide: keep the newest tokens
    Tensor ids = tape.alloc({1, int64_t(T)}, DType::i32);
    std::copy(ctx.end() - int64_t(T), ctx.end(), ids.i32());
    Var logits = model.forward(tape, ids);  // (1, T, V)
    const float* last = logits.value().f32() + (T - 1) * size_t(cfg.vocab_size);
    int32_t next = sampler.sample({last, size_t(cfg.vocab_size)}, ctx);
    if (opts.stop_at_eos && next == tok.eos_id()) {
      res.finish = "eos";
      break;
    }
    ctx.push_back(next);
    res.tokens.push_back(next);
    if (!emit(stops.push(decoder.push(next)))) {
      res.finish = "cancelled";
      return res;
    }
    if (stops.stopped()) {
      res.finish = "stop";
      return res;
    }
  }
  emit(stops.push(decoder.finish()));
  if (!stops.stopped())
    emit(stops.flush());
  else
    res.finish = "stop";
  return res;
}

}  // namespace aero
