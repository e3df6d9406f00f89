// Vietnamese-aware cleaning: each rule can be switched off and counts what it changed.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

#include "data/readers.h"

namespace aero {

// Default source-tag and byline rules for Vietnamese news: "(Dân trí) - ", "TTO - ",
// "(Theo VnExpress)", "Theo Dân trí", "Ảnh: ...". Each is an ICU regex; its matches are removed.
const std::vector<std::string>& default_source_rules();

struct CleanOptions {
  bool nfc = true;                   // Unicode NFC: combining tone marks -> precomposed
  bool strip_sources = true;         // news source tags and bylines
  bool default_source_rules = true;  // use default_source_rules() besides extra_source_rules
  std::vector<std::string> extra_source_rules;
  bool strip_symbols = true;  // keep Latin (incl. Vietnamese) letters, digits, punctuation
  std::string keep_chars = "₫€£¥°±×÷§©®™•·";  // symbols kept besides printable ASCII
  bool collapse_whitespace = true;
  int min_line_chars = 3;  // shorter lines (in characters) are dropped; 0 keeps all non-empty
  bool dedup = true;       // exact duplicate documents
};

struct RuleCount {
  uint64_t lines = 0;  // lines the rule changed (or dropped)
  uint64_t bytes = 0;  // bytes it removed
};

struct CleanReport {
  uint64_t docs_in = 0, docs_out = 0, bytes_in = 0, bytes_out = 0;
  RuleCount nfc, sources, symbols, whitespace, empty_lines, short_lines;
  uint64_t empty_docs = 0, duplicate_docs = 0;
  uint64_t missing_field = 0;  // from the readers
  CleanReport& operator+=(const CleanReport& o);
  std::string to_text() const;
  std::string to_json() const;
};

class Cleaner {
 public:
  explicit Cleaner(CleanOptions opt);
  ~Cleaner();
  // Cleans doc.text in place; false when the document is dropped (empty or a duplicate).
  bool clean(Document& doc);
  // Cleans each field of a row (e.g. a CSV pair) in place; false when a field ends up empty or
  // the row duplicates an earlier one.
  bool clean(std::vector<std::string>& fields);
  // The two halves of clean(Document&), for cleaning on several threads: every rule but the
  // de-duplication (per thread), then the de-duplication (in input order, on one thread).
  bool clean_rules(Document& doc);
  bool keep_unique(const Document& doc) { return keep(doc.text, doc.text.size()); }
  // Cleans one line in place; false when it is dropped.
  bool clean_line(std::string& line);
  CleanReport& report() { return report_; }

 private:
  void clean_text(std::string& text);
  bool keep(std::string_view key, size_t bytes);

  struct Impl;
  CleanOptions opt_;
  std::unique_ptr<Impl> impl_;
  CleanReport report_;
  std::unordered_set<uint64_t> seen_;  // hashes of kept documents
};

// Cleans a stream of documents on n_threads and hands the kept ones to `out` in input order
// (the output is the same for any thread count). `produce` feeds documents to its argument.
CleanReport clean_documents(const CleanOptions& opt, int n_threads,
                            const std::function<void(const DocumentFn&)>& produce,
                            const DocumentFn& out);

// A line reads as Vietnamese when at least one word in five has a letter only Vietnamese uses
// among Latin scripts (ă â đ ê ô ơ ư, or a vowel with a tone mark): "Nhấn vào nút OK" yes,
// "Click the OK button" no (the English UI text inside libreoffice-help-vi).
bool is_vietnamese_line(std::string_view line);

}  // namespace aero
