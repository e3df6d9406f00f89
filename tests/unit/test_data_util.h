// Helpers for data and tokenizer tests: a scratch directory and a generated Vietnamese corpus.
#pragma once
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

namespace aero::test {

// A fresh directory under /tmp, removed when the test ends.
struct ScratchDir {
  std::filesystem::path path;
  explicit ScratchDir(const std::string& name)
      : path(std::filesystem::temp_directory_path() /
             ("aero_" + name + "_" + std::to_string(::getpid()))) {
    std::filesystem::remove_all(path);
    std::filesystem::create_directories(path);
  }
  ~ScratchDir() { std::filesystem::remove_all(path); }
  std::string file(const std::string& name) const { return (path / name).string(); }
  std::string write(const std::string& name, const std::string& content) const {
    std::ofstream(file(name), std::ios::binary) << content;
    return file(name);
  }
};

// Every Vietnamese vowel with every tone, precomposed (NFC), lower and upper case, plus đ Đ.
inline const char* kVietnameseLetters =
    "àáảãạ ằắẳẵặ ầấẩẫậ èéẻẽẹ ềếểễệ ìíỉĩị òóỏõọ ồốổỗộ ờớởỡợ ùúủũụ ừứửữự ỳýỷỹỵ ăâêôơư đ "
    "ÀÁẢÃẠ ẰẮẲẴẶ ẦẤẨẪẬ ÈÉẺẼẸ ỀẾỂỄỆ ÌÍỈĨỊ ÒÓỎÕỌ ỒỐỔỖỘ ỜỚỞỠỢ ÙÚỦŨỤ ỪỨỬỮỰ ỲÝỶỸỴ ĂÂÊÔƠƯ Đ";

// Lines of Vietnamese-looking sentences; deterministic for a seed.
inline std::vector<std::string> vietnamese_lines(int n, unsigned seed = 7) {
  static const std::vector<std::string> words = {
      "tiếng",  "Việt", "là",    "ngôn",  "ngữ",  "của",   "người", "và",    "các",   "học", "sinh",
      "đang",   "được", "những", "trong", "một",  "có",    "không", "này",   "cho",   "với", "nhà",
      "trường", "thế",  "giới",  "hôm",   "nay",  "trời",  "đẹp",   "quá",   "mình",  "đi",  "chơi",
      "nhé",    "ạ",    "ừ",     "ở",     "đây",  "Hà",    "Nội",   "Sài",   "Gòn",   "phở", "bún",
      "chả",    "cà",   "phê",   "sữa",   "đá",   "2024",  "100",   "kỹ",    "thuật", "máy", "tính",
      "dữ",     "liệu", "mô",    "hình",  "huấn", "luyện", "ngỡ",   "ngàng", "thuở",  "xưa", "ỷ",
      "lại",    "ụ",    "nổi",   "Ơn",    "Ước",  "Ứng"};
  std::mt19937 rng(seed);
  std::vector<std::string> lines;
  for (int i = 0; i < n; ++i) {
    std::string line;
    const int len = 4 + static_cast<int>(rng() % 12);
    for (int w = 0; w < len; ++w) {
      if (w) line += ' ';
      line += words[rng() % words.size()];
    }
    line += (i % 3 == 0) ? "." : (i % 3 == 1 ? "," : "?");
    if (i % 50 == 0) line += std::string(" ") + kVietnameseLetters;
    lines.push_back(line);
  }
  return lines;
}

inline std::string join_lines(const std::vector<std::string>& lines) {
  std::string s;
  for (const auto& l : lines) s += l + "\n";
  return s;
}

}  // namespace aero::test
