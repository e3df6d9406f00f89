#include "data/instruct.h"

#include <libxml/HTMLparser.h>
#include <libxml/tree.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <memory>
#include <set>

#include "core/error.h"
#include "core/rng.h"
#include "data/clean.h"
#include "data/readers.h"
#include "tokenizer/utf8.h"

namespace aero {

namespace {

// Whitespace runs (no-break spaces too: DocBook writes "A.1.&nbsp;Tệp") as one space, ends
// trimmed, NFC (valid UTF-8 only: anything else is "").
std::string squeeze(std::string_view s) {
  std::string out;
  bool space = false;
  for (size_t i = 0; i < s.size(); i++) {
    const char c = s[i];
    const bool nbsp = c == '\xC2' && i + 1 < s.size() && s[i + 1] == '\xA0';
    if (nbsp || c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v') {
      space = !out.empty();
      i += nbsp;
    } else {
      if (space) out += ' ';
      space = false;
      out += c;
    }
  }
  if (utf8_invalid_offset(out) != std::string::npos) return "";
  utf8_nfc(out);
  return out;
}

// The first code point of s and its length in bytes (s valid UTF-8, not empty).
char32_t first_code_point(std::string_view s, size_t* len) {
  const auto b = [&](size_t i) { return char32_t(static_cast<unsigned char>(s[i])); };
  *len = utf8_seq_len(s, 0);
  if (*len == 2) return ((b(0) & 0x1f) << 6) | (b(1) & 0x3f);
  if (*len == 3) return ((b(0) & 0x0f) << 12) | ((b(1) & 0x3f) << 6) | (b(2) & 0x3f);
  if (*len == 4)
    return ((b(0) & 0x07) << 18) | ((b(1) & 0x3f) << 12) | ((b(2) & 0x3f) << 6) | (b(3) & 0x3f);
  *len = 1;
  return b(0);
}

// Case of the Vietnamese letters: ASCII, Latin-1 (À..Ý), Đ, Ă, Ĩ, Ũ, Ơ, Ư, and the tone-marked
// block U+1EA0..U+1EF9 (upper case even, lower case odd).
char32_t to_lower(char32_t c) {
  if (c >= 'A' && c <= 'Z') return c + 32;
  if (c >= 0xC0 && c <= 0xDD && c != 0xD7) return c + 32;
  if ((c == 0x102 || c == 0x110 || c == 0x128 || c == 0x168) || (c >= 0x1EA0 && c <= 0x1EF8))
    return c % 2 == 0 ? c + 1 : c;
  if (c == 0x1A0 || c == 0x1AF) return c + 1;
  return c;
}

char32_t to_upper(char32_t c) {
  if (c >= 'a' && c <= 'z') return c - 32;
  if (c >= 0xE0 && c <= 0xFD && c != 0xF7) return c - 32;
  if ((c == 0x103 || c == 0x111 || c == 0x129 || c == 0x169) || (c >= 0x1EA1 && c <= 0x1EF9))
    return c % 2 == 1 ? c - 1 : c;
  if (c == 0x1A1 || c == 0x1B0) return c - 1;
  return c;
}

std::string with_first(std::string_view s, char32_t (*map)(char32_t)) {
  if (s.empty()) return "";
  size_t len = 0;
  const char32_t c = first_code_point(s, &len);
  std::string out;
  utf8_append(out, map(c));
  out.append(s.substr(len));
  return out;
}

bool is_digit(char c) { return c >= '0' && c <= '9'; }

// "Chương 2. Bắt đầu" -> "Bắt đầu"; "4.1.2 Tệp" -> "Tệp"; "A.1. Mẫu" -> "Mẫu".
std::string_view drop_numbering(std::string_view s) {
  for (std::string_view word : {"Chương ", "Phụ lục ", "Mục "}) {
    const size_t dot = s.find(". ");
    if (s.starts_with(word) && dot != std::string_view::npos && dot <= word.size() + 4)
      return s.substr(dot + 2);
  }
  size_t i = s.size() > 2 && s[0] >= 'A' && s[0] <= 'Z' && s[1] == '.' ? 2 : 0;
  while (i < s.size() && (is_digit(s[i]) || s[i] == '.')) i++;
  if (i > 0 && i < s.size() && s[i] == ' ' && (is_digit(s[i - 1]) || s[i - 1] == '.'))
    s.remove_prefix(i + 1);
  return s;
}

// Verbs a how-to heading starts with ("Chèn ...", "Thay đổi ..."), lower case, NFC.
const std::vector<std::string_view>& howto_verbs() {
  static const std::vector<std::string_view> v = {
      "áp dụng",  "bảo vệ",     "bật",       "bỏ",         "cài đặt",   "cài",       "căn",
      "canh",     "cập nhật",   "chạy",      "chèn",       "chép",      "chỉnh sửa", "chỉnh",
      "chọn",     "chia",       "chuyển",    "dán",        "di chuyển", "dùng",      "đánh số",
      "đặt",      "điều chỉnh", "định dạng", "định nghĩa", "đính kèm",  "đóng",      "đổi",
      "gán",      "ghi",        "gỡ",        "gõ",         "gộp",       "gửi",       "hiển thị",
      "hiện",     "hủy",        "huỷ",       "hoàn tác",   "in",        "kéo",       "khôi phục",
      "kiểm tra", "ký",         "lọc",       "làm việc",   "lưu",       "mở",        "ngắt",
      "nhập",     "nhấn",       "nhóm",      "nối",        "quay",      "sao chép",  "sắp xếp",
      "sửa",      "sử dụng",    "tải",       "tạo",        "tắt",       "thay đổi",  "thay thế",
      "thêm",     "thiết lập",  "thu phóng", "tìm",        "tính",      "tô",        "trộn",
      "vẽ",       "xem",        "xoá",       "xóa",        "xoay",      "xuất",      "ẩn",
  };
  return v;
}

bool starts_with_word(std::string_view s, std::string_view word) {
  return s.starts_with(word) && (s.size() == word.size() || s[word.size()] == ' ');
}

// Cut at `max` bytes: the last sentence end that leaves at least `min`, else the last space
// (then "…"), never inside a UTF-8 sequence.
std::string bound(std::string s, size_t min, size_t max) {
  if (s.size() <= max) return s;
  for (size_t i = max; i-- > min;)
    if ((s[i] == '.' || s[i] == '!' || s[i] == '?' || s[i] == ';') && s[i + 1] == ' ')
      return s.substr(0, i + 1);
  size_t sp = s.rfind(' ', max - 3);  // room for "…" (3 bytes)
  if (sp == std::string::npos || sp < min) {
    sp = max - 3;
    while (sp > 0 && (static_cast<unsigned char>(s[sp]) & 0xC0) == 0x80) sp--;
  }
  s.resize(sp);
  while (!s.empty() && (s.back() == ',' || s.back() == ' ')) s.pop_back();
  return s + "…";
}

// Text of an element's subtree, scripts and styles left out.
void subtree_text(xmlNode* node, std::string& out) {
  for (xmlNode* n = node; n; n = n->next) {
    if (n->type == XML_TEXT_NODE || n->type == XML_CDATA_SECTION_NODE) {
      if (n->content) out += reinterpret_cast<const char*>(n->content);
    } else if (n->type == XML_ELEMENT_NODE) {
      const char* name = reinterpret_cast<const char*>(n->name);
      if (std::strcmp(name, "script") == 0 || std::strcmp(name, "style") == 0) continue;
      if (std::strcmp(name, "br") == 0) out += ' ';
      subtree_text(n->children, out);
      out += std::strcmp(name, "span") == 0 || std::strcmp(name, "a") == 0 ? "" : " ";
    }
  }
}

struct Block {
  bool heading;
  std::string text;
};

// Headings and paragraphs in document order; what lies inside them is not walked again.
void blocks_of(xmlNode* node, std::vector<Block>& out) {
  for (xmlNode* n = node; n; n = n->next) {
    if (n->type != XML_ELEMENT_NODE) continue;
    const char* name = reinterpret_cast<const char*>(n->name);
    const bool heading = name[0] == 'h' && name[1] >= '1' && name[1] <= '6' && name[2] == 0;
    if (heading || std::strcmp(name, "p") == 0) {
      std::string text;
      subtree_text(n->children, text);
      out.push_back({heading, squeeze(text)});
    } else if (std::strcmp(name, "head") != 0 && std::strcmp(name, "script") != 0 &&
               std::strcmp(name, "style") != 0 && std::strcmp(name, "pre") != 0) {
      blocks_of(n->children, out);
    }
  }
}

// A roff file's sections by their .SH title, in order: {"TÊN", "grep \- ..."}.
std::vector<std::pair<std::string, std::string>> roff_sections(std::string_view roff) {
  std::vector<std::pair<std::string, std::string>> out;
  size_t at = 0;
  while (at < roff.size()) {
    size_t end = roff.find('\n', at);
    if (end == std::string_view::npos) end = roff.size();
    const std::string_view line = roff.substr(at, end - at);
    if (line.starts_with(".SH")) {
      std::string title;
      for (char c : line.substr(3))
        if (c != '"') title += c;
      out.emplace_back(squeeze(title), "");
    } else if (!out.empty()) {
      out.back().second.append(line);
      out.back().second += '\n';
    }
    at = end + 1;
  }
  return out;
}

}  // namespace

std::string question_from_heading(std::string_view heading, const InstructOptions& opt) {
  std::string h = squeeze(heading);
  std::string_view s = drop_numbering(h);
  while (!s.empty() && (s.back() == ':' || s.back() == ' ' || s.back() == '.')) s.remove_suffix(1);
  if (s.empty() || !is_vietnamese_line(s)) return "";
  std::string q;
  if (s.back() == '?') {
    q = s;
  } else {
    const std::string lower = with_first(s, to_lower);
    std::string_view rest = lower;
    bool howto = false;
    for (std::string_view lead : {"để ", "cách "})
      if (rest.starts_with(lead)) {
        rest.remove_prefix(lead.size());
        howto = true;
      }
    if (!howto && rest.starts_with("làm thế nào")) return std::string(s) + "?";
    for (std::string_view verb : howto_verbs()) howto = howto || starts_with_word(rest, verb);
    // "Giới thiệu về LibreOffice" / "Về LibreOffice" ask what LibreOffice is.
    std::string_view topic = s;
    for (std::string_view lead : {"Giới thiệu về ", "Về "})
      if (topic.starts_with(lead) && topic.size() > lead.size()) topic.remove_prefix(lead.size());
    q = howto ? "Làm thế nào để " + std::string(rest) + "?" : std::string(topic) + " là gì?";
  }
  return q.size() <= opt.max_question_bytes ? q : "";
}

std::string answer_from_paragraph(std::string_view text, const InstructOptions& opt) {
  std::string s = squeeze(text);
  if (s.size() < opt.min_answer_bytes || !is_vietnamese_line(s)) return "";
  return bound(std::move(s), opt.min_answer_bytes, opt.max_answer_bytes);
}

std::vector<InstructPair> html_instruct_pairs(std::string_view html, const std::string& source,
                                              const InstructOptions& opt) {
  std::unique_ptr<xmlDoc, decltype(&xmlFreeDoc)> doc(
      htmlReadMemory(html.data(), static_cast<int>(html.size()), source.c_str(), "UTF-8",
                     HTML_PARSE_RECOVER | HTML_PARSE_NOERROR | HTML_PARSE_NOWARNING |
                         HTML_PARSE_NONET | HTML_PARSE_COMPACT),
      &xmlFreeDoc);
  AERO_CHECK(doc, "[instruct] ", source, ": cannot parse as HTML");
  std::vector<Block> blocks;
  blocks_of(xmlDocGetRootElement(doc.get()), blocks);
  std::vector<InstructPair> out;
  for (size_t i = 0; i < blocks.size(); i++) {
    if (!blocks[i].heading) continue;
    // The first paragraph long enough to be one, before the next heading.
    size_t j = i + 1;
    while (j < blocks.size() && !blocks[j].heading && blocks[j].text.size() < opt.min_answer_bytes)
      j++;
    if (j == blocks.size() || blocks[j].heading) continue;
    std::string q = question_from_heading(blocks[i].text, opt);
    std::string a = answer_from_paragraph(blocks[j].text, opt);
    if (!q.empty() && !a.empty()) out.push_back({std::move(q), std::move(a), source});
  }
  return out;
}

std::vector<InstructPair> man_instruct_pairs(std::string_view roff, const std::string& source,
                                             const InstructOptions& opt) {
  std::string name_line, description;
  for (const auto& [title, body] : roff_sections(roff)) {
    if (name_line.empty() && (title == "TÊN" || title == "NAME")) {
      name_line = roff_to_text(body);
      name_line = name_line.substr(0, name_line.find('\n'));
    }
    if (description.empty() && (title == "MÔ TẢ" || title == "DESCRIPTION")) {
      const std::string text = roff_to_text(body);
      for (size_t b = 0; b < text.size() && description.empty();) {
        const size_t e = std::min(text.find('\n', b), text.size());
        description = answer_from_paragraph(std::string_view(text).substr(b, e - b), opt);
        b = e + 1;
      }
    }
  }
  // "grep, egrep - in ra ..." -> command "grep", summary "in ra ...".
  const size_t dash = name_line.find(" - ");
  if (dash == std::string::npos) return {};
  std::string command = squeeze(name_line.substr(0, std::min(name_line.find(','), dash)));
  std::string summary = squeeze(name_line.substr(dash + 3));
  if (command.empty() || command.find(' ') != std::string::npos) return {};
  std::string answer;
  if (!summary.empty() && is_vietnamese_line(summary)) {
    answer = with_first(summary, to_upper);
    if (answer.back() != '.') answer += '.';
  }
  if (!description.empty() && answer.size() + 1 + description.size() <= opt.max_answer_bytes)
    answer += answer.empty() ? description : " " + description;
  if (answer.size() < opt.min_answer_bytes) return {};
  return {{"Lệnh " + command + " dùng để làm gì?", bound(answer, 0, opt.max_answer_bytes), source}};
}

InstructSet build_instruct_set(const std::vector<InstructPair>& pairs,
                               const InstructSetOptions& opt) {
  AERO_CHECK(opt.val_percent >= 0 && opt.val_percent < 100 && opt.max_pages_per_heading > 0,
             "[instruct] val_percent must be in 0..99 and max_pages_per_heading > 0");
  std::map<std::string, std::set<std::string>> pages_of;  // question -> sources asking it
  for (const InstructPair& p : pairs) pages_of[p.question].insert(p.source);
  InstructSet set;
  std::set<std::string> asked;
  std::vector<std::string> order;  // sources in first-seen order
  std::map<std::string, std::vector<InstructPair>> by_page;
  for (const InstructPair& p : pairs) {
    if (pages_of[p.question].size() > size_t(opt.max_pages_per_heading)) {
      set.generic++;
      continue;
    }
    if (!asked.insert(p.question).second) {
      set.duplicates++;
      continue;
    }
    auto [it, fresh] = by_page.try_emplace(p.source);
    if (fresh) order.push_back(p.source);
    it->second.push_back(p);
  }
  // A page is held out by a hash of its name, so the split never depends on the other pages.
  std::vector<bool> held(order.size());
  size_t n_held = 0;
  for (size_t i = 0; i < order.size(); i++) {
    uint64_t h = 1469598103934665603ull;  // FNV-1a
    for (unsigned char c : order[i]) h = (h ^ c) * 1099511628211ull;
    held[i] = splitmix64(h) % 100 < uint64_t(opt.val_percent);
    n_held += held[i];
  }
  if (order.size() >= 2 && opt.val_percent > 0 && n_held == 0) {
    held.back() = true;
    n_held = 1;
  }
  if (order.size() >= 2 && n_held == order.size()) {
    held.front() = false;
    n_held--;
  }
  for (size_t i = 0; i < order.size(); i++) {
    auto& part = held[i] ? set.val : set.train;
    for (InstructPair& p : by_page[order[i]]) part.push_back(std::move(p));
  }
  set.pages = order.size();
  set.val_pages = n_held;
  return set;
}

}  // namespace aero
