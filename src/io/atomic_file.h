// Files that are either complete or absent: write to a temp file in the same directory, fsync,
// rename over the target, fsync the directory. A crash or an error leaves the old file (or
// nothing) in place.
#pragma once
#include <cstdio>
#include <string>
#include <string_view>

namespace aero {

class AtomicFile {
 public:
  explicit AtomicFile(std::string path);
  ~AtomicFile();  // Removes the temp file unless commit() succeeded.
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;

  void write(const void* data, size_t n);
  void write(std::string_view s) { write(s.data(), s.size()); }
  // Bytes written so far.
  size_t size() const { return size_; }
  // Rewrites bytes already written (e.g. a header whose count is known only at the end).
  void pwrite(const void* data, size_t n, size_t offset);
  void commit();
  const std::string& path() const { return path_; }

 private:
  std::string path_, tmp_;
  std::FILE* f_ = nullptr;
  size_t size_ = 0;
  bool done_ = false;
};

// Makes renames and new entries in `dir` durable.
void fsync_dir(const std::string& dir);

// Whole-file helpers.
void write_file_atomic(const std::string& path, std::string_view content);
std::string read_file(const std::string& path);

}  // namespace aero
