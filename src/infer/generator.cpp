#include "infer/generator.h"

namespace aero {

GenerateResult Generator::run(SeqRequest req) {
  GenerateResult res;
  req.on_done = [&res, done = std::move(req.on_done)](const GenerateResult& r, int prompt_tokens) {
    res = r;
    if (done) done(r, prompt_tokens);
  };
  add(std::move(req));
  while (step() > 0) {
  }
  return res;
}

}  // namespace aero
