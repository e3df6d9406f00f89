#include "io/atomic_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/error.h"

namespace aero {

AtomicFile::AtomicFile(std::string path) : path_(std::move(path)) {
  // Renaming over a device or a symlink (e.g. /dev/stdout) would replace it, not write to it.
  std::error_code ec;
  const auto st = std::filesystem::symlink_status(path_, ec);
  AERO_CHECK(ec || !std::filesystem::exists(st) || std::filesystem::is_regular_file(st), "[io] ",
             path_, " exists and is not a regular file; give a file path");
  tmp_ = path_ + ".tmp." + std::to_string(::getpid());
  f_ = std::fopen(tmp_.c_str(), "wb");
  AERO_CHECK(f_, "[io] cannot write ", path_, ": ", std::strerror(errno),
             " (is the directory there and writable?)");
}

AtomicFile::~AtomicFile() {
  if (f_) std::fclose(f_);
  if (!done_) std::remove(tmp_.c_str());
}

void AtomicFile::write(const void* data, size_t n) {
  if (n == 0) return;
  AERO_CHECK(std::fwrite(data, 1, n, f_) == n, "[io] write failed on ", tmp_, ": ",
             std::strerror(errno));
  size_ += n;
}

void AtomicFile::pwrite(const void* data, size_t n, size_t offset) {
  AERO_CHECK(offset + n <= size_, "[io] pwrite past the end of ", tmp_);
  AERO_CHECK(std::fflush(f_) == 0, "[io] flush failed on ", tmp_);
  AERO_CHECK(::pwrite(::fileno(f_), data, n, static_cast<off_t>(offset)) == static_cast<ssize_t>(n),
             "[io] write failed on ", tmp_, ": ", std::strerror(errno));
}

void AtomicFile::commit() {
  AERO_CHECK(std::fflush(f_) == 0 && ::fsync(::fileno(f_)) == 0, "[io] cannot flush ", tmp_, ": ",
             std::strerror(errno));
  AERO_CHECK(std::fclose(f_) == 0, "[io] cannot close ", tmp_);
  f_ = nullptr;
  AERO_CHECK(std::rename(tmp_.c_str(), path_.c_str()) == 0, "[io] cannot rename ", tmp_, " to ",
             path_, ": ", std::strerror(errno));
  done_ = true;
  const std::string dir = std::filesystem::path(path_).parent_path().string();
  fsync_dir(dir.empty() ? "." : dir);
}

void fsync_dir(const std::string& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  AERO_CHECK(fd >= 0, "[io] ", dir, ": cannot open directory: ", std::strerror(errno));
  int rc = ::fsync(fd);
  ::close(fd);
  AERO_CHECK(rc == 0, "[io] ", dir, ": fsync failed: ", std::strerror(errno));
}

void write_file_atomic(const std::string& path, std::string_view content) {
  AtomicFile f(path);
  f.write(content);
  f.commit();
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  AERO_CHECK(in, "[io] cannot open ", path, ": ", std::strerror(errno));
  std::ostringstream os;
  os << in.rdbuf();
  return os.str();
}

}  // namespace aero
