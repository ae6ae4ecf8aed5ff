// The policy's log-probs, loss plumbing (the fused loss's per-row weights and
// terms, its metrics on the backend) and the AdamW step.
#include <algorithm>
#include <cmath>

#include "core/loss_math.h"
#include "core/policy_model.h"
#include "core/policy_model_detail.h"
#include "core/scoring.h"

namespace pv {

// ---- log-probs, losses, training -------------------------------------------------------

void PolicyModel::Logprobs(float* logp, float* entropy, const PolicyBatch& batch) {
  ValidatePolicyBatch(config_, batch, "batch");
  const Plan plan = MakeTrainingPlan(batch);
  std::lock_guard<std::mutex> lock(mutex_);
  Workspace& ws = *infer_ws_;
  UploadPlan(ws, plan, batch.patches);
  Forward(ws, plan, nullptr, nullptr);
  ops_->LogSoftmaxForward(ws.logp, ws.entropy, ws.logits, ws.targets, plan.Nt, config_.vocab_size);
  std::vector<float> rows_logp(plan.Nt), rows_entropy(plan.Nt);
  ops_->Download(rows_logp.data(), ws.logp, plan.Nt * sizeof(float));
  ops_->Download(rows_entropy.data(), ws.entropy, plan.Nt * sizeof(float));
  std::fill(logp, logp + plan.N, 0.0f);
  std::fill(entropy, entropy + plan.N, 0.0f);
  for (size_t i = 0; i < plan.Nt; ++i) {
    logp[plan.head_rows[i] + 1] = rows_logp[i];
    entropy[plan.head_rows[i] + 1] = rows_entropy[i];
  }
}

void PolicyModel::ValidateLoss(const PolicyBatch& batch, const PolicyLossSpec& loss) const {
  const size_t N = batch.positions, B = batch.sequences;
  auto mask_at = [&](size_t t) -> float { return loss.mask_u8 ? float(loss.mask_u8[t]) : loss.mask_f32[t]; };
  for (size_t s = 0; s < B; ++s) {
    const size_t begin = static_cast<size_t>(batch.seq_offsets[s]), end = static_cast<size_t>(batch.seq_offsets[s + 1]);
    for (size_t t = begin; t < end; ++t) {
      const float m = mask_at(t);
      if (m != 0.0f && m != 1.0f) Fail("E_ARG", "loss.mask[", t, "] must be 0 or 1, got ", m);
      if (m == 1.0f && (t == begin || batch.tokens[t] < 0))
        Fail("E_ARG", "loss.mask[", t, "] must be 0: position ", t, " is ",
             t == begin ? "the start of sequence " : "a visual patch of sequence ", s, " and has no log-prob");
    }
  }
  if (loss.kind == TokenLossKind::kPolicyGradient) {
    CheckFinite(loss.old_logp, N, "loss.oldLogp");
    CheckFinite(loss.advantages, loss.advantages_length, "loss.advantages");
    if (loss.ref_logp) CheckFinite(loss.ref_logp, N, "loss.refLogp");
  }
}

PolicyMetrics PolicyModel::ComputeGradients(const PolicyBatch& batch, const PolicyLossSpec& loss) {
  const Plan plan = MakeTrainingPlan(batch);
  const size_t N = plan.N, B = plan.B, Nt = plan.Nt;
  auto mask_at = [&](size_t t) -> bool { return loss.mask_u8 ? loss.mask_u8[t] != 0 : loss.mask_f32[t] != 0.0f; };

  // Aggregation weights from the mask counts, exactly as PolicyLoss computes
  // them (MakeLossPrologue), so the fused gradient equals its per-token gradient.
  std::vector<double> seq_mask(B, 0.0);
  std::vector<int32_t> seq_of(N);
  for (size_t s = 0; s < B; ++s) {
    const size_t begin = static_cast<size_t>(batch.seq_offsets[s]), end = static_cast<size_t>(batch.seq_offsets[s + 1]);
    for (size_t t = begin; t < end; ++t) {
      seq_of[t] = static_cast<int32_t>(s);
      seq_mask[s] += mask_at(t) ? 1.0 : 0.0;
    }
  }
  std::vector<float> weight(Nt), row_mask(Nt), old_logp(Nt), advantages(Nt), ref_logp(Nt);
  const bool pg = loss.kind == TokenLossKind::kPolicyGradient;
  const LossOptions& opt = loss.options;
  // SFT: the mean over masked positions (token-mean).
  const LossAgg agg_kind = pg ? opt.agg : LossAgg::kTokenMean;
  const LossPrologue prologue = MakeLossPrologue(seq_mask.data(), B, LongestSequence(batch.seq_offsets, B), agg_kind,
                                                 pg ? opt.norm_denominator : 0.0);
  const AggWeights& agg = prologue.weights;
  const double total_mask = prologue.total_mask;
  const bool per_sequence_adv = pg && loss.advantages_length != N;
  for (size_t i = 0; i < Nt; ++i) {
    const size_t t = static_cast<size_t>(plan.head_rows[i]) + 1;
    const size_t s = static_cast<size_t>(seq_of[t]);
    const float w = static_cast<float>(SequenceWeight(agg_kind, agg, seq_mask[s]));
    weight[i] = mask_at(t) ? w : 0.0f;
    row_mask[i] = mask_at(t) ? 1.0f : 0.0f;
    if (pg) {
      old_logp[i] = loss.old_logp[t];
      advantages[i] = per_sequence_adv ? loss.advantages[s] : loss.advantages[t];
      ref_logp[i] = loss.ref_logp ? loss.ref_logp[t] : 0.0f;
    }
  }

  Workspace& ws = *train_ws_;
  UploadPlan(ws, plan, batch.patches);
  PolicyOps& o = *ops_;
  o.Upload(ws.loss_weight, weight.data(), Nt * sizeof(float));
  o.Upload(ws.loss_mask, row_mask.data(), Nt * sizeof(float));
  TokenLossArgs args;
  args.kind = loss.kind;
  args.weight = ws.loss_weight;
  if (pg) {
    o.Upload(ws.old_logp, old_logp.data(), Nt * sizeof(float));
    o.Upload(ws.advantages, advantages.data(), Nt * sizeof(float));
    args.old_logp = ws.old_logp;
    args.advantages = ws.advantages;
    if (loss.ref_logp && opt.kl_coef > 0) {
      o.Upload(ws.ref_logp, ref_logp.data(), Nt * sizeof(float));
      args.ref_logp = ws.ref_logp;
    }
    args.clip_low = opt.clip_low;
    args.clip_high = opt.clip_high;
    args.use_dual_clip = opt.use_dual_clip;
    args.dual_clip = opt.dual_clip;
    args.kl_coef = opt.kl_coef;
    args.kl_type = opt.kl_type;
  }

  Forward(ws, plan, nullptr, nullptr);
  o.LogSoftmaxLossBackward(ws.logits, ws.logp, ws.entropy, ws.logits, ws.targets, args, Nt, config_.vocab_size);
  o.Zero(grads_, param_count_ * sizeof(float));
  Backward(ws, plan);

  // The loss value and metrics from the same log-probs and per-token terms,
  // on the model's backend.
  const LossSums sums = o.PolicyLossSums(ws.logp, ws.entropy, ws.loss_mask, args, Nt);
  PolicyMetrics metrics;
  metrics.loss = sums.loss;
  if (total_mask > 0) {
    metrics.entropy = sums.entropy / total_mask;
    if (pg) {
      metrics.clip_frac = sums.clipped / total_mask;
      metrics.clip_frac_lower = sums.dual_clipped / total_mask;
      metrics.approx_kl = sums.kl / total_mask;
    }
  }
  return metrics;
}

PolicyMetrics PolicyModel::Gradients(float* grads_host, const PolicyBatch& batch, const PolicyLossSpec& loss) {
  ValidatePolicyBatch(config_, batch, "batch");
  ValidateLoss(batch, loss);
  std::lock_guard<std::mutex> lock(mutex_);
  PolicyMetrics metrics = ComputeGradients(batch, loss);
  metrics.grad_norm = std::sqrt(ops_->SumSquares(grads_, param_count_));
  ops_->Download(grads_host, grads_, param_count_ * sizeof(float));
  return metrics;
}

PolicyMetrics PolicyModel::TrainStep(const PolicyBatch& batch, const PolicyLossSpec& loss, const AdamWOptions& optim) {
  ValidatePolicyBatch(config_, batch, "batch");
  ValidateLoss(batch, loss);
  std::lock_guard<std::mutex> lock(mutex_);
  PolicyMetrics metrics = ComputeGradients(batch, loss);
  const double norm = std::sqrt(ops_->SumSquares(grads_, param_count_));
  metrics.grad_norm = norm;
  if (!std::isfinite(norm))
    Fail("E_NONFINITE", "the gradient norm is ", norm, "; the update was skipped and the parameters are unchanged");
  const double scale = optim.grad_clip > 0 ? std::min(1.0, optim.grad_clip / (norm + 1e-6)) : 1.0;
  const int64_t step = step_ + 1;
  AdamWArgs a;
  a.lr = static_cast<float>(optim.lr);
  a.beta1 = static_cast<float>(optim.beta1);
  a.beta2 = static_cast<float>(optim.beta2);
  a.eps = static_cast<float>(optim.eps);
  a.grad_scale = static_cast<float>(scale);
  a.bias_correction1 = static_cast<float>(1.0 - std::pow(optim.beta1, static_cast<double>(step)));
  a.bias_correction2 = static_cast<float>(1.0 - std::pow(optim.beta2, static_cast<double>(step)));
  for (const PolicyTensor& t : table_) {
    a.weight_decay = t.decay ? static_cast<float>(optim.weight_decay) : 0.0f;
    ops_->AdamW(params_ + t.offset, m_ + t.offset, v_ + t.offset, grads_ + t.offset, t.size, a);
  }
  ops_->Synchronize();
  step_ = step;
  return metrics;
}

}  // namespace pv
