// Helpers for parity tests: reading the reference file written by tests/reference/*.py and one
// error number per tensor, max |a - b| / max |b|, printed as a table row.
#pragma once
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>

#include "core/tensor.h"
#include "io/safetensors.h"

namespace aero::parity {

inline std::string data_path(const std::string& file) {
  return std::string(AERO_PARITY_DATA) + "/" + file;
}

// The reference file, with a hint when it was never generated (the executable run by hand).
inline std::unique_ptr<SafetensorsFile> open_reference(const std::string& file) {
  std::string path = data_path(file);
  if (!std::filesystem::exists(path))
    fail("[parity] ", path,
         " is missing: it is written by the parity.reference.* tests; run `ctest -L parity` in the "
         "build directory");
  return std::make_unique<SafetensorsFile>(path);
}

inline std::string meta(const SafetensorsFile& f, const std::string& key) {
  auto it = f.metadata().find(key);
  if (it == f.metadata().end()) fail("[parity] ", f.path(), ": metadata has no '", key, "'");
  return it->second;
}

// max |a - b| / max |b| over the tensor (b is the reference).
inline double rel_err(const Tensor& a, const Tensor& b) {
  EXPECT_EQ(a.shape(), b.shape());
  Tensor ac = a.contiguous_copy(), bc = b.contiguous_copy();
  double diff = 0, scale = 0;
  for (int64_t i = 0; i < std::min(ac.numel(), bc.numel()); i++) {
    diff = std::max(diff, std::fabs(double(ac.f32()[i]) - bc.f32()[i]));
    scale = std::max(scale, std::fabs(double(bc.f32()[i])));
  }
  return diff / std::max(scale, 1e-30);
}

// Prints "name: err" and checks err <= tol; returns err.
inline double expect_close(const std::string& name, const Tensor& got, const Tensor& want,
                           double tol) {
  double e = rel_err(got, want);
  std::printf("  %-32s %.2e%s\n", name.c_str(), e, e <= tol ? "" : "  FAIL");
  EXPECT_LE(e, tol) << name;
  return e;
}

}  // namespace aero::parity
