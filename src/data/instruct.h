// An instruction set from documentation: each help page's headings turned into Vietnamese
// questions answered by the first paragraph under them, and each man page's NAME line turned
// into a question about the command, answered by its description. Deterministic (pages in the
// order given, pairs in document order), deduplicated, split into train / held-out by page.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace aero {

struct InstructPair {
  std::string question, answer;
  std::string source;  // the page it came from; the held-out split is by source
};

struct InstructOptions {
  size_t min_answer_bytes = 24;   // shorter paragraphs ("Thí dụ:") are not answers
  size_t max_answer_bytes = 280;  // longer ones are cut at a sentence end, else at a word
  size_t max_question_bytes = 120;
};

// The question a heading asks, by its form; "" when it makes none (not Vietnamese, empty).
// Numbering ("Chương 2.", "4.1.") and a trailing ':' are dropped first.
//   "Chèn công thức"            -> "Làm thế nào để chèn công thức?"  (starts with a verb)
//   "Để chèn cước chú :"        -> "Làm thế nào để chèn cước chú?"
//   "Trợ lý trộn thư"           -> "Trợ lý trộn thư là gì?"          (a noun phrase)
//   "Giới thiệu về LibreOffice" -> "LibreOffice là gì?"
//   "Có nên dùng mẫu không?"    -> itself
std::string question_from_heading(std::string_view heading, const InstructOptions& opt = {});

// A paragraph as an answer: whitespace collapsed, NFC, cut to max_answer_bytes at the last
// sentence end (else at a word, ending "…"); "" when it is too short or not Vietnamese.
std::string answer_from_paragraph(std::string_view text, const InstructOptions& opt = {});

// The pairs of one HTML page: every h1..h6 followed (before the next heading) by a paragraph
// (<p>) of at least min_answer_bytes; when that paragraph is not Vietnamese the heading gives
// nothing.
std::vector<InstructPair> html_instruct_pairs(std::string_view html, const std::string& source,
                                              const InstructOptions& opt = {});

// The pair of one man page (roff): ".SH NAME" (or TÊN) "grep \- in ra ..." -> "Lệnh grep dùng
// để làm gì?", answered by the description when it is Vietnamese, then the first Vietnamese
// paragraph of DESCRIPTION (MÔ TẢ) while the answer stays within max_answer_bytes.
std::vector<InstructPair> man_instruct_pairs(std::string_view roff, const std::string& source,
                                             const InstructOptions& opt = {});

struct InstructSetOptions {
  int val_percent = 10;           // pages held out, drawn by a hash of their source
  int max_pages_per_heading = 3;  // a question asked on more pages is a generic section name
};

struct InstructSet {
  std::vector<InstructPair> train, val;
  uint64_t pages = 0, val_pages = 0;  // pages that gave at least one pair
  uint64_t duplicates = 0;            // pairs dropped: question already answered
  uint64_t generic = 0;               // pairs dropped: question asked on too many pages
};

// Pairs of many pages (grouped by source, in order) as a train / held-out set: questions asked
// on more than max_pages_per_heading pages dropped, then each question kept once (its first
// answer), then whole pages held out; with two pages or more, both parts hold at least one.
InstructSet build_instruct_set(const std::vector<InstructPair>& pairs,
                               const InstructSetOptions& opt = {});

}  // namespace aero
