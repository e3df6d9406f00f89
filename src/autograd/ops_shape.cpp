// reshape (a view), transpose / concat / slice (materialised copies) and the full reductions.
#include <numeric>

#include "autograd/backward.h"
#include "autograd/ops.h"
#include "kernels/elementwise.h"
#include "kernels/shape.h"

namespace aero {
namespace {

void check_f32(const char* op, const Tensor& x) {
  AERO_CHECK(x.dtype() == DType::f32, "[", op, "] x must be f32, got ", dtype_name(x.dtype()), " ",
             x.shape().str());
}

int normalise_dim(const char* op, int dim, const Shape& s) {
  int d = dim < 0 ? dim + s.ndim : dim;
  AERO_CHECK(d >= 0 && d < s.ndim, "[", op, "] dim ", dim, " out of range for shape ", s.str());
  return d;
}

// Products of the dimensions before and after `dim`.
int64_t outer_size(const Shape& s, int dim) {
  int64_t n = 1;
  for (int i = 0; i < dim; i++) n *= s[i];
  return n;
}
int64_t inner_size(const Shape& s, int dim) {
  int64_t n = 1;
  for (int i = dim + 1; i < s.ndim; i++) n *= s[i];
  return n;
}

// The (shape, strides) of a view padded in front to 4 dims, for gather_4d.
void pad_4d(const Tensor& view, int64_t shape[4], int64_t strides[4]) {
  int off = 4 - view.ndim();
  for (int i = 0; i < 4; i++) {
    shape[i] = i < off ? 1 : view.size(i - off);
    strides[i] = i < off ? 0 : view.stride(i - off);
  }
}

}  // namespace

Var reshape(Var x, const Shape& shape) {
  const Tensor& xv = x.value();
  check_f32("reshape", xv);
  return x.tape->record(Op::reshape, xv.reshape(shape), {x});
}

void backward_reshape(Tape& tape, Node& node) {
  Tensor dx = tape.grad_of(node.in[0]);
  if (dx.defined())
    add_backward(dx.f32(), nullptr, node.grad.f32(), dx.numel(), dx.numel());  // dx += g
}

Var transpose(Var x, int a, int b) {
  const Tensor& xv = x.value();
  check_f32("transpose", xv);
  int da = normalise_dim("transpose", a, xv.shape()),
      db = normalise_dim("transpose", b, xv.shape());
  Tensor view = xv.transpose(da, db);
  Tensor out = x.tape->alloc(view.shape());
  int64_t shape[4], strides[4];
  pad_4d(view, shape, strides);
  gather_4d(out.f32(), xv.f32(), shape, strides, false);
  Var y = x.tape->record(Op::transpose, out, {x});
  x.tape->node(y).i[0] = da;
  x.tape->node(y).i[1] = db;
  return y;
}

void backward_transpose(Tape& tape, Node& node) {
  Tensor dx = tape.grad_of(node.in[0]);
  if (!dx.defined()) return;
  Tensor view = node.grad.transpose(int(node.i[0]), int(node.i[1]));
  int64_t shape[4], strides[4];
  pad_4d(view, shape, strides);
  gather_4d(dx.f32(), node.grad.f32(), shape, strides, true);
}

Var concat(const std::vector<Var>& xs, int dim) {
  AERO_CHECK(!xs.empty(), "[concat] needs at least one input");
  // A node holds at most 4 inputs: longer lists concatenate in groups.
  if (xs.size() > 4) {
    std::vector<Var> rest = {concat({xs.begin(), xs.begin() + 4}, dim)};
    rest.insert(rest.end(), xs.begin() + 4, xs.end());
    return concat(rest, dim);
  }
  const Tensor& x0 = xs[0].value();
  int d = normalise_dim("concat", dim, x0.shape());
  Shape s = x0.shape();
  s[d] = 0;
  for (const Var& x : xs) {
    const Tensor& xv = x.value();
    check_f32("concat", xv);
    bool ok = xv.ndim() == x0.ndim();
    for (int i = 0; ok && i < x0.ndim(); i++) ok = i == d || xv.size(i) == x0.size(i);
    AERO_CHECK(ok, "[concat] shapes ", x0.shape().str(), " and ", xv.shape().str(),
               " differ outside dim ", dim);
    s[d] += xv.size(d);
  }
  Tape& tape = *xs[0].tape;
  Tensor out = tape.alloc(s);
  int64_t outer = outer_size(s, d), inner = inner_size(s, d), W = s[d] * inner, off = 0;
  for (const Var& x : xs) {
    int64_t w = x.value().size(d) * inner;
    block_copy(out.f32() + off, W, x.value().f32(), w, outer, w);
    off += w;
  }
  Var y = xs.size() == 1   ? tape.record(Op::concat, out, {xs[0]})
          : xs.size() == 2 ? tape.record(Op::concat, out, {xs[0], xs[1]})
          : xs.size() == 3 ? tape.record(Op::concat, out, {xs[0], xs[1], xs[2]})
                           : tape.record(Op::concat, out, {xs[0], xs[1], xs[2], xs[3]});
  tape.node(y).i[0] = d;
  return y;
}

void backward_concat(Tape& tape, Node& node) {
  int d = int(node.i[0]);
  const Shape& s = node.value.shape();
  int64_t outer = outer_size(s, d), inner = inner_size(s, d), W = s[d] * inner, off = 0;
  for (int k = 0; k < node.n_in; k++) {
    int64_t w = tape.node(node.in[k]).value.size(d) * inner;
    Tensor dx = tape.grad_of(node.in[k]);
    if (dx.defined()) block_add(dx.f32(), w, node.grad.f32() + off, W, outer, w);
    off += w;
  }
}

Var slice(Var x, int dim, int64_t start, int64_t len) {
  const Tensor& xv = x.value();
  check_f32("slice", xv);
  int d = normalise_dim("slice", dim, xv.shape());
  AERO_CHECK(start >= 0 && len >= 0 && start + len <= xv.size(d), "[slice] range [", start, ", ",
             start + len, ") out of bounds for dim ", dim, " of shape ", xv.shape().str());
  Shape s = xv.shape();
  s[d] = len;
  Tensor out = x.tape->alloc(s);
  int64_t outer = outer_size(s, d), inner = inner_size(s, d);
  block_copy(out.f32(), len * inner, xv.f32() + start * inner, xv.size(d) * inner, outer,
             len * inner);
  Var y = x.tape->record(Op::slice, out, {x});
  x.tape->node(y).i[0] = d;
  x.tape->node(y).i[1] = start;
  return y;
}

void backward_slice(Tape& tape, Node& node) {
  Tensor dx = tape.grad_of(node.in[0]);
  if (!dx.defined()) return;
  int d = int(node.i[0]);
  int64_t start = node.i[1], len = node.value.size(d);
  int64_t outer = outer_size(dx.shape(), d), inner = inner_size(dx.shape(), d);
  block_add(dx.f32() + start * inner, dx.size(d) * inner, node.grad.f32(), len * inner, outer,
            len * inner);
}

Var sum(Var x) {
  const Tensor& xv = x.value();
  check_f32("sum", xv);
  Tensor out = x.tape->alloc(Shape{});
  sum_forward(out.f32(), xv.f32(), xv.numel());
  return x.tape->record(Op::sum, out, {x});
}

void backward_sum(Tape& tape, Node& node) {
  Tensor dx = tape.grad_of(node.in[0]);
  if (dx.defined()) sum_backward(dx.f32(), node.grad.f32()[0], dx.numel());
}

Var mean(Var x) {
  const Tensor& xv = x.value();
  check_f32("mean", xv);
  AERO_CHECK(xv.numel() > 0, "[mean] of an empty tensor ", xv.shape().str());
  Tensor out = x.tape->alloc(Shape{});
  sum_forward(out.f32(), xv.f32(), xv.numel());
  out.f32()[0] /= float(xv.numel());
  return x.tape->record(Op::mean, out, {x});
}

void backward_mean(Tape& tape, Node& node) {
  Tensor dx = tape.grad_of(node.in[0]);
  if (dx.defined()) sum_backward(dx.f32(), node.grad.f32()[0] / float(dx.numel()), dx.numel());
}

}  // namespace aero
