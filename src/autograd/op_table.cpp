#include "autograd/op_table.h"

#include "autograd/backward.h"
#include "autograd/tape.h"

namespace aero {

void backward_leaf(Tape&, Node&) {}

namespace {
constexpr OpInfo kTable[] = {
#define AERO_OP_ROW(name) {#name, &backward_##name},
    AERO_OPS(AERO_OP_ROW)
#undef AERO_OP_ROW
};
static_assert(sizeof(kTable) / sizeof(kTable[0]) == kOpCount, "one row per op");
}  // namespace

const OpInfo& op_info(Op op) { return kTable[static_cast<size_t>(op)]; }

}  // namespace aero
