// aero eval --model CKPT_DIR --data SHARD: loss and perplexity of a checkpoint on a shard, over
// consecutive windows or (--examples) one document per row. On an encoder-decoder, --data is a
// pairs file (CSV / JSONL): loss on the target tokens, then greedy predictions scored with BLEU
// and ROUGE against the targets. `aero eval --metrics-only --hyp F --ref F` scores text files.
#include <cstdio>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "core/error.h"
#include "core/threads.h"
#include "data/metrics.h"
#include "data/readers.h"
#include "infer/predictions.h"
#include "io/atomic_file.h"
#include "io/checkpoint.h"
#include "models/load.h"
#include "train/trainer.h"

namespace aero::cli {

namespace {

struct Args {
  std::string model, adapter, data;
  int batch_size = 8, batches = 0, threads = 0, mc = 1, seed = 0;
  bool final_only = false, examples = false;
  std::vector<int> buckets;
  // Seq2seq and text scoring.
  std::string tokenizer, input_column, target_column, predictions, scores, hyp, format;
  std::vector<std::string> refs;
  int max_input = 0, max_target = 0, max_new = 0;
  bool json = false, metrics_only = false, no_generate = false;
  std::string rouge_tokenize = "unicode";
  BleuOptions bleu;
  std::string bleu_tokenize = "13a";
};

// Lines of a UTF-8 text file (no line ends; a trailing "\r" dropped).
std::vector<std::string> read_lines(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  AERO_CHECK(f, "[eval] cannot open ", path);
  std::vector<std::string> lines;
  std::string line;
  while (std::getline(f, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    check_utf8(line, path, lines.size() + 1);
    lines.push_back(std::move(line));
  }
  return lines;
}

void write_text_file(const std::string& path, std::string_view text) {
  AtomicFile f(path);
  f.write(text);
  f.commit();
}

nlohmann::json prf_json(const Prf& p) {
  return {{"precision", p.precision}, {"recall", p.recall}, {"f", p.f}};
}

// BLEU and ROUGE of hyps against refs (refs[k][i]: the k-th reference of line i), as JSON.
nlohmann::json score_texts(const std::vector<std::string>& hyps,
                           const std::vector<std::vector<std::string>>& refs, RougeTokenize mode,
                           const BleuOptions& bo) {
  const BleuScore b = corpus_bleu(hyps, refs, bo);
  const RougeScores r = corpus_rouge(hyps, refs[0], mode);
  nlohmann::json j;
  j["bleu"] = {{"score", b.score},
               {"precisions", std::vector<double>(b.precisions, b.precisions + 4)},
               {"bp", b.bp},
               {"ratio", b.ratio},
               {"sys_len", b.stats.sys_len},
               {"ref_len", b.stats.ref_len},
               {"signature", b.signature()},
               {"text", b.format()}};
  j["rouge"] = {{"rouge1", prf_json(r.rouge1)},
                {"rouge2", prf_json(r.rouge2)},
                {"rougeL", prf_json(r.rougeL)},
                {"lines", r.lines},
                {"tokenize", rouge_tokenize_names().name(mode)},
                {"aggregate", "mean of per-line scores"}};
  return j;
}

void print_scores(const nlohmann::json& j) {
  std::printf("%s\n  %s\n", j["bleu"]["text"].get<std::string>().c_str(),
              j["bleu"]["signature"].get<std::string>().c_str());
  const auto& r = j["rouge"];
  std::printf(
      "ROUGE-1 %.4f  ROUGE-2 %.4f  ROUGE-L %.4f  (F-measure, mean over %lld lines, "
      "tokenize %s)\n",
      r["rouge1"]["f"].get<double>(), r["rouge2"]["f"].get<double>(),
      r["rougeL"]["f"].get<double>(), static_cast<long long>(r["lines"].get<int64_t>()),
      r["tokenize"].get<std::string>().c_str());
}

void emit(const Args& a, const nlohmann::json& j) {
  if (!a.scores.empty()) write_text_file(a.scores, j.dump(2) + "\n");
  if (a.json) std::printf("%s\n", j.dump(2).c_str());
}

void metrics_only(const Args& a, RougeTokenize mode) {
  AERO_CHECK(!a.hyp.empty() && !a.refs.empty(),
             "[eval] --metrics-only needs --hyp FILE and --ref FILE (one line per segment)");
  const std::vector<std::string> hyps = read_lines(a.hyp);
  AERO_CHECK(!hyps.empty(), "[eval] ", a.hyp, " is empty: nothing to score");
  std::vector<std::vector<std::string>> refs;
  for (const auto& path : a.refs) {
    refs.push_back(read_lines(path));
    AERO_CHECK(refs.back().size() == hyps.size(), "[eval] ", path, " has ", refs.back().size(),
               " lines but ", a.hyp, " has ", hyps.size(), "; they must pair line by line");
  }
  nlohmann::json j = score_texts(hyps, refs, mode, a.bleu);
  j["lines"] = hyps.size();
  if (!a.json) print_scores(j);
  emit(a, j);
}

// Predictions beside the scores: JSON Lines {input, target, prediction}, or a TSV with a header
// when the name ends in .tsv (tabs and line breaks inside a field written as \t, \n, \\).
void write_predictions(const std::string& path, const std::vector<TextPair>& pairs,
                       const std::vector<std::string>& preds) {
  std::string out;
  const bool tsv = path.size() >= 4 && path.compare(path.size() - 4, 4, ".tsv") == 0;
  auto esc = [](const std::string& s) {
    std::string r;
    for (char c : s) {
      if (c == '\t')
        r += "\\t";
      else if (c == '\n')
        r += "\\n";
      else if (c == '\r')
        r += "\\r";
      else if (c == '\\')
        r += "\\\\";
      else
        r += c;
    }
    return r;
  };
  if (tsv) out += "input\ttarget\tprediction\n";
  for (size_t i = 0; i < pairs.size(); i++) {
    if (tsv)
      out += esc(pairs[i].input) + "\t" + esc(pairs[i].target) + "\t" + esc(preds[i]) + "\n";
    else
      out +=
          nlohmann::json{
              {"input", pairs[i].input}, {"target", pairs[i].target}, {"prediction", preds[i]}}
              .dump() +
          "\n";
  }
  write_text_file(path, out);
}

void eval_seq2seq(const Args& a, LoadedModel& m, RougeTokenize mode) {
  // Columns, lengths and tokenizer default to the run's data section.
  const nlohmann::json cfg = read_checkpoint_json(m.dir, "config.json");
  DataConfig d;
  if (cfg.contains("data")) data_config_fields().from_json(d, cfg["data"]);
  if (!a.tokenizer.empty()) d.tokenizer = a.tokenizer;
  if (!a.input_column.empty()) d.input_column = a.input_column;
  if (!a.target_column.empty()) d.target_column = a.target_column;
  if (a.max_input > 0) d.max_input = a.max_input;
  if (a.max_target > 0) d.max_target = a.max_target;
  AERO_CHECK(!d.tokenizer.empty(), "[eval] ", m.dir, " records no tokenizer: pass --tokenizer");
  Tape tape;
  EvalOptions eo;
  eo.batch_size = a.batch_size;
  eo.pairs = true;
  eo.pair = pair_options(d);
  eo.buckets = a.buckets;
  const EvalResult loss = evaluate_shard(*m.model, m.cfg, tape, a.data, eo);
  nlohmann::json j = {{"loss", loss.loss}, {"perplexity", loss.ppl}, {"tokens", loss.tokens}};
  if (!a.json)
    std::printf("loss %.4f  perplexity %.2f  (target tokens; %lld tokens read, %s)\n", loss.loss,
                loss.ppl, static_cast<long long>(loss.tokens), m.dir.c_str());
  if (!a.no_generate) {
    std::vector<TextPair> pairs;
    ReadStats st;
    read_pairs(
        a.data, d.input_column, d.target_column,
        [&](TextPair&& p) { pairs.push_back(std::move(p)); }, st);
    const auto tok = load_tokenizer(d.tokenizer);
    PredictOptions po;
    po.batch_size = a.batch_size;
    po.max_input = d.max_input;
    po.max_new = a.max_new > 0 ? a.max_new : d.max_target;
    if (!a.format.empty()) {
      AERO_CHECK(a.format == "f32" || a.format == "bf16" || a.format == "q8", "[eval] --format ",
                 a.format, ": expected f32, bf16 or q8");
      po.weights = a.format == "q8"     ? QFormat::q8
                   : a.format == "bf16" ? QFormat::bf16
                                        : QFormat::f32;
      if (m.lora && !m.lora->merged) m.lora->merge();  // converted weights hold the adapters
    }
    std::vector<std::string> inputs, targets;
    for (const auto& p : pairs) inputs.push_back(p.input), targets.push_back(p.target);
    const std::vector<std::string> preds = predict_seq2seq(*m.model, *tok, inputs, po);
    j.update(score_texts(preds, {targets}, mode, a.bleu));
    if (po.weights && *po.weights != QFormat::f32) {
      // What the converted decoder costs: the same inputs answered with f32 weights.
      PredictOptions pf = po;
      pf.weights = QFormat::f32;
      const std::vector<std::string> ref = predict_seq2seq(*m.model, *tok, inputs, pf);
      const nlohmann::json f = score_texts(ref, {targets}, mode, a.bleu);
      size_t same = 0;
      for (size_t i = 0; i < ref.size(); i++) same += ref[i] == preds[i];
      const double bleu = j["bleu"]["score"], bleu32 = f["bleu"]["score"];
      const double rl = j["rouge"]["rougeL"]["f"], rl32 = f["rouge"]["rougeL"]["f"];
      j["weights"] = a.format;
      j["f32"] = {{"bleu", bleu32}, {"rougeL", rl32}, {"same_predictions", same}};
      if (!a.json)
        std::printf(
            "decoder weights %s: BLEU %.2f vs f32 %.2f (%+.2f), ROUGE-L %.4f vs %.4f "
            "(%+.4f); %zu of %zu answers as f32's\n",
            a.format.c_str(), bleu, bleu32, bleu - bleu32, rl, rl32, rl - rl32, same, ref.size());
    }
    j["rows"] = pairs.size();
    j["max_new"] = po.max_new;
    if (!a.predictions.empty()) {
      write_predictions(a.predictions, pairs, preds);
      j["predictions"] = a.predictions;
    }
    if (!a.json) {
      print_scores(j);
      if (!a.predictions.empty())
        std::printf("predictions: %s (%zu rows)\n", a.predictions.c_str(), pairs.size());
    }
  }
  emit(a, j);
}

}  // namespace

void add_eval(CLI::App& app) {
  auto a = std::make_shared<Args>();
  auto* cmd = app.add_subcommand(
      "eval",
      "Loss and perplexity of a checkpoint on a token shard; on a seq2seq model and a pairs "
      "file also BLEU and ROUGE of its predictions; --metrics-only scores text files");
  cmd->add_option("--model,-m", a->model, "Checkpoint or run directory (its latest)");
  add_adapter_option(cmd, a->adapter);
  cmd->add_option("--data,-d", a->data,
                  "Token shard (aero data prepare); for a seq2seq model a pairs .csv / .jsonl");
  cmd->add_option("--batch-size", a->batch_size, "Sequences per batch")->capture_default_str();
  cmd->add_option("--batches", a->batches,
                  "Batches of consecutive windows from the start; 0: the whole shard")
      ->capture_default_str();
  cmd->add_flag("--final", a->final_only, "Loss on the final token of each window only");
  cmd->add_flag("--examples", a->examples,
                "One document (up to its end-of-text) per row, padded, as data.mode = examples");
  cmd->add_option("--buckets", a->buckets, "With --examples: padding boundaries (e.g. 32 64)");
  cmd->add_option("--threads", a->threads, "Threads (default: all usable CPUs)");
  cmd->add_option("--mc", a->mc,
                  "Diffusion model: Monte-Carlo draws (t and masks) per batch of the bound")
      ->capture_default_str();
  cmd->add_option("--seed", a->seed, "Diffusion model: seed of the Monte-Carlo draws")
      ->capture_default_str();
  cmd->add_option("--tokenizer", a->tokenizer, "Seq2seq: tokenizer (default: the run's)");
  cmd->add_option("--format", a->format,
                  "Seq2seq: answer with the decoder's matrices in f32, bf16 or q8 (as generate "
                  "and serve run them); beside bf16 / q8 the scores of f32's answers are printed");
  cmd->add_option("--input-column", a->input_column,
                  "Seq2seq: input column / field (default: the run's data.input_column)");
  cmd->add_option("--target-column", a->target_column,
                  "Seq2seq: target column / field (default: the run's data.target_column)");
  cmd->add_option("--max-input", a->max_input, "Seq2seq: input tokens (default: the run's)");
  cmd->add_option("--max-target", a->max_target,
                  "Seq2seq: target tokens for the loss (default: the run's)");
  cmd->add_option("--max-new", a->max_new,
                  "Seq2seq: generated tokens per prediction (default: --max-target)");
  cmd->add_flag("--no-generate", a->no_generate, "Seq2seq: loss only, no predictions");
  cmd->add_option("--predictions", a->predictions,
                  "Seq2seq: write input, target and prediction per row (.tsv, else JSON Lines)");
  cmd->add_flag("--metrics-only", a->metrics_only,
                "Score --hyp against --ref (text files, one segment per line); no model");
  cmd->add_option("--hyp", a->hyp, "With --metrics-only: hypotheses, one per line");
  cmd->add_option("--ref", a->refs,
                  "With --metrics-only: references, one per line (repeat for more references; "
                  "ROUGE uses the first)");
  cmd->add_option("--rouge-tokenize", a->rouge_tokenize,
                  "ROUGE tokenizer: unicode (letters and marks of any script, case-folded) or "
                  "ascii (rouge-score's own: [a-z0-9] only)")
      ->capture_default_str();
  cmd->add_option("--bleu-tokenize", a->bleu_tokenize,
                  "BLEU tokenizer: 13a (sacreBLEU's default) or none (split on whitespace only)")
      ->capture_default_str();
  cmd->add_flag("--bleu-lowercase", a->bleu.lowercase,
                "Case-insensitive BLEU (sacreBLEU's -lc); case-sensitive by default");
  cmd->add_flag("--json", a->json, "Print the scores as one JSON object");
  cmd->add_option("--scores", a->scores, "Also write the scores as JSON to this file");
  cmd->callback([a] {
    AERO_CHECK(a->batch_size > 0 && a->batches >= 0, "[eval] --batch-size must be > 0");
    const RougeTokenize mode =
        rouge_tokenize_names().parse(a->rouge_tokenize, "[eval] --rouge-tokenize");
    a->bleu.tokenize = bleu_tokenize_names().parse(a->bleu_tokenize, "[eval] --bleu-tokenize");
    if (a->metrics_only) {
      metrics_only(*a, mode);
      return;
    }
    AERO_CHECK(!a->model.empty() && !a->data.empty(),
               "[eval] --model and --data are required (or --metrics-only --hyp --ref)");
    if (a->threads > 0) set_num_threads(a->threads);
    LoadedModel m = a->adapter.empty() ? load_model(a->model) : load_model(a->model, a->adapter);
    if (m.cfg.arch().family == ModelFamily::seq2seq) {
      eval_seq2seq(*a, m, mode);
      return;
    }
    Tape tape;
    EvalOptions eo;
    eo.batch_size = a->batch_size;
    eo.batches = a->batches;
    eo.final_only = a->final_only;
    eo.seed = uint64_t(a->seed);
    eo.examples = a->examples;
    eo.buckets = a->buckets;
    eo.mc = a->mc;
    const EvalResult r = evaluate_shard(*m.model, m.cfg, tape, a->data, eo);
    if (a->json) {
      std::printf("%s\n",
                  nlohmann::json{{"loss", r.loss}, {"perplexity", r.ppl}, {"tokens", r.tokens}}
                      .dump(2)
                      .c_str());
    } else if (m.cfg.arch().family == ModelFamily::masked_lm) {
      // The diffusion loss is an upper bound on the negative log-likelihood (the negative ELBO).
      std::printf(
          "loss bound %.4f nats/token  perplexity bound %.2f  (%d MC draws, %lld tokens, %s)\n",
          r.loss, r.ppl, a->mc, static_cast<long long>(r.tokens), m.dir.c_str());
    } else {
      std::printf("loss %.4f  perplexity %.2f  (%lld tokens, %s)\n", r.loss, r.ppl,
                  static_cast<long long>(r.tokens), m.dir.c_str());
    }
  });
}

}  // namespace aero::cli
