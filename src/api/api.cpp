// The public API (include/aero/aero.h) over the internals: each call is a few lines into
// infer/, tokenizer/ and train/, so the internal layout can change behind it.
#include <nlohmann/json.hpp>

#include "aero/aero.h"
#include "core/error.h"
#include "infer/engine.h"
#include "infer/generate.h"
#include "tokenizer/tokenizer.h"
#include "train/config.h"
#include "train/trainer.h"

namespace aero::api {

const char* version() { return AERO_VERSION; }

struct Tokenizer::Impl {
  std::shared_ptr<const aero::Tokenizer> tok;
};

Tokenizer::Tokenizer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Tokenizer::Tokenizer(Tokenizer&&) noexcept = default;
Tokenizer& Tokenizer::operator=(Tokenizer&&) noexcept = default;
Tokenizer::~Tokenizer() = default;

Tokenizer Tokenizer::load(const std::string& path) {
  return Tokenizer(std::make_unique<Impl>(Impl{aero::load_tokenizer(path)}));
}

std::vector<int> Tokenizer::encode(const std::string& text) const {
  return impl_->tok->encode(text);
}

std::string Tokenizer::decode(const std::vector<int>& ids) const { return impl_->tok->decode(ids); }
int Tokenizer::vocab_size() const { return impl_->tok->vocab_size(); }
int Tokenizer::eos_id() const { return impl_->tok->eos_id(); }

struct Model::Impl {
  LoadedInference loaded;
  Tokenizer tokenizer;
};

Model::Model(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Model::Model(Model&&) noexcept = default;
Model& Model::operator=(Model&&) noexcept = default;
Model::~Model() = default;

Model Model::load(const std::string& path, const LoadOptions& opts) {
  LoadedInference li = load_inference(path, opts.weights, opts.tokenizer, opts.adapter, opts.unmerged);
  Tokenizer tok(std::make_unique<Tokenizer::Impl>(Tokenizer::Impl{li.tok}));
  return Model(std::make_unique<Impl>(Impl{std::move(li), std::move(tok)}));
}

const Tokenizer& Model::tokenizer() const { return impl_->tokenizer; }
int Model::context_length() const { return impl_->loaded.model_config().context(); }

Generation Model::generate(const std::string& prompt, const GenerateOptions& opts,
                           const TextCallback& on_text) const {
  GenerateOpts g;
  g.max_new = opts.max_new_tokens;
  g.sampler.temperature = opts.temperature;
  g.sampler.top_k = opts.top_k;
  g.sampler.top_p = opts.top_p;
  g.sampler.min_p = opts.min_p;
  g.sampler.repetition_penalty = opts.repetition_penalty;
  g.sampler.seed = opts.seed;
  g.stop = opts.stop;
  g.stop_at_eos = opts.stop_at_eos;
  // One sequence through the model's own generator (a decoder's context slides when full).
  const LoadedInference& li = impl_->loaded;
  SeqRequest req;
  for (int id : li.tok->encode(prompt)) req.prompt.push_back(id);
  if (req.prompt.empty()) req.prompt.push_back(li.tok->eos_id() >= 0 ? li.tok->eos_id() : 0);
  req.opts = g;
  req.on_text = on_text;
  GenerateResult r =
      make_generator(li, {.max_batch = 1, .context = ContextPolicy::slide})->run(std::move(req));
  return Generation{std::move(r.text), std::vector<int>(r.tokens.begin(), r.tokens.end()),
                    std::move(r.finish)};
}

namespace {

TrainResult train_config(RunConfig cfg, const std::vector<std::string>& overrides) {
  for (const std::string& o : overrides) apply_override(cfg, o);
  Trainer trainer(cfg);
  aero::TrainResult r = trainer.run();
  return TrainResult{r.steps, r.val_loss, r.test_loss, cfg.train.out_dir, r.last_checkpoint};
}

}  // namespace

TrainResult train(const std::string& config_path, const std::vector<std::string>& overrides) {
  return train_config(load_run_config(config_path), overrides);
}

TrainResult train_json(const std::string& config_json, const std::vector<std::string>& overrides) {
  nlohmann::json j = nlohmann::json::parse(config_json, nullptr, /*allow_exceptions=*/false);
  AERO_CHECK(!j.is_discarded(), "[api] the training config is not valid JSON");
  return train_config(run_config_from_json(j, "config"), overrides);
}

}  // namespace aero::api
