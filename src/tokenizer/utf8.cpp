#include "tokenizer/utf8.h"

#include <unicode/normalizer2.h>

#include <algorithm>
#include <cstdio>

#include "core/error.h"

namespace aero {

namespace {

// Expected sequence length from a lead byte, 0 for a byte that cannot start one.
size_t lead_len(unsigned char c) {
  if (c < 0x80) return 1;
  if (c >= 0xC2 && c <= 0xDF) return 2;
  if (c >= 0xE0 && c <= 0xEF) return 3;
  if (c >= 0xF0 && c <= 0xF4) return 4;
  return 0;
}

// Whether byte k (1-based) of a sequence led by `lead` is acceptable; excludes overlongs,
// surrogates and code points above U+10FFFF.
bool cont_ok(unsigned char lead, size_t k, unsigned char c) {
  if ((c & 0xC0) != 0x80) return false;
  if (k != 1) return true;
  if (lead == 0xE0) return c >= 0xA0;
  if (lead == 0xED) return c <= 0x9F;
  if (lead == 0xF0) return c >= 0x90;
  if (lead == 0xF4) return c <= 0x8F;
  return true;
}

// 0: invalid; n > 0: valid sequence of n bytes; -1 (as npos): a valid prefix cut by the end.
constexpr size_t kTruncated = static_cast<size_t>(-1);

size_t scan(std::string_view s, size_t i) {
  const auto lead = static_cast<unsigned char>(s[i]);
  const size_t n = lead_len(lead);
  if (n == 0) return 0;
  for (size_t k = 1; k < n; ++k) {
    if (i + k >= s.size()) return kTruncated;
    if (!cont_ok(lead, k, static_cast<unsigned char>(s[i + k]))) return 0;
  }
  return n;
}

const char kReplacement[] = "\xEF\xBF\xBD";

}  // namespace

size_t utf8_seq_len(std::string_view s, size_t i) {
  const size_t n = scan(s, i);
  return n == kTruncated ? 0 : n;
}

size_t utf8_invalid_offset(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    if (static_cast<unsigned char>(s[i]) < 0x80) {
      ++i;
      continue;
    }
    const size_t n = utf8_seq_len(s, i);
    if (n == 0) return i;
    i += n;
  }
  return std::string_view::npos;
}

bool utf8_nfc(std::string& s) {
  if (std::all_of(s.begin(), s.end(), [](char c) { return static_cast<unsigned char>(c) < 0x80; }))
    return false;
  UErrorCode err = U_ZERO_ERROR;
  static const icu::Normalizer2* nfc = icu::Normalizer2::getNFCInstance(err);
  AERO_CHECK(nfc, "[utf8] ICU NFC data unavailable: ", u_errorName(err));
  const icu::StringPiece sp(s.data(), static_cast<int32_t>(s.size()));
  err = U_ZERO_ERROR;
  if (nfc->isNormalizedUTF8(sp, err) && U_SUCCESS(err)) return false;
  std::string out;
  icu::StringByteSink<std::string> sink(&out);
  err = U_ZERO_ERROR;
  nfc->normalizeUTF8(0, sp, sink, nullptr, err);
  AERO_CHECK(U_SUCCESS(err), "[utf8] NFC failed: ", u_errorName(err));
  s = std::move(out);
  return true;
}

std::string user_text(std::string_view s, std::string_view source) {
  const size_t bad = utf8_invalid_offset(s);
  if (bad != std::string_view::npos) {
    std::string line;  // for text of several lines
    if (s.find('\n') != std::string_view::npos)
      line = cat(" (line ",
                 1 + std::count(s.begin(), s.begin() + static_cast<ptrdiff_t>(bad), '\n'), ")");
    char byte[8];
    std::snprintf(byte, sizeof byte, "0x%02X", static_cast<unsigned char>(s[bad]));
    fail("[utf8] ", source, " is not valid UTF-8: byte ", byte, " at byte offset ", bad, line,
         "; aero reads UTF-8 only (a file in another encoding: iconv -f WINDOWS-1258 -t UTF-8)");
  }
  std::string out(s);
  utf8_nfc(out);
  return out;
}

void utf8_append(std::string& out, char32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

std::string Utf8StreamDecoder::push(std::string_view bytes) {
  pending_.append(bytes);
  std::string out;
  size_t i = 0;
  while (i < pending_.size()) {
    const size_t n = scan(pending_, i);
    if (n == kTruncated) break;
    if (n == 0) {
      out += kReplacement;
      ++i;
    } else {
      out.append(pending_, i, n);
      i += n;
    }
  }
  pending_.erase(0, i);
  return out;
}

std::string Utf8StreamDecoder::flush() {
  std::string out = pending_.empty() ? "" : kReplacement;
  pending_.clear();
  return out;
}

}  // namespace aero
