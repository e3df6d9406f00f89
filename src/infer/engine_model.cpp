// InferenceModel: the weights of a trained transformer stack converted to one format, from a
// checkpoint or from a file written by save() (`aero quantize`).
//
// The file is safetensors with the GGUF names of nn/transformer.h: f32 matrices as F32, bf16 as
// BF16, q8 as I8 `<name>.weight` (rows, cols) plus F32 `<name>.scale` (rows, cols / 32);
// embeddings, norms and biases F32; the head is always `output.weight` (a quantized copy of the
// embedding when tied). Metadata: format "aero.infer", version, weights, config (the model's
// config JSON with its "arch"; a GPT's when absent), tokenizer.
#include <sys/stat.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <deque>
#include <filesystem>
#include <map>

#include "infer/engine_impl.h"
#include "io/checkpoint.h"
#include "io/safetensors.h"
#include "models/load.h"

namespace aero {

namespace {

constexpr const char* kFileFormat = "aero.infer";
constexpr const char* kFileVersion = "1";

// The linear layers of block l, each a list of parameter names stacked into one QMatrix.
struct LinearGroup {
  QMatrix InferLayer::*w;
  std::vector<float> InferLayer::*b;
  std::vector<std::string> parts;
};

std::vector<LinearGroup> linear_groups(const TransformerSpec& cfg, int l) {
  std::string p = "blk." + std::to_string(l) + ".";
  std::vector<std::string> ffn_in = {p + "ffn_up"};
  if (is_gated(cfg.act)) ffn_in = {p + "ffn_gate", p + "ffn_up"};
  return {{&InferLayer::qkv, &InferLayer::qkv_b, {p + "attn_q", p + "attn_k", p + "attn_v"}},
          {&InferLayer::attn_out, &InferLayer::attn_out_b, {p + "attn_output"}},
          {&InferLayer::up, &InferLayer::up_b, ffn_in},
          {&InferLayer::down, &InferLayer::down_b, {p + "ffn_down"}}};
}

// q8 weights as plain int8 (rows, cols), whatever layout QMatrix keeps them in for its kernels:
// the file format does not change when the kernels' packing does.
std::vector<int8_t> q8_values(const QMatrix& m) {
  std::vector<float> v = dequantize(m);
  std::vector<int8_t> q(v.size());
  for (size_t i = 0; i < v.size(); i++) {
    float s = m.scale[i / kQ8Block];
    q[i] = s > 0 ? static_cast<int8_t>(std::lrintf(v[i] / s)) : 0;
  }
  return q;
}

// The inverse: int8 values and their scales back into a QMatrix, bit for bit (the scales are
// kept as stored, so a round trip does not move them by an ulp).
QMatrix q8_from_values(const int8_t* q, const float* scale, int rows, int cols) {
  size_t n = size_t(rows) * size_t(cols);
  std::vector<float> v(n);
  for (size_t i = 0; i < n; i++) v[i] = scale[i / kQ8Block] * float(q[i]);
  QMatrix m = quantize(v.data(), rows, cols, QFormat::q8);
  std::copy(scale, scale + n / kQ8Block, m.scale.begin());
  return m;
}

// Rows of several matrices of one format and width, stacked. q8 goes through plain int8 values,
// so the kernels' packing of q never has to be concatenated.
QMatrix stack_rows(std::vector<QMatrix> parts) {
  if (parts.size() == 1) return std::move(parts[0]);
  const QFormat format = parts[0].format;
  const int cols = parts[0].cols;
  int rows = 0;
  for (const QMatrix& p : parts) {
    AERO_ASSERT(p.format == format && p.cols == cols);
    rows += p.rows;
  }
  if (format == QFormat::q8) {
    std::vector<int8_t> q;
    std::vector<float> scale;
    for (const QMatrix& p : parts) {
      std::vector<int8_t> v = q8_values(p);
      q.insert(q.end(), v.begin(), v.end());
      scale.insert(scale.end(), p.scale.begin(), p.scale.end());
    }
    return q8_from_values(q.data(), scale.data(), rows, cols);
  }
  QMatrix m = std::move(parts[0]);
  for (size_t i = 1; i < parts.size(); i++) {
    m.f32.insert(m.f32.end(), parts[i].f32.begin(), parts[i].f32.end());
    m.bf16.insert(m.bf16.end(), parts[i].bf16.begin(), parts[i].bf16.end());
  }
  m.rows = rows;
  return m;
}

// The stack the engine runs for a model, or an error naming its architecture. A bidirectional
// stack (masked_lm) loads too: the diffusion sampler runs it; Engine (decoding) refuses it.
TransformerSpec decoder_stack(const ModelConfig& model) {
  model.validate();
  const Arch& arch = model.arch();
  AERO_CHECK(arch.family != ModelFamily::seq2seq, "[engine] a '", arch.name,
             "' model is an encoder-decoder: a quantized file does not hold one yet; pass "
             "--format bf16 or q8 to aero generate / chat / serve, which convert its decoder's "
             "weights when they start");
  AERO_CHECK(arch.stack != nullptr, "[engine] a '", arch.name,
             "' model is not a single transformer stack; the KV-cache engine cannot run it");
  const TransformerSpec s = arch.stack(model);
  return s;
}

bool is_regular_file(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

// Where a model's tensors come from: a ParamStore or a saved file.
struct Source {
  virtual ~Source() = default;
  virtual bool has(const std::string& name) const = 0;
  virtual std::vector<float> vec(const std::string& name, int64_t n) const = 0;
  virtual QMatrix matrix(const std::string& name, int rows, int cols) const = 0;
};

struct StoreSource : Source {
  const ParamStore& store;
  QFormat format;
  StoreSource(const ParamStore& s, QFormat f) : store(s), format(f) {}
  bool has(const std::string& name) const override { return store.has(name); }
  const float* data(const std::string& name, int64_t n) const {
    AERO_CHECK(store.has(name), "[engine] the parameters have no ", name);
    const Param& p = store.get(name);
    AERO_CHECK(p.numel() == n, "[engine] ", name, " has ", p.numel(), " values, expected ", n);
    return p.value.f32();
  }
  std::vector<float> vec(const std::string& name, int64_t n) const override {
    const float* d = data(name, n);
    return std::vector<float>(d, d + n);
  }
  QMatrix matrix(const std::string& name, int rows, int cols) const override {
    return quantize(data(name, int64_t(rows) * cols), rows, cols, format);
  }
};

struct FileSource : Source {
  const SafetensorsFile& f;
  QFormat format;
  FileSource(const SafetensorsFile& file, QFormat fmt) : f(file), format(fmt) {}
  bool has(const std::string& name) const override { return f.has(name); }
  const StEntry& entry(const std::string& name, StDType dt, std::vector<int64_t> shape) const {
    AERO_CHECK(f.has(name), "[engine] ", f.path(), ": missing tensor ", name);
    const StEntry& e = f.at(name);
    AERO_CHECK(e.dtype == dt && e.shape == shape, "[engine] ", f.path(), ": ", name, " is ",
               st_dtype_name(e.dtype), " ", e.shape_str(), ", expected ", st_dtype_name(dt), " ",
               StEntry{name, dt, shape}.shape_str());
    return e;
  }
  std::vector<float> vec(const std::string& name, int64_t n) const override {
    const StEntry& e = entry(name, StDType::F32, {n});
    std::vector<float> out(static_cast<size_t>(n));
    std::memcpy(out.data(), e.data, size_t(n) * 4);
    return out;
  }
  std::vector<float> table(const std::string& name, int64_t rows, int64_t cols) const {
    const StEntry& e = entry(name, StDType::F32, {rows, cols});
    std::vector<float> out(size_t(rows * cols));
    std::memcpy(out.data(), e.data, out.size() * 4);
    return out;
  }
  QMatrix matrix(const std::string& name, int rows, int cols) const override {
    QMatrix m;
    m.format = format;
    m.rows = rows;
    m.cols = cols;
    size_t n = size_t(rows) * size_t(cols);
    const std::string w = name + ".weight";
    switch (format) {
      case QFormat::f32: {
        const StEntry& e = entry(w, StDType::F32, {rows, cols});
        m.f32.resize(n);
        std::memcpy(m.f32.data(), e.data, n * 4);
        break;
      }
      case QFormat::bf16: {
        const StEntry& e = entry(w, StDType::BF16, {rows, cols});
        m.bf16.resize(n);
        std::memcpy(m.bf16.data(), e.data, n * 2);
        break;
      }
      case QFormat::q8: {
        AERO_CHECK(cols % kQ8Block == 0, "[engine] ", f.path(), ": ", name, " has ", cols,
                   " inputs, not a multiple of ", kQ8Block);
        const StEntry& e = entry(w, StDType::I8, {rows, cols});
        const StEntry& s = entry(name + ".scale", StDType::F32, {rows, cols / kQ8Block});
        std::vector<float> scale(n / kQ8Block);
        std::memcpy(scale.data(), s.data, scale.size() * 4);
        m = q8_from_values(reinterpret_cast<const int8_t*>(e.data), scale.data(), rows, cols);
        break;
      }
    }
    return m;
  }
};

}  // namespace

std::unique_ptr<EngineLora> resolve_lora(const InferenceModel::Impl& m,
                                         std::shared_ptr<const LoraWeights> weights) {
  const TransformerSpec& cfg = m.cfg;
  auto lora = std::make_unique<EngineLora>();
  lora->layers.resize(size_t(cfg.n_layer));
  size_t placed = 0;
  for (int l = 0; l < cfg.n_layer; l++) {
    std::vector<LinearGroup> groups = linear_groups(cfg, l);
    for (size_t g = 0; g < groups.size(); g++) {
      const int rows =
          groups[g].parts[0].ends_with("ffn_gate") || groups[g].parts[0].ends_with("ffn_up")
              ? cfg.ffn()
              : cfg.n_embd;
      for (size_t j = 0; j < groups[g].parts.size(); j++) {
        auto it = weights->modules.find(groups[g].parts[j]);
        if (it == weights->modules.end()) continue;
        lora->layers[size_t(l)][g].push_back({&it->second, int(j) * rows});
        placed++;
      }
    }
  }
  if (placed != weights->modules.size())
    for (const auto& [name, module] : weights->modules) {
      bool found = false;
      for (const auto& layer : lora->layers)
        for (const auto& parts : layer)
          for (const EngineLora::Part& p : parts) found |= p.module == &module;
      AERO_CHECK(found, "[engine] the adapter's module ", name,
                 " is not one the engine can add unmerged (merge the adapter instead)");
    }
  if (!weights->token_ids.empty()) {
    const Tensor& head =
        weights->head_rows.defined() ? weights->head_rows : weights->embedding_rows;
    AERO_CHECK(weights->embedding_rows.defined() && head.shape()[1] == cfg.n_embd,
               "[engine] the adapter's token rows do not fit the model's width ", cfg.n_embd);
    AERO_CHECK(weights->head_rows.defined() || cfg.tie_head,
               "[engine] the adapter has no head rows for its tokens, and the head is untied");
    lora->slot = weights->token_slots(cfg.vocab_size);
    lora->head_rows = head.f32();
  }
  lora->weights = std::move(weights);
  return lora;
}

namespace {

// Fills everything but the embeddings (the two sources store those differently).
void build_layers(InferenceModel::Impl& m, const Source& src, bool matrix_names_have_suffix) {
  const TransformerSpec& cfg = m.cfg;
  const int C = cfg.n_embd, H = cfg.ffn();
  auto name_of = [&](const std::string& base) {
    return matrix_names_have_suffix ? base + ".weight" : base;
  };
  auto norm = [&](const std::string& name, std::vector<float>& w, std::vector<float>& b) {
    w = src.vec(name + ".weight", C);
    if (cfg.norm == NormKind::layernorm) b = src.vec(name + ".bias", C);
  };
  m.layers.resize(size_t(cfg.n_layer));
  for (int l = 0; l < cfg.n_layer; l++) {
    InferLayer& L = m.layers[size_t(l)];
    std::string p = "blk." + std::to_string(l) + ".";
    norm(p + "attn_norm", L.attn_norm_w, L.attn_norm_b);
    norm(p + "ffn_norm", L.ffn_norm_w, L.ffn_norm_b);
    for (const LinearGroup& g : linear_groups(cfg, l)) {
      // attn_output and ffn_down take C and H inputs; everything else reads the C-wide stream.
      bool is_down = g.parts[0].ends_with("ffn_down");
      int cols = is_down ? H : C;
      int rows = g.parts[0].ends_with("ffn_gate") || g.parts[0].ends_with("ffn_up") ? H : C;
      std::vector<QMatrix> parts;
      std::vector<float> bias;
      for (const std::string& part : g.parts) {
        parts.push_back(src.matrix(name_of(part), rows, cols));
        if (cfg.bias) {
          std::vector<float> b = src.vec(part + ".bias", rows);
          bias.insert(bias.end(), b.begin(), b.end());
        }
      }
      L.*g.w = stack_rows(std::move(parts));
      L.*g.b = std::move(bias);
    }
  }
  if (cfg.pre_ln) norm("output_norm", m.out_norm_w, m.out_norm_b);
}

// A bidirectional stack (masked diffusion) multiplies a block of rows at every step, never one:
// its f32 matrices keep Wᵀ beside W (keep_transposed), twice the memory for 2-4x faster steps
// at small widths.
void keep_transposed_if_bidirectional(InferenceModel::Impl& m) {
  if (m.cfg.causal) return;
  for (InferLayer& L : m.layers)
    for (QMatrix* w : {&L.qkv, &L.attn_out, &L.up, &L.down}) keep_transposed(*w);
  keep_transposed(m.head);
}

}  // namespace

QFormat to_qformat(WeightFormat f) {
  switch (f) {
    case WeightFormat::f32:
      return QFormat::f32;
    case WeightFormat::bf16:
      return QFormat::bf16;
    case WeightFormat::q8:
      return QFormat::q8;
  }
  return QFormat::f32;
}

const char* weight_format_name(WeightFormat f) {
  switch (f) {
    case WeightFormat::f32:
      return "f32";
    case WeightFormat::bf16:
      return "bf16";
    case WeightFormat::q8:
      return "q8";
  }
  return "?";
}

WeightFormat parse_weight_format(const std::string& s) {
  if (s == "f32") return WeightFormat::f32;
  if (s == "bf16") return WeightFormat::bf16;
  if (s == "q8") return WeightFormat::q8;
  fail("[engine] unknown weight format '", s, "' (accepted: f32, bf16, q8)");
}

InferenceModel::InferenceModel(const ModelConfig& model, const ParamStore& store,
                               WeightFormat format)
    : impl_(std::make_shared<Impl>()) {
  Impl& m = *impl_;
  m.model = model;
  m.cfg = decoder_stack(model);
  m.format = format;
  const TransformerSpec& cfg = m.cfg;
  const int V = cfg.vocab_size, C = cfg.n_embd;
  StoreSource src(store, to_qformat(format));
  m.token_embd = src.vec("token_embd.weight", int64_t(V) * C);
  if (cfg.pos == PosKind::learned)
    m.pos_embd = src.vec("position_embd.weight", int64_t(cfg.block_size) * C);
  build_layers(m, src, true);
  m.head = cfg.tie_head ? quantize(m.token_embd.data(), V, C, to_qformat(format))
                        : src.matrix("output.weight", V, C);
  keep_transposed_if_bidirectional(m);
}

std::shared_ptr<const InferenceModel> InferenceModel::load(const std::string& path) {
  if (is_regular_file(path)) {
    SafetensorsFile f(path);
    auto it = f.metadata().find("weights");
    AERO_CHECK(it != f.metadata().end(), "[engine] ", path,
               " is not a file written by aero quantize (for a checkpoint, pass its directory)");
    return load(path, parse_weight_format(it->second));
  }
  return load(path, WeightFormat::f32);
}

std::shared_ptr<const InferenceModel> InferenceModel::load(const std::string& path,
                                                           WeightFormat format) {
  if (!is_regular_file(path)) {
    LoadedModel lm = load_model(path);
    return from(lm, format);
  }
  SafetensorsFile f(path);
  const auto& meta = f.metadata();
  auto get = [&](const char* key) {
    auto it = meta.find(key);
    AERO_CHECK(it != meta.end(), "[engine] ", path, ": no '", key,
               "' in the metadata (not a file written by aero quantize)");
    return it->second;
  };
  AERO_CHECK(get("format") == kFileFormat, "[engine] ", path, ": format '", get("format"),
             "', expected '", kFileFormat, "' (a checkpoint is a directory: pass the directory)");
  AERO_CHECK(get("version") == kFileVersion, "[engine] ", path, ": version ", get("version"),
             " is not supported (this aero reads version ", kFileVersion, ")");
  WeightFormat stored = parse_weight_format(get("weights"));
  AERO_CHECK(stored == format, "[engine] ", path, " holds ", weight_format_name(stored),
             " weights; it cannot be used as ", weight_format_name(format),
             " (quantize the checkpoint again, or leave the format out)");
  ModelConfig model_cfg;
  try {
    model_cfg = ModelConfig::from_json(nlohmann::json::parse(get("config")));
    model_cfg.validate();
  } catch (const nlohmann::json::exception& e) {
    fail("[engine] ", path, ": config metadata is not JSON: ", e.what());
  } catch (const Error& e) {
    fail("[engine] ", path, ": config metadata: ", e.what());
  }

  auto model = std::shared_ptr<InferenceModel>(new InferenceModel());
  model->impl_ = std::make_shared<Impl>();
  Impl& m = *model->impl_;
  m.model = model_cfg;
  m.cfg = decoder_stack(model_cfg);
  m.format = format;
  m.tokenizer_path = get("tokenizer");
  const TransformerSpec& cfg = m.cfg;
  FileSource src(f, to_qformat(format));
  const int V = cfg.vocab_size, C = cfg.n_embd;
  m.token_embd = src.table("token_embd.weight", V, C);
  if (cfg.pos == PosKind::learned)
    m.pos_embd = src.table("position_embd.weight", cfg.block_size, C);
  build_layers(m, src, false);
  m.head = src.matrix("output", V, C);
  keep_transposed_if_bidirectional(m);
  return model;
}

std::shared_ptr<const InferenceModel> InferenceModel::from(LoadedModel& m, WeightFormat format) {
  if (m.lora && !m.lora->merged) m.lora->merge();  // folded into the weights the engine reads
  auto model = std::make_shared<InferenceModel>(m.cfg, *m.store, format);
  model->impl_->tokenizer_path = m.tokenizer;
  return model;
}

void InferenceModel::save(const std::string& path) const {
  const Impl& m = *impl_;
  const TransformerSpec& cfg = m.cfg;
  const int C = cfg.n_embd;
  std::vector<StTensorRef> t;
  std::deque<std::vector<int8_t>> q8;  // plain int8 copies of q8 matrices, alive until written
  std::map<const QMatrix*, const int8_t*> q8_of;
  auto f32 = [&](const std::string& name, const std::vector<float>& v, std::vector<int64_t> shape) {
    if (!v.empty()) t.emplace_back(name, StDType::F32, std::move(shape), v.data());
  };
  // Rows [r0, r0 + rows) of a stacked matrix, written under `name` without a copy.
  auto matrix = [&](const std::string& name, const QMatrix& w, int r0, int rows) {
    size_t off = size_t(r0) * size_t(w.cols);
    std::vector<int64_t> shape = {rows, w.cols};
    switch (w.format) {
      case QFormat::f32:
        t.emplace_back(name + ".weight", StDType::F32, shape, w.f32.data() + off);
        break;
      case QFormat::bf16:
        t.emplace_back(name + ".weight", StDType::BF16, shape, w.bf16.data() + off);
        break;
      case QFormat::q8:
        if (!q8_of.count(&w)) q8_of[&w] = q8.emplace_back(q8_values(w)).data();
        t.emplace_back(name + ".weight", StDType::I8, shape, q8_of[&w] + off);
        t.emplace_back(name + ".scale", StDType::F32, std::vector<int64_t>{rows, w.cols / kQ8Block},
                       w.scale.data() + off / kQ8Block);
        break;
    }
  };
  f32("token_embd.weight", m.token_embd, {cfg.vocab_size, C});
  f32("position_embd.weight", m.pos_embd, {cfg.block_size, C});
  for (int l = 0; l < cfg.n_layer; l++) {
    const InferLayer& L = m.layers[size_t(l)];
    std::string p = "blk." + std::to_string(l) + ".";
    f32(p + "attn_norm.weight", L.attn_norm_w, {C});
    f32(p + "attn_norm.bias", L.attn_norm_b, {C});
    f32(p + "ffn_norm.weight", L.ffn_norm_w, {C});
    f32(p + "ffn_norm.bias", L.ffn_norm_b, {C});
    for (const LinearGroup& g : linear_groups(cfg, l)) {
      const QMatrix& w = L.*g.w;
      const std::vector<float>& b = L.*g.b;
      int rows = w.rows / int(g.parts.size());
      for (size_t i = 0; i < g.parts.size(); i++) {
        matrix(g.parts[i], w, int(i) * rows, rows);
        if (!b.empty())
          t.emplace_back(g.parts[i] + ".bias", StDType::F32, std::vector<int64_t>{rows},
                         b.data() + i * size_t(rows));
      }
    }
  }
  f32("output_norm.weight", m.out_norm_w, {C});
  f32("output_norm.bias", m.out_norm_b, {C});
  matrix("output", m.head, 0, m.head.rows);
  std::map<std::string, std::string> meta = {{"format", kFileFormat},
                                             {"version", kFileVersion},
                                             {"weights", weight_format_name(m.format)},
                                             {"config", m.model.to_json().dump()},
                                             {"tokenizer", m.tokenizer_path}};
  write_safetensors(path, t, meta);
}

const TransformerSpec& InferenceModel::config() const { return impl_->cfg; }
const ModelConfig& InferenceModel::model_config() const { return impl_->model; }
WeightFormat InferenceModel::format() const { return impl_->format; }
const std::string& InferenceModel::tokenizer_path() const { return impl_->tokenizer_path; }

size_t InferenceModel::weight_bytes() const {
  const Impl& m = *impl_;
  const size_t C = size_t(m.cfg.n_embd);
  size_t b = m.head.bytes() + 2 * C * 4;  // head, one embedding row and one position row
  auto vec = [](const std::vector<float>& v) { return v.size() * 4; };
  for (const InferLayer& L : m.layers)
    b += L.qkv.bytes() + L.attn_out.bytes() + L.up.bytes() + L.down.bytes() + vec(L.attn_norm_w) +
         vec(L.attn_norm_b) + vec(L.ffn_norm_w) + vec(L.ffn_norm_b) + vec(L.qkv_b) +
         vec(L.attn_out_b) + vec(L.up_b) + vec(L.down_b);
  return b + vec(m.out_norm_w) + vec(m.out_norm_b);
}

const ModelConfig& LoadedInference::model_config() const {
  return seq2seq ? seq2seq->cfg : model->model_config();
}

WeightFormat LoadedInference::format() const { return seq2seq ? seq2seq_weights : model->format(); }

std::shared_ptr<const ServedAdapter> load_served_adapter(const std::string& base,
                                                         const std::string& dir,
                                                         const std::string& name,
                                                         const std::string& tokenizer) {
  DetachedAdapter d = load_detached_adapter(base, dir);
  std::string tok = tokenizer.empty() ? d.tokenizer : tokenizer;
  if (tok.empty()) tok = read_checkpoint_model_config(find_checkpoint(base)).tokenizer;
  AERO_CHECK(!tok.empty(), "[engine] neither the adapter ", dir, " nor its base ", base,
             " records a tokenizer: pass --tokenizer");
  auto a = std::make_shared<ServedAdapter>();
  a->name = name;
  a->weights = std::move(d.weights);
  a->tok = load_tokenizer(tok);
  return a;
}

LoadedInference load_inference(const std::string& path, const std::string& format,
                               const std::string& tokenizer, const std::string& adapter,
                               bool unmerged) {
  AERO_CHECK(!unmerged || !adapter.empty(), "[engine] --unmerged needs an --adapter");
  if (unmerged) {
    LoadedInference r = load_inference(path, format, tokenizer);
    AERO_CHECK(r.model_config().arch().family != ModelFamily::masked_lm, "[engine] a '",
               r.model_config().arch().name,
               "' model runs its adapter merged (leave out --unmerged)");
    std::string name = adapter;
    while (name.size() > 1 && name.back() == '/') name.pop_back();
    name = std::filesystem::path(name).filename().string();
    r.adapter = load_served_adapter(path, adapter, name, tokenizer);
    r.tok = r.adapter->tok;
    return r;
  }
  LoadedInference r;
  std::string recorded;
  const std::string ckpt = is_regular_file(path) ? "" : find_checkpoint(path);
  AERO_CHECK(adapter.empty() || !is_regular_file(path),
             "[engine] --adapter needs the base "
             "model's checkpoint or run directory; ",
             path,
             " is a file (a quantized model "
             "cannot take an adapter: quantize the merged model instead)");
  if (!ckpt.empty() &&
      read_checkpoint_model_config(ckpt).model.arch().family == ModelFamily::seq2seq) {
    if (!format.empty()) r.seq2seq_weights = parse_weight_format(format);
    r.seq2seq = std::make_shared<LoadedModel>(adapter.empty() ? load_model(ckpt)
                                                              : load_model(ckpt, adapter));
    if (r.seq2seq->lora) r.seq2seq->lora->merge();
    recorded = r.seq2seq->tokenizer;
  } else if (!adapter.empty()) {
    LoadedModel lm = load_model(path, adapter);
    r.model =
        InferenceModel::from(lm, format.empty() ? WeightFormat::f32 : parse_weight_format(format));
    recorded = r.model->tokenizer_path();
  } else {
    r.model = format.empty() ? InferenceModel::load(path)
                             : InferenceModel::load(path, parse_weight_format(format));
    recorded = r.model->tokenizer_path();
  }
  const std::string tok = tokenizer.empty() ? recorded : tokenizer;
  AERO_CHECK(!tok.empty(), "[engine] ", path, " records no tokenizer: pass --tokenizer");
  r.tok = load_tokenizer(tok);
  return r;
}

}  // namespace aero
