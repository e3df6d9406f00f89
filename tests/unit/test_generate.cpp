#include <gtest/gtest.h>

#include "infer/engine.h"
#include "infer/generate.h"
#include "models/gpt.h"
#include "op_test.h"
#include "tokenizer/char_tokenizer.h"

using namespace aero;

TEST(stop_matcher, holds_back_possible_stop_prefixes) {
  StopMatcher m({"\nUser:", "END"});
  EXPECT_EQ(m.push("Hello"), "Hello");
  EXPECT_EQ(m.push(" wor"), " wor");
  EXPECT_EQ(m.push("ld\nUs"), "ld");  // "\nUs" may start "\nUser:"
  EXPECT_EQ(m.push("ually"), "\nUsually");
  EXPECT_EQ(m.push(" E"), " ");
  EXPECT_EQ(m.push("ND and more"), "");
  EXPECT_TRUE(m.stopped());
  EXPECT_EQ(m.flush(), "");
  StopMatcher n({"xyz"});
  EXPECT_EQ(n.push("abx"), "ab");
  EXPECT_EQ(n.flush(), "x");  // the end of generation releases the held tail
}

namespace {

struct TinyModel {
  CharTokenizer tok = CharTokenizer::from_chars({U'a', U'b', U'c', U'ệ', U' '});
  GptConfig cfg;
  ParamStore store;
  std::unique_ptr<Gpt> gpt;
  std::unique_ptr<InferenceModel> model;
  TinyModel() {
    cfg.vocab_size = tok.vocab_size();
    cfg.block_size = 8;
    cfg.n_layer = 1;
    cfg.n_head = 2;
    cfg.n_embd = 8;
    cfg.ffn_hidden = 16;
    cfg.init_std = 1.0f;  // a random model with a peaked, varied distribution
    gpt = std::make_unique<Gpt>(cfg, store);
    store.finalize(5);
    model = std::make_unique<InferenceModel>(gpt_model_config(cfg), store, WeightFormat::f32);
  }
};

}  // namespace

TEST(generate, streams_exactly_the_result_and_repeats_with_a_seed) {
  TinyModel m;
  GenerateOpts opts;
  opts.max_new = 30;  // longer than block_size: the context slides
  opts.stop_at_eos = false;
  opts.sampler.seed = 42;
  std::string streamed;
  GenerateResult a = generate(*m.model, m.tok, "ab", opts, [&](const std::string& t) {
    streamed += t;
    return true;
  });
  EXPECT_EQ(a.tokens.size(), 30u);
  EXPECT_EQ(a.finish, "length");
  EXPECT_EQ(streamed, a.text);
  EXPECT_EQ(a.text, m.tok.decode(std::vector<int>(a.tokens.begin(), a.tokens.end())));
  GenerateResult b = generate(*m.model, m.tok, "ab", opts);
  EXPECT_EQ(a.tokens, b.tokens);
  opts.sampler.seed = 43;
  EXPECT_NE(generate(*m.model, m.tok, "ab", opts).tokens, a.tokens);
}

TEST(generate, stops_and_cancels) {
  TinyModel m;
  GenerateOpts opts;
  opts.max_new = 40;
  opts.stop_at_eos = false;
  opts.sampler.temperature = 0.0f;
  GenerateResult full = generate(*m.model, m.tok, "a", opts);
  ASSERT_GE(full.text.size(), 4u);
  opts.stop = {full.text.substr(2, 2)};
  GenerateResult s = generate(*m.model, m.tok, "a", opts);
  EXPECT_EQ(s.finish, "stop");
  EXPECT_EQ(s.text, full.text.substr(0, full.text.find(opts.stop[0])));
  opts.stop.clear();
  int calls = 0;
  GenerateResult c =
      generate(*m.model, m.tok, "a", opts, [&](const std::string&) { return ++calls < 3; });
  EXPECT_EQ(c.finish, "cancelled");
  EXPECT_EQ(calls, 3);
}

TEST(generate, rejects_a_tokenizer_bigger_than_the_model) {
  TinyModel m;
  CharTokenizer big = CharTokenizer::from_chars({U'a', U'b', U'c', U'd', U'e', U'f', U'g', U'h'});
  test::expect_error([&] { generate(*m.model, big, "h", {}); }, "[engine]",
                     "outside the model's vocabulary");
}

TEST(generate, beam_search_is_for_encoder_decoders_and_ngram_blocking_applies) {
  TinyModel m;
  auto no_delete = [](const void*) {};
  Engine engine(std::shared_ptr<const InferenceModel>(m.model.get(), no_delete),
                std::shared_ptr<const Tokenizer>(&m.tok, no_delete));
  SeqRequest r;
  r.prompt = {int32_t(m.tok.encode("a")[0])};
  r.opts.beam.num_beams = 3;
  try {
    engine.add(r);
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("beam search (num_beams 3) is for encoder-decoder"),
              std::string::npos)
        << e.what();
  }
  // Greedy with no_repeat_ngram_size 2: no bigram of prompt and answer twice.
  r.opts.beam = {.no_repeat_ngram_size = 2};
  r.opts.max_new = 12;
  r.opts.stop_at_eos = false;
  r.opts.sampler.temperature = 0.0f;
  const GenerateResult g = engine.run(r);
  std::vector<int32_t> all = r.prompt;
  all.insert(all.end(), g.tokens.begin(), g.tokens.end());
  ASSERT_GE(all.size(), 8u);
  for (size_t a = 0; a + 1 < all.size(); a++)
    for (size_t b = a + 1; b + 1 < all.size(); b++)
      EXPECT_FALSE(all[a] == all[b] && all[a + 1] == all[b + 1]) << "repeated bigram at " << b;
}
