// Rotary position embedding, rotate-half convention (Hugging Face LLaMA / GPT-NeoX): within
// each head of HS channels, the pair (c, c + HS/2) is rotated by the angle
// pos · theta^(-2c/HS). x is (B, T, NH*HS), HS even, row t has position pos_offset + t.
// Gradients accumulate (+=).
#pragma once
#include <cstdint>

namespace aero {

// As Hugging Face computes it, in float: inv_freq = 1 / theta^(2c/HS), angle = float(pos) *
// inv_freq. Large positions round the angle exactly as PyTorch does.
float rope_angle(int64_t pos, int64_t c, int64_t HS, float theta);

void rope_forward(float* out, const float* inp, int64_t B, int64_t T, int64_t NH, int64_t HS,
                  float theta, int64_t pos_offset);
// dinp += the inverse rotation of dout.
void rope_backward(float* dinp, const float* dout, int64_t B, int64_t T, int64_t NH, int64_t HS,
                   float theta, int64_t pos_offset);

// References in double, one element at a time.
void rope_forward_ref(float* out, const float* inp, int64_t B, int64_t T, int64_t NH, int64_t HS,
                      float theta, int64_t pos_offset);
void rope_backward_ref(float* dinp, const float* dout, int64_t B, int64_t T, int64_t NH, int64_t HS,
                       float theta, int64_t pos_offset);

}  // namespace aero
