// libFuzzer target: a man page (roff) through read_documents, as `aero data clean|prepare` and
// `aero quickstart` read them. The first byte picks the file: 0 the rest as ls.1, 1 the rest as
// raw ls.1.gz bytes (the decoder's error paths), 2 the rest gzipped here into ls.1.gz.
#include <zlib.h>

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
    path = fuzz::write_file("ls.1", body);
  } else if (mode == 1) {
    path = fuzz::write_file("ls.1.gz", body);
  } else {
    // A gzip stream (windowBits 15 + 16) of the body.
    z_stream z{};
    if (deflateInit2(&z, 1, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) std::abort();
    std::vector<unsigned char> gz(deflateBound(&z, body.size()) + 64);
    z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(body.data()));
    z.avail_in = body.size();
    z.next_out = gz.data();
    z.avail_out = gz.size();
    if (deflate(&z, Z_FINISH) != Z_STREAM_END) std::abort();
    const size_t n = z.total_out;
    deflateEnd(&z);
    path = fuzz::write_file("ls.1.gz", {reinterpret_cast<const char*>(gz.data()), n});
  }
  fuzz::expect_clean([&] {
    ReadStats stats;
    read_documents(
        path, ReaderOptions{}, [](Document&& d) { (void)d; }, stats);
  });
  return 0;
}
