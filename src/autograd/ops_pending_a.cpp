// TEMPORARY: ops not yet implemented (group A). Removed when the ops land.
#include "autograd/backward.h"
#include "autograd/ops.h"

namespace aero {
#define PENDING(name) fail("[" #name "] not implemented yet")
Var mul(Var, Var) { PENDING(mul); }
Var scale(Var, float) { PENDING(scale); }
Var gelu(Var, bool) { PENDING(gelu); }
Var relu(Var) { PENDING(relu); }
Var silu(Var) { PENDING(silu); }
Var swiglu(Var, Var) { PENDING(swiglu); }
Var geglu(Var, Var) { PENDING(geglu); }
Var layer_norm(Var, Var, Var, float) { PENDING(layer_norm); }
Var rms_norm(Var, Var, float) { PENDING(rms_norm); }
Var softmax(Var) { PENDING(softmax); }
Var dropout(Var, float) { PENDING(dropout); }
Var reshape(Var, const Shape&) { PENDING(reshape); }
Var transpose(Var, int, int) { PENDING(transpose); }
Var concat(const std::vector<Var>&, int) { PENDING(concat); }
Var slice(Var, int, int64_t, int64_t) { PENDING(slice); }
Var sum(Var) { PENDING(sum); }
Var mean(Var) { PENDING(mean); }
Var cross_entropy(Var, const Tensor&, const CrossEntropyOpts&) { PENDING(cross_entropy); }
#define PENDING_BW(name) \
  void backward_##name(Tape&, Node&) { PENDING(name); }
PENDING_BW(mul) PENDING_BW(scale) PENDING_BW(gelu_tanh) PENDING_BW(gelu_erf) PENDING_BW(relu)
PENDING_BW(silu) PENDING_BW(swiglu) PENDING_BW(geglu) PENDING_BW(layer_norm) PENDING_BW(rms_norm)
PENDING_BW(softmax) PENDING_BW(dropout) PENDING_BW(reshape) PENDING_BW(transpose)
PENDING_BW(concat) PENDING_BW(slice) PENDING_BW(sum) PENDING_BW(mean) PENDING_BW(cross_entropy)
}  // namespace aero
