// Plain text and JSON Lines. Plain text: documents are separated by blank lines.
#include <cerrno>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "data/readers.h"

namespace aero {

void read_text(const std::string& path, const DocumentFn& fn, ReadStats& stats) {
  std::ifstream in(path, std::ios::binary);
  AERO_CHECK(in, "[data] cannot open ", path, ": ", std::strerror(errno));
  std::string line;
  Document doc;
  uint64_t line_no = 0;
  const auto emit = [&] {
    if (doc.text.empty()) return;
    ++stats.documents;
    fn(std::move(doc));
    doc = Document{};
  };
  while (std::getline(in, line)) {
    ++line_no;
    stats.bytes += line.size() + 1;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    check_utf8(line, path, line_no);
    if (line.find_first_not_of(" \t") == std::string::npos) {
      emit();
      continue;
    }
    if (doc.text.empty())
      doc.source = cat(path, ":", line_no);
    else
      doc.text += '\n';
    doc.text += line;
  }
  AERO_CHECK(!in.bad(), "[data] read error on ", path);
  emit();
}

void for_each_json_line(const std::string& path, ReadStats& stats,
                        const std::function<void(const nlohmann::json&, uint64_t line_no)>& fn) {
  std::ifstream in(path, std::ios::binary);
  AERO_CHECK(in, "[data] cannot open ", path, ": ", std::strerror(errno));
  std::string line;
  uint64_t line_no = 0;
  while (std::getline(in, line)) {
    ++line_no;
    stats.bytes += line.size() + 1;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(line);
    } catch (const nlohmann::json::exception& e) {  // parse_error, or out_of_range for 1e999
      fail("[data] ", path, ":", line_no, ": invalid JSON (", e.what(), ")");
    }
    fn(j, line_no);
  }
  AERO_CHECK(!in.bad(), "[data] read error on ", path);
}

void read_jsonl(const std::string& path, const std::string& field, const DocumentFn& fn,
                ReadStats& stats) {
  for_each_json_line(path, stats, [&](const nlohmann::json& j, uint64_t line_no) {
    const auto it = j.is_object() ? j.find(field) : j.end();
    if (it == j.end() || !it->is_string() || it->get_ref<const std::string&>().empty()) {
      ++stats.missing_field;
      return;
    }
    Document doc{it->get<std::string>(), cat(path, ":", line_no)};
    check_utf8(doc.text, path, line_no);
    ++stats.documents;
    fn(std::move(doc));
  });
}

}  // namespace aero
