// aero: the command-line program. A thin layer over the library: parse, call, report.
#include <cstdio>
#include <cstdlib>
#include <exception>

#include "aero_revision.h"  // AERO_GIT_REVISION, generated at build time
#include "cli/commands.h"
#include "core/error.h"
#include "core/threads.h"

int main(int argc, char** argv) {
  aero::tune_openmp_runtime(argv);
  CLI::App app{"aero: train, fine-tune, evaluate and serve small language models on a CPU"};
  app.set_version_flag("--version", "aero " AERO_VERSION " (git " AERO_GIT_REVISION ")");
  app.require_subcommand(1);
  // In the order of a model's life; `aero --help` lists them so.
  aero::cli::add_quickstart(app);
  aero::cli::add_data(app);
  aero::cli::add_tokenizer(app);
  aero::cli::add_info(app);
  aero::cli::add_train(app);
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
