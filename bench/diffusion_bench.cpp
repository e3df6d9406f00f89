// diffusion_bench: sampling speed of a trained llada model, the reference algorithm (LLaDA's
// generate(): the training model's forward over the whole sequence every step) against aero's
// engine path with each fast option added: logits only for the block's masked rows, the prefix
// or dual KV cache refreshed per block, and confidence-threshold parallel unmasking. Same prompts,
// seeds and settings in one run, the samplers taking turns prompt by prompt; tokens/s, the ratio
// to the reference, and the quality beside it: the fraction of tokens equal to the reference's,
// the unigram entropy of the samples and, with --judge GPT_RUN (same tokenizer), the GPT's
// perplexity of the answers, with the GPT's own answers to the same prompts (greedy, or sampled
// at --temperature) judged the same way.
//
//   diffusion_bench --model RUN [--judge GPT_RUN] [--prompts FILE] [--gen 128] [--block 32]
//                   [--steps 128,64,32] [--threshold 0.9] [--temperature 0] [--n 8]
//                   [--only SUBSTRING]  (only the samplers whose name contains it: to profile)
//                   [--batched]  (all prompts in one batch, each sampler as the server runs it;
//                                 prompts cut to the shortest one's length so that the
//                                 reference's forward takes them as one (B, T) batch too)
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "core/threads.h"
#include "infer/diffusion.h"
#include "infer/engine.h"
#include "infer/sampler.h"
#include "models/llada.h"
#include "models/load.h"
#include "tokenizer/tokenizer.h"

using namespace aero;

namespace {

double now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

std::vector<int> parse_list(const std::string& s) {
  std::vector<int> v;
  std::stringstream ss(s);
  for (std::string x; std::getline(ss, x, ',');) v.push_back(std::stoi(x));
  return v;
}

// Unigram entropy in bits of all answers' tokens.
double unigram_entropy(const std::vector<std::vector<int32_t>>& answers) {
  std::map<int32_t, double> c;
  double n = 0;
  for (const auto& a : answers)
    for (int32_t t : a) c[t]++, n++;
  double h = 0;
  for (auto& [t, k] : c) h -= k / n * std::log2(k / n);
  return h;
}

// The judge GPT's perplexity of the answers given their prompts.
double judge_ppl(const InferenceModel& gpt, const std::vector<std::vector<int32_t>>& prompts,
                 const std::vector<std::vector<int32_t>>& answers) {
  double nll = 0;
  int64_t n = 0;
  const int V = gpt.config().vocab_size, ctx = gpt.config().block_size;
  for (size_t i = 0; i < prompts.size(); i++) {
    std::vector<int32_t> s = prompts[i];
    s.insert(s.end(), answers[i].begin(), answers[i].end());
    if (int(s.size()) > ctx) s.erase(s.begin(), s.end() - ctx);
    const int P = int(s.size()) - int(answers[i].size());
    KvSeq kv(gpt);
    const std::vector<float> l = forward_tokens(gpt, kv, s, true);
    for (int t = std::max(P, 1); t < int(s.size()); t++) {
      const float* r = l.data() + size_t(t - 1) * size_t(V);
      double mx = r[0], z = 0;
      for (int v = 0; v < V; v++) mx = std::max(mx, double(r[v]));
      for (int v = 0; v < V; v++) z += std::exp(double(r[v]) - mx);
      nll += mx + std::log(z) - r[s[size_t(t)]];
      n++;
    }
  }
  return std::exp(nll / double(std::max<int64_t>(n, 1)));
}

// The judge GPT's own answers, token by token on the KV cache, through aero's Sampler (greedy at
// temperature 0), seeded per prompt.
std::vector<std::vector<int32_t>> gpt_answers(const InferenceModel& gpt,
                                              const std::vector<std::vector<int32_t>>& prompts,
                                              int gen, float temperature) {
  std::vector<std::vector<int32_t>> answers;
  const int V = gpt.config().vocab_size, ctx = gpt.config().block_size;
  for (size_t i = 0; i < prompts.size(); i++) {
    SamplerOpts so;
    so.temperature = temperature, so.seed = 1000 + i;
    Sampler sampler(so);
    KvSeq kv(gpt);
    std::vector<int32_t> in = prompts[i], answer;
    if (int(in.size()) + gen > ctx) in.erase(in.begin(), in.end() - (ctx - gen));
    for (int t = 0; t < gen; t++) {
      const std::vector<float> l = forward_tokens(gpt, kv, in, false);
      answer.push_back(sampler.sample(std::span<const float>(l.data(), size_t(V))));
      in = {answer.back()};
    }
    answers.push_back(answer);
  }
  return answers;
}

}  // namespace

int main(int argc, char** argv) {
  aero::tune_openmp_runtime(argv);  // the same threading aero's CLI runs with
  aero::num_threads();  // AERO_THREADS before the first parallel region (libgomp reads only OMP_*)
  std::string model_path, judge, prompts_file, only;
  int gen = 128, block = 32, n = 8;
  float threshold = 0.9f, temperature = 0;
  bool batched = false;
  std::vector<std::string> gpt_text;  // the GPT's first answers, shown beside the samplers'
  std::vector<int> steps_list = {128, 64, 32};
  for (int i = 1; i < argc; i++) {
    auto next = [&] { return std::string(i + 1 < argc ? argv[++i] : ""); };
    if (!std::strcmp(argv[i], "--model"))
      model_path = next();
    else if (!std::strcmp(argv[i], "--judge"))
      judge = next();
    else if (!std::strcmp(argv[i], "--prompts"))
      prompts_file = next();
    else if (!std::strcmp(argv[i], "--gen"))
      gen = std::stoi(next());
    else if (!std::strcmp(argv[i], "--block"))
      block = std::stoi(next());
    else if (!std::strcmp(argv[i], "--n"))
      n = std::stoi(next());
    else if (!std::strcmp(argv[i], "--steps"))
      steps_list = parse_list(next());
    else if (!std::strcmp(argv[i], "--threshold"))
      threshold = std::stof(next());
    else if (!std::strcmp(argv[i], "--batched"))
      batched = true;
    else if (!std::strcmp(argv[i], "--only"))
      only = next();
    else if (!std::strcmp(argv[i], "--temperature"))
      temperature = std::stof(next());
    else {
      std::fprintf(stderr, "unknown argument %s\n", argv[i]);
      return 2;
    }
  }
  if (model_path.empty()) {
    std::fprintf(stderr, "usage: diffusion_bench --model RUN [--judge GPT_RUN] ...\n");
    return 2;
  }
  try {
    const LoadedInference inf = load_inference(model_path);
    LoadedModel ref = load_model(model_path);
    const int mask_id = mask_id_of(ref.cfg), V = ref.cfg.vocab_size();
    std::shared_ptr<const InferenceModel> gpt;
    if (!judge.empty()) gpt = load_inference(judge).model;
    // Prompts: lines of --prompts, or fixed ones.
    std::vector<std::string> texts;
    if (!prompts_file.empty()) {
      std::ifstream in(prompts_file);
      for (std::string l; std::getline(in, l) && int(texts.size()) < n;)
        if (!l.empty()) texts.push_back(l);
    } else {
      for (const char* p : {"And God said", "In the beginning", "The LORD is", "And he went",
                            "Blessed are the", "Then said Jesus", "And it came to pass", "For the"})
        if (int(texts.size()) < n) texts.push_back(p);
    }
    // Each prompt's first tokens, as many as the context leaves beside the answer.
    const int max_prompt = ref.cfg.context() - gen;
    if (max_prompt < 1) throw std::runtime_error("--gen leaves no room for a prompt");
    std::vector<std::vector<int32_t>> prompts;
    for (auto& t : texts) {
      std::vector<int32_t> ids;
      for (int id : inf.tok->encode(t)) ids.push_back(id);
      if (int(ids.size()) > max_prompt) ids.resize(size_t(max_prompt));
      prompts.push_back(ids);
      std::vector<int> shown(ids.begin(), ids.end());
      t = inf.tok->decode(shown);
    }
    if (batched) {
      size_t shortest = SIZE_MAX;
      for (const auto& p : prompts) shortest = std::min(shortest, p.size());
      for (size_t i = 0; i < prompts.size(); i++) {
        prompts[i].resize(shortest);
        texts[i] = inf.tok->decode(std::vector<int>(prompts[i].begin(), prompts[i].end()));
      }
    }
    std::printf("model %s, %zu prompts%s, gen %d, block %d, temperature %g, threshold %g\n",
                model_path.c_str(), prompts.size(), batched ? " in one batch" : "", gen, block,
                temperature, threshold);
    std::printf("%-6s %-34s %9s %8s %7s %9s %8s %9s\n", "steps", "sampler", "tokens/s", "ratio",
                "fwd", "same-tok", "entropy", "judge-ppl");
    if (gpt) {  // the autoregressive model's own answers, judged the same way
      const double t0 = now();
      const auto answers = gpt_answers(*gpt, prompts, gen, temperature);
      const double tps = double(gen) * double(prompts.size()) / (now() - t0);
      std::printf("%-6s %-34s %9.1f %8s %7d %9s %8.3f %9.2f\n", "-",
                  "gpt (the judge's own answers)", tps, "-", gen * int(prompts.size()), "-",
                  unigram_entropy(answers), judge_ppl(*gpt, prompts, answers));
      for (size_t i = 0; i < std::min<size_t>(3, answers.size()); i++)
        gpt_text.push_back(inf.tok->decode(std::vector<int>(answers[i].begin(), answers[i].end())));
    }
    std::vector<std::vector<int32_t>> last, last_ref;  // samples at the last step count
    for (int steps : steps_list) {
      struct Variant {
        const char* name;
        bool reference;
        DiffusionCache cache;
        float threshold;
      };
      using enum DiffusionCache;
      const Variant variants[] = {{"reference (train forward, all rows)", true, none, 0},
                                  {"engine, masked block rows", false, none, 0},
                                  {"engine + prefix cache", false, prefix, 0},
                                  {"engine + prefix cache + threshold", false, prefix, threshold},
                                  {"engine + dual cache", false, dual, 0},
                                  {"engine + dual cache + threshold", false, dual, threshold}};
      std::vector<const Variant*> run;
      for (const Variant& v : variants)
        if (only.empty() || std::strstr(v.name, only.c_str())) run.push_back(&v);
      std::vector<DiffusionLogits> fns;
      std::vector<std::vector<DiffusionOpts>> opts;
      for (const Variant* v : run) {
        DiffusionOpts o;
        o.gen_length = gen, o.block_length = block, o.steps = steps;
        o.temperature = temperature, o.threshold = v->threshold, o.stop_at_eos = false;
        o.cache = v->cache;
        fns.push_back(v->reference ? model_logits(*ref.model) : engine_logits(inf.model));
        opts.emplace_back(prompts.size(), o);
        for (size_t i = 0; i < prompts.size(); i++) opts.back()[i].seed = 1000 + i;
      }
      // One prompt at a time, every sampler takes its turn on each prompt before the next one,
      // so that a change in the machine's speed falls on all of them alike.
      std::vector<double> secs(run.size(), 0.0);
      std::vector<std::vector<DiffusionResult>> results(run.size());
      if (batched) {
        for (size_t k = 0; k < run.size(); k++) {
          const double t0 = now();
          results[k] = diffusion_generate_batch(fns[k], V, prompts, mask_id, -1, opts[k]);
          secs[k] = now() - t0;
        }
      } else {
        for (size_t i = 0; i < prompts.size(); i++)
          for (size_t k = 0; k < run.size(); k++) {
            const double t0 = now();
            results[k].push_back(
                diffusion_generate(fns[k], V, prompts[i], mask_id, -1, opts[k][i]));
            secs[k] += now() - t0;
          }
      }
      double ref_tps = 0;
      std::vector<std::vector<int32_t>> ref_answers;
      for (size_t k = 0; k < run.size(); k++) {
        const Variant& v = *run[k];
        std::vector<std::vector<int32_t>> answers;
        int forwards = 0;
        for (DiffusionResult& r : results[k]) forwards += r.forwards, answers.push_back(r.answer);
        const double tps = double(gen) * double(prompts.size()) / secs[k];
        if (v.reference) ref_tps = tps, ref_answers = answers;
        int64_t same = 0, total = 0;
        for (size_t i = 0; i < ref_answers.size(); i++)
          for (size_t j = 0; j < answers[i].size(); j++)
            same += answers[i][j] == ref_answers[i][j], total++;
        char judged[32] = "-", ratio[32] = "-", same_share[32] = "-";
        if (gpt) std::snprintf(judged, sizeof judged, "%.2f", judge_ppl(*gpt, prompts, answers));
        if (ref_tps > 0) {
          std::snprintf(ratio, sizeof ratio, "%.2fx", tps / ref_tps);
          std::snprintf(same_share, sizeof same_share, "%.1f%%",
                        100.0 * double(same) / double(total));
        }
        std::printf("%-6d %-34s %9.1f %8s %7d %9s %8.3f %9s\n", steps, v.name, tps, ratio, forwards,
                    same_share, unigram_entropy(answers), judged);
        std::fflush(stdout);
        if (steps == steps_list.back() && v.cache == dual && v.threshold > 0) last = answers;
        if (steps == steps_list.back() && v.reference) last_ref = answers;
      }
    }
    for (size_t i = 0; i < std::min({size_t(3), last.size(), last_ref.size()}); i++) {
      std::vector<int> a(last_ref[i].begin(), last_ref[i].end()), b(last[i].begin(), last[i].end());
      std::printf("prompt   %s\n  reference: %s\n  fast:      %s\n", texts[i].c_str(),
                  inf.tok->decode(a).c_str(), inf.tok->decode(b).c_str());
      if (i < gpt_text.size()) std::printf("  gpt:       %s\n", gpt_text[i].c_str());
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "diffusion_bench: %s\n", e.what());
    return 1;
  }
  return 0;
}
