#include "cli/share.h"

#include <filesystem>
#include <system_error>

#ifndef AERO_SHARE_SUBDIR
#define AERO_SHARE_SUBDIR "share/aero"
#endif
#ifndef AERO_CONFIGS_DIR
#define AERO_CONFIGS_DIR "configs"
#endif

namespace aero::cli {

namespace fs = std::filesystem;

std::string share_path(const std::string& what, const std::string& built_in) {
  std::error_code ec;
  fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    fs::path installed = exe.parent_path().parent_path() / AERO_SHARE_SUBDIR / what;
    if (fs::is_directory(installed, ec)) return installed.string();
  }
  return built_in;
}

std::string resolve_config(const std::string& arg) {
  std::error_code ec;
  if (arg.empty() || fs::exists(arg, ec) || arg.find('/') != std::string::npos) return arg;
  fs::path dir = share_path("configs", AERO_CONFIGS_DIR);
  for (const std::string& name : {arg, arg + ".json"})
    if (fs::is_regular_file(dir / name, ec)) return (dir / name).string();
  return arg;
}

}  // namespace aero::cli
