// embedding, linear, matmul.
#include "autograd/backward.h"
#include "autograd/ops.h"
#include "kernels/gemm.h"
#include "kernels/linear.h"
#include "kernels/shape.h"

namespace aero {

Var embedding(Var table, const Tensor& ids) {
  const Tensor& t = table.value();
  AERO_CHECK(t.ndim() == 2, "[embedding] table must be (V, C), got ", t.shape().str());
  AERO_CHECK(ids.dtype() == DType::i32, "[embedding] ids must be i32, got ",
             dtype_name(ids.dtype()));
  AERO_CHECK(ids.ndim() >= 1 && ids.ndim() <= 3, "[embedding] ids must have 1 to 3 dims, got ",
             ids.shape().str());
  int64_t V = t.size(0), C = t.size(1), N = ids.numel();
  const int32_t* id = ids.i32();
  for (int64_t n = 0; n < N; n++)
    AERO_CHECK(id[n] >= 0 && id[n] < V, "[embedding] id ", id[n], " at position ", n,
               " out of range for vocabulary ", V);
  Tape& tape = *table.tape;
  Shape out_shape = ids.shape();
  out_shape.d[out_shape.ndim++] = C;
  Tensor out = tape.alloc(out_shape);
  if (t.dtype() == DType::bf16) {
    AERO_CHECK(!table.requires_grad(), "[embedding] a bf16 table must be frozen (a constant)");
    embedding_forward_bf16(out.f32(), id, t.data<uint16_t>(), N, C);
  } else {
    embedding_forward(out.f32(), id, t.f32(), N, C);
  }
  Var y = tape.record(Op::embedding, out, {table});
  if (tape.node(y).requires_grad) tape.node(y).saved[0] = ids;
  return y;
}

void backward_embedding(Tape& tape, Node& node) {
  Tensor dt = tape.grad_of(node.in[0]);
  if (!dt.defined()) return;
  const Tensor& ids = node.saved[0];
  embedding_backward(dt.f32(), node.grad.f32(), ids.i32(), ids.numel(), dt.size(1));
}

Var token_logits(Var base, Var x, Var rows, const Tensor& ids) {
  const Tensor &bv = base.value(), &xv = x.value(), &rv = rows.value();
  AERO_CHECK(rv.ndim() == 2 && xv.ndim() >= 1 && xv.size(-1) == rv.size(1) &&
                 bv.ndim() == xv.ndim() && bv.numel() / bv.size(-1) == xv.numel() / xv.size(-1),
             "[token_logits] base ", bv.shape().str(), ", x ", xv.shape().str(), " and rows ",
             rv.shape().str(), " do not match (rows is (n, C))");
  AERO_CHECK(ids.dtype() == DType::i32 && ids.ndim() == 1 && ids.size(0) == rv.size(0),
             "[token_logits] ids must be (", rv.size(0), ") i32, got ", ids.shape().str());
  const int64_t V = bv.size(-1), C = rv.size(1), n = rv.size(0), N = xv.numel() / C;
  for (int64_t k = 0; k < n; k++)
    AERO_CHECK(ids.i32()[k] >= 0 && ids.i32()[k] < V, "[token_logits] id ", ids.i32()[k],
               " out of range for ", V, " columns");
  Tape& tape = *base.tape;
  Tensor out = tape.alloc(bv.shape());
  token_logits_forward(out.f32(), bv.f32(), xv.f32(), rv.f32(), ids.i32(), N, V, C, n);
  Var y = tape.record(Op::token_logits, out, {base, x, rows});
  if (tape.node(y).requires_grad) tape.node(y).saved[0] = ids;
  return y;
}

void backward_token_logits(Tape& tape, Node& node) {
  Tensor dbase = tape.grad_of(node.in[0]), dx = tape.grad_of(node.in[1]),
         drows = tape.grad_of(node.in[2]);
  const Tensor &xv = tape.node(node.in[1]).value, &rv = tape.node(node.in[2]).value;
  const Tensor& ids = node.saved[0];
  const int64_t V = node.grad.size(-1), C = rv.size(1), n = rv.size(0), N = xv.numel() / C;
  token_logits_backward(dbase.defined() ? dbase.f32() : nullptr, dx.defined() ? dx.f32() : nullptr,
                        drows.defined() ? drows.f32() : nullptr, node.grad.f32(), xv.f32(),
                        rv.f32(), ids.i32(), N, V, C, n);
}

Var linear(Var x, Var w, Var b, Var residual) {
  const Tensor &xv = x.value(), &wv = w.value();
  AERO_CHECK(wv.ndim() == 2 && xv.ndim() >= 1 && xv.size(-1) == wv.size(1), "[linear] x ",
             xv.shape().str(), " and w ", wv.shape().str(), " do not match (w is (out, in))");
  int64_t IN = wv.size(1), OUT = wv.size(0), N = xv.numel() / IN;
  if (b.defined())
    AERO_CHECK(b.value().ndim() == 1 && b.value().size(0) == OUT, "[linear] bias ",
               b.value().shape().str(), " does not match w ", wv.shape().str());
  Tape& tape = *x.tape;
  Shape s = xv.shape();
  s[-1] = OUT;
  if (residual.defined())
    AERO_CHECK(residual.value().shape() == s && residual.value().dtype() == DType::f32 &&
                   residual.value().contiguous(),
               "[linear] residual ", residual.value().shape().str(),
               " must be f32 of the output's shape ", s.str());
  Tensor out = tape.alloc(s);
  const float* bias = b.defined() ? b.value().f32() : nullptr;
  const float* res = residual.defined() ? residual.value().f32() : nullptr;
  if (xv.dtype() == DType::bf16) {
    AERO_CHECK(tape.bf16_products && wv.dtype() == DType::f32,
               "[linear] a bf16 x needs an f32 w and a tape multiplying in bf16");
    linear_forward_xbf16(out.f32(), xv.data<uint16_t>(), wv.f32(), bias, N, IN, OUT, res);
  } else if (wv.dtype() == DType::bf16) {
    // A frozen weight stored in bf16 multiplies through the bf16 kernels whatever the tape asks.
    AERO_CHECK(!w.requires_grad(), "[linear] a bf16 weight must be frozen (a constant)");
    linear_forward_wbf16(out.f32(), xv.f32(), wv.data<uint16_t>(), bias, N, IN, OUT, res);
  } else {
    linear_forward(out.f32(), xv.f32(), wv.f32(), bias, N, IN, OUT, res, tape.bf16_products);
  }
  Var y = tape.record(Op::linear, out, {x, w, b, residual});
  tape.node(y).i[0] = tape.bf16_products;  // backward multiplies as forward did
  return y;
}

void backward_linear(Tape& tape, Node& node) {
  bool fresh_dx = false;
  Tensor dx = tape.grad_to_write(node.in[0], &fresh_dx), dw = tape.grad_of(node.in[1]),
         db = tape.grad_of(node.in[2]);
  const Tensor& x = tape.node(node.in[0]).value;
  const Tensor& w = tape.node(node.in[1]).value;
  int64_t IN = w.size(1), OUT = w.size(0), N = x.numel() / IN;
  if (x.dtype() == DType::bf16)
    linear_backward_xbf16(dx.defined() ? dx.f32() : nullptr, dw.defined() ? dw.f32() : nullptr,
                          db.defined() ? db.f32() : nullptr, node.grad.f32(), x.data<uint16_t>(),
                          w.f32(), N, IN, OUT, fresh_dx);
  else if (w.dtype() == DType::bf16)
    linear_backward_wbf16(dx.defined() ? dx.f32() : nullptr, db.defined() ? db.f32() : nullptr,
                          node.grad.f32(), w.data<uint16_t>(), N, IN, OUT, fresh_dx);
  else
    linear_backward(dx.defined() ? dx.f32() : nullptr, dw.defined() ? dw.f32() : nullptr,
                    db.defined() ? db.f32() : nullptr, node.grad.f32(), x.f32(), w.f32(), N, IN,
                    OUT, fresh_dx, node.i[0] != 0);
  // The residual's gradient is dout itself; after dx, so that linear(x, w, b, x) adds to it.
  // A residual without a gradient yet takes dout's buffer instead of a copy: this node's
  // gradient is final (its readers came later on the tape and are done), so the residual's
  // other readers may add into it.
  if (node.in[3] < 0) return;
  Node& r = tape.node(node.in[3]);
  if (!r.requires_grad) return;
  if (!r.grad.defined()) {
    r.grad = node.grad;
    node.grad_lent = true;
    return;
  }
  block_add(r.grad.f32(), OUT, node.grad.f32(), OUT, N, OUT);
}

Var matmul(Var a, Var b, bool trans_b) {
  const Tensor &av = a.value(), &bv = b.value();
  AERO_CHECK(av.ndim() >= 2 && bv.ndim() >= 2, "[matmul] needs at least 2-D inputs, got ",
             av.shape().str(), " and ", bv.shape().str());
  int64_t M = av.size(-2), K = av.size(-1);
  int64_t KB = trans_b ? bv.size(-1) : bv.size(-2), N = trans_b ? bv.size(-2) : bv.size(-1);
  AERO_CHECK(K == KB, "[matmul] inner dimensions differ: a ", av.shape().str(), " b ",
             bv.shape().str(), trans_b ? " (b transposed)" : "");
  int64_t batch = av.numel() / (M * K);
  bool shared_b = bv.ndim() == 2;
  if (!shared_b) {
    AERO_CHECK(bv.ndim() == av.ndim() && bv.numel() / (KB * N) == batch,
               "[matmul] batch dims differ: a ", av.shape().str(), " b ", bv.shape().str());
    for (int i = 0; i < av.ndim() - 2; i++)
      AERO_CHECK(av.size(i) == bv.size(i), "[matmul] batch dims differ: a ", av.shape().str(),
                 " b ", bv.shape().str());
  }
  Tape& tape = *a.tape;
  Shape s = av.shape();
  s[-1] = N;
  Tensor out = tape.alloc(s);
  const float *A = av.f32(), *B = bv.f32();
  float* C = out.f32();
  if (shared_b && !trans_b) {
    sgemm(false, false, int(batch * M), int(N), int(K), 1.0f, A, int(K), B, int(N), 0.0f, C,
          int(N));
  } else if (shared_b) {
    sgemm(false, true, int(batch * M), int(N), int(K), 1.0f, A, int(K), B, int(K), 0.0f, C, int(N));
  } else {
    for (int64_t i = 0; i < batch; i++)
      sgemm(false, trans_b, int(M), int(N), int(K), 1.0f, A + i * M * K, int(K), B + i * K * N,
            trans_b ? int(K) : int(N), 0.0f, C + i * M * N, int(N));
  }
  Var y = tape.record(Op::matmul, out, {a, b});
  tape.node(y).i[0] = trans_b;
  return y;
}

void backward_matmul(Tape& tape, Node& node) {
  bool trans_b = node.i[0];
  const Tensor& av = tape.node(node.in[0]).value;
  const Tensor& bv = tape.node(node.in[1]).value;
  Tensor da = tape.grad_of(node.in[0]), db = tape.grad_of(node.in[1]);
  int64_t M = av.size(-2), K = av.size(-1), N = node.value.size(-1);
  int64_t batch = av.numel() / (M * K);
  bool shared_b = bv.ndim() == 2;
  const float *A = av.f32(), *B = bv.f32(), *G = node.grad.f32();
  int ldb = trans_b ? int(K) : int(N);
  if (shared_b) {
    int64_t R = batch * M;
    // dA (R, K) += G (R, N) · op(B)ᵀ
    if (da.defined())
      sgemm(false, !trans_b, int(R), int(K), int(N), 1.0f, G, int(N), B, ldb, 1.0f, da.f32(),
            int(K));
    // dB: (K, N) += Aᵀ G, or (N, K) += Gᵀ A
    if (db.defined()) {
      if (trans_b)
        sgemm(true, false, int(N), int(K), int(R), 1.0f, G, int(N), A, int(K), 1.0f, db.f32(),
              int(K));
      else
        sgemm(true, false, int(K), int(N), int(R), 1.0f, A, int(K), G, int(N), 1.0f, db.f32(),
              int(N));
    }
    return;
  }
  for (int64_t i = 0; i < batch; i++) {
    const float *Ai = A + i * M * K, *Bi = B + i * K * N, *Gi = G + i * M * N;
    if (da.defined())
      sgemm(false, !trans_b, int(M), int(K), int(N), 1.0f, Gi, int(N), Bi, ldb, 1.0f,
            da.f32() + i * M * K, int(K));
    if (db.defined()) {
      if (trans_b)
        sgemm(true, false, int(N), int(K), int(M), 1.0f, Gi, int(N), Ai, int(K), 1.0f,
              db.f32() + i * K * N, int(K));
      else
        sgemm(true, false, int(K), int(N), int(M), 1.0f, Ai, int(K), Gi, int(N), 1.0f,
              db.f32() + i * K * N, int(N));
    }
  }
}

}  // namespace aero
