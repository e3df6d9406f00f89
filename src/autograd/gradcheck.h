// Gradient check: analytic gradients from backward() against central finite differences.
// The scalar checked is L = Σ out · R for a fixed random R, accumulated in double.
#pragma once
#include <functional>
#include <string>
#include <vector>

#include "autograd/tape.h"

namespace aero {

struct GradCheckOpts {
  double eps = 1e-2;     // finite-difference step
  double tol = 5e-3;     // bound on ‖analytic − numeric‖ / ‖numeric‖ per input
  uint64_t seed = 1234;  // tape seed (dropout masks repeat across evaluations)
  bool training = true;
};

struct GradCheckResult {
  bool ok = true;
  std::vector<double> rel_err;  // per input
  std::string report;           // one line per input
};

// `build` maps leaves (one per input tensor, all requiring grad) to an output on a fresh tape.
using GradCheckFn = std::function<Var(Tape&, const std::vector<Var>&)>;
GradCheckResult grad_check(const GradCheckFn& build, const std::vector<Tensor>& inputs,
                           const GradCheckOpts& opts = {});

}  // namespace aero
