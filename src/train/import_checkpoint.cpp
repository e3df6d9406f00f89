#include "train/import_checkpoint.h"

#include <filesystem>

#include "core/error.h"
#include "models/import_hf.h"
#include "tokenizer/gpt2_bpe.h"
#include "train/checkpoint.h"

namespace aero {

ImportReport import_hf_gpt2(const std::string& in_dir, const std::string& out_dir) {
  namespace fs = std::filesystem;
  HfGpt2 hf = read_hf_gpt2(in_dir);
  AERO_CHECK(!fs::exists(fs::path(out_dir) / "latest"), "[import] ", out_dir,
             " already holds a run; choose another --out");
  ParamStore store;
  Gpt gpt(hf.cfg, store);
  store.finalize(0);
  AERO_CHECK(hf.weights.size() == store.params().size(), "[import] internal: ", hf.weights.size(),
             " tensors for ", store.params().size(), " parameters");
  for (const auto& [name, t] : hf.weights) {
    Param& p = store.get(name);
    AERO_CHECK(p.shape == t.shape(), "[import] internal: ", name, " is ", t.shape().str(),
               ", the model wants ", p.shape.str());
    std::copy(t.f32(), t.f32() + t.numel(), p.value.f32());
  }
  ImportReport r;
  r.cfg = hf.cfg;
  r.params = store.count();
  RunConfig rc;
  rc.model = hf.cfg;
  rc.data.tokenizer = "";
  if (!hf.vocab.empty()) {
    // Read the tokenizer now, so a broken one fails the import rather than the first generate.
    const Gpt2BpeTokenizer bpe(hf.vocab, hf.merges);
    AERO_CHECK(bpe.vocab_size() <= hf.cfg.vocab_size, "[import] ", hf.vocab, " has ",
               bpe.vocab_size(), " tokens but config.json's vocab_size is ", hf.cfg.vocab_size);
    const fs::path tok = fs::absolute(fs::path(out_dir) / "tokenizer");
    rc.data.tokenizer = r.tokenizer = (tok / "vocab.json").lexically_normal().string();
    try {
      fs::create_directories(tok);
      fs::copy_file(hf.vocab, tok / "vocab.json", fs::copy_options::overwrite_existing);
      fs::copy_file(hf.merges, tok / "merges.txt", fs::copy_options::overwrite_existing);
    } catch (const fs::filesystem_error& e) {
      fail("[import] ", out_dir, ": cannot copy the tokenizer: ", e.what());
    }
  }
  try {
    r.ckpt = save_checkpoint(out_dir, store, nullptr, rc, TrainState{}, 1, true);
  } catch (const fs::filesystem_error& e) {
    fail("[import] ", out_dir, ": cannot write the checkpoint: ", e.what());
  }
  return r;
}

}  // namespace aero
