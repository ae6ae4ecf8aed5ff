// The policy network (policy.md), written once against PolicyOps: the
// backend, parameters and optimizer state, the plans, and the layer sequence
// (Forward, Backward). Losses and training: policy_loss.cc; sessions:
// policy_session.cc; config and tensor table: policy_config.cc.
#include "core/policy_model.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "core/device.h"
#include "core/policy_model_detail.h"

namespace pv {

std::unique_ptr<PolicyOps> MakePolicyOps(Device device, int threads) {
  RequireDevice(device);
#ifdef PV_WITH_CUDA
  if (device == Device::kCuda) return MakeCudaPolicyOps();
#endif
  return MakeCpuPolicyOps(threads);
}

// ---- construction, parameters, optimizer state ------------------------------------

PolicyModel::PolicyModel(const PolicyConfig& config, Device device, int threads)
    : PolicyModel(config, (ValidatePolicyConfig(config), MakePolicyOps(device, threads))) {
  threads_ = threads;
}

PolicyModel::PolicyModel(const PolicyConfig& config, std::unique_ptr<PolicyOps> ops) : config_(config) {
  ValidatePolicyConfig(config);
  table_ = PolicyTensorTable(config);
  for (const PolicyTensor& t : table_) param_count_ += t.size;
  ops_ = std::move(ops);
  const size_t bytes = param_count_ * sizeof(float);
  try {
    params_ = static_cast<float*>(ops_->Alloc(bytes));
    grads_ = static_cast<float*>(ops_->Alloc(bytes));
    m_ = static_cast<float*>(ops_->Alloc(bytes));
    v_ = static_cast<float*>(ops_->Alloc(bytes));
  } catch (...) {
    ops_->Free(params_);
    ops_->Free(grads_);
    ops_->Free(m_);
    ops_->Free(v_);
    throw;
  }
  p_ = std::make_unique<Params>(params_, table_, config.layers);
  g_ = std::make_unique<Params>(grads_, table_, config.layers);
  train_ws_ = std::make_unique<Workspace>(ops_.get(), true);
  infer_ws_ = std::make_unique<Workspace>(ops_.get(), false);
}

PolicyModel::~PolicyModel() {
  train_ws_.reset();
  infer_ws_.reset();
  ops_->Free(params_);
  ops_->Free(grads_);
  ops_->Free(m_);
  ops_->Free(v_);
}

namespace {

bool EndsWith(const std::string& s, const char* suffix) {
  const size_t n = std::strlen(suffix);
  return s.size() >= n && s.compare(s.size() - n, n, suffix) == 0;
}

}  // namespace

void PolicyModel::InitRandom(uint64_t seed) {
  std::lock_guard<std::mutex> lock(mutex_);
  std::vector<float> host(param_count_);
  const double residual_std = 0.02 / std::sqrt(2.0 * static_cast<double>(config_.layers));
  for (size_t ti = 0; ti < table_.size(); ++ti) {
    const PolicyTensor& t = table_[ti];
    float* dst = host.data() + t.offset;
    // 1-D tensors: LayerNorm weights (1) and biases (0).
    const bool is_ln_weight = EndsWith(t.name, ".weight");
    if (t.shape.size() == 1) {
      std::fill(dst, dst + t.size, is_ln_weight ? 1.0f : 0.0f);
      continue;
    }
    const bool residual = EndsWith(t.name, "attn.proj.weight") || EndsWith(t.name, "mlp.proj.weight");
    const double stddev = residual ? residual_std : 0.02;
    // Element i of tensor ti: Box-Muller on two hashes of (seed, ti, i).
    const uint64_t stream = Mix64(seed ^ Mix64(0x5EEDull + ti));
    // Element i depends on (seed, ti, i) only: the same values whatever the threads.
#pragma omp parallel for num_threads(CpuThreads()) schedule(static) if (t.size > 65536)
    for (size_t i = 0; i < t.size; ++i) {
      const uint64_t h1 = Mix64(stream + 2 * i), h2 = Mix64(stream + 2 * i + 1);
      const double z = std::sqrt(-2.0 * std::log(UnitOpen(h1))) * std::cos(6.283185307179586 * UnitOpen(h2));
      dst[i] = static_cast<float>(stddev * z);
    }
  }
  ops_->Upload(params_, host.data(), param_count_ * sizeof(float));
  ops_->Zero(m_, param_count_ * sizeof(float));
  ops_->Zero(v_, param_count_ * sizeof(float));
  step_ = 0;
}

void PolicyModel::SetParameters(const float* host) {
  CheckFinite(host, param_count_, "parameters");
  std::lock_guard<std::mutex> lock(mutex_);
  ops_->Upload(params_, host, param_count_ * sizeof(float));
  ops_->Zero(m_, param_count_ * sizeof(float));
  ops_->Zero(v_, param_count_ * sizeof(float));
  step_ = 0;
}

void PolicyModel::GetParameters(float* host) {
  std::lock_guard<std::mutex> lock(mutex_);
  ops_->Download(host, params_, param_count_ * sizeof(float));
}

void PolicyModel::GetOptimizerState(float* m, float* v, int64_t* step) {
  std::lock_guard<std::mutex> lock(mutex_);
  ops_->Download(m, m_, param_count_ * sizeof(float));
  ops_->Download(v, v_, param_count_ * sizeof(float));
  *step = step_;
}

void PolicyModel::SetOptimizerState(const float* m, const float* v, int64_t step) {
  CheckFinite(m, param_count_, "optimizer exp_avg");
  CheckFinite(v, param_count_, "optimizer exp_avg_sq");
  for (size_t i = 0; i < param_count_; ++i)
    if (v[i] < 0) Fail("E_IO", "optimizer exp_avg_sq[", i, "] must be >= 0, got ", v[i]);
  if (step < 0) Fail("E_IO", "optimizer step must be >= 0, got ", step);
  std::lock_guard<std::mutex> lock(mutex_);
  ops_->Upload(m_, m, param_count_ * sizeof(float));
  ops_->Upload(v_, v, param_count_ * sizeof(float));
  step_ = step;
}

// ---- plans -------------------------------------------------------------------------

PolicyModel::Plan PolicyModel::MakeTrainingPlan(const PolicyBatch& b) const {
  Plan plan;
  plan.N = b.positions;
  plan.B = b.sequences;
  plan.Np = b.patch_floats / config_.patch_dim;
  plan.tokens.assign(b.tokens, b.tokens + plan.N);
  plan.patch_rows.resize(plan.N);
  plan.positions.resize(plan.N);
  plan.query_offsets.assign(b.seq_offsets, b.seq_offsets + plan.B + 1);
  plan.key_start.resize(plan.B);
  plan.first_position.assign(plan.B, 0);
  int32_t patch = 0;
  for (size_t s = 0; s < plan.B; ++s) {
    const size_t begin = static_cast<size_t>(b.seq_offsets[s]), end = static_cast<size_t>(b.seq_offsets[s + 1]);
    plan.key_start[s] = b.seq_offsets[s];
    plan.max_queries = std::max(plan.max_queries, end - begin);
    for (size_t t = begin; t < end; ++t) {
      plan.positions[t] = static_cast<int32_t>(t - begin);
      plan.patch_rows[t] = b.tokens[t] < 0 ? patch++ : -1;
      // Row t predicts position t + 1 when that is a token of the same sequence.
      if (t + 1 < end && b.tokens[t + 1] >= 0) {
        plan.head_rows.push_back(static_cast<int32_t>(t));
        plan.targets.push_back(b.tokens[t + 1]);
      }
    }
  }
  plan.max_keys = plan.max_queries;
  plan.Nt = plan.head_rows.size();
  return plan;
}

void PolicyModel::UploadPlan(Workspace& ws, const Plan& plan, const float* patches) {
  ws.Ensure(config_, plan.N, plan.Np, plan.Nt, plan.B);
  PolicyOps& o = *ws.ops;  // the model's ops, or a session lane's (PolicyOps::LaneOps)
  o.Upload(ws.tokens, plan.tokens.data(), plan.N * sizeof(int32_t));
  o.Upload(ws.patch_rows, plan.patch_rows.data(), plan.N * sizeof(int32_t));
  o.Upload(ws.positions, plan.positions.data(), plan.N * sizeof(int32_t));
  o.Upload(ws.query_offsets, plan.query_offsets.data(), (plan.B + 1) * sizeof(int32_t));
  o.Upload(ws.key_start, plan.key_start.data(), plan.B * sizeof(int32_t));
  o.Upload(ws.first_position, plan.first_position.data(), plan.B * sizeof(int32_t));
  o.Upload(ws.head_rows, plan.head_rows.data(), plan.Nt * sizeof(int32_t));
  if (!plan.targets.empty()) o.Upload(ws.targets, plan.targets.data(), plan.Nt * sizeof(int32_t));
  if (!plan.cache_rows.empty()) o.Upload(ws.cache_rows, plan.cache_rows.data(), plan.N * sizeof(int32_t));
  o.Upload(ws.patches, patches, plan.Np * config_.patch_dim * sizeof(float));
}

// ---- the layer sequence --------------------------------------------------------------

AttentionLayout PolicyModel::LayoutOf(const Workspace& ws, const Plan& plan) {
  AttentionLayout layout;
  layout.query_offsets = ws.query_offsets;
  layout.key_start = ws.key_start;
  layout.first_position = ws.first_position;
  layout.sequences = plan.B;
  layout.max_queries = plan.max_queries;
  layout.max_keys = plan.max_keys;
  return layout;
}

void PolicyModel::Forward(Workspace& ws, const Plan& plan, float* const* kcache, float* const* vcache) {
  PolicyOps& o = *ws.ops;  // the model's ops, or a session lane's (PolicyOps::LaneOps)
  const Params& p = *p_;
  const size_t N = plan.N, C = config_.dim, H = config_.heads, V = config_.vocab_size, P = config_.patch_dim;
  const AttentionLayout layout = LayoutOf(ws, plan);

  if (plan.Np > 0) o.MatmulForward(ws.patch_out, ws.patches, p.patch_w, p.patch_b, plan.Np, P, C);
  o.EmbeddingForward(ws.emb, ws.tokens, ws.patch_rows, ws.positions, p.tok_emb, p.pos_emb,
                     plan.Np > 0 ? ws.patch_out : nullptr, N, C);
  for (size_t l = 0; l < config_.layers; ++l) {
    const Params::Block& w = p.blocks[l];
    Workspace::Layer& a = ws.layers[ws.training ? l : 0];
    const float* residual = l == 0 ? ws.emb : ws.layers[ws.training ? l - 1 : 0].res2;
    o.LayerNormForward(a.ln1, a.ln1_mean, a.ln1_rstd, residual, w.ln1_w, w.ln1_b, N, C);
    o.MatmulForward(a.qkv, a.ln1, w.qkv_w, w.qkv_b, N, C, 3 * C);
    const float* k = a.qkv + C;
    const float* v = a.qkv + 2 * C;
    size_t ldkv = 3 * C;
    if (kcache) {
      o.ScatterRows(kcache[l], a.qkv + C, ws.cache_rows, N, C, C, 3 * C);
      o.ScatterRows(vcache[l], a.qkv + 2 * C, ws.cache_rows, N, C, C, 3 * C);
      k = kcache[l];
      v = vcache[l];
      ldkv = C;
    }
    o.AttentionForward(a.att, ws.training ? a.lse : nullptr, a.qkv, k, v, layout, N, C, H, 3 * C, ldkv);
    o.MatmulForward(a.res1, a.att, w.proj_w, w.proj_b, N, C, C);
    o.ResidualForward(a.res1, a.res1, residual, N * C);
    o.LayerNormForward(a.ln2, a.ln2_mean, a.ln2_rstd, a.res1, w.ln2_w, w.ln2_b, N, C);
    o.MatmulForward(a.fc, a.ln2, w.fc_w, w.fc_b, N, C, 4 * C);
    o.GeluForward(a.fc_gelu, a.fc, N * 4 * C);
    o.MatmulForward(a.res2, a.fc_gelu, w.mlp_w, w.mlp_b, N, 4 * C, C);
    o.ResidualForward(a.res2, a.res2, a.res1, N * C);
  }
  const float* last = ws.layers[ws.training ? config_.layers - 1 : 0].res2;
  o.GatherRows(ws.lnf_in, last, ws.head_rows, plan.Nt, C, C);
  o.LayerNormForward(ws.lnf, ws.lnf_mean, ws.lnf_rstd, ws.lnf_in, p.lnf_w, p.lnf_b, plan.Nt, C);
  o.MatmulForward(ws.logits, ws.lnf, p.lm_head, nullptr, plan.Nt, C, V);
}

// Backward from ws.logits holding d loss / d logits (written by
// LogSoftmaxLossBackward). Accumulates into grads_ (zeroed by the caller).
void PolicyModel::Backward(Workspace& ws, const Plan& plan) {
  PolicyOps& o = *ops_;
  const Params& p = *p_;
  const Params& g = *g_;
  const size_t N = plan.N, C = config_.dim, H = config_.heads, V = config_.vocab_size, P = config_.patch_dim;
  const AttentionLayout layout = LayoutOf(ws, plan);

  o.MatmulBackward(ws.dlnf, g.lm_head, nullptr, ws.logits, ws.lnf, p.lm_head, plan.Nt, C, V);
  o.Zero(ws.dlnf_in, plan.Nt * C * sizeof(float));
  o.LayerNormBackward(ws.dlnf_in, g.lnf_w, g.lnf_b, ws.dlnf, ws.lnf_in, p.lnf_w, ws.lnf_mean, ws.lnf_rstd, plan.Nt, C);
  o.Zero(ws.dres, N * C * sizeof(float));
  o.ScatterRows(ws.dres, ws.dlnf_in, ws.head_rows, plan.Nt, C, C, C);
  for (size_t l = config_.layers; l-- > 0;) {
    const Params::Block& w = p.blocks[l];
    const Params::Block& dw = g.blocks[l];
    Workspace::Layer& a = ws.layers[l];
    const float* residual = l == 0 ? ws.emb : ws.layers[l - 1].res2;
    // MLP: res2 = res1 + mlp.proj(gelu(mlp.fc(ln2(res1))))
    o.MatmulBackward(ws.dfc, dw.mlp_w, dw.mlp_b, ws.dres, a.fc_gelu, w.mlp_w, N, 4 * C, C);
    o.GeluBackward(ws.dfc, ws.dfc, a.fc, N * 4 * C);
    o.MatmulBackward(ws.dln, dw.fc_w, dw.fc_b, ws.dfc, a.ln2, w.fc_w, N, C, 4 * C);
    o.LayerNormBackward(ws.dres, dw.ln2_w, dw.ln2_b, ws.dln, a.res1, w.ln2_w, a.ln2_mean, a.ln2_rstd, N, C);
    // attention: res1 = residual + attn.proj(attention(attn.qkv(ln1(residual))))
    o.MatmulBackward(ws.dln, dw.proj_w, dw.proj_b, ws.dres, a.att, w.proj_w, N, C, C);
    o.Zero(ws.dqkv, N * 3 * C * sizeof(float));
    o.AttentionBackward(ws.dqkv, ws.dqkv + C, ws.dqkv + 2 * C, ws.dln, a.att, a.lse, a.qkv, a.qkv + C, a.qkv + 2 * C,
                        layout, N, C, H, 3 * C, 3 * C);
    o.MatmulBackward(ws.dln, dw.qkv_w, dw.qkv_b, ws.dqkv, a.ln1, w.qkv_w, N, C, 3 * C);
    o.LayerNormBackward(ws.dres, dw.ln1_w, dw.ln1_b, ws.dln, residual, w.ln1_w, a.ln1_mean, a.ln1_rstd, N, C);
  }
  o.EmbeddingBackward(g.tok_emb, g.pos_emb, plan.Np > 0 ? ws.dpatch_out : nullptr, ws.dres, ws.tokens, ws.patch_rows,
                      ws.positions, N, C);
  if (plan.Np > 0) o.MatmulBackward(nullptr, g.patch_w, g.patch_b, ws.dpatch_out, ws.patches, p.patch_w, plan.Np, P, C);
}

}  // namespace pv
