// Linear layers and embeddings as plain-pointer kernels (llm.c style: outputs first, then
// inputs, then sizes). N rows of input, IN / OUT features. Gradients accumulate (+=).
#pragma once
#include <cstdint>

namespace aero {

// out (N, OUT) = inp (N, IN) · w (OUT, IN)ᵀ + b (OUT) + residual (N, OUT); b and residual may
// be null. bf16: the product's inputs rounded to bf16, sums in fp32 (gemm_bf16).
void linear_forward(float* out, const float* inp, const float* w, const float* b, int64_t N,
                    int64_t IN, int64_t OUT, const float* residual = nullptr, bool bf16 = false);
// dinp (N, IN) += dout · w; dw (OUT, IN) += doutᵀ · inp; db (OUT) += Σ dout. Any may be null.
// With overwrite_dinp, dinp is written (=) and may hold garbage on entry. bf16: both products
// take bf16-rounded inputs (dout, w, inp), sums in fp32; db stays an fp32 sum.
void linear_backward(float* dinp, float* dw, float* db, const float* dout, const float* inp,
                     const float* w, int64_t N, int64_t IN, int64_t OUT,
                     bool overwrite_dinp = false, bool bf16 = false);
// The same with w (OUT, IN) stored in bf16 (a frozen weight): the products of gemm_bf16_w, equal
// bit for bit to the bf16 path above on w's f32 values. There is no dw: a bf16 weight is frozen.
void linear_forward_wbf16(float* out, const float* inp, const uint16_t* w, const float* b,
                          int64_t N, int64_t IN, int64_t OUT, const float* residual = nullptr);
void linear_backward_wbf16(float* dinp, float* db, const float* dout, const uint16_t* w, int64_t N,
                           int64_t IN, int64_t OUT, bool overwrite_dinp = false);
// The bf16 path with inp (N, IN) stored in bf16 (a saved activation that only these products
// read): the same bits as linear_forward / linear_backward with bf16 on inp's f32 values.
void linear_forward_xbf16(float* out, const uint16_t* inp, const float* w, const float* b,
                          int64_t N, int64_t IN, int64_t OUT, const float* residual = nullptr);
void linear_backward_xbf16(float* dinp, float* dw, float* db, const float* dout,
                           const uint16_t* inp, const float* w, int64_t N, int64_t IN, int64_t OUT,
                           bool overwrite_dinp = false);
void linear_forward_ref(float* out, const float* inp, const float* w, const float* b, int64_t N,
                        int64_t IN, int64_t OUT, const float* residual = nullptr);
void linear_backward_ref(float* dinp, float* dw, float* db, const float* dout, const float* inp,
                         const float* w, int64_t N, int64_t IN, int64_t OUT);

// out (N, C) = table[ids] (table (V, C)); dtable += scatter of dout.
void embedding_forward(float* out, const int32_t* ids, const float* table, int64_t N, int64_t C);
// The same from a bf16 table (a frozen one), widened to f32.
void embedding_forward_bf16(float* out, const int32_t* ids, const uint16_t* table, int64_t N,
                            int64_t C);
void embedding_backward(float* dtable, const float* dout, const int32_t* ids, int64_t N, int64_t C);
void embedding_backward_ref(float* dtable, const float* dout, const int32_t* ids, int64_t N,
                            int64_t C);

// Token logits: out (N, V) = base (N, V) with each column ids[k] (k < n) replaced by
// inp (N, C) · rows[k] (rows (n, C)): the logits of trainable token rows over a head whose other
// rows are frozen. Backward: dbase += dout outside those columns; dinp += Σ_k dout[:, ids[k]] ·
// rows[k]; drows[k] += Σ_N dout[:, ids[k]] · inp. Any gradient may be null.
void token_logits_forward(float* out, const float* base, const float* inp, const float* rows,
                          const int32_t* ids, int64_t N, int64_t V, int64_t C, int64_t n);
void token_logits_backward(float* dbase, float* dinp, float* drows, const float* dout,
                           const float* inp, const float* rows, const int32_t* ids, int64_t N,
                           int64_t V, int64_t C, int64_t n);
void token_logits_forward_ref(float* out, const float* base, const float* inp, const float* rows,
                              const int32_t* ids, int64_t N, int64_t V, int64_t C, int64_t n);

}  // namespace aero
