// The memory image that LDTILECFG reads (palette 1): for each of the 8 tile registers, its
// bytes per row and its rows. Shared by the AMX kernels (gemm_bf16.cpp, quant_amx.cpp), each of
// which configures the tiles it uses at the start of its work on a thread.
#pragma once
#include <cstdint>

namespace aero {

struct alignas(64) AmxTileConfig {
  uint8_t palette = 1;
  uint8_t start_row = 0;
  uint8_t reserved[14] = {};
  uint16_t colsb[16] = {};
  uint8_t rows[16] = {};
};

}  // namespace aero
