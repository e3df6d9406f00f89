// Where aero's installed data lives (the chat page, the ready configs).
#pragma once
#include <string>

namespace aero::cli {

// BIN/../share/aero/<what> when the running binary has it beside it (an installed aero), else
// `built_in`: the source tree the binary was built from.
std::string share_path(const std::string& what, const std::string& built_in);

// --config NAME: a file that exists as given, else NAME or NAME.json among the ready configs
// (`aero train --config seed-tiny`); otherwise the argument unchanged, so the error names it.
std::string resolve_config(const std::string& arg);

}  // namespace aero::cli
