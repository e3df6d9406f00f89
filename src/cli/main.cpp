// aero: the command-line program. A thin layer over the library: parse, call, report.
#include <langinfo.h>
#include <strings.h>

#include <clocale>
#include <cstdio>
#include <cstdlib>
#include <exception>

#include "aero_revision.h"  // AERO_GIT_REVISION, generated at build time
#include "cli/commands.h"
#include "core/error.h"
#include "core/threads.h"

namespace {

bool ctype_is_utf8() {
  const char* cs = nl_langinfo(CODESET);
  return ::strcasecmp(cs, "UTF-8") == 0 || ::strcasecmp(cs, "UTF8") == 0;
}

// aero's text is UTF-8 whatever the environment says. The character type comes from the
// environment when that is UTF-8, else from C.UTF-8 (always on Debian): libedit reads and edits
// multibyte letters only under a UTF-8 LC_CTYPE, and LANG=C is common on fresh machines. Only
// LC_CTYPE: LC_NUMERIC stays "C", so JSON, metrics, configs and printf keep '.' as the decimal
// point.
void use_utf8_ctype() {
  if (std::setlocale(LC_CTYPE, "") && ctype_is_utf8()) return;
  for (const char* name : {"C.UTF-8", "C.utf8", "en_US.UTF-8"})
    if (std::setlocale(LC_CTYPE, name) && ctype_is_utf8()) return;
  std::setlocale(LC_CTYPE, "C");  // none installed: the chat says so when it opens
}

}  // namespace

int main(int argc, char** argv) {
  use_utf8_ctype();
  aero::tune_openmp_runtime(argv);
  // AERO_THREADS before any OpenMP region: libgomp reads only OMP_NUM_THREADS by itself.
  aero::num_threads();
  CLI::App app{"aero: train, fine-tune, evaluate and serve small language models on a CPU"};
  app.set_version_flag("--version", "aero " AERO_VERSION " (git " AERO_GIT_REVISION ")");
  app.require_subcommand(1);
  // In the order of a model's life; `aero --help` lists them so.
  aero::cli::add_quickstart(app);
  aero::cli::add_data(app);
  aero::cli::add_tokenizer(app);
  aero::cli::add_info(app);
  aero::cli::add_train(app);
  aero::cli::add_finetune(app);
  aero::cli::add_eval(app);
  aero::cli::add_generate(app);
  aero::cli::add_quantize(app);
  aero::cli::add_chat(app);
  aero::cli::add_export(app);
  aero::cli::add_import(app);
  aero::cli::add_serve(app);
  aero::cli::add_keys(app);
  aero::cli::add_plot(app);
  aero::cli::add_doctor(app);
  aero::cli::add_completion(app);  // last: it lists the subcommands above
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const aero::Error& e) {
    std::fprintf(stderr, "aero: error: %s\n", e.what());
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "aero: unexpected error: %s\n", e.what());
    return 2;
  }
  return 0;
}
