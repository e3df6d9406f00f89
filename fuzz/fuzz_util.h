// Helpers for the fuzz targets (fuzz/<reader>_fuzz.cpp): readers take paths, as the CLI calls
// them, so each input is written to a scratch file first.
#pragma once
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <string_view>

#include "core/error.h"

namespace aero::fuzz {

// A directory of this process's own, in RAM when /dev/shm exists; removed at exit. Never freed,
// so the atexit handler can still read it after static destructors ran.
inline const std::string& scratch_dir() {
  static const std::string* dir = [] {
    namespace fs = std::filesystem;
    const fs::path root = fs::is_directory("/dev/shm") ? "/dev/shm" : fs::temp_directory_path();
    const fs::path d = root / ("aero-fuzz-" + std::to_string(::getpid()));
    fs::create_directories(d);
    std::atexit([] {
      std::error_code ec;
      std::filesystem::remove_all(scratch_dir(), ec);
    });
    return new std::string(d.string());
  }();
  return *dir;
}

// Writes bytes to scratch_dir()/name and returns the path.
inline std::string write_file(const std::string& name, std::string_view bytes) {
  const std::string path = scratch_dir() + "/" + name;
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (!f || std::fwrite(bytes.data(), 1, bytes.size(), f) != bytes.size()) std::abort();
  std::fclose(f);
  return path;
}

inline std::string_view as_text(const uint8_t* data, size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

// Runs f: an aero::Error is a clean rejection; any other exception escapes, and libFuzzer
// reports it (an uncaught exception is a crash: the CLI would print no clear message).
template <typename F>
void expect_clean(F&& f) {
  try {
    f();
  } catch (const aero::Error&) {
  }
}

}  // namespace aero::fuzz
