// libFuzzer target: a MediaWiki XML dump through read_documents (expat, then the markup
// stripper), as `aero data clean|prepare` reads it. The first byte picks the file: 0 the rest
// as dump.xml, 1 the rest as raw dump.xml.bz2 bytes (the decoder's error paths), 2 the rest
// compressed here into dump.xml.bz2 (the streamed decode of a valid archive).
#include <bzlib.h>

#include <vector>

#include "data/readers.h"
#include "fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace aero;
  if (size == 0) return 0;
  const int mode = data[0] % 3;
  std::string_view body = fuzz::as_text(data + 1, size - 1);
  std::string path;
  if (mode == 0) {
    path = fuzz::write_file("dump.xml", body);
  } else if (mode == 1) {
    path = fuzz::write_file("dump.xml.bz2", body);
  } else {
    std::vector<char> bz(body.size() + body.size() / 100 + 600);
    unsigned n = bz.size();
    if (BZ2_bzBuffToBuffCompress(bz.data(), &n, const_cast<char*>(body.data()), body.size(), 1, 0,
                                 30) != BZ_OK)
      std::abort();
    path = fuzz::write_file("dump.xml.bz2", {bz.data(), n});
  }
  fuzz::expect_clean([&] {
    ReadStats stats;
    read_documents(
        path, ReaderOptions{}, [](Document&& d) { (void)d; }, stats);
  });
  return 0;
}
