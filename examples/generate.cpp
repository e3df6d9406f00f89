// Loads a model trained by aero and streams a continuation of a prompt:
//   aero_example RUN_DIR [PROMPT] [MAX_NEW_TOKENS]
#include <aero/aero.h>

#include <cstdio>
#include <exception>
#include <string>

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s RUN_DIR [PROMPT] [MAX_NEW_TOKENS]\n", argv[0]);
    return 2;
  }
  try {
    aero::api::Model model = aero::api::Model::load(argv[1]);
    std::string prompt = argc > 2 ? argv[2] : "";
    std::printf("aero %s, context %d tokens, prompt of %zu tokens\n", aero::api::version(),
                model.context_length(), model.tokenizer().encode(prompt).size());

    aero::api::GenerateOptions opts;
    opts.max_new_tokens = argc > 3 ? std::stoi(argv[3]) : 40;
    opts.temperature = 0.8f;
    opts.top_k = 40;
    opts.seed = 1;
    std::fputs(prompt.c_str(), stdout);
    aero::api::Generation g = model.generate(prompt, opts, [](const std::string& piece) {
      std::fputs(piece.c_str(), stdout);
      std::fflush(stdout);
      return true;
    });
    std::printf("\n[%zu tokens, finish: %s]\n", g.tokens.size(), g.finish.c_str());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
  return 0;
}
