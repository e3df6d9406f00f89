// libFuzzer target: a token shard (header + body) through Shard, then every token read as the
// batch samplers read them.
#include <algorithm>
#include <vector>

#include "data/shards.h"
#include "fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace aero;
  const std::string path = fuzz::write_file("train.bin", fuzz::as_text(data, size));
  fuzz::expect_clean([&] {
    Shard s(path);
    std::vector<int32_t> out(std::min<uint64_t>(s.size(), 1 << 16));
    s.read(0, out.size(), out.data());
    for (int32_t t : out)
      if (t < 0 || uint32_t(t) >= s.vocab_size()) std::abort();
  });
  return 0;
}
