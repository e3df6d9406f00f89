// TEMPORARY: ops not yet implemented (group B). Removed when the ops land.
#include "autograd/backward.h"
#include "autograd/ops.h"

namespace aero {
#define PENDING(name) fail("[" #name "] not implemented yet")
Var attention(Var, Var, Var, const AttentionOpts&, Var) { PENDING(attention); }
Var rope(Var, int, float, int64_t) { PENDING(rope); }
void backward_attention(Tape&, Node&) { PENDING(attention); }
void backward_rope(Tape&, Node&) { PENDING(rope); }
}  // namespace aero
