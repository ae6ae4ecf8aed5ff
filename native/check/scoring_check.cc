// Standalone check of the scoring kernels: CUDA against CPU on the same
// seeded inputs (bitwise for group statistics and selection), and timings.
#include <cstring>
#include <vector>

#include "check/check.h"
#include "core/scoring.h"

namespace pv {
namespace check {
namespace {

constexpr size_t kTrajectories = 1 << 20;  // 1M trajectories in groups of 8
constexpr size_t kSequences = 16384;
constexpr size_t kTokensPerSeq = 256;       // 4M tokens

struct Rollouts {
  std::vector<float> rewards, acc;
  std::vector<int32_t> groups, tool_calls, tool_images, lengths;
  std::vector<uint8_t> end_reasons;
};

Rollouts MakeRollouts(Context& ctx, size_t n) {
  Rollouts r;
  r.acc.resize(n);
  r.groups.resize(n);
  r.tool_calls = ctx.Ints(n, 0, 4);
  r.tool_images = ctx.Ints(n, 0, 3);
  r.lengths = ctx.Ints(n, 10, 4000);
  r.end_reasons.resize(n);
  std::vector<int32_t> coin = ctx.Ints(n, 0, 1), reason = ctx.Ints(n, 0, 9);
  for (size_t i = 0; i < n; ++i) {
    r.acc[i] = static_cast<float>(coin[i]);
    r.groups[i] = static_cast<int32_t>((i / 8) * 7919 % 1000003);  // non-contiguous ids
    r.end_reasons[i] = static_cast<uint8_t>(reason[i] < 5 ? reason[i] : 0);
  }
  r.rewards.resize(n);
  CpuScoring().AccumulativeToolReward(r.rewards.data(), r.acc.data(), r.tool_calls.data(), n, 0.1f, 1.0f);
  for (size_t i = 0; i < n; i += 97) r.rewards[i] += 1000.0f;  // large offsets in some groups
  return r;
}

void CheckScoring(Context& ctx) {
  const size_t n = kTrajectories;
  Rollouts r = MakeRollouts(ctx, n);
  std::vector<float> reward(n), adv(n), mean(n), stdev(n);
  ScoringKernels& cpu = CpuScoring();
  SelectOptions sel;
  sel.target = n / 4;
  sel.max_length = 3500;

  const double ms_reward = ctx.Time(false, [&] {
    cpu.AccumulativeToolReward(reward.data(), r.acc.data(), r.tool_calls.data(), n, 0.1f, 1.0f);
  });
  ctx.Report("accumulativeToolReward 1M", "cpu", ms_reward, n * 12.0, 0);
  const double ms_adv = ctx.Time(false, [&] {
    cpu.GroupAdvantages(adv.data(), mean.data(), stdev.data(), r.rewards.data(), r.groups.data(), n,
                        AdvantageScale::kNone, 1e-6f);
  });
  ctx.Report("groupAdvantages 1M", "cpu", ms_adv, n * 20.0, 0);
  SelectResult cpu_sel;
  const double ms_sel = ctx.Time(false, [&] {
    cpu_sel = cpu.SelectRollouts(r.rewards.data(), r.groups.data(), r.end_reasons.data(), r.tool_images.data(),
                                 r.lengths.data(), n, sel);
  });
  ctx.Report("selectRollouts 1M", "cpu", ms_sel, n * 17.0, 0);

#ifdef PV_WITH_CUDA
  if (!ctx.cuda_available) return;
  ScoringKernels& gpu = CudaScoring();
  std::vector<float> g_reward(n), g_adv(n), g_mean(n), g_std(n);
  gpu.AccumulativeToolReward(g_reward.data(), r.acc.data(), r.tool_calls.data(), n, 0.1f, 1.0f);
  ctx.Compare("accumulativeToolReward cuda~cpu", g_reward.data(), reward.data(), n, 0, 0);
  for (AdvantageScale scale : {AdvantageScale::kNone, AdvantageScale::kGroupStd}) {
    cpu.GroupAdvantages(adv.data(), mean.data(), stdev.data(), r.rewards.data(), r.groups.data(), n, scale, 1e-6f);
    gpu.GroupAdvantages(g_adv.data(), g_mean.data(), g_std.data(), r.rewards.data(), r.groups.data(), n, scale,
                        1e-6f);
    const char* tag = scale == AdvantageScale::kNone ? "none" : "group-std";
    ctx.Compare(std::string("groupAdvantages.advantages cuda==cpu ") + tag, g_adv.data(), adv.data(), n, 0, 0);
    ctx.Compare(std::string("groupAdvantages.groupMean cuda==cpu ") + tag, g_mean.data(), mean.data(), n, 0, 0);
    ctx.Compare(std::string("groupAdvantages.groupStd cuda==cpu ") + tag, g_std.data(), stdev.data(), n, 0, 0);
  }
  SelectResult gpu_sel = gpu.SelectRollouts(r.rewards.data(), r.groups.data(), r.end_reasons.data(),
                                            r.tool_images.data(), r.lengths.data(), n, sel);
  const bool same_size = gpu_sel.indices.size() == cpu_sel.indices.size();
  ctx.CompareScalar("selectRollouts count cuda==cpu", double(gpu_sel.indices.size()), double(cpu_sel.indices.size()),
                    0, 0);
  if (same_size)
    ctx.CompareExact("selectRollouts indices cuda==cpu", gpu_sel.indices.data(), cpu_sel.indices.data(),
                     cpu_sel.indices.size());
  ctx.CompareScalar("selectRollouts dropped.zeroVariance cuda==cpu", double(gpu_sel.dropped_zero_variance),
                    double(cpu_sel.dropped_zero_variance), 0, 0);
  ctx.CompareScalar("selectRollouts dropped.overLength cuda==cpu", double(gpu_sel.dropped_over_length),
                    double(cpu_sel.dropped_over_length), 0, 0);
  ctx.Report("accumulativeToolReward 1M (incl. copies)", "cuda", ctx.Time(true, [&] {
    gpu.AccumulativeToolReward(g_reward.data(), r.acc.data(), r.tool_calls.data(), n, 0.1f, 1.0f);
  }), n * 12.0, 0);
  ctx.Report("groupAdvantages 1M (incl. copies)", "cuda", ctx.Time(true, [&] {
    gpu.GroupAdvantages(g_adv.data(), g_mean.data(), g_std.data(), r.rewards.data(), r.groups.data(), n,
                        AdvantageScale::kNone, 1e-6f);
  }), n * 20.0, 0);
  ctx.Report("selectRollouts 1M (incl. copies)", "cuda", ctx.Time(true, [&] {
    gpu.SelectRollouts(r.rewards.data(), r.groups.data(), r.end_reasons.data(), r.tool_images.data(),
                       r.lengths.data(), n, sel);
  }), n * 17.0, 0);
#endif
}

void CheckPolicyLoss(Context& ctx) {
  const size_t B = kSequences, T = kSequences * kTokensPerSeq;
  std::vector<int32_t> offsets(B + 1);
  std::vector<int32_t> lens = ctx.Ints(B, 1, 2 * kTokensPerSeq - 1);
  offsets[0] = 0;
  for (size_t b = 0; b < B; ++b) offsets[b + 1] = offsets[b] + lens[b];
  const size_t tokens = static_cast<size_t>(offsets[B]);
  std::vector<float> logp = ctx.Uniform(tokens, -6.0f, -0.01f), old_logp(tokens), adv = ctx.Uniform(B, -1.5f, 1.5f);
  std::vector<float> noise = ctx.Uniform(tokens, -0.5f, 0.5f), mask(tokens);
  std::vector<int32_t> coin = ctx.Ints(tokens, 0, 3);
  for (size_t t = 0; t < tokens; ++t) {
    old_logp[t] = logp[t] + noise[t];
    mask[t] = coin[t] == 0 ? 0.0f : 1.0f;
  }
  (void)T;
  LossInput in;
  in.logp = logp.data();
  in.old_logp = old_logp.data();
  in.advantages = adv.data();
  in.advantages_per_sequence = true;
  in.mask = mask.data();
  in.seq_offsets = offsets.data();
  in.tokens = tokens;
  in.sequences = B;
  std::vector<float> grad(tokens);
  const double bytes = tokens * 16.0;
  for (LossAgg agg : {LossAgg::kTokenMean, LossAgg::kSeqMeanTokenMean}) {
    LossOptions o;
    o.agg = agg;
    const char* tag = agg == LossAgg::kTokenMean ? "token-mean" : "seq-mean-token-mean";
    LossResult cpu_r;
    const double ms = ctx.Time(false, [&] { cpu_r = CpuScoring().PolicyLoss(grad.data(), in, o); });
    ctx.Report(std::string("policyLoss 4M ") + tag, "cpu", ms, bytes, 0);
#ifdef PV_WITH_CUDA
    if (!ctx.cuda_available) continue;
    std::vector<float> g_grad(tokens);
    const LossResult gpu_r = CudaScoring().PolicyLoss(g_grad.data(), in, o);
    ctx.Compare(std::string("policyLoss.grad cuda~cpu ") + tag, g_grad.data(), grad.data(), tokens, 1e-12, 1e-5);
    ctx.CompareScalar(std::string("policyLoss.loss cuda~cpu ") + tag, gpu_r.loss, cpu_r.loss, 1e-9, 1e-6);
    ctx.CompareScalar(std::string("policyLoss.clipFrac cuda~cpu ") + tag, gpu_r.clip_frac, cpu_r.clip_frac, 1e-6, 0);
    ctx.Report(std::string("policyLoss 4M (incl. copies) ") + tag, "cuda",
               ctx.Time(true, [&] { CudaScoring().PolicyLoss(g_grad.data(), in, o); }), bytes, 0);
#endif
  }
}

}  // namespace

PV_CHECK_CASE("scoring", CheckScoring);
PV_CHECK_CASE("policyLoss", CheckPolicyLoss);

}  // namespace check
}  // namespace pv
