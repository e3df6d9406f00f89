// The table of differentiable ops. Adding an op: add it to AERO_OPS, write its forward in an
// ops_*.cpp file with a backward_<name> function, add a test case in tests/unit/test_ops.cpp
// (the test fails for any op without one). See docs/adding-an-op.md.
#pragma once
#include <cstddef>
#include <cstdint>

namespace aero {

class Tape;
struct Node;

// X(name): every op aero can record. `leaf` is inputs and parameters (no backward).
#define AERO_OPS(X) \
  X(leaf)           \
  X(embedding)      \
  X(linear)         \
  X(lora)           \
  X(token_logits)   \
  X(matmul)         \
  X(add)            \
  X(mul)            \
  X(scale)          \
  X(layer_norm)     \
  X(rms_norm)       \
  X(gelu_tanh)      \
  X(gelu_erf)       \
  X(relu)           \
  X(silu)           \
  X(swiglu)         \
  X(geglu)          \
  X(softmax)        \
  X(attention)      \
  X(rope)           \
  X(dropout)        \
  X(cross_entropy)  \
  X(reshape)        \
  X(transpose)      \
  X(concat)         \
  X(slice)          \
  X(sum)            \
  X(mean)           \
  X(checkpoint)

enum class Op : uint8_t {
#define AERO_OP_ENUM(name) name,
  AERO_OPS(AERO_OP_ENUM)
#undef AERO_OP_ENUM
      count
};

constexpr size_t kOpCount = static_cast<size_t>(Op::count);

using BackwardFn = void (*)(Tape& tape, Node& node);

struct OpInfo {
  const char* name;
  BackwardFn backward;  // nullptr only for leaf
};

const OpInfo& op_info(Op op);
inline const char* op_name(Op op) { return op_info(op).name; }

}  // namespace aero
