#include "addon/loss_options.h"

namespace pv {
namespace napi {

LossOptions ReadLossOptions(const Baton& baton) {
  LossOptions o;
  o.clip_low = static_cast<float>(baton.Number("clipLow"));
  o.clip_high = static_cast<float>(baton.Number("clipHigh"));
  o.use_dual_clip = baton.Has("dualClip");
  if (o.use_dual_clip) o.dual_clip = static_cast<float>(baton.Number("dualClip"));
  o.agg = static_cast<LossAgg>(baton.Enum("agg", kLossAggNames));
  o.norm_denominator = baton.Has("normDenominator") ? baton.Number("normDenominator") : 0.0;
  o.kl_coef = static_cast<float>(baton.Number("klCoef"));
  o.kl_type = static_cast<KlType>(baton.Enum("klType", kKlTypeNames));
  return o;
}

}  // namespace napi
}  // namespace pv
