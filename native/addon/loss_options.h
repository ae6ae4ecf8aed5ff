// The one reader of the clipped policy-gradient loss options (semantics.md
// sections 4-5), shared by the policyLoss binding and the policy engine's pg
// loss: clipLow, clipHigh, dualClip (null: off), agg and klType by name,
// normDenominator (null: the longest sequence), klCoef. lib/kernels/scoring.ts
// (resolveLossOptions) has validated every value.
#pragma once

#include "addon/napi_util.h"
#include "core/scoring.h"

namespace pv {
namespace napi {

LossOptions ReadLossOptions(const Baton& baton);

}  // namespace napi
}  // namespace pv
