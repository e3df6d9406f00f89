// libFuzzer target: a char tokenizer's JSON through CharTokenizer::load, then a round trip of
// text with every special token and every id decoded.
#include <vector>

#include "fuzz_util.h"
#include "tokenizer/char_tokenizer.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace aero;
  const std::string path = fuzz::write_file("tokenizer.json", fuzz::as_text(data, size));
  fuzz::expect_clean([&] {
    CharTokenizer tok = CharTokenizer::load(path);
    (void)tok.decode(tok.encode("aế b\n<eos><pad>x"));
    std::vector<int> ids;
    for (int i = 0; i < tok.vocab_size() && i < 4096; ++i) ids.push_back(i);
    (void)tok.decode(ids);
  });
  return 0;
}
