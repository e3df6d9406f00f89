#include "nn/lora.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <regex>

#include "kernels/gemm.h"
#include "nn/token_rows.h"

namespace aero {

float LoraConfig::scale() const { return rslora ? alpha / std::sqrt(float(r)) : alpha / float(r); }

namespace {

// libstdc++ reads the numbers of back-references (\12) and of repeat counts ({3,5}) into an int
// without an overflow check (undefined behaviour, found by the peft_config fuzz target), so
// numbers longer than any real pattern needs are refused before std::regex sees them.
void check_regex_numbers(const std::string& re) {
  constexpr size_t kMaxDigits = 4;
  bool braces = false;
  for (size_t i = 0; i < re.size(); i++) {
    const char c = re[i];
    if (c == '\\' && i + 1 < re.size() && !std::isdigit(static_cast<unsigned char>(re[i + 1]))) {
      i++;  // an escaped character, never a count
      continue;
    }
    if (c == '{') braces = true;
    if (c == '}') braces = false;
    if ((c == '\\' || braces) && i + 1 < re.size()) {
      size_t j = i + 1;
      while (j < re.size() && std::isdigit(static_cast<unsigned char>(re[j]))) j++;
      AERO_CHECK(j - i - 1 <= kMaxDigits, "[lora] target_regex '", re, "': the number at offset ",
                 i + 1, " is too large for a back-reference or a repeat count");
    }
  }
}

}  // namespace

void LoraConfig::validate() const {
  AERO_CHECK(r > 0, "[lora] r must be > 0, got ", r);
  AERO_CHECK(alpha > 0, "[lora] alpha must be > 0, got ", alpha);
  AERO_CHECK(dropout >= 0 && dropout < 1, "[lora] dropout must be in [0, 1), got ", dropout);
  AERO_CHECK(targets.empty() != target_regex.empty(),
             "[lora] give the target modules as a list of names or as one regular expression");
  if (!target_regex.empty()) {
    check_regex_numbers(target_regex);
    try {
      std::regex check(target_regex);
    } catch (const std::regex_error& e) {
      fail("[lora] target_regex '", target_regex, "' is not a regular expression: ", e.what());
    }
  }
}

const FieldTable<LoraConfig>& lora_config_fields() {
  static const FieldTable<LoraConfig> table = [] {
    using C = LoraConfig;
    FieldTable<C> t("lora");
    t.add("r", &C::r, "rank of the adapters; 0: no adapters (full training)")
        .add("alpha", &C::alpha, "scale numerator: the LoRA path is scaled by alpha / r")
        .add("dropout", &C::dropout, "dropout on the LoRA path's input (training only)")
        .add("rslora", &C::rslora, "scale by alpha / sqrt(r) (rank-stabilised LoRA)")
        .add("targets", &C::targets,
             "modules to adapt, matched as PEFT does: a name matches itself and every module "
             "whose name ends in .name (GPT: attn_q attn_k attn_v attn_output ffn_up ffn_down)")
        .add("target_regex", &C::target_regex,
             "instead of targets: a regular expression the whole module name must match")
        .add("trainable_tokens", &C::trainable_tokens,
             "token ids whose embedding (and untied head) rows train with the adapters "
             "(PEFT's trainable_token_indices; aero finetune --add-tokens fills it)");
    return t;
  }();
  return table;
}

bool lora_matches(const LoraConfig& cfg, const std::string& module) {
  if (!cfg.target_regex.empty()) return std::regex_match(module, std::regex(cfg.target_regex));
  for (const std::string& t : cfg.targets)
    if (module == t || module.ends_with("." + t)) return true;
  return false;
}

LoraAdapter::LoraAdapter(ParamStore& store, const Linear& base, const LoraConfig& cfg)
    : store_(&store), scale_(cfg.scale()), dropout_(cfg.dropout) {
  // PEFT's A: kaiming_uniform_(a = sqrt(5)), which is U(-1/sqrt(in), 1/sqrt(in)).
  a_ = &store.declare(base.name() + ".lora_A.weight", {cfg.r, base.in()}, Init::uniform,
                      1.0f / std::sqrt(float(base.in())));
  b_ = &store.declare(base.name() + ".lora_B.weight", {base.out(), cfg.r}, Init::zeros);
}

Var LoraAdapter::forward(Tape& tape, Var x) const {
  // One op: the dropped input is never kept (see ops_lora.cpp); the scale is applied on the
  // rank-r middle, not on the (..., out) result.
  return lora(x, store_->var(tape, *a_), store_->var(tape, *b_), scale_, dropout_);
}

void LoraAdapter::fold_into(Param& weight, float sign) const {
  const int64_t out = b_->shape[0], r = b_->shape[1], in = a_->shape[1];
  const float* A = a_->value.f32();
  const float* B = b_->value.f32();
  store_->widen_to_f32(weight);  // a bf16-stored base is merged into in f32
  float* W = weight.value.f32();
  for (int64_t o = 0; o < out; o++)
    for (int64_t i = 0; i < in; i++) {
      double d = 0;
      for (int64_t k = 0; k < r; k++) d += double(B[o * r + k]) * A[k * in + i];
      W[o * in + i] += float(sign * scale_ * d);
    }
}

void LoraAttachment::merge() {
  if (merged) return;
  for (size_t i = 0; i < modules.size(); i++) {
    adapters[i]->fold_into(modules[i]->weight_param(), +1.0f);
    modules[i]->adapter = nullptr;
  }
  merged = true;
}

void LoraAttachment::unmerge() {
  if (!merged) return;
  for (size_t i = 0; i < modules.size(); i++) {
    adapters[i]->fold_into(modules[i]->weight_param(), -1.0f);
    modules[i]->adapter = adapters[i].get();
  }
  merged = false;
}

LoraAttachment attach_lora(const std::vector<Linear*>& linears, ParamStore& store,
                           const LoraConfig& cfg) {
  cfg.validate();
  LoraAttachment att;
  for (Param& p : store.params()) p.trainable = false;
  for (Linear* l : linears) {
    if (!lora_matches(cfg, l->name())) continue;
    AERO_CHECK(l->adapter == nullptr, "[lora] ", l->name(), " already has an adapter");
    auto ad = std::make_unique<LoraAdapter>(store, *l, cfg);
    att.params += ad->a().numel() + ad->b().numel();
    l->adapter = ad.get();
    att.modules.push_back(l);
    att.adapters.push_back(std::move(ad));
  }
  if (att.modules.empty()) {
    std::string names;
    for (size_t i = 0; i < linears.size() && i < 8; i++)
      names += (i ? ", " : "") + linears[i]->name();
    fail("[lora] no module matches the targets (the model's modules are named like: ", names, ")");
  }
  return att;
}

void LoraWeights::Module::add_to(const float* x, int64_t ldx, int n, float* y, int64_t ldy) const {
  const int r = int(a.shape()[0]), in = int(a.shape()[1]), out = int(b.shape()[0]);
  std::vector<float> t(size_t(n) * size_t(r));
  sgemm(false, true, n, r, in, 1.0f, x, int(ldx), a.f32(), in, 0.0f, t.data(), r);
  sgemm(false, true, n, out, r, scale, t.data(), r, b.f32(), r, 1.0f, y, int(ldy));
}

std::vector<int32_t> LoraWeights::token_slots(int64_t vocab) const {
  std::vector<int32_t> slot(size_t(vocab), 0);
  for (size_t i = 0; i < token_ids.size(); i++)
    if (token_ids[i] >= 0 && token_ids[i] < vocab) slot[size_t(token_ids[i])] = int32_t(i) + 1;
  return slot;
}

int64_t LoraWeights::bytes() const {
  int64_t n = 0;
  for (const auto& [name, m] : modules) n += m.a.numel() + m.b.numel();
  for (const Tensor* t : {&embedding_rows, &head_rows})
    if (t->defined()) n += t->numel();
  return n * int64_t(sizeof(float));
}

LoraWeights detach_lora(const LoraAttachment& att, const TokenRowsAttachment* rows) {
  LoraWeights w;
  for (size_t i = 0; i < att.modules.size(); i++) {
    const LoraAdapter& ad = *att.adapters[i];
    w.modules[att.modules[i]->name()] = {ad.a().value.contiguous_copy(),
                                         ad.b().value.contiguous_copy(), ad.scale()};
  }
  if (rows && rows->embedding) {
    w.token_ids = rows->embedding->ids();
    w.embedding_rows = rows->embedding->rows().value.contiguous_copy();
    if (rows->head) {
      AERO_CHECK(rows->head->ids() == w.token_ids, "[lora] internal: head rows differ");
      w.head_rows = rows->head->rows().value.contiguous_copy();
    }
  }
  return w;
}

Var LoraWeightsAdapter::forward(Tape& tape, Var x) const {
  return linear(scale(linear(x, tape.constant(m_->a)), m_->scale), tape.constant(m_->b));
}

}  // namespace aero
