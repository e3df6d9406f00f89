#include "autograd/gradcheck.h"

#include <cmath>
#include <sstream>

namespace aero {
namespace {

double project(const Tensor& out, const Tensor& r) {
  const float *o = out.f32(), *p = r.f32();
  double acc = 0;
  for (int64_t i = 0, n = out.numel(); i < n; i++) acc += double(o[i]) * double(p[i]);
  return acc;
}

double eval(const GradCheckFn& build, const std::vector<Tensor>& inputs, const Tensor& r,
            const GradCheckOpts& opts) {
  Tape tape(opts.seed);
  tape.training = opts.training;
  std::vector<Var> leaves;
  for (const Tensor& t : inputs) leaves.push_back(tape.leaf(t, false));
  Var out = build(tape, leaves);
  return project(out.value().contiguous_copy(), r);
}

}  // namespace

GradCheckResult grad_check(const GradCheckFn& build, const std::vector<Tensor>& inputs,
                           const GradCheckOpts& opts) {
  GradCheckResult res;
  std::vector<Tensor> xs;
  for (const Tensor& t : inputs) xs.push_back(t.contiguous_copy());

  Tape tape(opts.seed);
  tape.training = opts.training;
  std::vector<Var> leaves;
  for (const Tensor& t : xs) leaves.push_back(tape.leaf(t, true));
  Var out = build(tape, leaves);
  Tensor r = Tensor::empty(out.shape());
  Rng rng(opts.seed ^ 0x5eed);
  for (int64_t i = 0; i < r.numel(); i++) r.f32()[i] = float(rng.uniform() * 2.0 - 1.0);
  tape.backward_from(out, r);

  std::ostringstream report;
  for (size_t k = 0; k < xs.size(); k++) {
    Tensor ga = leaves[k].grad();
    double num2 = 0, diff2 = 0;
    float* x = xs[k].f32();
    for (int64_t i = 0; i < xs[k].numel(); i++) {
      float orig = x[i];
      float xp = float(orig + opts.eps), xm = float(orig - opts.eps);
      x[i] = xp;
      double lp = eval(build, xs, r, opts);
      x[i] = xm;
      double lm = eval(build, xs, r, opts);
      x[i] = orig;
      double gn = (lp - lm) / (double(xp) - double(xm));
      double a = ga.defined() ? ga.f32()[i] : 0.0;
      num2 += gn * gn;
      diff2 += (a - gn) * (a - gn);
    }
    double rel = std::sqrt(diff2) / std::max(std::sqrt(num2), 1e-6);
    res.rel_err.push_back(rel);
    if (!(rel <= opts.tol)) res.ok = false;
    report << "input " << k << " " << xs[k].shape().str() << ": rel err " << rel << " (|grad| "
           << std::sqrt(num2) << ")\n";
  }
  res.report = report.str();
  return res;
}

}  // namespace aero
