// Backward functions of the op table (internal to autograd/).
#pragma once
#include "autograd/op_table.h"

namespace aero {
#define AERO_OP_BACKWARD_DECL(name) void backward_##name(Tape& tape, Node& node);
AERO_OPS(AERO_OP_BACKWARD_DECL)
#undef AERO_OP_BACKWARD_DECL
}  // namespace aero
