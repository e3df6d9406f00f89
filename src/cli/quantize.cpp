// aero quantize --model CKPT --format q8|bf16 --out FILE: a checkpoint's weights converted for
// inference (aero generate / chat / serve --model FILE), with sizes and, given a shard, the
// perplexity of f32 against the quantized weights.
#include <sys/stat.h>

#include <cstdio>
#include <memory>

#include "cli/commands.h"
#include "core/error.h"
#include "core/threads.h"
#include "infer/engine.h"
#include "infer/perplexity.h"

namespace aero::cli {

void add_quantize(CLI::App& app) {
  struct Args {
    std::string model, format, out, eval_data;
    int eval_windows = 0, threads = 0;
  };
  auto a = std::make_shared<Args>();
  auto* cmd = app.add_subcommand("quantize", "Convert a checkpoint's weights to bf16 or q8");
  cmd->add_option("--model,-m", a->model, "Checkpoint or run directory (its latest)")->required();
  cmd->add_option("--format", a->format, "q8 (int8, a scale per 32 weights) or bf16")
      ->required()
      ->check(CLI::IsMember({"q8", "bf16", "f32"}));
  cmd->add_option("--out,-o", a->out, "Output file (safetensors)")->required();
  cmd->add_option("--eval-data", a->eval_data,
                  "Token shard: print the perplexity of f32 and of the quantized weights");
  cmd->add_option("--eval-windows", a->eval_windows,
                  "Windows of block_size tokens from the shard's start (0: all)")
      ->capture_default_str();
  cmd->add_option("--threads", a->threads, "Threads (default: all usable CPUs)");
  cmd->callback([a] {
    if (a->threads > 0) set_num_threads(a->threads);
    auto f32 = InferenceModel::load(a->model, WeightFormat::f32);
    auto q = InferenceModel::load(a->model, parse_weight_format(a->format));
    q->save(a->out);
    struct stat st {};
    ::stat(a->out.c_str(), &st);
    const double mb = 1e6;
    std::printf("weights f32 %.2f MB -> %s %.2f MB (%.1f%%), file %.2f MB: %s\n",
                double(f32->weight_bytes()) / mb, a->format.c_str(), double(q->weight_bytes()) / mb,
                100.0 * double(q->weight_bytes()) / double(f32->weight_bytes()),
                double(st.st_size) / mb, a->out.c_str());
    if (!a->eval_data.empty()) {
      EvalResult rf = shard_perplexity(*f32, a->eval_data, a->eval_windows);
      EvalResult rq = shard_perplexity(*q, a->eval_data, a->eval_windows);
      std::printf("perplexity f32 %.4f  %s %.4f  (%+.3f%%, %lld tokens of %s)\n", rf.ppl,
                  a->format.c_str(), rq.ppl, 100.0 * (rq.ppl / rf.ppl - 1.0),
                  static_cast<long long>(rf.tokens), a->eval_data.c_str());
    }
  });
}

}  // namespace aero::cli
