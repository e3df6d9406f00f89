#include "train/import_checkpoint.h"

#include <filesystem>

#include "core/error.h"
#include "tokenizer/tokenizer.h"
#include "train/checkpoint.h"

namespace aero {

ImportReport import_model(const std::string& importer, const std::string& in_dir,
                          const std::string& out_dir) {
  namespace fs = std::filesystem;
  const ImportedModel m = find_importer(importer).read(in_dir);
  AERO_CHECK(!fs::exists(fs::path(out_dir) / "latest"), "[import] ", out_dir,
             " already holds a run; choose another --out");
  ParamStore store;
  build_model(m.cfg, store);
  store.finalize(0);
  AERO_CHECK(m.weights.size() == store.params().size(), "[import] internal: ", m.weights.size(),
             " tensors for ", store.params().size(), " parameters");
  for (const auto& [name, t] : m.weights) {
    Param& p = store.get(name);
    AERO_CHECK(p.shape == t.shape(), "[import] internal: ", name, " is ", t.shape().str(),
               ", the model wants ", p.shape.str());
    std::copy(t.f32(), t.f32() + t.numel(), p.value.f32());
  }
  ImportReport r;
  r.cfg = m.cfg;
  r.params = store.count();
  RunConfig rc;
  rc.model = m.cfg;
  rc.data.tokenizer = "";
  if (!m.tokenizer_files.empty()) {
    const fs::path tok = fs::absolute(fs::path(out_dir) / "tokenizer");
    try {
      fs::create_directories(tok);
      for (const std::string& f : m.tokenizer_files)
        fs::copy_file(f, tok / fs::path(f).filename(), fs::copy_options::overwrite_existing);
    } catch (const fs::filesystem_error& e) {
      fail("[import] ", out_dir, ": cannot copy the tokenizer: ", e.what());
    }
    rc.data.tokenizer = r.tokenizer =
        (tok / fs::path(m.tokenizer_files.front()).filename()).lexically_normal().string();
    // Read the tokenizer now, so a broken one fails the import rather than the first generate.
    auto tk = load_tokenizer(r.tokenizer);
    if (!m.special_tokens.empty()) {
      tk->add_special_tokens(m.special_tokens);
      tk->save_added(r.tokenizer);
    }
    const int vocab = tk->vocab_size();
    r.tokenizer_vocab = vocab;
    AERO_CHECK(vocab <= m.cfg.vocab_size(), "[import] ", m.tokenizer_files.front(), " has ", vocab,
               " tokens but the model's vocabulary is ", m.cfg.vocab_size());
  }
  try {
    r.ckpt = save_checkpoint(out_dir, store, nullptr, rc, TrainState{}, 1, true);
  } catch (const fs::filesystem_error& e) {
    fail("[import] ", out_dir, ": cannot write the checkpoint: ", e.what());
  }
  return r;
}

}  // namespace aero
