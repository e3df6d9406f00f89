// Writes the seed files of fuzz/corpus/ that aero's own writers make (tiny valid files):
//   fuzz_make_seeds OUT_DIR    then copy OUT_DIR/<reader>/* to fuzz/corpus/<reader>/, without
//                              the .safetensors / .bin extensions (.gitignore skips those)
// The text formats' seeds are written by hand; tiny.gguf, mixed and v13 also by a few lines of
// Python with the format's spec, as a check of the writers.
#include <cstdio>
#include <filesystem>
#include <set>
#include <vector>

#include "data/shards.h"
#include "io/atomic_file.h"
#include "io/gguf.h"
#include "io/safetensors.h"
#include "models/gpt.h"
#include "models/load.h"
#include "models/peft.h"
#include "tokenizer/char_tokenizer.h"
#include "train/checkpoint.h"

int main(int argc, char** argv) {
  using namespace aero;
  namespace fs = std::filesystem;
  if (argc != 2) {
    std::fprintf(stderr, "usage: fuzz_make_seeds OUT_DIR\n");
    return 2;
  }
  const fs::path out = argv[1];
  for (const char* r : {"safetensors", "gguf", "ckpt_weights", "ckpt_state", "config",
                        "char_tokenizer", "shards", "peft_adapter"})
    fs::create_directories(out / r);

  const std::vector<float> f = {1, -2, 0.5f, 3, 4, -0.25f};
  const std::vector<uint16_t> bf = {0x3f80, 0xc000, 0x3f00, 0x4040};
  const std::vector<int32_t> i = {7, -1, 65536};
  const std::vector<int8_t> q = {1, -2, 3, -4};
  write_safetensors((out / "safetensors/mixed.safetensors").string(),
                    {{"w", StDType::F32, {2, 3}, f.data()},
                     {"b", StDType::BF16, {4}, bf.data()},
                     {"ids", StDType::I32, {3}, i.data()},
                     {"q", StDType::I8, {2, 2}, q.data()}},
                    {{"format", "pt"}});
  write_safetensors((out / "safetensors/scalar.safetensors").string(),
                    {{"s", StDType::F16, {}, bf.data()}});

  std::vector<float> x(64);
  for (size_t k = 0; k < x.size(); ++k) x[k] = 0.1f * float(k) - 3;
  const std::vector<uint8_t> q8 = quantize_q8_0(x.data(), 64);
  std::vector<uint16_t> h(4);
  for (int k = 0; k < 4; ++k) h[k] = f32_to_f16(x[k]);
  GgufWriter g;
  g.set("general.architecture", GgufValue::str("gpt2"));
  g.set("general.alignment", GgufValue::u32(32));
  g.set("gpt2.context_length", GgufValue::u64(8));
  g.set("gpt2.flag", GgufValue::boolean(true));
  g.set("gpt2.eps", GgufValue::f32(1e-5f));
  g.set("gpt2.f64", GgufValue::f64(0.5));
  g.set("tokenizer.ggml.tokens", GgufValue::str_array({"a", "b", "<eos>"}));
  g.set("tokenizer.ggml.token_type", GgufValue::int_array(GgufType::i32, {1, 1, 3}));
  g.set("tokenizer.ggml.scores", GgufValue::f32_array({0, -1, -2}));
  g.add_tensor("token_embd.weight", {2, 3}, GgmlType::F32, f.data());
  g.add_tensor("output_norm.weight", {4}, GgmlType::F16, h.data());
  g.add_tensor("blk.0.ffn_up.weight", {2, 32}, GgmlType::Q8_0, q8.data());
  g.add_tensor("blk.0.bf", {4}, GgmlType::BF16, bf.data());
  g.write((out / "gguf/tiny.gguf").string());

  // The tiny GPT of fuzz/ckpt_weights_fuzz.cpp, saved as a training checkpoint.
  RunConfig c;
  GptConfig& gc = c.model.as<GptConfig>();
  gc.vocab_size = 13;
  gc.block_size = 8;
  gc.n_layer = 1;
  gc.n_head = 2;
  gc.n_embd = 8;
  gc.ffn_hidden = 16;
  ParamStore store;
  Gpt gpt(gc, store);
  store.finalize(1);
  TrainState st;
  st.step = 2;
  const std::string ckpt = save_checkpoint((out / "run").string(), store, nullptr, c, st, 1, false);
  fs::copy_file(fs::path(ckpt) / "model.safetensors", out / "ckpt_weights/model.safetensors");
  fs::copy_file(fs::path(ckpt) / "state.json", out / "ckpt_state/state.json");
  fs::copy_file(fs::path(ckpt) / "config.json", out / "config/checkpoint_config.json");

  // fuzz/peft_adapter_fuzz.cpp's inputs: adapter_config.json, NUL, adapter_model.safetensors;
  // an empty config part stands for the target's own (this LoRA with these token rows).
  auto peft_seed = [&](const std::string& name, const std::vector<int>& tokens, bool own_config) {
    ModelConfig model;
    GptConfig& g = model.as<GptConfig>();
    g = gc;
    g.vocab_size = 15;  // two added tokens, 13 and 14
    LoraConfig lora;
    lora.r = 2;
    lora.alpha = 4;
    lora.targets = {"attn_q", "attn_v"};
    lora.trainable_tokens = tokens;
    ParamStore s;
    BuiltModel m = build_model(model, lora, s);
    s.finalize(1);
    const fs::path d = out / "peft" / name;
    write_peft_adapter(d.string(), lora, *m.lora, "CAUSAL_LM", "tiny", m.rows.get());
    const std::string config = own_config ? read_file((d / "adapter_config.json").string()) : "";
    write_file_atomic((out / "peft_adapter" / (name + ".bin")).string(),
                      config + '\0' + read_file((d / "adapter_model.safetensors").string()));
  };
  peft_seed("target_config", {13, 14}, false);
  peft_seed("aero_config", {13, 14}, true);
  peft_seed("lora_only", {}, true);
  peft_seed("base_rows", {3, 7}, true);

  std::set<char32_t> chars;
  collect_chars("aế b\nxyz", chars);
  CharTokenizer::from_chars(chars).save((out / "char_tokenizer/chars.json").string());

  for (uint32_t vocab : {13u, 70000u}) {
    ShardWriter w((out / ("shards/v" + std::to_string(vocab) + ".bin")).string(), vocab, 3);
    const std::vector<int32_t> t = {0, 1, 2, 3, 12, 5, int32_t(vocab - 1)};
    w.append(t);
    w.commit();
  }
  std::printf("seeds in %s\n", out.c_str());
  return 0;
}
