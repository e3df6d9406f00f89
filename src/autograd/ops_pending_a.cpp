// TEMPORARY: ops not yet implemented (group A). Removed when the ops land.
#include "autograd/backward.h"
#include "autograd/ops.h"

namespace aero {
#define PENDING(name) fail("[" #name "] not implemented yet")
Var reshape(Var, const Shape&) { PENDING(reshape); }
Var transpose(Var, int, int) { PENDING(transpose); }
Var concat(const std::vector<Var>&, int) { PENDING(concat); }
Var slice(Var, int, int64_t, int64_t) { PENDING(slice); }
Var sum(Var) { PENDING(sum); }
Var mean(Var) { PENDING(mean); }
void backward_reshape(Tape&, Node&) { PENDING(reshape); }
void backward_transpose(Tape&, Node&) { PENDING(transpose); }
void backward_concat(Tape&, Node&) { PENDING(concat); }
void backward_slice(Tape&, Node&) { PENDING(slice); }
void backward_sum(Tape&, Node&) { PENDING(sum); }
void backward_mean(Tape&, Node&) { PENDING(mean); }
}  // namespace aero
