// libFuzzer target: a JSON Lines (field "text") file through read_documents, as `aero data
// clean|prepare` reads it.
#include "data/readers.h"
#include "fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace aero;
  const std::string path = fuzz::write_file("data.jsonl", fuzz::as_text(data, size));
  fuzz::expect_clean([&] {
    ReadStats stats;
    read_documents(
        path, ReaderOptions{}, [](Document&& d) { (void)d; }, stats);
  });
  return 0;
}
