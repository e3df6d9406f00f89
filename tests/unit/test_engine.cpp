#include <gtest/gtest.h>

#include <cmath>
#include <map>

#include "core/log.h"
#include "core/threads.h"
#include "infer/engine.h"
#include "infer/engine_impl.h"
#include "io/safetensors.h"
#include "models/gpt.h"
#include "op_test.h"
#include "test_data_util.h"
#include "tokenizer/char_tokenizer.h"
#include "tokenizer/sentencepiece_tokenizer.h"
#include "tokenizer/utf8.h"

using namespace aero;

namespace {

// A random GPT with the training model's parameters and the engine built from them.
struct Built {
  GptConfig cfg;
  ParamStore store;
  std::unique_ptr<Gpt> gpt;
  std::shared_ptr<InferenceModel> inf;

  explicit Built(GptConfig c, WeightFormat f = WeightFormat::f32, uint64_t seed = 11)
      : cfg(std::move(c)) {
    gpt = std::make_unique<Gpt>(cfg, store);
    store.finalize(seed);
    // Non-zero norms and biases, so a wrong or missing one shows.
    Rng rng(seed + 1);
    for (Param& p : store.params())
      if (p.shape.ndim == 1)
        for (int64_t i = 0; i < p.numel(); i++) p.value.f32()[i] += 0.2f * (rng.uniform() - 0.5f);
    inf = std::make_shared<InferenceModel>(gpt_model_config(cfg), store, f);
  }

  // Logits (T, V) of the training model's forward pass over `ids`.
  std::vector<float> reference(const std::vector<int32_t>& ids) {
    Tape tape;
    tape.training = false;
    NoGrad ng(tape);
    Tensor t = tape.alloc({1, int64_t(ids.size())}, DType::i32);
    std::copy(ids.begin(), ids.end(), t.i32());
    Var y = gpt->forward(tape, t);
    const float* p = y.value().f32();
    return std::vector<float>(p, p + ids.size() * size_t(cfg.vocab_size));
  }
};

GptConfig base_config() {
  GptConfig c;
  c.vocab_size = 50;
  c.block_size = 24;
  c.n_layer = 2;
  c.n_head = 2;
  c.n_embd = 32;
  c.ffn_hidden = 64;
  c.init_std = 0.3f;
  return c;
}

// The option combinations of configs/ plus the ones the trainer supports.
std::map<std::string, GptConfig> configs() {
  std::map<std::string, GptConfig> m;
  GptConfig c = base_config();
  c.pos = PosKind::learned, c.norm = NormKind::layernorm, c.act = ActKind::gelu, c.bias = true;
  m["learned_layernorm_gelu_bias"] = c;
  c.bias = false, c.tie_head = true;
  m["learned_layernorm_gelu_tied"] = c;
  c = base_config();
  c.pos = PosKind::rope, c.norm = NormKind::layernorm,
  c.act = ActKind::gelu;  // seed-tiny, seed-100m
  m["rope_layernorm_gelu"] = c;
  c.norm = NormKind::rmsnorm, c.act = ActKind::swiglu;
  m["rope_rmsnorm_swiglu"] = c;
  c = base_config();
  c.pos = PosKind::rope, c.pre_ln = false, c.act = ActKind::relu, c.bias = true;
  m["rope_postln_relu_bias"] = c;
  c.pos = PosKind::learned, c.tie_head = true, c.act = ActKind::gelu;
  m["learned_postln_gelu_bias_tied"] = c;
  return m;
}

double rel_diff(const float* a, const float* b, size_t n) {
  double d = 0, m = 1e-30;
  for (size_t i = 0; i < n; i++) {
    d = std::max(d, double(std::fabs(a[i] - b[i])));
    m = std::max(m, double(std::fabs(b[i])));
  }
  return d / m;
}

std::vector<int32_t> ids(int n, int vocab, uint64_t seed) {
  Rng rng(seed);
  std::vector<int32_t> v;
  for (int i = 0; i < n; i++) v.push_back(int32_t(rng.uniform() * float(vocab)) % vocab);
  return v;
}

}  // namespace

TEST(engine, prefill_and_decode_logits_equal_the_training_model) {
  for (auto& [name, cfg] : configs()) {
    SCOPED_TRACE(name);
    Built m(cfg);
    const int T = cfg.block_size, V = cfg.vocab_size;
    std::vector<int32_t> toks = ids(T, V, 3);
    std::vector<float> want = m.reference(toks);
    // The whole prompt in one pass.
    KvSeq seq(*m.inf);
    std::vector<float> pre = forward_tokens(*m.inf, seq, toks);
    EXPECT_EQ(seq.length(), T);
    EXPECT_LE(rel_diff(pre.data(), want.data(), want.size()), 1e-5);
    // Part of it, then one token at a time.
    seq.clear();
    const int P = 7;
    std::vector<float> got =
        forward_tokens(*m.inf, seq, std::vector<int32_t>(toks.begin(), toks.begin() + P));
    for (int t = P; t < T; t++) {
      std::vector<float> one = forward_tokens(*m.inf, seq, {toks[size_t(t)]});
      got.insert(got.end(), one.begin(), one.end());
    }
    for (int t = 0; t < T; t++)
      EXPECT_LE(rel_diff(got.data() + size_t(t) * V, want.data() + size_t(t) * V, size_t(V)), 1e-5)
          << "position " << t;
    // Only the last position's logits.
    seq.clear();
    std::vector<float> last = forward_tokens(*m.inf, seq, toks, false);
    ASSERT_EQ(last.size(), size_t(V));
    EXPECT_LE(rel_diff(last.data(), want.data() + size_t(T - 1) * V, size_t(V)), 1e-5);
    // A full cache takes no more.
    test::expect_error([&] { forward_tokens(*m.inf, seq, {1}); }, "[engine]",
                       "do not fit the context");
  }
}

// A decoded token over a cache long enough (n_embd · keys > 2^17) that the engine spreads the
// heads of its attention over the threads.
TEST(engine, decode_over_a_long_cache_equals_the_training_model) {
  for (const char* name : {"learned_layernorm_gelu_bias", "rope_rmsnorm_swiglu"}) {
    SCOPED_TRACE(name);
    GptConfig cfg = configs()[name];
    cfg.n_embd = 128, cfg.n_head = 4, cfg.block_size = 1040, cfg.init_std = 0.1f;
    Built m(cfg);
    const int T = cfg.block_size, V = cfg.vocab_size, P = T - 6;
    std::vector<int32_t> toks = ids(T, V, 5);
    std::vector<float> want = m.reference(toks);
    KvSeq seq(*m.inf);
    forward_tokens(*m.inf, seq, std::vector<int32_t>(toks.begin(), toks.begin() + P), false);
    for (int t = P; t < T; t++) {
      std::vector<float> one = forward_tokens(*m.inf, seq, {toks[size_t(t)]});
      EXPECT_LE(rel_diff(one.data(), want.data() + size_t(t) * V, size_t(V)), 1e-5)
          << "position " << t;
    }
  }
}

TEST(engine, forward_batch_equals_each_sequence_alone) {
  for (auto& [name, cfg] : configs()) {
    SCOPED_TRACE(name);
    Built m(cfg);
    const int V = cfg.vocab_size;
    const std::vector<int> lens = {1, 9, 4, 15};
    std::vector<std::unique_ptr<KvSeq>> batched, alone;
    std::vector<KvSeq*> ptrs;
    for (size_t i = 0; i < lens.size(); i++) {
      std::vector<int32_t> p = ids(lens[i], V, 100 + i);
      batched.push_back(std::make_unique<KvSeq>(*m.inf));
      alone.push_back(std::make_unique<KvSeq>(*m.inf));
      forward_tokens(*m.inf, *batched.back(), p);
      forward_tokens(*m.inf, *alone.back(), p);
      ptrs.push_back(batched.back().get());
    }
    for (int step = 0; step < 3; step++) {
      std::vector<int32_t> next = ids(int(lens.size()), V, 200 + step);
      std::vector<float> got = forward_batch(*m.inf, ptrs, next);
      for (size_t i = 0; i < lens.size(); i++) {
        std::vector<float> want = forward_tokens(*m.inf, *alone[i], {next[i]});
        EXPECT_LE(rel_diff(got.data() + i * V, want.data(), size_t(V)), 1e-5) << "seq " << i;
        EXPECT_EQ(batched[i]->length(), lens[i] + step + 1);
      }
    }
    test::expect_error(
        [&] {
          forward_batch(*m.inf, {ptrs[0], ptrs[0]}, {1, 2});
        },
        "[engine]", "same sequence twice");
  }
}

// A small pass (a few dozen rows of a narrow model) is shared out by rows, each thread taking
// its rows through every layer; sequences then end up split between threads, and a causal
// query's keys stop at its own position; the last layer runs only the wanted rows, which may
// leave a thread none. Logits and caches are the same bits for 1, 2 and 3 threads, in every
// weight format.
TEST(engine, threads_sharing_the_rows_of_a_pass_give_the_same_bits) {
  const int saved = num_threads();
  for (const char* name : {"learned_layernorm_gelu_bias", "rope_rmsnorm_swiglu"})
    for (WeightFormat f : {WeightFormat::f32, WeightFormat::bf16, WeightFormat::q8}) {
      SCOPED_TRACE(std::string(name) + " " + std::string(weight_format_name(f)));
      Built m(configs()[name], f);
      const int V = m.cfg.vocab_size;
      const std::vector<int> lens = {3, 17, 9};  // 29 rows: thread edges fall inside sequences
      auto run = [&](int threads) {
        set_num_threads(threads);
        std::vector<std::unique_ptr<KvSeq>> seqs;
        std::vector<std::vector<int32_t>> toks;
        std::vector<std::vector<int>> rows;
        std::vector<RowsInput> in;
        for (size_t i = 0; i < lens.size(); i++) {
          seqs.push_back(std::make_unique<KvSeq>(*m.inf));
          forward_tokens(*m.inf, *seqs.back(), ids(2, V, 40 + i));  // a cached prefix
          toks.push_back(ids(lens[i], V, 50 + i));
          rows.emplace_back();
          for (int r = 0; r < lens[i]; r++) rows.back().push_back(r);
        }
        for (size_t i = 0; i < lens.size(); i++)
          in.push_back({seqs[i].get(), 2, &toks[i], &rows[i]});
        std::vector<float> out = forward_rows(*m.inf, in);
        std::vector<KvSeq*> ptrs;
        for (auto& s : seqs) ptrs.push_back(s.get());
        std::vector<float> next = forward_batch(*m.inf, ptrs, {1, 2, 3});  // reads the caches
        out.insert(out.end(), next.begin(), next.end());
        // A prefill that wants one row's logits: one thread has no wanted rows.
        KvSeq fresh(*m.inf);
        next = forward_tokens(*m.inf, fresh, ids(18, V, 60), false);
        out.insert(out.end(), next.begin(), next.end());
        return out;
      };
      const std::vector<float> one = run(1);
      ASSERT_EQ(one.size(), size_t(29 + 3 + 1) * V);
      EXPECT_EQ(run(2), one);
      EXPECT_EQ(run(3), one);
    }
  set_num_threads(saved);
}

TEST(engine, quantized_formats_are_close_and_round_trip_through_a_file) {
  GptConfig cfg = configs()["rope_rmsnorm_swiglu"];
  cfg.init_std = 0.05f;  // weights of a trained model's size, not a chaotic random network
  test::ScratchDir dir("engine_quant");
  std::vector<int32_t> toks = ids(12, cfg.vocab_size, 5);
  Built f32(cfg);
  for (WeightFormat f : {WeightFormat::bf16, WeightFormat::q8, WeightFormat::f32}) {
    SCOPED_TRACE(weight_format_name(f));
    // Reference: the f32 engine on the weights rounded to the format (embeddings stay f32).
    Built rounded(cfg);
    for (Param& p : rounded.store.params())
      if (p.shape.ndim == 2 && p.name.find("_embd") == std::string::npos) {
        QMatrix q = quantize(p.value.f32(), int(p.shape[0]), int(p.shape[1]), to_qformat(f));
        std::vector<float> back = dequantize(q);
        std::copy(back.begin(), back.end(), p.value.f32());
      }
    InferenceModel ref_model(gpt_model_config(cfg), rounded.store, WeightFormat::f32);
    KvSeq rs(ref_model);
    std::vector<float> ref = forward_tokens(ref_model, rs, toks);
    Built m(cfg, f);
    KvSeq s(*m.inf);
    std::vector<float> got = forward_tokens(*m.inf, s, toks);
    // f32 differs from the reference only in summation order; bf16 also rounds the activations
    // entering each product to bf16 (8-bit mantissa, 2^-9 relative) and q8 quantizes them.
    const double tol = f == WeightFormat::q8 ? 0.03 : f == WeightFormat::bf16 ? 1e-2 : 1e-5;
    EXPECT_LE(rel_diff(got.data(), ref.data(), ref.size()), tol);
    // save -> load gives the same weights, so the same logits bit for bit.
    const std::string path = dir.file(std::string("m.") + weight_format_name(f));
    m.inf->save(path);
    auto back = InferenceModel::load(path);
    EXPECT_EQ(back->format(), f);
    EXPECT_EQ(back->weight_bytes(), m.inf->weight_bytes());
    KvSeq s2(*back);
    EXPECT_EQ(forward_tokens(*back, s2, toks), got);
    SafetensorsFile file(path);
    EXPECT_EQ(file.metadata().at("format"), "aero.infer");
    const StEntry& q = file.at("blk.1.attn_k.weight");
    EXPECT_EQ(q.dtype, f == WeightFormat::q8     ? StDType::I8
                       : f == WeightFormat::bf16 ? StDType::BF16
                                                 : StDType::F32);
    EXPECT_EQ(file.has("blk.1.attn_k.scale"), f == WeightFormat::q8);
    if (f == WeightFormat::q8) {  // plain int8 (rows, cols) times the block's scale
      const int8_t* qv = reinterpret_cast<const int8_t*>(q.data);
      const float* sc = reinterpret_cast<const float*>(file.at("blk.1.attn_k.scale").data);
      const float* w = m.store.get("blk.1.attn_k.weight").value.f32();
      for (int64_t i = 0; i < q.numel(); i++)
        ASSERT_LE(std::fabs(qv[i] * sc[i / kQ8Block] - w[i]), 0.5f * sc[i / kQ8Block] + 1e-7f) << i;
    }
    EXPECT_EQ(file.at("token_embd.weight").dtype, StDType::F32);
  }
  // q8 weights are about a quarter of f32.
  Built q8(cfg, WeightFormat::q8);
  EXPECT_LT(double(q8.inf->weight_bytes()), 0.35 * double(f32.inf->weight_bytes()));
  const std::string path = dir.file("m.q8");
  test::expect_error([&] { InferenceModel::load(path, WeightFormat::bf16); }, "[engine]",
                     "holds q8 weights");
  test::expect_error([&] { parse_weight_format("q4"); }, "[engine]", "f32, bf16, q8");
}

namespace {

std::shared_ptr<const Tokenizer> char_tok(int vocab) {
  std::set<char32_t> chars;
  for (char32_t c = U'a'; chars.size() + 4 < size_t(vocab); c++) chars.insert(c);
  return std::make_shared<CharTokenizer>(CharTokenizer::from_chars(chars));
}

struct Outcome {
  GenerateResult res;
  int prompt_tokens = -1, done_calls = 0;
  std::string streamed;
};

// Adds a request whose callbacks fill `r`.
SeqId add(Engine& e, Outcome& r, std::vector<int32_t> prompt, GenerateOpts opts) {
  SeqRequest req;
  req.prompt = std::move(prompt);
  req.opts = opts;
  req.on_text = [&r](const std::string& t) {
    r.streamed += t;
    return true;
  };
  req.on_done = [&r](const GenerateResult& g, int p) {
    r.res = g;
    r.prompt_tokens = p;
    r.done_calls++;
  };
  return e.add(std::move(req));
}

void run_all(Engine& e) {
  for (int i = 0; e.step() > 0; i++) ASSERT_LT(i, 10000);
}

}  // namespace

TEST(engine, batched_greedy_equals_one_at_a_time) {
  for (auto& [name, cfg] : configs()) {
    SCOPED_TRACE(name);
    Built m(cfg);
    auto tok = char_tok(cfg.vocab_size);
    GenerateOpts g;
    g.max_new = 12;
    g.stop_at_eos = false;
    g.sampler.temperature = 0;
    const std::vector<int> lens = {3, 1, 8, 5, 11};
    std::vector<Outcome> one(lens.size()), many(lens.size());
    Engine single(m.inf, tok, {.max_batch = 1});
    Engine batch(m.inf, tok, {.max_batch = 8});
    for (size_t i = 0; i < lens.size(); i++) {
      add(single, one[i], ids(lens[i], cfg.vocab_size, 40 + i), g);
      run_all(single);
      add(batch, many[i], ids(lens[i], cfg.vocab_size, 40 + i), g);
    }
    EXPECT_EQ(batch.waiting(), int(lens.size()));
    batch.step();
    EXPECT_EQ(batch.active(), int(lens.size()));
    run_all(batch);
    // Staggered: each prompt joins a running engine, so its prefill shares a pass with the
    // others' decoding.
    std::vector<Outcome> joined(lens.size());
    Engine live(m.inf, tok, {.max_batch = 8});
    for (size_t i = 0; i < lens.size(); i++) {
      add(live, joined[i], ids(lens[i], cfg.vocab_size, 40 + i), g);
      live.step();
    }
    run_all(live);
    for (size_t i = 0; i < lens.size(); i++)
      EXPECT_EQ(joined[i].res.tokens, one[i].res.tokens) << "joined sequence " << i;
    for (size_t i = 0; i < lens.size(); i++) {
      EXPECT_EQ(many[i].res.tokens, one[i].res.tokens) << "sequence " << i;
      EXPECT_EQ(many[i].res.tokens.size(), 12u);
      EXPECT_EQ(many[i].res.finish, "length");
      EXPECT_EQ(many[i].streamed, many[i].res.text);
      EXPECT_EQ(many[i].prompt_tokens, lens[i]);
      EXPECT_EQ(many[i].done_calls, 1);
    }
    // Greedy decoding is the arg-max of the training model's logits at every step.
    std::vector<int32_t> ctx = ids(lens[2], cfg.vocab_size, 42);
    for (int32_t t : one[2].res.tokens) {
      std::vector<float> l = m.reference(ctx);
      const float* last = l.data() + (ctx.size() - 1) * size_t(cfg.vocab_size);
      EXPECT_EQ(t, int32_t(std::max_element(last, last + cfg.vocab_size) - last));
      ctx.push_back(t);
    }
  }
}

TEST(engine, seeded_sampling_repeats_and_max_batch_queues) {
  Built m(configs()["rope_rmsnorm_swiglu"]);
  auto tok = char_tok(m.cfg.vocab_size);
  GenerateOpts g;
  g.max_new = 15;
  g.stop_at_eos = false;
  auto gen = [&](uint64_t seed, int max_batch) {
    Engine e(m.inf, tok, {.max_batch = max_batch});
    std::vector<Outcome> runs(4);
    for (size_t i = 0; i < runs.size(); i++) {
      GenerateOpts o = g;
      o.sampler.seed = seed + i;
      add(e, runs[i], {1, 2, 3}, o);
    }
    e.step();
    EXPECT_EQ(e.active(), std::min(max_batch, 4));
    EXPECT_EQ(e.waiting(), 4 - std::min(max_batch, 4));
    run_all(e);
    std::vector<std::vector<int32_t>> out;
    for (Outcome& r : runs) out.push_back(r.res.tokens);
    return out;
  };
  auto a = gen(7, 4);
  EXPECT_EQ(gen(7, 2), a);  // the same seeds give the same text whatever the batching
  EXPECT_NE(a[0], a[1]);    // each sequence has its own generator
  EXPECT_NE(gen(8, 4)[0], a[0]);
}

TEST(engine, cancel_stop_strings_and_callbacks) {
  Built m(configs()["learned_layernorm_gelu_bias"]);
  auto tok = char_tok(m.cfg.vocab_size);
  GenerateOpts g;
  g.max_new = 16;
  g.stop_at_eos = false;
  g.sampler.temperature = 0;
  Engine e(m.inf, tok);
  Outcome full, cancelled_active, cancelled_waiting;
  add(e, full, {5, 6}, g);
  run_all(e);
  ASSERT_EQ(full.res.tokens.size(), 16u);
  ASSERT_GE(full.res.text.size(), 8u);

  // cancel(): an active sequence leaves at the next step, a waiting one before its prefill.
  SeqId a = add(e, cancelled_active, {5, 6}, g);
  e.step();
  e.step();
  e.cancel(a);
  SeqId w = add(e, cancelled_waiting, {5, 6}, g);
  e.cancel(w);
  e.cancel(12345);  // unknown: nothing happens
  run_all(e);
  EXPECT_EQ(cancelled_active.res.finish, "cancelled");
  EXPECT_EQ(cancelled_active.res.tokens.size(), 2u);
  EXPECT_EQ(cancelled_active.done_calls, 1);
  EXPECT_EQ(cancelled_waiting.res.finish, "cancelled");
  EXPECT_TRUE(cancelled_waiting.res.tokens.empty());
  EXPECT_EQ(cancelled_waiting.done_calls, 1);

  // on_text returning false cancels.
  Outcome r;
  SeqRequest req;
  req.prompt = {5, 6};
  req.opts = g;
  int calls = 0;
  req.on_text = [&](const std::string&) { return ++calls < 3; };
  req.on_done = [&](const GenerateResult& res, int) { r.res = res; };
  e.add(std::move(req));
  run_all(e);
  EXPECT_EQ(r.res.finish, "cancelled");
  EXPECT_EQ(calls, 3);

  // A stop string ends the text before it; nothing of it is streamed.
  Outcome s;
  GenerateOpts gs = g;
  const std::string stop = full.res.text.substr(5, 2);
  gs.stop = {stop};
  add(e, s, {5, 6}, gs);
  run_all(e);
  EXPECT_EQ(s.res.finish, "stop");
  EXPECT_EQ(s.res.text, full.res.text.substr(0, full.res.text.find(stop)));
  EXPECT_EQ(s.streamed, s.res.text);

  // Invalid requests name the field.
  test::expect_error([&] { e.add({}); }, "[engine]", "prompt is empty");
  SeqRequest bad;
  bad.prompt = {m.cfg.vocab_size};
  test::expect_error([&] { e.add(bad); }, "[engine]", "outside the model's vocabulary");
  bad.prompt = {1};
  bad.opts.sampler.top_p = 1.5f;
  test::expect_error([&] { e.add(bad); }, "[sampler]", "top_p");
}

TEST(engine, context_stop_and_slide) {
  Built m(configs()["rope_rmsnorm_swiglu"]);
  auto tok = char_tok(m.cfg.vocab_size);
  const int block = m.cfg.block_size;
  GenerateOpts g;
  g.max_new = 60;
  g.stop_at_eos = false;
  g.sampler.temperature = 0;
  std::vector<int32_t> prompt = ids(10, m.cfg.vocab_size, 9);

  Engine stop(m.inf, tok, {.context = ContextPolicy::stop});
  Outcome a;
  add(stop, a, prompt, g);
  run_all(stop);
  EXPECT_EQ(a.res.finish, "context");
  // The cache holds block tokens; the last sampled one never needs a slot.
  EXPECT_EQ(int(a.res.tokens.size()), block - int(prompt.size()) + 1);

  set_log_level(LogLevel::error);  // the slide warning
  Engine slide(m.inf, tok, {.context = ContextPolicy::slide});
  Outcome b;
  add(slide, b, prompt, g);
  run_all(slide);
  set_log_level(LogLevel::info);
  EXPECT_EQ(b.res.finish, "length");
  ASSERT_EQ(b.res.tokens.size(), 60u);
  EXPECT_EQ(std::vector<int32_t>(b.res.tokens.begin(), b.res.tokens.begin() + 15),
            std::vector<int32_t>(a.res.tokens.begin(), a.res.tokens.begin() + 15));
  // Reference: recompute over the window since the last slide, which keeps the newest half.
  std::vector<int32_t> ctx = prompt;
  size_t start = 0;
  for (int32_t t : b.res.tokens) {
    if (ctx.size() - start > size_t(block)) start = ctx.size() - size_t(block / 2);
    std::vector<int32_t> win(ctx.begin() + ptrdiff_t(start), ctx.end());
    std::vector<float> l = m.reference(win);
    const float* last = l.data() + (win.size() - 1) * size_t(m.cfg.vocab_size);
    ASSERT_EQ(t, int32_t(std::max_element(last, last + m.cfg.vocab_size) - last));
    ctx.push_back(t);
  }
}

// A model that spells a fixed token sequence whatever it is given: position p predicts token
// s[p + 1] (learned positions one-hot, zero blocks, head rows pointing at positions), so the
// stream is known in advance. With a byte-fallback SentencePiece model trained on English,
// Vietnamese letters are split into byte tokens, and the stream must still be whole characters.
TEST(engine, vietnamese_byte_tokens_stream_whole_characters) {
  test::ScratchDir dir("engine_utf8");
  std::string corpus;
  const char* words[] = {"the",   "quick", "brown", "fox",  "jumps", "over", "lazy",  "dog",
                         "Tieng", "Viet",  "and",   "then", "some",  "more", "words", "here"};
  for (int i = 0; i < 400; i++) {
    for (int w = 0; w < 8; w++) corpus += std::string(words[(i * 7 + w * 3) % 16]) + " ";
    corpus += "\n";
  }
  SpTrainOptions opt;
  opt.inputs = {dir.write("en.txt", corpus)};
  opt.model_path = dir.file("en.model");
  opt.vocab_size = 300;
  train_sentencepiece(opt);
  auto tok = std::make_shared<SentencePieceTokenizer>(opt.model_path);
  const std::string text = "Tiếng Việt rất đẹp";
  std::vector<int> enc = tok->encode(text);
  std::vector<int32_t> s(enc.begin(), enc.end());
  ASSERT_GT(s.size(), text.size() / 2) << "expected byte tokens";

  GptConfig cfg = base_config();
  cfg.vocab_size = tok->vocab_size();
  cfg.block_size = 48;
  cfg.n_embd = 64;
  cfg.ffn_hidden = 64;
  cfg.n_layer = 1;
  cfg.pos = PosKind::learned;
  ASSERT_LT(s.size(), size_t(cfg.n_embd));
  ParamStore store;
  Gpt gpt(cfg, store);
  store.finalize(1);
  for (Param& p : store.params())
    if (p.name.find("norm.weight") == std::string::npos) p.value.zero();
  const int C = cfg.n_embd;
  for (int p = 0; p < C; p++) store.get("position_embd.weight").value.f32()[p * C + p] = 1.0f;
  float* head = store.get("output.weight").value.f32();
  for (size_t p = 0; p + 1 < s.size(); p++) head[size_t(s[p + 1]) * C + p] += 10.0f;
  head[size_t(tok->eos_id()) * C + s.size() - 1] += 10.0f;  // then the end of the document
  auto model = std::make_shared<InferenceModel>(gpt_model_config(cfg), store, WeightFormat::f32);

  Engine e(model, tok);
  Outcome r;
  std::vector<std::string> chunks;
  SeqRequest req;
  req.prompt = {s[0]};
  req.opts.max_new = int(s.size()) + 5;
  req.opts.sampler.temperature = 0;
  req.on_text = [&](const std::string& t) {
    chunks.push_back(t);
    return true;
  };
  req.on_done = [&](const GenerateResult& g, int) { r.res = g; };
  e.add(std::move(req));
  run_all(e);
  EXPECT_EQ(r.res.tokens, std::vector<int32_t>(s.begin() + 1, s.end()));
  EXPECT_EQ(r.res.finish, "eos");
  std::string joined;
  for (const std::string& c : chunks) {
    EXPECT_EQ(utf8_invalid_offset(c), std::string::npos) << "a chunk splits a character";
    joined += c;
  }
  EXPECT_EQ(joined, r.res.text);
  EXPECT_EQ(tok->decode(std::vector<int>(s.begin(), s.end())),
            tok->decode(std::vector<int>{s[0]}) + joined);
  EXPECT_LT(chunks.size(), r.res.tokens.size());  // byte tokens waited for the rest
}

TEST(engine, prefill_cap_long_prompts_and_zero_max_new) {
  Built m(configs()["learned_layernorm_gelu_tied"]);
  auto tok = char_tok(m.cfg.vocab_size);
  GenerateOpts g;
  g.max_new = 3;
  g.stop_at_eos = false;
  g.sampler.temperature = 0;
  // At most 5 prompt tokens prefilled per step (but always one sequence).
  Engine e(m.inf, tok, {.max_prefill_tokens = 5});
  std::vector<Outcome> r(3);
  for (Outcome& o : r) add(e, o, {1, 2, 3}, g);
  e.step();
  EXPECT_EQ(e.active(), 1);
  EXPECT_EQ(e.waiting(), 2);
  run_all(e);
  for (const Outcome& o : r) EXPECT_EQ(o.res.tokens, r[0].res.tokens);
  // A prompt longer than the context keeps its newest block_size tokens.
  std::vector<int32_t> long_prompt = ids(m.cfg.block_size + 9, m.cfg.vocab_size, 77);
  std::vector<int32_t> tail(long_prompt.end() - m.cfg.block_size, long_prompt.end());
  Outcome a, b;
  add(e, a, long_prompt, g);
  add(e, b, tail, g);
  run_all(e);
  EXPECT_EQ(a.res.tokens, b.res.tokens);
  EXPECT_EQ(a.prompt_tokens, m.cfg.block_size + 9);
  // max_new 0: done without a token, the callback still runs once.
  Outcome z;
  g.max_new = 0;
  add(e, z, {1}, g);
  run_all(e);
  EXPECT_EQ(z.done_calls, 1);
  EXPECT_EQ(z.res.finish, "length");
  EXPECT_TRUE(z.res.tokens.empty());
}

// A model with more rows than its tokenizer has tokens (a padded vocabulary, mT5's spare rows)
// never samples the extra rows, however flat the distribution: no text decodes them.
TEST(engine, rows_past_the_tokenizer_are_never_sampled) {
  Built m(base_config());  // 50 rows
  auto tok = char_tok(30);
  ASSERT_EQ(tok->vocab_size(), 30);
  Engine e(m.inf, tok);
  SeqRequest r;
  r.prompt = {3, 4, 5};
  r.opts.max_new = 20;
  r.opts.stop_at_eos = false;
  r.opts.sampler.temperature = 20;  // nearly uniform over all 50 rows
  r.opts.sampler.seed = 5;
  const GenerateResult g = e.run(std::move(r));
  ASSERT_EQ(g.tokens.size(), 20u);
  for (int32_t t : g.tokens) EXPECT_LT(t, 30);
}
