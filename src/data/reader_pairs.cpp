// (input, target) pairs for seq2seq training from CSV or JSON Lines.
#include <cerrno>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "data/readers.h"

namespace aero {

void read_pairs(const std::string& path, const std::string& input, const std::string& target,
                const PairFn& fn, ReadStats& stats) {
  const std::string format = detect_format(path);
  ++stats.files;
  if (format == "csv") {
    read_csv(
        path, {input, target},
        [&](CsvRow&& r) {
          ++stats.documents;
          fn(TextPair{std::move(r.fields[0]), std::move(r.fields[1])});
        },
        stats);
    return;
  }
  AERO_CHECK(format == "jsonl", "[data] ", path, ": pairs are read from .csv or .jsonl files, not ",
             format);
  for_each_json_line(path, stats, [&](const nlohmann::json& j, uint64_t line_no) {
    auto field = [&](const std::string& k) -> const std::string* {
      const auto it = j.is_object() ? j.find(k) : j.end();
      if (it == j.end() || !it->is_string() || it->get_ref<const std::string&>().empty())
        return nullptr;
      return &it->get_ref<const std::string&>();
    };
    const std::string *a = field(input), *b = field(target);
    if (!a || !b) {
      ++stats.missing_field;
      return;
    }
    check_utf8(*a, path, line_no);
    check_utf8(*b, path, line_no);
    ++stats.documents;
    fn(TextPair{*a, *b});
  });
}

}  // namespace aero
