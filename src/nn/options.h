// Options of the shared layers as enums, each with its names in one table: configs parse a name
// once, and no forward pass ever compares strings.
#pragma once
#include <cstdint>

#include "core/config.h"

namespace aero {

enum class PosKind : uint8_t { learned, rope };  // absolute learned table, or rotary
enum class NormKind : uint8_t { layernorm, rmsnorm };
// Activation of the MLP: gelu (tanh), relu, swiglu (silu(gate) * up), geglu (gelu(gate) * up).
enum class ActKind : uint8_t { gelu, relu, swiglu, geglu };

inline const EnumNames<PosKind>& pos_names() {
  static const EnumNames<PosKind> n{{PosKind::learned, "learned"}, {PosKind::rope, "rope"}};
  return n;
}
inline const EnumNames<NormKind>& norm_names() {
  static const EnumNames<NormKind> n{{NormKind::layernorm, "layernorm"},
                                     {NormKind::rmsnorm, "rmsnorm"}};
  return n;
}
inline const EnumNames<ActKind>& act_names() {
  static const EnumNames<ActKind> n{{ActKind::gelu, "gelu"},
                                    {ActKind::relu, "relu"},
                                    {ActKind::swiglu, "swiglu"},
                                    {ActKind::geglu, "geglu"}};
  return n;
}
// Gated activations read two input projections (gate and up).
inline bool is_gated(ActKind a) { return a == ActKind::swiglu || a == ActKind::geglu; }

}  // namespace aero
