// T5 generation against the float64 reference (tests/reference/t5_ref.py, make_generation):
// on the reference's random v1.0 and mT5-style checkpoints, greedy decoding (with and without
// no_repeat_ngram_size) and beam search (num_beams, length_penalty, early_stopping,
// no_repeat_ngram_size as Hugging Face's generate()) give the reference's tokens exactly, and
// end by EOS where it does. The EOS id is one the random model predicts often (written by the
// reference), so answers end by EOS and by length.
#include <string>

#include "infer/beam_search.h"
#include "infer/seq2seq.h"
#include "models/t5.h"
#include "parity_util.h"

using namespace aero;
using namespace aero::parity;

namespace {

std::vector<int32_t> read_ids(const SafetensorsFile& f, const std::string& name) {
  const StEntry& e = f.at(name);
  Tensor t = Tensor::empty({e.shape.at(0)}, DType::i32);
  f.read_into(name, t);
  return std::vector<int32_t>(t.i32(), t.i32() + t.numel());
}

struct GenCase {
  const char* name;
  BeamOpts beam;
};

void run_generation(const std::string& name) {
  auto file = open_reference("t5_gen_" + name + ".safetensors");
  const SafetensorsFile& f = *file;
  ImportedModel m = read_hf_t5(data_path("t5_" + name));
  m.cfg.as<T5Config>().eos_token_id = read_ids(f, "gen.eos").at(0);
  ParamStore s;
  auto model = build_model(m.cfg, s);
  s.finalize();
  for (const auto& [pname, t] : m.weights)
    std::copy(t.f32(), t.f32() + t.numel(), s.get(pname).value.f32());
  const GenCase cases[] = {
      {"greedy", {}},
      {"greedy_ngram2", {.no_repeat_ngram_size = 2}},
      {"beam3", {.num_beams = 3}},
      {"beam4_lp2_early", {.num_beams = 4, .length_penalty = 2.0f, .early_stopping = true}},
      {"beam4_lp05_ngram2", {.num_beams = 4, .length_penalty = 0.5f, .no_repeat_ngram_size = 2}},
      {"beam2_ngram3", {.num_beams = 2, .no_repeat_ngram_size = 3}},
  };
  const int max_new = 10;
  int by_eos = 0, by_length = 0;
  for (int i = 0; i < 3; i++) {
    const std::vector<int32_t> src = read_ids(f, "gen.src." + std::to_string(i));
    for (const GenCase& c : cases) {
      const std::vector<int32_t> want = read_ids(f, cat("gen.", c.name, ".", i));
      const bool want_eos = want.at(0) != 0;
      const std::vector<int32_t> want_tokens(want.begin() + 1, want.end());
      std::vector<int32_t> got;
      bool got_eos = false;
      if (c.beam.num_beams == 1) {
        Tensor t = Tensor::empty({1, int64_t(src.size())}, DType::i32);
        std::copy(src.begin(), src.end(), t.i32());
        got =
            greedy_seq2seq(*model, t, {}, max_new, false, c.beam.no_repeat_ngram_size).tokens.at(0);
        got_eos = !got.empty() && got.back() == m.cfg.as<T5Config>().eos_token_id;
        if (got_eos) got.pop_back();
      } else {
        const BeamSearch::Answer a = beam_seq2seq(*model, src, c.beam, max_new);
        got = a.tokens;
        got_eos = a.eos;
      }
      EXPECT_EQ(got, want_tokens) << name << " " << c.name << " source " << i;
      EXPECT_EQ(got_eos, want_eos) << name << " " << c.name << " source " << i;
      (want_eos ? by_eos : by_length)++;
    }
  }
  // Both endings must be exercised, or the test would not see a length penalty at work.
  EXPECT_GE(by_eos, 3) << name;
  EXPECT_GE(by_length, 3) << name;
}

}  // namespace

TEST(t5_parity, generation_v10) { run_generation("v10"); }

TEST(t5_parity, generation_mt5) { run_generation("mt5"); }
