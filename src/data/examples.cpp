#include "data/examples.h"

#include "core/error.h"
#include "tokenizer/tokenizer.h"

namespace aero {

std::vector<int32_t> encode_with_eos(const Tokenizer& tok, std::string_view text, int max,
                                     EncodeCache* cache) {
  const int eos = tok.eos_id();
  std::vector<int> ids = tok.encode(text, cache);
  const size_t room = size_t(eos >= 0 ? max - 1 : max);
  if (ids.size() > room) ids.resize(room);
  if (eos >= 0) ids.push_back(eos);
  return std::vector<int32_t>(ids.begin(), ids.end());
}

ExampleSet read_examples(const std::string& csv_path, const Tokenizer& tok,
                         const std::vector<std::string>& columns, bool append_eos) {
  AERO_CHECK(columns.size() == 2, "[data] examples need two columns (input, target), got ",
             columns.size());
  ExampleSet set;
  read_csv(
      csv_path, columns,
      [&](CsvRow&& row) {
        Example e;
        const auto in = tok.encode(row.fields[0]), out = tok.encode(row.fields[1]);
        e.input.assign(in.begin(), in.end());
        e.target.assign(out.begin(), out.end());
        if (append_eos && tok.eos_id() >= 0) {
          e.input.push_back(tok.eos_id());
          e.target.push_back(tok.eos_id());
        }
        set.examples.push_back(std::move(e));
      },
      set.stats);
  return set;
}

}  // namespace aero
