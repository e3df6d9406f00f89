#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <fstream>
#include <random>
#include <string>

#include "core/error.h"
#include "io/gguf.h"
#include "models/export_gguf.h"
#include "models/gpt.h"
#include "test_data_util.h"
#include "tokenizer/char_tokenizer.h"

using namespace aero;
using namespace aero::test;

namespace {

std::string read_bytes(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
}

void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary) << bytes;
}

// Opening `path` fails with an aero::Error that names the file and contains `what`.
void expect_open_error(const std::string& path, const std::string& what) {
  try {
    GgufFile f(path);
    ADD_FAILURE() << "expected an error containing: " << what;
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_EQ(msg.rfind("[gguf] " + path + ": ", 0), 0u) << msg;
    EXPECT_NE(msg.find(what), std::string::npos) << msg;
  }
}

std::vector<float> randn(size_t n, unsigned seed, float scale = 1.0f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> d(0.0f, scale);
  std::vector<float> v(n);
  for (float& x : v) x = d(rng);
  return v;
}

// One value of every GGUF type, scalars and arrays.
std::vector<std::pair<std::string, GgufValue>> every_type() {
  return {
      {"t.u8", GgufValue::scalar_int(GgufType::u8, 255)},
      {"t.i8", GgufValue::scalar_int(GgufType::i8, -128)},
      {"t.u16", GgufValue::scalar_int(GgufType::u16, 65535)},
      {"t.i16", GgufValue::scalar_int(GgufType::i16, -32768)},
      {"t.u32", GgufValue::u32(4000000000u)},
      {"t.i32", GgufValue::i32(-2000000000)},
      {"t.f32", GgufValue::f32(0.1f)},
      {"t.bool", GgufValue::boolean(true)},
      {"t.str", GgufValue::str("tiếng Việt ✓")},
      {"t.u64", GgufValue::u64(18446744073709551615ull)},
      {"t.i64", GgufValue::scalar_int(GgufType::i64, -9000000000000000000ll)},
      {"t.f64", GgufValue::f64(1.0 / 3.0)},
      {"t.empty_str", GgufValue::str("")},
      {"a.i32", GgufValue::int_array(GgufType::i32, {1, -2, 3})},
      {"a.u8", GgufValue::int_array(GgufType::u8, {0, 7, 255})},
      {"a.bool", GgufValue::int_array(GgufType::boolean, {1, 0})},
      {"a.f32", GgufValue::f32_array({1.5f, -2.25f})},
      {"a.str", GgufValue::str_array({"a", "", "▁b"})},
      {"a.empty", GgufValue::str_array({})},
  };
}

}  // namespace

TEST(gguf, f16_conversion_rounds_to_nearest_even) {
  EXPECT_EQ(f32_to_f16(1.0f), 0x3c00);
  EXPECT_EQ(f32_to_f16(-2.0f), 0xc000);
  EXPECT_EQ(f32_to_f16(0.1f), 0x2e66);
  EXPECT_EQ(f32_to_f16(65504.0f), 0x7bff);
  EXPECT_EQ(f32_to_f16(65519.0f), 0x7bff);  // below the midpoint to infinity
  EXPECT_EQ(f32_to_f16(65520.0f), 0x7c00);  // the midpoint rounds to even: infinity
  EXPECT_EQ(f32_to_f16(std::ldexp(1.0f, -24)), 0x0001);
  EXPECT_EQ(f32_to_f16(std::ldexp(1.0f, -25)), 0x0000);             // tie to even: zero
  EXPECT_EQ(f32_to_f16(std::ldexp(1.5f, -25)), 0x0001);             // above the tie
  EXPECT_EQ(f32_to_f16(1.0f + std::ldexp(1.0f, -11)), 0x3c00);      // tie: stays even
  EXPECT_EQ(f32_to_f16(1.0f + 3 * std::ldexp(1.0f, -11)), 0x3c02);  // tie: rounds up to even
  EXPECT_TRUE(std::isnan(f16_to_f32(f32_to_f16(NAN))));
  // Every finite half survives f16 -> f32 -> f16.
  for (uint32_t h = 0; h < 65536; h++) {
    if ((h & 0x7c00) == 0x7c00 && (h & 0x3ff)) continue;  // NaN payloads
    ASSERT_EQ(f32_to_f16(f16_to_f32(uint16_t(h))), h) << h;
  }
  EXPECT_EQ(f16_to_f32(0x0001), std::ldexp(1.0f, -24));
  EXPECT_EQ(f16_to_f32(0x03ff), std::ldexp(1023.0f, -24));
}

TEST(gguf, q8_0_round_trip_is_within_half_a_step) {
  std::vector<float> x = randn(32 * 5, 1, 3.0f);
  for (int j = 64; j < 96; j++) x[size_t(j)] = 0.0f;  // an all-zero block
  const std::vector<uint8_t> q = quantize_q8_0(x.data(), int64_t(x.size()));
  ASSERT_EQ(q.size(), 5u * 34u);
  std::vector<float> y(x.size());
  dequantize_q8_0(q.data(), y.data(), int64_t(x.size()));
  for (size_t b = 0; b < 5; b++) {
    float amax = 0;
    for (size_t j = 0; j < 32; j++) amax = std::max(amax, std::fabs(x[b * 32 + j]));
    // Half a quantization step, plus the f16 rounding of the scale (relative 2^-11) times 127.
    const float tol = amax / 127.0f * 0.5f + amax * std::ldexp(1.0f, -11) * 1.01f;
    for (size_t j = 0; j < 32; j++)
      ASSERT_LE(std::fabs(x[b * 32 + j] - y[b * 32 + j]), tol) << b << " " << j;
  }
  for (int j = 64; j < 96; j++) EXPECT_EQ(y[size_t(j)], 0.0f);
  EXPECT_THROW(quantize_q8_0(x.data(), 31), Error);
}

TEST(gguf, round_trip_metadata_and_tensors) {
  ScratchDir dir("gguf_rt");
  const std::string path = dir.file("m.gguf");
  GgufWriter w;
  for (auto& [k, v] : every_type()) w.set(k, v);
  w.set("general.alignment", GgufValue::u32(64));
  const std::vector<float> a = randn(3 * 5, 2), b = randn(7, 3), c = randn(2 * 3 * 4, 4);
  const std::vector<float> d = randn(4 * 64, 5);
  const std::vector<uint8_t> dq = quantize_q8_0(d.data(), int64_t(d.size()));
  std::vector<uint16_t> e(6);
  for (size_t i = 0; i < e.size(); i++) e[i] = f32_to_f16(float(i) - 2.5f);
  w.add_tensor("a", {3, 5}, GgmlType::F32, a.data());
  w.add_tensor("b", {7}, GgmlType::F32, b.data());
  w.add_tensor("blk.0.c", {2, 3, 4}, GgmlType::F32, c.data());
  w.add_tensor("d.q8", {4, 64}, GgmlType::Q8_0, dq.data());
  w.add_tensor("e.f16", {2, 3}, GgmlType::F16, e.data());
  w.write(path);

  GgufFile f(path);
  EXPECT_EQ(f.version(), 3u);
  EXPECT_EQ(f.alignment(), 64u);
  EXPECT_EQ(f.data_offset() % 64, 0u);
  const auto want = every_type();
  ASSERT_EQ(f.metadata().size(), want.size() + 1);
  for (size_t i = 0; i < want.size(); i++) {
    EXPECT_EQ(f.metadata()[i].first, want[i].first);  // order kept
    EXPECT_EQ(f.metadata()[i].second, want[i].second)
        << want[i].first << ": " << f.metadata()[i].second.str_repr();
  }
  ASSERT_EQ(f.tensors().size(), 5u);
  for (const GgufTensorInfo& t : f.tensors()) EXPECT_EQ(t.offset % 64, 0u) << t.name;
  EXPECT_EQ(f.tensor("blk.0.c").shape, (std::vector<int64_t>{2, 3, 4}));
  auto same = [](const Tensor& t, const std::vector<float>& v) {
    return t.numel() == int64_t(v.size()) && std::memcmp(t.f32(), v.data(), v.size() * 4) == 0;
  };
  EXPECT_TRUE(same(f.read_f32("a"), a));
  EXPECT_TRUE(same(f.read_f32("b"), b));
  EXPECT_TRUE(same(f.read_f32("blk.0.c"), c));
  EXPECT_EQ(f.read_f32("a").shape(), Shape({3, 5}));
  EXPECT_EQ(std::memcmp(f.tensor("d.q8").data, dq.data(), dq.size()), 0);
  const Tensor et = f.read_f32("e.f16");
  for (int i = 0; i < 6; i++) EXPECT_EQ(et.f32()[i], float(i) - 2.5f);
  // The file ends on the alignment, as ggml pads the last tensor.
  EXPECT_EQ(read_bytes(path).size() % 64, 0u);
  EXPECT_THROW(f.at("nope"), Error);
  EXPECT_THROW(f.tensor("nope"), Error);
}

TEST(gguf, writer_rejects_bad_tensors) {
  GgufWriter w;
  const float x[64] = {};
  EXPECT_THROW(w.add_tensor(std::string(64, 'n'), {1}, GgmlType::F32, x), Error);
  EXPECT_THROW(w.add_tensor("q", {2, 31}, GgmlType::Q8_0, x), Error);
  EXPECT_THROW(w.add_tensor("z", {0}, GgmlType::F32, x), Error);
  w.add_tensor("x", {2}, GgmlType::F32, x);
  EXPECT_THROW(w.add_tensor("x", {2}, GgmlType::F32, x), Error);
}

TEST(gguf, corrupt_files_fail_with_clear_errors) {
  ScratchDir dir("gguf_bad");
  const std::string good = dir.file("good.gguf"), bad = dir.file("bad.gguf");
  GgufWriter w;
  w.set("k.str", GgufValue::str("value"));
  w.set("k.arr", GgufValue::int_array(GgufType::i32, {1, 2, 3}));
  const std::vector<float> a = randn(40, 6);
  w.add_tensor("a", {5, 8}, GgmlType::F32, a.data());
  w.write(good);
  const std::string bytes = read_bytes(good);

  // Every truncation is an error (never a crash); most name what is missing.
  for (size_t n = 0; n < bytes.size(); n++) {
    write_bytes(bad, bytes.substr(0, n));
    try {
      GgufFile f(bad);
      ADD_FAILURE() << "a file cut at " << n << " of " << bytes.size() << " bytes was accepted";
    } catch (const Error& e) {
      ASSERT_EQ(std::string(e.what()).rfind("[gguf] " + bad + ": ", 0), 0u) << e.what();
    }
  }
  write_bytes(bad, bytes.substr(0, 10));
  expect_open_error(bad, "truncated: the tensor count needs 8 bytes but only 2 remain");
  write_bytes(bad, bytes.substr(0, bytes.size() - 1));
  expect_open_error(bad, "tensor 'a' (160 bytes at data offset 0) goes beyond the end");

  auto patched = [&](size_t at, const void* v, size_t n) {
    std::string s = bytes;
    std::memcpy(s.data() + at, v, n);
    write_bytes(bad, s);
  };
  patched(0, "GGML", 4);
  expect_open_error(bad, "not a GGUF file (bad magic)");
  const uint32_t v1 = 1;
  patched(4, &v1, 4);
  expect_open_error(bad, "GGUF version 1 is not supported");
  const uint64_t many = uint64_t(1) << 40;
  patched(16, &many, 8);
  expect_open_error(bad, "metadata count 1099511627776 cannot fit");
  // The tensor info sits at the end of the header: name, n_dims, ne[2], type, offset.
  const size_t info = bytes.find(std::string("\x01\0\0\0\0\0\0\0a", 9)) + 9;
  const uint64_t far = 4096, unaligned = 4;
  patched(info + 4 + 16 + 4, &far, 8);
  expect_open_error(bad, "goes beyond the end of the file");
  patched(info + 4 + 16 + 4, &unaligned, 8);
  expect_open_error(bad, "offset 4 is not a multiple of the alignment 32");
  const uint32_t q4_0 = 2;
  patched(info + 4 + 16, &q4_0, 4);
  expect_open_error(bad, "tensor 'a' has ggml type 2, which aero does not read");
  const uint32_t dims = 5;
  patched(info, &dims, 4);
  expect_open_error(bad, "tensor 'a' has 5 dimensions");
  const uint32_t bad_type = 13;
  patched(bytes.find("k.str") + 5, &bad_type, 4);
  expect_open_error(bad, "metadata 'k.str': unknown value type 13");
  expect_open_error(dir.file("missing.gguf"), "cannot open");
}

namespace {

GptConfig tiny(const std::string& arch) {
  GptConfig c;
  c.vocab_size = 40;  // more than the tokenizer: the rest become [PADn]
  c.block_size = 16;
  c.n_layer = 2;
  c.n_head = 2;
  c.n_embd = 32;
  c.ffn_hidden = 64;
  if (arch == "gpt2") {
    c.pos = PosKind::learned, c.norm = NormKind::layernorm, c.act = ActKind::gelu, c.bias = false,
    c.tie_head = true;
  } else {
    c.pos = PosKind::rope, c.norm = NormKind::rmsnorm, c.act = ActKind::swiglu, c.bias = false,
    c.tie_head = false;
    c.rope_theta = 500.0f;
  }
  return c;
}

// Element (r, col) of a (rows, C) parameter.
float at(const ParamStore& s, const std::string& name, int64_t r, int64_t col) {
  const Param& p = s.get(name);
  return p.value.f32()[r * p.shape[-1] + col];
}

}  // namespace

TEST(gguf_export, gpt2_layout_metadata_and_vocabulary) {
  ScratchDir dir("gguf_gpt2");
  CharTokenizer tok = CharTokenizer::from_chars({U'a', U'b', U' ', U'\n', U'ế'});
  tok.save(dir.file("chars.json"));
  const GptConfig cfg = tiny("gpt2");
  ParamStore store;
  Gpt gpt(cfg, store);
  store.finalize(11);
  GgufExportOptions opt;
  opt.tokenizer = dir.file("chars.json");
  opt.name = "tiny";
  const GgufExportReport r = export_gguf(cfg.spec(), store, dir.file("m.gguf"), opt);
  EXPECT_EQ(r.arch, "gpt2");
  EXPECT_EQ(r.vocab, 9);
  EXPECT_EQ(r.padded, 31);

  GgufFile f(dir.file("m.gguf"));
  EXPECT_EQ(f.at("general.architecture").strings[0], "gpt2");
  EXPECT_EQ(f.at("general.name").strings[0], "tiny");
  EXPECT_EQ(f.at("general.file_type").ints[0], 0);
  EXPECT_EQ(f.at("gpt2.context_length").ints[0], 16);
  EXPECT_EQ(f.at("gpt2.embedding_length").ints[0], 32);
  EXPECT_EQ(f.at("gpt2.block_count").ints[0], 2);
  EXPECT_EQ(f.at("gpt2.feed_forward_length").ints[0], 64);
  EXPECT_EQ(f.at("gpt2.attention.head_count").ints[0], 2);
  EXPECT_EQ(f.at("gpt2.attention.layer_norm_epsilon").floats[0], double(cfg.norm_eps));
  EXPECT_FALSE(f.has_key("gpt2.rope.freq_base"));
  EXPECT_EQ(f.at("tokenizer.ggml.model").strings[0], "llama");
  const auto& tokens = f.at("tokenizer.ggml.tokens").strings;
  ASSERT_EQ(tokens.size(), 40u);
  // Specials, then the characters in code point order with ' ' as "▁", then padding.
  EXPECT_EQ(tokens[0], "<pad>");
  EXPECT_EQ(tokens[3], "<eos>");
  EXPECT_EQ(tokens[4], "\n");
  EXPECT_EQ(tokens[5], "▁");
  EXPECT_EQ(tokens[8], "ế");
  EXPECT_EQ(tokens[39], "[PAD39]");
  const auto& types = f.at("tokenizer.ggml.token_type").ints;
  EXPECT_EQ(types[0], 3);
  EXPECT_EQ(types[1], 2);
  EXPECT_EQ(types[5], 1);
  EXPECT_EQ(types[39], 5);
  EXPECT_EQ(f.at("tokenizer.ggml.eos_token_id").ints[0], 3);
  EXPECT_EQ(f.at("tokenizer.ggml.add_bos_token").ints[0], 0);
  EXPECT_EQ(f.at("tokenizer.ggml.add_space_prefix").ints[0], 0);

  // Tied head: no output.weight. Every other tensor is a bit-exact copy, fused or zero-filled.
  EXPECT_FALSE(f.has_tensor("output.weight"));
  EXPECT_EQ(f.tensors().size(), 4u + 2u * 12u);
  for (const GgufTensorInfo& t : f.tensors()) EXPECT_EQ(t.type, GgmlType::F32) << t.name;
  for (const char* name :
       {"token_embd.weight", "position_embd.weight", "output_norm.bias", "blk.1.ffn_up.weight",
        "blk.0.attn_norm.bias", "blk.1.ffn_down.weight"}) {
    const Tensor t = f.read_f32(name);
    const Param& p = store.get(name);
    ASSERT_EQ(t.shape(), p.shape) << name;
    EXPECT_EQ(std::memcmp(t.f32(), p.value.f32(), size_t(p.numel()) * 4), 0) << name;
  }
  const Tensor qkv = f.read_f32("blk.1.attn_qkv.weight");
  ASSERT_EQ(qkv.shape(), Shape({96, 32}));
  int part = 0;
  for (const char* name : {"blk.1.attn_q.weight", "blk.1.attn_k.weight", "blk.1.attn_v.weight"}) {
    EXPECT_EQ(std::memcmp(qkv.f32() + part * 32 * 32, store.get(name).value.f32(), 32 * 32 * 4), 0)
        << name;
    part++;
  }
  for (const char* name : {"blk.0.attn_qkv.bias", "blk.0.attn_output.bias", "blk.0.ffn_up.bias"}) {
    const Tensor t = f.read_f32(name);
    for (int64_t i = 0; i < t.numel(); i++) ASSERT_EQ(t.f32()[i], 0.0f) << name;
  }
  EXPECT_EQ(f.read_f32("blk.0.ffn_up.bias").numel(), 64);
}

TEST(gguf_export, llama_permutes_q_and_k_for_interleaved_rope) {
  ScratchDir dir("gguf_llama");
  CharTokenizer::from_chars({U'x', U'y'}).save(dir.file("chars.json"));
  const GptConfig cfg = tiny("llama");
  ParamStore store;
  Gpt gpt(cfg, store);
  store.finalize(12);
  GgufExportOptions opt;
  opt.tokenizer = dir.file("chars.json");
  export_gguf(cfg.spec(), store, dir.file("m.gguf"), opt);
  GgufFile f(dir.file("m.gguf"));
  EXPECT_EQ(f.at("general.architecture").strings[0], "llama");
  EXPECT_EQ(f.at("llama.attention.head_count_kv").ints[0], 2);
  EXPECT_EQ(f.at("llama.rope.dimension_count").ints[0], 16);
  EXPECT_EQ(f.at("llama.rope.freq_base").floats[0], 500.0);
  EXPECT_EQ(f.at("llama.attention.layer_norm_rms_epsilon").floats[0], double(cfg.norm_eps));
  EXPECT_TRUE(f.has_tensor("output.weight"));
  EXPECT_FALSE(f.has_tensor("blk.0.attn_qkv.weight"));
  EXPECT_FALSE(f.has_tensor("output_norm.bias"));
  // Row 2j of head h is aero's row j, row 2j+1 is aero's row j + HS/2 (HS = 16).
  for (const char* name : {"blk.1.attn_q.weight", "blk.1.attn_k.weight"}) {
    const Tensor t = f.read_f32(name);
    for (int64_t h = 0; h < 2; h++)
      for (int64_t j = 0; j < 8; j++)
        for (int64_t c = 0; c < 32; c++) {
          ASSERT_EQ(t.f32()[(h * 16 + 2 * j) * 32 + c], at(store, name, h * 16 + j, c));
          ASSERT_EQ(t.f32()[(h * 16 + 2 * j + 1) * 32 + c], at(store, name, h * 16 + j + 8, c));
        }
  }
  for (const char* name : {"blk.0.attn_v.weight", "blk.0.ffn_gate.weight", "output.weight"}) {
    const Tensor t = f.read_f32(name);
    EXPECT_EQ(std::memcmp(t.f32(), store.get(name).value.f32(), t.nbytes()), 0) << name;
  }
}

TEST(gguf_export, q8_0_quantizes_matrices_and_keeps_vectors) {
  ScratchDir dir("gguf_q8");
  CharTokenizer::from_chars({U'x', U'y'}).save(dir.file("chars.json"));
  const GptConfig cfg = tiny("gpt2");
  ParamStore store;
  Gpt gpt(cfg, store);
  store.finalize(13);
  GgufExportOptions opt;
  opt.tokenizer = dir.file("chars.json");
  opt.type = "q8_0";
  const GgufExportReport r = export_gguf(cfg.spec(), store, dir.file("m.gguf"), opt);
  EXPECT_EQ(r.converted, 1 + 2 * 4);  // token_embd; attn_qkv, attn_output, ffn_up, ffn_down
  GgufFile f(dir.file("m.gguf"));
  EXPECT_EQ(f.at("general.file_type").ints[0], 7);
  EXPECT_EQ(f.tensor("position_embd.weight").type, GgmlType::F32);
  EXPECT_EQ(f.tensor("blk.0.ffn_norm.weight").type, GgmlType::F32);
  for (const char* name : {"token_embd.weight", "blk.0.ffn_down.weight"}) {
    const GgufTensorInfo& ti = f.tensor(name);
    ASSERT_EQ(ti.type, GgmlType::Q8_0) << name;
    const Tensor t = f.read_f32(name);
    const Param& p = store.get(name);
    ASSERT_EQ(t.shape(), p.shape);
    for (int64_t b = 0; b < p.numel() / 32; b++) {
      float amax = 0;
      for (int64_t j = 0; j < 32; j++) amax = std::max(amax, std::fabs(p.value.f32()[b * 32 + j]));
      for (int64_t j = 0; j < 32; j++)
        ASSERT_LE(std::fabs(t.f32()[b * 32 + j] - p.value.f32()[b * 32 + j]),
                  amax / 127.0f * 0.5f + amax * 1e-3f)
            << name << " " << b;
    }
  }
}

TEST(gguf_export, added_special_tokens_are_user_defined) {
  ScratchDir dir("gguf_added");
  CharTokenizer tok = CharTokenizer::from_chars({U'x', U'y'});
  tok.save(dir.file("chars.json"));
  tok.add_special_tokens({"<|user|>", "<|bot|>"});
  tok.save_added(dir.file("chars.json"));
  const GptConfig cfg = tiny("llama");
  ParamStore store;
  Gpt gpt(cfg, store);
  store.finalize(14);
  GgufExportOptions opt;
  opt.tokenizer = dir.file("chars.json");
  const GgufExportReport r = export_gguf(cfg.spec(), store, dir.file("m.gguf"), opt);
  EXPECT_EQ(r.vocab, 8);
  GgufFile f(dir.file("m.gguf"));
  const auto& tokens = f.at("tokenizer.ggml.tokens").strings;
  const auto& types = f.at("tokenizer.ggml.token_type").ints;
  EXPECT_EQ(tokens[6], "<|user|>");
  EXPECT_EQ(tokens[7], "<|bot|>");
  EXPECT_EQ(types[6], 4);
  EXPECT_EQ(types[7], 4);
  EXPECT_EQ(types[8], 5);  // padding
}

TEST(gguf_export, options_llama_cpp_cannot_run_are_named) {
  GptConfig c = tiny("llama");
  c.act = ActKind::relu;
  c.bias = true;
  try {
    gguf_arch_for(c.spec());
    ADD_FAILURE() << "expected an error";
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(),
                 "[export] llama.cpp cannot represent this model: as gpt2 it would need "
                 "pos=rope (needs learned), norm=rmsnorm (needs layernorm), act=relu (needs "
                 "gelu); as llama it would need act=relu (needs swiglu), bias=true (needs false)");
  }
  c = tiny("gpt2");
  c.pre_ln = false;
  EXPECT_THROW(gguf_arch_for(c.spec()), Error);
  EXPECT_EQ(gguf_arch_for(tiny("gpt2").spec()), "gpt2");
  EXPECT_EQ(gguf_arch_for(tiny("llama").spec()), "llama");
}
