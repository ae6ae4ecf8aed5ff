// The policy network (policy.md), written once against PolicyOps.
#include "core/policy_model.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "core/device.h"
#include "core/loss_math.h"

namespace pv {

std::unique_ptr<PolicyOps> MakePolicyOps(Device device, int threads) {
  RequireDevice(device);
#ifdef PV_WITH_CUDA
  if (device == Device::kCuda) return MakeCudaPolicyOps();
#endif
  return MakeCpuPolicyOps(threads);
}

// ---- config, tensor table, validation ---------------------------------------------

void ValidatePolicyConfig(const PolicyConfig& c) {
  auto positive = [](size_t v, const char* name, size_t max) {
    if (v < 1 || v > max) Fail("E_ARG", "config.", name, " must be an integer in [1, ", max, "], got ", v);
  };
  positive(c.vocab_size, "vocabSize", size_t(1) << 24);
  positive(c.patch_dim, "patchDim", size_t(1) << 20);
  positive(c.max_seq_len, "maxSeqLen", size_t(1) << 20);
  positive(c.layers, "layers", 1024);
  positive(c.heads, "heads", 1024);
  positive(c.dim, "dim", size_t(1) << 16);
  if (c.dim % c.heads != 0)
    Fail("E_ARG", "config.dim must be a multiple of config.heads (", c.heads, "), got ", c.dim);
  size_t total = 0;
  for (const PolicyTensor& t : PolicyTensorTable(c)) total += t.size;
  if (total > static_cast<size_t>(INT32_MAX))
    Fail("E_ARG", "the config has ", total, " parameters; at most 2^31 - 1 are supported");
}

std::vector<PolicyTensor> PolicyTensorTable(const PolicyConfig& c) {
  const size_t V = c.vocab_size, T = c.max_seq_len, P = c.patch_dim, C = c.dim;
  std::vector<PolicyTensor> table;
  size_t offset = 0;
  auto add = [&](std::string name, std::vector<size_t> shape) {
    size_t size = 1;
    for (size_t d : shape) size *= d;
    const bool decay = shape.size() == 2;
    table.push_back(PolicyTensor{std::move(name), std::move(shape), offset, size, decay});
    offset += size;
  };
  add("tok_emb.weight", {V, C});
  add("pos_emb.weight", {T, C});
  add("patch_proj.weight", {C, P});
  add("patch_proj.bias", {C});
  for (size_t l = 0; l < c.layers; ++l) {
    const std::string b = "blocks." + std::to_string(l) + ".";
    add(b + "ln1.weight", {C});
    add(b + "ln1.bias", {C});
    add(b + "attn.qkv.weight", {3 * C, C});
    add(b + "attn.qkv.bias", {3 * C});
    add(b + "attn.proj.weight", {C, C});
    add(b + "attn.proj.bias", {C});
    add(b + "ln2.weight", {C});
    add(b + "ln2.bias", {C});
    add(b + "mlp.fc.weight", {4 * C, C});
    add(b + "mlp.fc.bias", {4 * C});
    add(b + "mlp.proj.weight", {C, 4 * C});
    add(b + "mlp.proj.bias", {C});
  }
  add("ln_f.weight", {C});
  add("ln_f.bias", {C});
  add("lm_head.weight", {V, C});
  return table;
}

void ValidatePolicyBatch(const PolicyConfig& config, const PolicyBatch& b, const char* name) {
  const size_t N = b.positions, B = b.sequences, P = config.patch_dim;
  CheckSeqOffsets(b.seq_offsets, B, N, (std::string(name) + ".seqOffsets").c_str());
  for (size_t s = 0; s < B; ++s) {
    const size_t len = static_cast<size_t>(b.seq_offsets[s + 1] - b.seq_offsets[s]);
    if (len > config.max_seq_len)
      Fail("E_SHAPE", name, ": sequence ", s, " has ", len, " positions, more than maxSeqLen (", config.max_seq_len,
           ")");
  }
  size_t visual = 0;
  for (size_t t = 0; t < N; ++t) {
    const int32_t v = b.tokens[t];
    if (v < -1 || v >= static_cast<int32_t>(config.vocab_size))
      Fail("E_ARG", name, ".tokens[", t, "] must be a token id in [0, ", config.vocab_size,
           ") or -1 (a visual patch), got ", v);
    visual += v == -1;
  }
  if (b.patch_floats != visual * P)
    Fail("E_SHAPE", name, ".patches must have patchDim (", P, ") floats per -1 token: ", visual, " x ", P, " = ",
         visual * P, ", got ", b.patch_floats);
  CheckFinite(b.patches, b.patch_floats, (std::string(name) + ".patches").c_str());
}

// ---- parameter views and workspace ---------------------------------------------

struct PolicyModel::Params {
  struct Block {
    float *ln1_w, *ln1_b, *qkv_w, *qkv_b, *proj_w, *proj_b, *ln2_w, *ln2_b, *fc_w, *fc_b, *mlp_w, *mlp_b;
  };
  float *tok_emb, *pos_emb, *patch_w, *patch_b;
  std::vector<Block> blocks;
  float *lnf_w, *lnf_b, *lm_head;

  Params(float* base, const std::vector<PolicyTensor>& table, size_t layers) {
    size_t i = 0;
    auto next = [&]() { return base + table[i++].offset; };
    tok_emb = next();
    pos_emb = next();
    patch_w = next();
    patch_b = next();
    blocks.resize(layers);
    for (Block& b : blocks) {
      b.ln1_w = next();
      b.ln1_b = next();
      b.qkv_w = next();
      b.qkv_b = next();
      b.proj_w = next();
      b.proj_b = next();
      b.ln2_w = next();
      b.ln2_b = next();
      b.fc_w = next();
      b.fc_b = next();
      b.mlp_w = next();
      b.mlp_b = next();
    }
    lnf_w = next();
    lnf_b = next();
    lm_head = next();
  }
};

// What to run: positions, their sequences, and the rows that get logits.
struct PolicyModel::Plan {
  size_t N = 0, Np = 0, B = 0, Nt = 0;
  std::vector<int32_t> tokens, patch_rows, positions;               // [N]
  std::vector<int32_t> query_offsets, key_start, first_position;    // [B + 1], [B], [B]
  size_t max_queries = 0, max_keys = 0;
  std::vector<int32_t> head_rows, targets;  // [Nt] rows that get logits; their target token (or -1)
  std::vector<int32_t> cache_rows;          // [N] sessions: KV cache row of each position

  // Empties the plan, keeping the vectors' capacity (a session reuses one plan per step).
  void Reset() {
    N = Np = B = Nt = max_queries = max_keys = 0;
    for (std::vector<int32_t>* v : {&tokens, &patch_rows, &positions, &query_offsets, &key_start, &first_position,
                                    &head_rows, &targets, &cache_rows})
      v->clear();
  }
};

struct PolicyModel::Workspace {
  struct Layer {
    float *ln1, *ln1_mean, *ln1_rstd, *qkv, *att, *lse, *res1, *ln2, *ln2_mean, *ln2_rstd, *fc, *fc_gelu, *res2;
  };
  PolicyOps* ops = nullptr;
  bool training = false;
  void* block = nullptr;
  size_t cap_N = 0, cap_Np = 0, cap_Nt = 0, cap_B = 0;
  std::vector<Layer> layers;
  float *emb = nullptr, *patches = nullptr, *patch_out = nullptr, *lnf_in = nullptr, *lnf = nullptr,
        *lnf_mean = nullptr, *lnf_rstd = nullptr, *logits = nullptr;
  int32_t *tokens = nullptr, *patch_rows = nullptr, *positions = nullptr, *query_offsets = nullptr,
          *key_start = nullptr, *first_position = nullptr, *head_rows = nullptr, *targets = nullptr,
          *cache_rows = nullptr;
  float *loss_weight = nullptr, *loss_mask = nullptr, *old_logp = nullptr, *advantages = nullptr, *ref_logp = nullptr, *logp = nullptr,
        *entropy = nullptr;
  float *dres = nullptr, *dln = nullptr, *dqkv = nullptr, *dfc = nullptr, *dlnf_in = nullptr, *dlnf = nullptr,
        *dpatch_out = nullptr;

  Workspace(PolicyOps* o, bool train) : ops(o), training(train) {}
  ~Workspace() {
    if (block) ops->Free(block);
  }

  // Makes room for N positions, Np patches, Nt head rows, B sequences.
  void Ensure(const PolicyConfig& cfg, size_t N, size_t Np, size_t Nt, size_t B) {
    if (block && N <= cap_N && Np <= cap_Np && Nt <= cap_Nt && B <= cap_B) return;
    const size_t n = std::max(N, cap_N), np = std::max(Np, cap_Np), nt = std::max(Nt, cap_Nt),
                 b = std::max(B, cap_B);
    if (block) {
      ops->Free(block);
      block = nullptr;
    }
    const size_t C = cfg.dim, H = cfg.heads, V = cfg.vocab_size, P = cfg.patch_dim;
    const size_t kept = training ? cfg.layers : 1;
    // Two passes over the same list: sizes, then pointers (one allocation).
    char* base = nullptr;
    size_t used = 0;
    auto take = [&](auto*& ptr, size_t count) {
      using T = std::remove_reference_t<decltype(*ptr)>;
      const size_t bytes = (std::max<size_t>(count, 1) * sizeof(T) + 63) / 64 * 64;
      ptr = base ? reinterpret_cast<T*>(base + used) : nullptr;
      used += bytes;
    };
    layers.assign(kept, Layer{});
    for (int pass = 0; pass < 2; ++pass) {
      used = 0;
      for (Layer& l : layers) {
        take(l.ln1, n * C);
        take(l.ln1_mean, n);
        take(l.ln1_rstd, n);
        take(l.qkv, n * 3 * C);
        take(l.att, n * C);
        take(l.lse, n * H);
        take(l.res1, n * C);
        take(l.ln2, n * C);
        take(l.ln2_mean, n);
        take(l.ln2_rstd, n);
        take(l.fc, n * 4 * C);
        take(l.fc_gelu, n * 4 * C);
        take(l.res2, n * C);
      }
      take(emb, n * C);
      take(patches, np * P);
      take(patch_out, np * C);
      take(lnf_in, nt * C);
      take(lnf, nt * C);
      take(lnf_mean, nt);
      take(lnf_rstd, nt);
      take(logits, nt * V);
      take(tokens, n);
      take(patch_rows, n);
      take(positions, n);
      take(cache_rows, n);
      take(query_offsets, b + 1);
      take(key_start, b);
      take(first_position, b);
      take(head_rows, nt);
      take(targets, nt);
      take(loss_weight, nt);
      take(loss_mask, nt);
      take(old_logp, nt);
      take(advantages, nt);
      take(ref_logp, nt);
      take(logp, nt);
      take(entropy, nt);
      if (training) {
        take(dres, n * C);
        take(dln, n * C);
        take(dqkv, n * 3 * C);
        take(dfc, n * 4 * C);
        take(dlnf_in, nt * C);
        take(dlnf, nt * C);
        take(dpatch_out, np * C);
      }
      if (pass == 0) {
        base = static_cast<char*>(ops->Alloc(used));
        block = base;
      }
    }
    cap_N = n;
    cap_Np = np;
    cap_Nt = nt;
    cap_B = b;
  }
};

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

// SplitMix64: the seeded stream of initialisation and sampling.
inline uint64_t Mix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

bool EndsWith(const std::string& s, const char* suffix) {
  const size_t n = std::strlen(suffix);
  return s.size() >= n && s.compare(s.size() - n, n, suffix) == 0;
}

// Uniform in (0, 1) from a 64-bit hash.
inline double UnitOpen(uint64_t h) { return (static_cast<double>(h >> 11) + 0.5) * (1.0 / 9007199254740992.0); }

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
  PolicyOps& o = *ops_;
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
  PolicyOps& o = *ops_;
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

// ---- sessions ----------------------------------------------------------------------------

std::unique_ptr<PolicySession> PolicyModel::StartSession(const PolicyBatch& prompts) {
  return std::make_unique<PolicySession>(shared_from_this(), prompts);
}

PolicySession::PolicySession(std::shared_ptr<PolicyModel> model, const PolicyBatch& prompts)
    : model_(std::move(model)) {
  const PolicyConfig& cfg = model_->config();
  ValidatePolicyBatch(cfg, prompts, "prompts");
  slots_ = prompts.sequences;
  if (slots_ == 0) Fail("E_SHAPE", "prompts must hold at least one sequence, got 0");
  const size_t P = cfg.patch_dim;
  pending_.resize(slots_);
  size_t patch = 0;
  for (size_t s = 0; s < slots_; ++s) {
    const size_t begin = static_cast<size_t>(prompts.seq_offsets[s]), end = static_cast<size_t>(prompts.seq_offsets[s + 1]);
    if (end == begin) Fail("E_SHAPE", "prompts: sequence ", s, " is empty; every prompt needs at least one position");
    for (size_t t = begin; t < end; ++t) {
      pending_[s].tokens.push_back(prompts.tokens[t]);
      if (prompts.tokens[t] < 0) {
        pending_[s].patches.insert(pending_[s].patches.end(), prompts.patches + patch * P, prompts.patches + (patch + 1) * P);
        ++patch;
      }
    }
  }
  cached_.assign(slots_, 0);
  ended_.assign(slots_, 0);
  next_logits_.assign(slots_, nullptr);
  plan_ = std::make_unique<PolicyModel::Plan>();
  std::lock_guard<std::mutex> lock(model_->mutex_);
  PolicyOps& o = *model_->ops_;
  const size_t rows = slots_ * cfg.max_seq_len;
  try {
    for (size_t l = 0; l < cfg.layers; ++l) {
      kcache_.push_back(static_cast<float*>(o.Alloc(rows * cfg.dim * sizeof(float))));
      vcache_.push_back(static_cast<float*>(o.Alloc(rows * cfg.dim * sizeof(float))));
    }
  } catch (...) {
    for (float* p : kcache_) o.Free(p);
    for (float* p : vcache_) o.Free(p);
    throw;
  }
}

PolicySession::~PolicySession() {
  std::lock_guard<std::mutex> lock(model_->mutex_);
  for (float* p : kcache_) model_->ops_->Free(p);
  for (float* p : vcache_) model_->ops_->Free(p);
}

std::vector<uint8_t> PolicySession::Live() const {
  std::lock_guard<std::mutex> lock(model_->mutex_);
  std::vector<uint8_t> live(slots_);
  for (size_t s = 0; s < slots_; ++s) live[s] = ended_[s] ? 0 : 1;
  return live;
}

std::vector<int32_t> PolicySession::Lengths() const {
  std::lock_guard<std::mutex> lock(model_->mutex_);
  std::vector<int32_t> lengths(slots_);
  for (size_t s = 0; s < slots_; ++s) lengths[s] = static_cast<int32_t>(cached_[s] + pending_[s].tokens.size());
  return lengths;
}

size_t PolicySession::Forwarded() const {
  std::lock_guard<std::mutex> lock(model_->mutex_);
  return forwarded_;
}

void PolicySession::Feed(const std::vector<size_t>& slots) {
  PolicyModel& m = *model_;
  const PolicyConfig& cfg = m.config();
  const size_t V = cfg.vocab_size;
  PolicyModel::Plan& plan = *plan_;
  plan.Reset();
  feed_patches_.clear();
  plan.query_offsets.push_back(0);
  for (size_t s : slots) {
    const Pending& pend = pending_[s];
    const size_t n = pend.tokens.size();
    if (n == 0) continue;
    plan.key_start.push_back(static_cast<int32_t>(s * cfg.max_seq_len));
    plan.first_position.push_back(static_cast<int32_t>(cached_[s]));
    for (size_t i = 0; i < n; ++i) {
      const int32_t tok = pend.tokens[i];
      plan.tokens.push_back(tok);
      plan.positions.push_back(static_cast<int32_t>(cached_[s] + i));
      plan.cache_rows.push_back(static_cast<int32_t>(s * cfg.max_seq_len + cached_[s] + i));
      plan.patch_rows.push_back(tok < 0 ? static_cast<int32_t>(plan.Np++) : -1);
    }
    feed_patches_.insert(feed_patches_.end(), pend.patches.begin(), pend.patches.end());
    plan.max_queries = std::max(plan.max_queries, n);
    plan.max_keys = std::max(plan.max_keys, cached_[s] + n);
    plan.head_rows.push_back(static_cast<int32_t>(plan.tokens.size() - 1));
    plan.query_offsets.push_back(static_cast<int32_t>(plan.tokens.size()));
  }
  plan.N = plan.tokens.size();
  plan.B = plan.key_start.size();
  plan.Nt = plan.head_rows.size();
  if (plan.N == 0) return;
  // rows_ is about to be overwritten: a slot whose logits live there and that
  // is not fed now keeps them in its own row of saved_logits_ (rare: a slot
  // given an empty observation while others got one).
  const float* rows_begin = rows_.data();
  const float* rows_end = rows_begin + rows_.size();
  for (size_t s = 0; s < slots_; ++s) {
    const float* row = next_logits_[s];
    if (row == nullptr || row < rows_begin || row >= rows_end || !pending_[s].tokens.empty()) continue;
    if (saved_logits_.empty()) saved_logits_.resize(slots_ * V);
    std::copy(row, row + V, saved_logits_.begin() + s * V);
    next_logits_[s] = saved_logits_.data() + s * V;
  }
  PolicyModel::Workspace& ws = *m.infer_ws_;
  m.UploadPlan(ws, plan, feed_patches_.data());
  m.Forward(ws, plan, kcache_.data(), vcache_.data());
  forwarded_ += plan.N;
  if (rows_.size() < plan.Nt * V) rows_.resize(plan.Nt * V);
  m.ops_->Download(rows_.data(), ws.logits, plan.Nt * V * sizeof(float));
  size_t r = 0;
  for (size_t s : slots) {
    if (pending_[s].tokens.empty()) continue;
    next_logits_[s] = rows_.data() + r * V;
    ++r;
    cached_[s] += pending_[s].tokens.size();
    pending_[s].tokens.clear();
    pending_[s].patches.clear();
  }
}

namespace {

struct Sampled {
  int32_t token;
  float logp;
};

// e^x for x <= 0 in float64, vectorisable: x = n ln 2 + r (ln 2 in two
// parts, |r| <= ln 2 / 2), e^r by its Taylor polynomial of degree 13 (the
// remainder is under 5e-18) in Horner form with fused multiply-adds, times
// 2^n; within 2 ulp of a correctly rounded e^x. 0 below -708, where e^x is
// under 2^-1021 (nothing that a sum holding e^0 = 1 can notice).
#pragma omp declare simd notinbranch
inline double ExpNonPositive(double x) {
  const double c = std::max(x, -708.0);
  // n = round(c / ln 2) by the 1.5 * 2^52 trick (vectorises without -ffast-math).
  const double n = (c * 1.4426950408889634 + 6755399441055744.0) - 6755399441055744.0;
  double r = c - n * 6.93145751953125e-1;
  r = r - n * 1.42860682030941723212e-6;
  double p = 1.0 / 6227020800.0;  // 1 / 13!
  p = std::fma(p, r, 1.0 / 479001600.0);
  p = std::fma(p, r, 1.0 / 39916800.0);
  p = std::fma(p, r, 1.0 / 3628800.0);
  p = std::fma(p, r, 1.0 / 362880.0);
  p = std::fma(p, r, 1.0 / 40320.0);
  p = std::fma(p, r, 1.0 / 5040.0);
  p = std::fma(p, r, 1.0 / 720.0);
  p = std::fma(p, r, 1.0 / 120.0);
  p = std::fma(p, r, 1.0 / 24.0);
  p = std::fma(p, r, 1.0 / 6.0);
  p = std::fma(p, r, 0.5);
  p = std::fma(p, r, 1.0);
  p = std::fma(p, r, 1.0);
  const int64_t bits = (static_cast<int64_t>(n) + 1023) << 52;
  double scale;
  std::memcpy(&scale, &bits, sizeof scale);
  return x < -708.0 ? 0.0 : p * scale;
}

// Sums over the vocabulary run in blocks of kSumBlock ids (each block in id
// order, then the blocks in order): the inverse-CDF scan walks the same
// partial sums, so it is consistent with the normaliser to the last bit.
constexpr size_t kSumBlock = 16;

// Per-thread scratch of SampleToken.
struct SampleScratch {
  std::vector<double> weights;  // [V] e^((logit - max) / temperature), in id order
  std::vector<double> blocks;   // [V / kSumBlock] their block sums
  std::vector<int32_t> order;   // [V] top-k: ids by logit
};

SampleScratch& ThreadSampleScratch() {
  thread_local SampleScratch scratch;
  return scratch;
}

// w[v] = e^((logits[v] - mx) / temperature) and the block sums; returns their total.
double SoftmaxWeights(double* w, double* block_sums, const float* logits, size_t V, double mx, double temperature) {
  if (temperature == 1.0) {  // (x - mx) / 1 is x - mx
#pragma omp simd
    for (size_t v = 0; v < V; ++v) w[v] = ExpNonPositive(static_cast<double>(logits[v]) - mx);
  } else {
#pragma omp simd
    for (size_t v = 0; v < V; ++v) w[v] = ExpNonPositive((static_cast<double>(logits[v]) - mx) / temperature);
  }
  double total = 0;
  for (size_t b = 0; b * kSumBlock < V; ++b) {
    double sum = 0;
    for (size_t v = b * kSumBlock; v < std::min(V, (b + 1) * kSumBlock); ++v) sum += w[v];
    block_sums[b] = sum;
  }
  for (size_t b = 0; b * kSumBlock < V; ++b) total += block_sums[b];
  return total;
}

// The first id whose cumulative weight exceeds target (the last id when none does).
size_t InverseCdf(const double* w, const double* block_sums, size_t V, double target) {
  double cdf = 0;
  for (size_t b = 0; b * kSumBlock < V; ++b) {
    const double next = cdf + block_sums[b];
    if (next > target) {
      const size_t end = std::min(V, (b + 1) * kSumBlock);
      double prefix = 0;
      for (size_t v = b * kSumBlock; v < end; ++v) {
        prefix += w[v];
        if (cdf + prefix > target) return v;
      }
      return end - 1;
    }
    cdf = next;
  }
  return V - 1;
}

// Samples from softmax(logits / temperature) restricted to the top_k largest
// logits (ties: lower id first) with the uniform u; temperature 0 is argmax.
// The returned logp is under the policy itself: log softmax(logits)[token].
// The arithmetic is float64; at temperature 1 the normaliser's terms are the
// sampling weights themselves, computed once.
Sampled SampleToken(const float* logits, size_t V, double temperature, size_t top_k, double u, SampleScratch& scratch) {
  float max_logit = -INFINITY;
#pragma omp simd reduction(max : max_logit)
  for (size_t v = 0; v < V; ++v) max_logit = std::max(max_logit, logits[v]);
  size_t argmax = 0;
  while (argmax + 1 < V && !(logits[argmax] == max_logit)) ++argmax;
  const double mx = max_logit;
  const size_t k = top_k == 0 || top_k > V ? V : top_k;
  scratch.weights.resize(V);
  scratch.blocks.resize((V + kSumBlock - 1) / kSumBlock);
  double* w = scratch.weights.data();
  double* blocks = scratch.blocks.data();
  const double sum = SoftmaxWeights(w, blocks, logits, V, mx, 1.0);
  const double lse = mx + std::log(sum);
  size_t token = argmax;
  if (temperature > 0 && k == V) {
    const double total = temperature == 1.0 ? sum : SoftmaxWeights(w, blocks, logits, V, mx, temperature);
    token = InverseCdf(w, blocks, V, u * total);
  } else if (temperature > 0) {
    std::vector<int32_t>& order = scratch.order;
    order.resize(V);
    for (size_t v = 0; v < V; ++v) order[v] = static_cast<int32_t>(v);
    std::partial_sort(order.begin(), order.begin() + static_cast<std::ptrdiff_t>(k), order.end(),
                      [&](int32_t a, int32_t b) { return logits[a] > logits[b] || (logits[a] == logits[b] && a < b); });
    std::sort(order.begin(), order.begin() + static_cast<std::ptrdiff_t>(k));
    double total = 0;
    for (size_t i = 0; i < k; ++i) {
      w[i] = ExpNonPositive((static_cast<double>(logits[order[i]]) - mx) / temperature);
      total += w[i];
    }
    const double target = u * total;
    double cdf = 0;
    token = static_cast<size_t>(order[k - 1]);
    for (size_t i = 0; i < k; ++i) {
      cdf += w[i];
      if (cdf > target) {
        token = static_cast<size_t>(order[i]);
        break;
      }
    }
  }
  return Sampled{static_cast<int32_t>(token), static_cast<float>(static_cast<double>(logits[token]) - lse)};
}

}  // namespace

GenerateResult PolicySession::Generate(const SampleOptions& options) {
  PolicyModel& m = *model_;
  const PolicyConfig& cfg = m.config();
  const size_t V = cfg.vocab_size, T = cfg.max_seq_len;
  std::lock_guard<std::mutex> lock(m.mutex_);
  if (!options.seeds.empty() && options.seeds.size() != slots_)
    Fail("E_SHAPE", "options.seeds must hold one seed per sequence (", slots_, "), got ", options.seeds.size());
  std::vector<std::vector<int32_t>> tokens(slots_);
  std::vector<std::vector<float>> logps(slots_);
  GenerateResult result;
  result.stopped.assign(slots_, 0);
  std::vector<size_t> to_feed;
  for (size_t s = 0; s < slots_; ++s)
    if (!ended_[s] && !pending_[s].tokens.empty()) to_feed.push_back(s);
  Feed(to_feed);
  for (size_t s = 0; s < slots_; ++s)
    if (ended_[s]) result.stopped[s] = 2;
  std::vector<size_t> active;  // the slots that draw a token this step
  std::vector<Sampled> drawn(slots_);
  const int threads = m.threads_ > 0 ? m.threads_ : CpuThreads();
  for (size_t step = 0; step < options.max_new_tokens; ++step) {
    active.clear();
    for (size_t s = 0; s < slots_; ++s) {
      if (ended_[s] || result.stopped[s]) continue;
      if (cached_[s] >= T) {  // no room for another position
        ended_[s] = 1;
        result.stopped[s] = 2;
        continue;
      }
      if (next_logits_[s] == nullptr) Fail("E_INTERNAL", "session slot ", s, " has no next-token logits");
      active.push_back(s);
    }
    // Each draw depends on its slot's logits and hash only: the same tokens
    // whatever the thread count.
#pragma omp parallel for num_threads(threads) schedule(static) if (active.size() * V >= 65536)
    for (size_t i = 0; i < active.size(); ++i) {
      const size_t s = active[i];
      const uint64_t h = options.seeds.empty()
                             ? Mix64(options.seed ^ Mix64(0xC0FFEEull + s) ^ Mix64(static_cast<uint64_t>(cached_[s]) << 20))
                             : Mix64(options.seeds[s] ^ Mix64(0xC0FFEEull) ^ Mix64(static_cast<uint64_t>(cached_[s]) << 20));
      drawn[i] = SampleToken(next_logits_[s], V, options.temperature, options.top_k, UnitOpen(h), ThreadSampleScratch());
    }
    to_feed.clear();
    bool any = false;
    for (size_t i = 0; i < active.size(); ++i) {
      const size_t s = active[i];
      const Sampled x = drawn[i];
      tokens[s].push_back(x.token);
      logps[s].push_back(x.logp);
      pending_[s].tokens.assign(1, x.token);
      next_logits_[s] = nullptr;
      if (std::find(options.stop_tokens.begin(), options.stop_tokens.end(), x.token) != options.stop_tokens.end()) {
        result.stopped[s] = 1;
        continue;
      }
      any = true;
      if (step + 1 < options.max_new_tokens) to_feed.push_back(s);
    }
    if (!any) break;
    Feed(to_feed);
  }
  result.offsets.assign(slots_ + 1, 0);
  for (size_t s = 0; s < slots_; ++s) {
    result.offsets[s + 1] = result.offsets[s] + static_cast<int32_t>(tokens[s].size());
    result.tokens.insert(result.tokens.end(), tokens[s].begin(), tokens[s].end());
    result.logp.insert(result.logp.end(), logps[s].begin(), logps[s].end());
  }
  return result;
}

std::vector<uint8_t> PolicySession::Append(const PolicyBatch& obs) {
  PolicyModel& m = *model_;
  const PolicyConfig& cfg = m.config();
  std::lock_guard<std::mutex> lock(m.mutex_);
  std::vector<size_t> live;
  for (size_t s = 0; s < slots_; ++s)
    if (!ended_[s]) live.push_back(s);
  if (obs.sequences != live.size())
    Fail("E_SHAPE", "observations must hold one entry per live sequence (", live.size(), "), got ", obs.sequences);
  // The length check is per sequence: checked here, not as a batch error.
  PolicyConfig unbounded = cfg;
  unbounded.max_seq_len = std::numeric_limits<int32_t>::max();
  ValidatePolicyBatch(unbounded, obs, "observations");
  const size_t P = cfg.patch_dim;
  std::vector<uint8_t> overflow(live.size(), 0);
  size_t patch = 0;
  for (size_t i = 0; i < live.size(); ++i) {
    const size_t s = live[i];
    const size_t begin = static_cast<size_t>(obs.seq_offsets[i]), end = static_cast<size_t>(obs.seq_offsets[i + 1]);
    size_t entry_patches = 0;
    for (size_t t = begin; t < end; ++t) entry_patches += obs.tokens[t] < 0;
    if (cached_[s] + pending_[s].tokens.size() + (end - begin) > cfg.max_seq_len) {
      overflow[i] = 1;
      ended_[s] = 1;
      patch += entry_patches;
      continue;
    }
    Pending& pend = pending_[s];
    for (size_t t = begin; t < end; ++t) pend.tokens.push_back(obs.tokens[t]);
    pend.patches.insert(pend.patches.end(), obs.patches + patch * P, obs.patches + (patch + entry_patches) * P);
    patch += entry_patches;
    if (end > begin) next_logits_[s] = nullptr;
  }
  return overflow;
}

void PolicySession::End(const std::vector<size_t>& slots) {
  std::lock_guard<std::mutex> lock(model_->mutex_);
  for (size_t s : slots)
    if (s >= slots_) Fail("E_ARG", "sequences to end must be in [0, ", slots_, "), got ", s);
  for (size_t s : slots) {
    ended_[s] = 1;
    next_logits_[s] = nullptr;
  }
}

}  // namespace pv
