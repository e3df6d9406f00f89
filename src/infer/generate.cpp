#include "infer/generate.h"

#include "infer/engine.h"

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

GenerateResult generate(const InferenceModel& model, const Tokenizer& tok,
                        const std::string& prompt, const GenerateOpts& opts,
                        const TextCallback& on_text) {
  SeqRequest req;
  for (int id : tok.encode(prompt)) req.prompt.push_back(id);
  if (req.prompt.empty()) req.prompt.push_back(tok.eos_id() >= 0 ? tok.eos_id() : 0);
  req.opts = opts;
  req.on_text = on_text;
  // The engine shares ownership of what it runs; here the caller owns both.
  auto no_delete = [](const void*) {};
  EngineOpts eo;
  eo.max_batch = 1;
  eo.context = ContextPolicy::slide;
  Engine engine(std::shared_ptr<const InferenceModel>(&model, no_delete),
                std::shared_ptr<const Tokenizer>(&tok, no_delete), eo);
  return engine.run(std::move(req));
}

}  // namespace aero
