#include "models/export_gguf.h"

#include <sentencepiece_processor.h>

#include <algorithm>
#include <cstring>
#include <deque>
#include <memory>

#include "core/error.h"
#include "io/gguf.h"
#include "kernels/quant.h"
#include "tokenizer/gpt2_bpe.h"
#include "tokenizer/tokenizer.h"

namespace aero {
namespace {

// llama.cpp's token types (llama_token_type).
constexpr int kNormal = 1, kUnknown = 2, kControl = 3, kUserDefined = 4, kUnused = 5, kByte = 6;
// general.file_type (llama_ftype): every tensor f32, or the 2-D weights f16 / q8_0 / bf16.
constexpr uint32_t kFileTypeF32 = 0, kFileTypeF16 = 1, kFileTypeQ8_0 = 7, kFileTypeBF16 = 32;
const char* const kSpmSpace = "\xE2\x96\x81";  // "▁" (U+2581), SentencePiece's space

struct Vocab {
  std::string model;  // tokenizer.ggml.model
  std::vector<std::string> tokens;
  std::vector<float> scores;
  std::vector<int64_t> types;
  std::vector<std::string> merges;  // gpt2 only
  int bos = -1, eos = -1, unk = -1, pad = -1;
  bool add_space_prefix = false;
};

// Added special tokens (aero matches them anywhere in the text, as llama.cpp does for
// USER_DEFINED tokens).
void append_added(const Tokenizer& tok, Vocab& v) {
  for (int id = tok.base_size(); id < tok.vocab_size(); id++) {
    v.tokens.push_back(tok.token_bytes(id, false));
    v.scores.push_back(0.0f);
    v.types.push_back(kUserDefined);
  }
}

// SentencePiece: the pieces, scores and kinds as the library reports them. llama.cpp's "llama"
// tokenizer merges by score, which is what SentencePiece BPE does; for unigram models it is an
// approximation (no Viterbi), and llama.cpp applies no normalizer (nmt_nfkc) of its own.
Vocab spm_vocab(const Tokenizer& tok, const std::string& path) {
  sentencepiece::SentencePieceProcessor sp;
  const auto status = sp.Load(path);
  AERO_CHECK(status.ok(), "[export] ", path, ": ", status.ToString());
  Vocab v;
  v.model = "llama";
  for (int id = 0; id < sp.GetPieceSize(); id++) {
    v.tokens.push_back(sp.IdToPiece(id));
    v.scores.push_back(sp.GetScore(id));
    v.types.push_back(sp.IsUnknown(id)   ? kUnknown
                      : sp.IsControl(id) ? kControl
                      : sp.IsUnused(id)  ? kUnused
                      : sp.IsByte(id)    ? kByte
                                         : kNormal);
  }
  append_added(tok, v);
  v.bos = sp.bos_id();
  v.eos = sp.eos_id();
  v.unk = sp.unk_id();
  v.pad = sp.pad_id();
  // The model's add_dummy_prefix shows in how it encodes a lone letter: "▁a" or "a".
  const std::vector<std::string> pieces = sp.EncodeAsPieces("a");
  v.add_space_prefix = !pieces.empty() && pieces[0].starts_with(kSpmSpace);
  return v;
}

// aero's char tokenizer as a "llama" (SentencePiece-style) vocabulary of single characters:
// llama.cpp turns ' ' into "▁" and then looks each character up; no two characters form a
// piece, so no merge ever applies and every character maps to its own id, as in aero. A
// character outside the vocabulary has no byte tokens to fall back to in llama.cpp, while aero
// maps it to <unk>.
Vocab char_vocab(const Tokenizer& tok) {
  Vocab v;
  v.model = "llama";
  const char* const specials[] = {"<pad>", "<unk>", "<bos>", "<eos>"};
  for (int id = 0; id < 4; id++) {
    AERO_CHECK(tok.token_to_id(specials[id]) == id, "[export] char tokenizer: expected ",
               specials[id], " at id ", id);
    v.tokens.push_back(specials[id]);
    v.scores.push_back(0.0f);
    v.types.push_back(id == 1 ? kUnknown : kControl);
  }
  for (int id = 4; id < tok.base_size(); id++) {
    std::string piece = tok.token_bytes(id, false);
    AERO_CHECK(piece != kSpmSpace, "[export] the char tokenizer has the character U+2581 '",
               kSpmSpace, "', which llama.cpp reserves for the space: it cannot be exported");
    v.tokens.push_back(piece == " " ? kSpmSpace : piece);
    v.scores.push_back(0.0f);
    v.types.push_back(kNormal);
  }
  append_added(tok, v);
  v.pad = 0;
  v.unk = 1;
  v.bos = 2;
  v.eos = 3;
  return v;
}

// GPT-2 byte-level BPE as llama.cpp's "gpt2" tokenizer: the tokens in byte-symbol form, the
// merges by rank and the GPT-2 pre-tokenizer; <|endoftext|> is BOS and EOS, as in GPT-2.
Vocab gpt2_vocab(const Gpt2BpeTokenizer& tok) {
  Vocab v;
  v.model = "gpt2";
  v.tokens = tok.tokens();
  v.scores.assign(v.tokens.size(), 0.0f);
  v.types.assign(v.tokens.size(), kNormal);
  if (tok.eos_id() >= 0) v.types[size_t(tok.eos_id())] = kControl;
  for (const auto& [a, b] : tok.merges()) v.merges.push_back(a + " " + b);
  append_added(tok, v);
  v.bos = v.eos = tok.eos_id();
  return v;
}

Vocab read_vocab(const std::string& path) {
  AERO_CHECK(!path.empty(),
             "[export] the model names no tokenizer (data.tokenizer): give one "
             "with --tokenizer");
  const std::unique_ptr<Tokenizer> tok = load_tokenizer(path);
  if (tok->kind() == "sentencepiece") return spm_vocab(*tok, path);
  if (tok->kind() == "char") return char_vocab(*tok);
  if (tok->kind() == "gpt2-bpe") return gpt2_vocab(dynamic_cast<const Gpt2BpeTokenizer&>(*tok));
  fail("[export] ", path, ": tokenizer kind '", tok->kind(), "' cannot be exported to GGUF");
}

// The options an architecture requires, compared with the model's: "" when all match, else
// "pos=rope (needs learned), ...".
std::string mismatches(const TransformerSpec& c, const std::string& arch) {
  std::string out;
  auto want = [&](const std::string& key, const std::string& have, const std::string& need) {
    if (have != need) out += cat(out.empty() ? "" : ", ", key, "=", have, " (needs ", need, ")");
  };
  const std::string pre = c.pre_ln ? "true" : "false", bias = c.bias ? "true" : "false";
  const std::string pos = pos_names().name(c.pos), norm = norm_names().name(c.norm),
                    act = act_names().name(c.act);
  if (arch == "gpt2") {
    want("pos", pos, "learned");
    want("norm", norm, "layernorm");
    want("act", act, "gelu");
    want("pre_ln", pre, "true");
  } else {
    want("pos", pos, "rope");
    want("norm", norm, "rmsnorm");
    want("act", act, "swiglu");
    want("pre_ln", pre, "true");
    want("bias", bias, "false");
  }
  return out;
}

// A parameter's values; the store holds every one the config declares.
const float* values(const ParamStore& s, const std::string& name) {
  AERO_CHECK(s.has(name), "[export] the model has no parameter '", name, "'");
  return s.get(name).value.f32();
}

}  // namespace

std::string gguf_arch_for(const TransformerSpec& cfg) {
  AERO_CHECK(cfg.causal,
             "[export] llama.cpp's gpt2 and llama architectures are causal; this "
             "model attends in both directions");
  const std::string g = mismatches(cfg, "gpt2"), l = mismatches(cfg, "llama");
  if (g.empty()) return "gpt2";
  if (l.empty()) return "llama";
  fail("[export] llama.cpp cannot represent this model: as gpt2 it would need ", g,
       "; as llama it would need ", l);
}

GgufExportReport export_gguf(const TransformerSpec& cfg, const ParamStore& store,
                             const std::string& path, const GgufExportOptions& opt) {
  const std::pair<GgmlType, uint32_t> types[] = {{GgmlType::F32, kFileTypeF32},
                                                 {GgmlType::F16, kFileTypeF16},
                                                 {GgmlType::BF16, kFileTypeBF16},
                                                 {GgmlType::Q8_0, kFileTypeQ8_0}};
  GgmlType wtype = GgmlType::F32;
  uint32_t file_type = kFileTypeF32;
  bool known = false;
  for (const auto& [t, ft] : types)
    if (opt.type == ggml_type_name(t)) wtype = t, file_type = ft, known = true;
  AERO_CHECK(known, "[export] --type must be f32, f16, bf16 or q8_0, got '", opt.type, "'");
  GgufExportReport rep;
  rep.arch = gguf_arch_for(cfg);
  const std::string& A = rep.arch;
  const int64_t V = cfg.vocab_size, C = cfg.n_embd, H = cfg.ffn(), NH = cfg.n_head;
  const int64_t HS = cfg.head_size();

  Vocab vocab = read_vocab(opt.tokenizer);
  AERO_CHECK(int64_t(vocab.tokens.size()) <= V, "[export] the tokenizer ", opt.tokenizer, " has ",
             vocab.tokens.size(), " tokens but the model only ", V, " embeddings");
  rep.vocab = int(vocab.tokens.size());
  // llama.cpp's "llama" tokenizer falls back to <0xNN> byte tokens for a character outside the
  // vocabulary; without them it aborts (std::out_of_range).
  if (vocab.model == "llama" &&
      std::find(vocab.types.begin(), vocab.types.end(), kByte) == vocab.types.end()) {
    const bool newline =
        std::find(vocab.tokens.begin(), vocab.tokens.end(), "\n") != vocab.tokens.end();
    rep.warnings.push_back(
        cat("the vocabulary has no byte tokens: llama.cpp aborts on text with a character outside "
            "it",
            newline ? "" : "; \"\\n\" is missing too (node-llama-cpp aborted loading such a model)",
            " (SentencePiece with byte fallback, aero's default, does not have this problem)"));
  }
  // llama.cpp takes the vocabulary size from the token list: pad it to the embedding rows.
  for (int64_t id = int64_t(vocab.tokens.size()); id < V; id++) {
    vocab.tokens.push_back("[PAD" + std::to_string(id) + "]");
    vocab.scores.push_back(-1000.0f);
    vocab.types.push_back(kUnused);
    rep.padded++;
  }

  GgufWriter w;
  w.set("general.architecture", GgufValue::str(A));
  w.set("general.name", GgufValue::str(opt.name.empty() ? "aero" : opt.name));
  w.set("general.file_type", GgufValue::u32(file_type));
  w.set("general.quantization_version", GgufValue::u32(2));
  w.set("general.alignment", GgufValue::u32(32));
  w.set(A + ".vocab_size", GgufValue::u32(uint32_t(V)));
  w.set(A + ".context_length", GgufValue::u32(uint32_t(cfg.block_size)));
  w.set(A + ".embedding_length", GgufValue::u32(uint32_t(C)));
  w.set(A + ".block_count", GgufValue::u32(uint32_t(cfg.n_layer)));
  w.set(A + ".feed_forward_length", GgufValue::u32(uint32_t(H)));
  w.set(A + ".attention.head_count", GgufValue::u32(uint32_t(NH)));
  if (A == "gpt2") {
    w.set(A + ".attention.layer_norm_epsilon", GgufValue::f32(cfg.norm_eps));
  } else {
    w.set(A + ".attention.head_count_kv", GgufValue::u32(uint32_t(NH)));
    w.set(A + ".attention.layer_norm_rms_epsilon", GgufValue::f32(cfg.norm_eps));
    w.set(A + ".rope.freq_base", GgufValue::f32(cfg.rope_theta));
    w.set(A + ".rope.dimension_count", GgufValue::u32(uint32_t(HS)));
  }
  w.set("tokenizer.ggml.model", GgufValue::str(vocab.model));
  if (vocab.model == "gpt2") w.set("tokenizer.ggml.pre", GgufValue::str("gpt-2"));
  w.set("tokenizer.ggml.tokens", GgufValue::str_array(vocab.tokens));
  w.set("tokenizer.ggml.scores", GgufValue::f32_array(vocab.scores));
  w.set("tokenizer.ggml.token_type", GgufValue::int_array(GgufType::i32, vocab.types));
  if (!vocab.merges.empty()) w.set("tokenizer.ggml.merges", GgufValue::str_array(vocab.merges));
  const std::pair<const char*, int> ids[] = {
      {"bos", vocab.bos}, {"eos", vocab.eos}, {"unknown", vocab.unk}, {"padding", vocab.pad}};
  for (const auto& [key, id] : ids)
    if (id >= 0) w.set(cat("tokenizer.ggml.", key, "_token_id"), GgufValue::u32(uint32_t(id)));
  // aero never puts BOS in front of a text (training data are documents joined by EOS).
  w.set("tokenizer.ggml.add_bos_token", GgufValue::boolean(false));
  w.set("tokenizer.ggml.add_eos_token", GgufValue::boolean(false));
  if (vocab.model == "llama")
    w.set("tokenizer.ggml.add_space_prefix", GgufValue::boolean(vocab.add_space_prefix));

  // Buffers made here (fused, permuted, zero, converted) live until the file is written.
  std::deque<std::vector<float>> made;
  std::deque<std::vector<uint8_t>> converted;
  auto emit = [&](const std::string& name, std::vector<int64_t> shape, const float* data,
                  bool quantizable) {
    rep.tensors++;
    const int64_t n = shape[0] * (shape.size() == 2 ? shape[1] : 1);
    if (wtype != GgmlType::F32 && quantizable && shape.size() == 2 &&
        (wtype != GgmlType::Q8_0 || shape[1] % kQ8_0Block == 0)) {
      std::vector<uint8_t>& bytes = converted.emplace_back();
      if (wtype == GgmlType::Q8_0) {
        bytes = quantize_q8_0(data, n);
      } else {
        bytes.resize(size_t(n) * 2);
        for (int64_t i = 0; i < n; i++) {
          const uint16_t h = wtype == GgmlType::F16 ? f32_to_f16(data[i]) : f32_to_bf16(data[i]);
          std::memcpy(bytes.data() + 2 * i, &h, 2);
        }
      }
      w.add_tensor(name, std::move(shape), wtype, bytes.data());
      rep.converted++;
    } else {
      w.add_tensor(name, std::move(shape), GgmlType::F32, data);
    }
  };
  auto copy = [&](const std::string& name, bool quantizable = true) {
    const Param& p = store.get(name);
    std::vector<int64_t> shape(p.shape.d.begin(), p.shape.d.begin() + p.shape.ndim);
    emit(name, std::move(shape), values(store, name), quantizable);
  };
  // A bias, or zeros where the model has none (gpt2 in llama.cpp requires every bias).
  auto bias_or_zeros = [&](const std::string& name, int64_t n) -> const float* {
    if (store.has(name)) return values(store, name);
    made.emplace_back(size_t(n), 0.0f);
    return made.back().data();
  };

  copy("token_embd.weight");
  // llama.cpp's converter keeps position embeddings f32 too (they are looked up, not multiplied).
  if (A == "gpt2") copy("position_embd.weight", false);
  for (int l = 0; l < cfg.n_layer; l++) {
    const std::string b = "blk." + std::to_string(l) + ".";
    copy(b + "attn_norm.weight", false);
    if (A == "gpt2") {
      copy(b + "attn_norm.bias", false);
      // attn_qkv: the rows of Q, K and V stacked, (3C, C); llama.cpp splits the product in
      // this order.
      std::vector<float>& qkv = made.emplace_back(size_t(3 * C * C));
      std::vector<float>& qkv_b = made.emplace_back(size_t(3 * C));
      int i = 0;
      for (const char* part : {"attn_q", "attn_k", "attn_v"}) {
        std::memcpy(qkv.data() + i * C * C, values(store, b + part + ".weight"), size_t(C * C) * 4);
        std::memcpy(qkv_b.data() + i * C, bias_or_zeros(b + part + ".bias", C), size_t(C) * 4);
        i++;
      }
      emit(b + "attn_qkv.weight", {3 * C, C}, qkv.data(), true);
      emit(b + "attn_qkv.bias", {3 * C}, qkv_b.data(), false);
      copy(b + "attn_output.weight");
      emit(b + "attn_output.bias", {C}, bias_or_zeros(b + "attn_output.bias", C), false);
      copy(b + "ffn_norm.weight", false);
      copy(b + "ffn_norm.bias", false);
      copy(b + "ffn_up.weight");
      emit(b + "ffn_up.bias", {H}, bias_or_zeros(b + "ffn_up.bias", H), false);
      copy(b + "ffn_down.weight");
      emit(b + "ffn_down.bias", {C}, bias_or_zeros(b + "ffn_down.bias", C), false);
    } else {
      // aero rotates the pair (j, j + HS/2) of each head (rotate-half, as Hugging Face LLaMA);
      // llama.cpp's "llama" RoPE rotates (2j, 2j + 1) by the same angle pos·θ^(-2j/HS). Moving
      // row j to 2j and row j + HS/2 to 2j + 1 within each head of Q and K (what llama.cpp's
      // HF converter does) makes llama.cpp rotate the same pairs; Q·K is unchanged because
      // both sides are permuted alike, and V and the output projection are untouched.
      for (const char* part : {"attn_q", "attn_k"}) {
        const float* src = values(store, b + part + ".weight");
        std::vector<float>& dst = made.emplace_back(size_t(C * C));
        for (int64_t h = 0; h < NH; h++)
          for (int64_t j = 0; j < HS / 2; j++)
            for (int64_t half = 0; half < 2; half++)
              std::memcpy(dst.data() + (h * HS + 2 * j + half) * C,
                          src + (h * HS + j + half * HS / 2) * C, size_t(C) * 4);
        emit(b + part + ".weight", {C, C}, dst.data(), true);
      }
      copy(b + "attn_v.weight");
      copy(b + "attn_output.weight");
      copy(b + "ffn_norm.weight", false);
      copy(b + "ffn_gate.weight");
      copy(b + "ffn_up.weight");
      copy(b + "ffn_down.weight");
    }
  }
  copy("output_norm.weight", false);
  if (A == "gpt2") copy("output_norm.bias", false);
  // Both architectures fall back to token_embd when output.weight is absent (a tied head).
  if (!cfg.tie_head) copy("output.weight");
  w.write(path);
  return rep;
}

}  // namespace aero
