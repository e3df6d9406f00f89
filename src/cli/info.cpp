// aero info --config C | --model CKPT_DIR: architecture and parameter breakdown.
#include <cstdio>
#include <memory>

#include "cli/commands.h"
#include "core/error.h"
#include "io/gguf.h"
#include "models/model.h"
#include "train/checkpoint.h"

namespace aero::cli {

namespace {

// 1427456 -> "1,427,456"
std::string grouped(int64_t n) {
  std::string s = std::to_string(n), out;
  for (size_t i = 0; i < s.size(); i++) {
    if (i > 0 && (s.size() - i) % 3 == 0) out += ',';
    out += s[i];
  }
  return out;
}

void print_model(const ModelConfig& c) {
  // Declaring the parameters is enough to count them; nothing is allocated.
  ParamStore store;
  build_model(c, store);
  const ParamReport r = c.arch().report(c, store);
  for (size_t b = 0, e; b < r.summary.size(); b = e + 1) {
    e = std::min(r.summary.find('\n', b), r.summary.size());
    std::printf("%s%s\n", b == 0 ? "" : "     ", r.summary.substr(b, e - b).c_str());
  }
  const auto row = [](const std::string& part, int64_t n, const std::string& note = "") {
    std::printf("%-34s %13s%s\n", part.c_str(), grouped(n).c_str(), note.c_str());
  };
  for (const auto& x : r.rows)
    row(x.part, x.count,
        x.per > 0 ? "  (x " + std::to_string(x.per) + " = " + grouped(x.count * x.per) + ")" : "");
  row("without norms and biases", r.weights);
  row("norms", r.norms);
  row("biases", r.biases);
  row("total", r.total);
}

// A GGUF file as aero's reader sees it: header, every key, every tensor.
void print_gguf(const std::string& path) {
  const GgufFile f(path);
  std::printf("%s: GGUF v%u, alignment %llu, data at byte %llu, %zu keys, %zu tensors\n",
              path.c_str(), f.version(), static_cast<unsigned long long>(f.alignment()),
              static_cast<unsigned long long>(f.data_offset()), f.metadata().size(),
              f.tensors().size());
  for (const auto& [key, value] : f.metadata())
    std::printf("  %s: %s\n", key.c_str(), value.str_repr(6).c_str());
  for (const GgufTensorInfo& t : f.tensors())
    std::printf("  %-32s %-5s %-14s at %llu\n", t.name.c_str(), ggml_type_name(t.type),
                t.shape_str().c_str(), static_cast<unsigned long long>(t.offset));
}

}  // namespace

void add_info(CLI::App& app) {
  struct Args {
    std::string config, model, gguf;
  };
  auto a = std::make_shared<Args>();
  auto* cmd = app.add_subcommand("info", "Architecture and parameter breakdown of a model");
  auto* cfg_opt = cmd->add_option("--config,-c", a->config, "Run config (JSON)");
  auto* model_opt = cmd->add_option("--model,-m", a->model, "Checkpoint or run directory");
  auto* gguf_opt = cmd->add_option("--gguf", a->gguf, "GGUF file: header, metadata and tensors");
  cfg_opt->excludes(model_opt);
  gguf_opt->excludes(cfg_opt)->excludes(model_opt);
  cmd->callback([a] {
    if (!a->gguf.empty()) {
      print_gguf(a->gguf);
      return;
    }
    AERO_CHECK(!a->config.empty() || !a->model.empty(), "[info] give --config, --model or --gguf");
    if (!a->config.empty()) {
      print_model(load_run_config(a->config).model);
      return;
    }
    const std::string ckpt = find_checkpoint(a->model);
    AERO_CHECK(!ckpt.empty(), "[info] ", a->model, " holds no checkpoint");
    const TrainState st = read_checkpoint_state(ckpt);
    std::printf("checkpoint %s: step %lld, %lld tokens seen\n", ckpt.c_str(),
                static_cast<long long>(st.step), static_cast<long long>(st.tokens_seen));
    print_model(read_checkpoint_config(ckpt).model);
  });
}

}  // namespace aero::cli
