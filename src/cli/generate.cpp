// aero generate --model M --prompt P: sample text from a trained model, streamed or at once;
// with --batch-file, one prompt per line generated together (continuous batching; with
// --sampler diffusion one batch of unmasking steps), JSON Lines out in input order. Prompts, from
// any source, are checked to be UTF-8 and put in NFC (user_text) before they are tokenized.
#include <termios.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <iterator>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>

#include "cli/commands.h"
#include "core/error.h"
#include "core/threads.h"
#include "infer/diffusion.h"
#include "infer/engine.h"
#include "models/llada.h"
#include "models/load.h"
#include "tokenizer/utf8.h"

namespace aero::cli {

namespace {

std::vector<int32_t> encode_prompt(const Tokenizer& tok, const std::string& text) {
  std::vector<int32_t> ids;
  for (int id : tok.encode(text)) ids.push_back(id);
  if (ids.empty()) ids.push_back(tok.eos_id() >= 0 ? tok.eos_id() : 0);  // starts a document
  return ids;
}

std::string read_file(const std::string& path, const char* option) {
  std::ifstream in(path, std::ios::binary);
  AERO_CHECK(in, "[generate] cannot open ", option, " ", path);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// Standard input to its end. At a terminal the kernel edits the line; IUTF8 makes its backspace
// erase a whole UTF-8 character instead of the last byte of one.
std::string read_stdin() {
  termios saved{};
  const bool tty = ::isatty(STDIN_FILENO) && ::tcgetattr(STDIN_FILENO, &saved) == 0;
  if (tty) {
    termios t = saved;
    t.c_iflag |= IUTF8;
    ::tcsetattr(STDIN_FILENO, TCSANOW, &t);
  }
  std::string s{std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>()};
  if (tty) ::tcsetattr(STDIN_FILENO, TCSANOW, &saved);
  return s;
}

// --prompt, else --prompt-file, else standard input (without its final newlines), in NFC.
std::string read_prompt(const std::string& prompt, const std::string& prompt_file) {
  if (!prompt.empty()) return user_text(prompt, "--prompt");
  const bool file = !prompt_file.empty();
  std::string p = user_text(file ? read_file(prompt_file, "--prompt-file") : read_stdin(),
                            file ? prompt_file : "standard input");
  while (!p.empty() && (p.back() == '\n' || p.back() == '\r')) p.pop_back();
  return p;
}

// Every line of `path` through one generator; prints {"prompt","text","finish","tokens"} per line
// as soon as it and every line before it are done. Line i samples with seed + i.
// The lines of a --batch-file, in NFC.
std::vector<std::string> read_lines(const std::string& path) {
  const std::string text = user_text(read_file(path, "--batch-file"), path);
  std::vector<std::string> lines;
  for (size_t b = 0; b < text.size();) {
    size_t e = text.find('\n', b);
    if (e == std::string::npos) e = text.size();
    std::string line = text.substr(b, e - b);
    if (!line.empty() && line.back() == '\r') line.pop_back();
    lines.push_back(std::move(line));
    b = e + 1;
  }
  return lines;
}

void print_json_line(const nlohmann::json& j) {
  std::printf("%s\n", j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
  std::fflush(stdout);
}

void generate_batch(Generator& engine, const std::string& path, const GenerateOpts& gen) {
  const std::vector<std::string> prompts = read_lines(path);
  std::vector<std::optional<nlohmann::json>> out(prompts.size());
  size_t next = 0;
  for (size_t i = 0; i < prompts.size(); i++) {
    SeqRequest req;
    req.prompt = encode_prompt(engine.tokenizer(), prompts[i]);
    req.opts = gen;
    req.opts.sampler.seed = gen.sampler.seed + i;
    req.on_done = [&, i](const GenerateResult& r, int) {
      out[i] = nlohmann::json{{"prompt", prompts[i]},
                              {"text", r.text},
                              {"finish", r.finish},
                              {"tokens", r.tokens.size()}};
      for (; next < out.size() && out[next]; next++) print_json_line(*out[next]);
    };
    engine.add(std::move(req));
  }
  while (engine.step() > 0) {
  }
}

// The answer so far with a glyph for each masked position (--visual).
std::string show_masked(const Tokenizer& tok, const std::vector<int32_t>& answer, int mask_id) {
  std::string out;
  std::vector<int> run;
  auto flush = [&] {
    out += tok.decode(run);
    run.clear();
  };
  for (int32_t t : answer) {
    if (t == mask_id) {
      flush();
      out += "\u2591";
    } else {
      run.push_back(t);
    }
  }
  flush();
  return out;
}

// --sampler diffusion: a masked_lm model sampled by iterative unmasking (infer/diffusion.h), on
// the inference engine (its weight formats; --cache), or with --reference through the training
// model's forward pass (the reference algorithm, f32). Settings not given are the model's
// (model.sample_*); steps not given keep the model's steps per token.
struct DiffusionCli {
  DiffusionOverrides given;
  DiffusionOpts opt;  // the settings used: the model's, then those given
  bool visual = false, reference = false;

  void resolve(const ModelConfig& cfg, const SamplerOpts& sampler, bool stop_at_eos) {
    mask_id_of(cfg);  // a clear error for a model that is not a masked_lm
    const DiffusionOpts& model = cfg.as<LladaConfig>().sample;
    opt = model;
    given.apply(opt);
    if (!given.block_length && opt.block_length > opt.gen_length) opt.block_length = 0;
    if (!given.steps) {
      const int block = opt.block_length > 0 ? opt.block_length : opt.gen_length;
      opt.steps = model.steps_for(opt.gen_length, std::max(1, opt.gen_length / std::max(1, block)));
    }
    opt.temperature = sampler.temperature;
    opt.seed = sampler.seed;
    opt.stop_at_eos = stop_at_eos;
  }
};

// The logits of the engine or, with --reference, of the training model (loaded into `ref`, which
// must outlive them).
DiffusionLogits diffusion_logits(const LoadedInference& loaded, const std::string& model_path,
                                 const std::string& adapter, const DiffusionCli& d,
                                 LoadedModel& ref) {
  if (!d.reference) return engine_logits(loaded.model);
  ref = adapter.empty() ? load_model(model_path) : load_model(model_path, adapter);
  return model_logits(*ref.model);
}

// --batch-file with --sampler diffusion: every line sampled together (diffusion_generate_batch),
// line i with seed + i; JSON Lines out in input order, as for the other samplers.
void generate_diffusion_batch(const LoadedInference& loaded, const std::string& model_path,
                              const std::string& adapter, const std::string& path, DiffusionCli d) {
  const ModelConfig& cfg = loaded.model->model_config();
  const std::vector<std::string> lines = read_lines(path);
  std::vector<std::vector<int32_t>> prompts;
  std::vector<DiffusionOpts> opts;
  for (size_t i = 0; i < lines.size(); i++) {
    prompts.push_back(encode_prompt(*loaded.tok, lines[i]));
    AERO_CHECK(int(prompts.back().size()) + d.opt.gen_length <= cfg.context(), "[generate] line ",
               i + 1, " of ", path, " (", prompts.back().size(), " tokens) and --gen-length ",
               d.opt.gen_length, " exceed the model's context of ", cfg.context(), " tokens");
    opts.push_back(d.opt);
    opts.back().seed = d.opt.seed + i;
  }
  d.opt.validate();
  LoadedModel ref;
  const std::vector<DiffusionResult> res = diffusion_generate_batch(
      diffusion_logits(loaded, model_path, adapter, d, ref), cfg.vocab_size(), prompts,
      mask_id_of(cfg), loaded.tok->eos_id(), opts);
  for (size_t i = 0; i < res.size(); i++)
    print_json_line(
        {{"prompt", lines[i]},
         {"text", loaded.tok->decode(std::vector<int>(res[i].answer.begin(), res[i].answer.end()))},
         {"finish", res[i].eos ? "eos" : "length"},
         {"tokens", res[i].answer.size()},
         {"forwards", res[i].forwards}});
}

void generate_diffusion(const LoadedInference& loaded, const std::string& model_path,
                        const std::string& adapter, const std::string& prompt, DiffusionCli d) {
  // Named, not a structured binding: lambdas below capture them (clang 14 cannot capture one).
  const std::shared_ptr<const InferenceModel>& model = loaded.model;
  const std::shared_ptr<const Tokenizer>& tok = loaded.tok;
  const ModelConfig& cfg = model->model_config();
  const int mask_id = mask_id_of(cfg);
  std::vector<int32_t> ids = encode_prompt(*tok, prompt);
  AERO_CHECK(int(ids.size()) + d.opt.gen_length <= cfg.context(), "[generate] the prompt (",
             ids.size(), " tokens) and --gen-length ", d.opt.gen_length,
             " exceed the model's context of ", cfg.context(), " tokens");
  d.opt.validate();
  LoadedModel ref;
  const DiffusionLogits logits = diffusion_logits(loaded, model_path, adapter, d, ref);
  std::fputs(prompt.c_str(), stdout);
  std::fflush(stdout);
  std::function<void(const DiffusionStep&)> on_step;
  if (d.visual)
    on_step = [&](const DiffusionStep& st) {
      std::fprintf(stderr, "\r\033[K[block %d step %d] %s", st.block, st.step,
                   show_masked(*tok, *st.answer, mask_id).c_str());
      std::fflush(stderr);
    };
  const DiffusionResult r =
      diffusion_generate(logits, cfg.vocab_size(), ids, mask_id, tok->eos_id(), d.opt, on_step);
  if (d.visual) std::fputs("\r\033[K", stderr);
  std::vector<int> answer(r.answer.begin(), r.answer.end());
  std::fputs(tok->decode(answer).c_str(), stdout);
  std::fputs("\n", stdout);
  std::fprintf(stderr, "[%zu tokens, %d forward passes, finished by %s]\n", r.answer.size(),
               r.forwards, r.eos ? "eos" : "length");
}

}  // namespace

void add_generate(CLI::App& app) {
  struct Args {
    std::string model, prompt, prompt_file, tokenizer, format, adapter, batch_file,
        context = "slide";
    bool stream = false, unmerged = false;
    int threads = 0, max_batch = 32;
    GenerateOpts gen;
    std::string sampler = "auto";
    DiffusionCli diffusion;
  };
  auto a = std::make_shared<Args>();
  auto* cmd = app.add_subcommand("generate", "Generate text from a trained model");
  auto ignore_eos = std::make_shared<bool>(false);
  add_model_options(cmd, a->model, a->format, a->tokenizer, a->adapter);
  add_unmerged_option(cmd, a->unmerged);
  cmd->add_option("--prompt,-p", a->prompt, "Prompt text (default: read standard input)");
  cmd->add_option("--prompt-file", a->prompt_file, "Read the prompt from this UTF-8 file");
  cmd->add_option("--batch-file", a->batch_file,
                  "One prompt per line, generated together; JSON Lines out in input order");
  cmd->add_option("--max-new", a->gen.max_new, "Tokens to generate at most")->capture_default_str();
  add_sampler_options(cmd, a->gen.sampler,
                      "Sampling seed (same seed, same text; batch line i uses seed + i)");
  add_beam_options(cmd, a->gen.beam);
  cmd->add_option("--stop", a->gen.stop, "Stop before this string (repeatable)");
  cmd->add_option("--context", a->context,
                  "When the context is full: slide (keep the newest half) or stop")
      ->check(CLI::IsMember({"stop", "slide"}))
      ->capture_default_str();
  cmd->add_option("--max-batch", a->max_batch, "Sequences decoded together (--batch-file)")
      ->capture_default_str();
  cmd->add_flag("--stream", a->stream, "Print tokens as they are generated");
  cmd->add_flag("--ignore-eos", *ignore_eos, "Go on past the end-of-document token");
  cmd->add_option("--threads", a->threads, "Threads (default: all usable CPUs)");
  cmd->add_option("--sampler", a->sampler,
                  "ar: token by token (causal models); diffusion: iterative unmasking (llada); "
                  "auto: by the model's family")
      ->check(CLI::IsMember({"auto", "ar", "diffusion"}))
      ->capture_default_str();
  DiffusionOverrides& d = a->diffusion.given;
  const std::string model_default = " (default: the model's)";
  cmd->add_option("--gen-length", d.gen_length,
                  "Diffusion: answer length in tokens" + model_default);
  cmd->add_option("--steps", d.steps,
                  "Diffusion: forward passes, split evenly across blocks (default: the model's "
                  "steps per token)");
  cmd->add_option("--block-length", d.block_length,
                  "Diffusion: semi-autoregressive block length, 0: one block" + model_default);
  cmd->add_option_function<std::string>(
         "--remasking",
         [a](const std::string& v) {
           a->diffusion.given.remasking = remasking_names().parse(v, "[generate] --remasking");
         },
         "Diffusion: confidence that keeps a token (" + remasking_names().list() + ")" +
             model_default)
      ->check(CLI::IsMember(remasking_names().names()));
  cmd->add_option("--cfg-scale", d.cfg_scale,
                  "Diffusion: classifier-free guidance scale, 0: off" + model_default);
  cmd->add_option(
      "--threshold", d.threshold,
      "Diffusion: also commit every token of confidence >= this, 0: off" + model_default);
  cmd->add_option("--eos-confidence", d.eos_confidence,
                  "Diffusion: scale of the confidence of EOS predictions, in (0, 1]; lower "
                  "holds EOS back, 1: off" +
                      model_default);
  cmd->add_flag("--visual", a->diffusion.visual,
                "Diffusion: show the answer being unmasked (stderr)");
  cmd->add_option_function<std::string>(
         "--cache",
         [a](const std::string& v) {
           a->diffusion.given.cache = diffusion_cache_names().parse(v, "[generate] --cache");
         },
         "Diffusion: K/V kept within a block (Fast-dLLM; approximate): none (the reference), "
         "prefix (before the block), dual (before and after it)" +
             model_default)
      ->check(CLI::IsMember(diffusion_cache_names().names()));
  cmd->add_flag("--reference", a->diffusion.reference,
                "Diffusion: the training model's forward pass every step (the reference)");
  cmd->callback([a, ignore_eos] {
    if (a->threads > 0) set_num_threads(a->threads);
    a->gen.stop_at_eos = !*ignore_eos;
    AERO_CHECK(a->prompt.empty() + a->prompt_file.empty() + a->batch_file.empty() >= 2,
               "[generate] give one of --prompt, --prompt-file and --batch-file");
    const LoadedInference loaded =
        load_inference(a->model, a->format, a->tokenizer, a->adapter, a->unmerged);
    const ModelFamily family = loaded.model_config().arch().family;
    const bool masked_lm = family == ModelFamily::masked_lm;
    if (a->sampler == "diffusion" || (a->sampler == "auto" && masked_lm)) {
      DiffusionCli d = a->diffusion;
      d.resolve(loaded.model_config(), a->gen.sampler, a->gen.stop_at_eos);
      if (!a->batch_file.empty())
        return generate_diffusion_batch(loaded, a->model, a->adapter, a->batch_file, d);
      generate_diffusion(loaded, a->model, a->adapter, read_prompt(a->prompt, a->prompt_file), d);
      return;
    }
    EngineOpts eo;
    eo.max_batch = a->max_batch;
    eo.context = a->context == "stop" ? ContextPolicy::stop : ContextPolicy::slide;
    const std::unique_ptr<Generator> generator = make_generator(loaded, eo);
    Generator& engine = *generator;
    if (!a->batch_file.empty()) {
      generate_batch(engine, a->batch_file, a->gen);
      return;
    }
    a->prompt = read_prompt(a->prompt, a->prompt_file);
    // A decoder's text continues the prompt; an encoder-decoder's answer is a text of its own.
    if (family != ModelFamily::seq2seq) std::fputs(a->prompt.c_str(), stdout);
    SeqRequest req;
    req.prompt = encode_prompt(engine.tokenizer(), a->prompt);
    req.opts = a->gen;
    if (a->stream)
      req.on_text = [](const std::string& t) {
        std::fputs(t.c_str(), stdout);
        std::fflush(stdout);
        return true;
      };
    const GenerateResult r = engine.run(std::move(req));
    if (!a->stream) std::fputs(r.text.c_str(), stdout);
    std::fputs("\n", stdout);
    std::fprintf(stderr, "[%zu tokens, finished by %s]\n", r.tokens.size(), r.finish.c_str());
  });
}

}  // namespace aero::cli
