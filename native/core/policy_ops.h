// The policy network's layer operations (policy.md): one interface, two
// backends (cpu/policy_ops.cc, cuda/policy_ops.cu). The layer sequence is
// written once, against this interface, in core/policy_model.cc.
//
// Memory: every tensor pointer passed to an op is memory of THIS backend,
// obtained from Alloc (host memory for the CPU backend, device memory for the
// CUDA backend). Data crosses to and from the host only through Upload /
// Download. Ops may run asynchronously on the backend's stream; Download and
// Synchronize wait for everything issued before them. An op never keeps a
// pointer after it returns.
//
// Conventions (llm.c): outputs first, then inputs, then sizes; a shape comment
// on every pointer; all tensors row-major float32; index arrays int32. Sizes:
// N rows (packed positions), C channels, H heads, D = C / H head size, V
// vocabulary, P patch dim, I/O matmul in/out features, B sequences.
//
// Gradient convention: parameter gradients (dweight, dbias, dtok_emb, ...)
// are ACCUMULATED (+=); activation gradients are WRITTEN (=) unless the
// comment of the op says "accumulated". Pointers marked "or null" may be null.
// Unless said otherwise, no output may alias an input.
//
// An instance is used by one thread at a time (the model serialises its calls).
// Every op handles any size (tails, odd sizes, N = 0). Failures throw
// pv::Error (E_CUDA, E_OOM, ...); nothing aborts.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <memory>

#include "core/common.h"
#include "core/loss_math.h"

namespace pv {

// ---- per-element math shared by both backends ------------------------------

// gelu_tanh(x) = 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))
PV_HD inline float GeluTanh(float x) {
  const float k = 0.7978845608028654f;  // sqrt(2 / pi)
  const float u = k * (x + 0.044715f * x * x * x);
  return 0.5f * x * (1.0f + tanhf(u));
}

// d gelu_tanh / dx
PV_HD inline float GeluTanhGrad(float x) {
  const float k = 0.7978845608028654f;
  const float u = k * (x + 0.044715f * x * x * x);
  const float t = tanhf(u);
  const float du = k * (1.0f + 3.0f * 0.044715f * x * x);
  return 0.5f * (1.0f + t) + 0.5f * x * (1.0f - t * t) * du;
}

// AdamW hyper-parameters of one step (torch.optim.AdamW semantics):
//   g  = grad * grad_scale
//   m  = beta1 m + (1 - beta1) g;   v = beta2 v + (1 - beta2) g^2
//   p  = p * (1 - lr * weight_decay)
//   p -= (lr / (1 - beta1^step)) * m / (sqrt(v) / sqrt(1 - beta2^step) + eps)
struct AdamWArgs {
  float lr = 1e-3f;
  float beta1 = 0.9f;
  float beta2 = 0.999f;
  float eps = 1e-8f;
  float weight_decay = 0;  // decoupled; the model passes 0 for 1-D tensors (biases, LayerNorm)
  float grad_scale = 1;    // global-norm clipping factor, min(1, clip / norm)
  float bias_correction1 = 1;  // 1 - beta1^step (computed once on the host, in float64)
  float bias_correction2 = 1;  // 1 - beta2^step
};

PV_HD inline void AdamWElement(float* param, float* m, float* v, float grad, const AdamWArgs& a) {
  const float g = grad * a.grad_scale;
  const float mi = a.beta1 * *m + (1.0f - a.beta1) * g;
  const float vi = a.beta2 * *v + (1.0f - a.beta2) * g * g;
  *m = mi;
  *v = vi;
  float p = *param * (1.0f - a.lr * a.weight_decay);
  const float denom = sqrtf(vi) / sqrtf(a.bias_correction2) + a.eps;
  p -= (a.lr / a.bias_correction1) * mi / denom;
  *param = p;
}

// The per-row loss of the fused log-softmax backward (LogSoftmaxLossBackward).
// Row i of the logits predicts one position t; its arrays are indexed by the
// logits row. weight[i] = mask[t] * the aggregation weight of t's sequence
// (semantics.md section 5; 0 where t is not in the loss).
enum class TokenLossKind : int { kPolicyGradient = 0, kSft = 1 };
struct TokenLossArgs {
  TokenLossKind kind = TokenLossKind::kSft;
  const float* weight = nullptr;      // [N]
  const float* old_logp = nullptr;    // [N] (policy gradient)
  const float* advantages = nullptr;  // [N] per row (policy gradient)
  const float* ref_logp = nullptr;    // [N] or null (KL term, used when kl_coef > 0)
  float clip_low = 0.2f;
  float clip_high = 0.2f;
  bool use_dual_clip = true;
  float dual_clip = 3.0f;
  float kl_coef = 0;
  KlType kl_type = KlType::kK3;
};

// The loss of row i before its weight, and d loss / d logp: -logp for SFT;
// for the policy gradient, ClippedTokenLoss + kl_coef * KlPenalty, exactly
// the terms ScoringKernels::PolicyLoss computes for that token.
PV_HD inline TokenLoss RowTokenLoss(float logp, size_t i, const TokenLossArgs& a) {
  if (a.kind == TokenLossKind::kSft) return TokenLoss{-logp, -1.0f, false, false};
  TokenLoss tl = ClippedTokenLoss(logp, a.old_logp[i], a.advantages[i], a.clip_low, a.clip_high, a.use_dual_clip,
                                  a.dual_clip);
  if (a.kl_coef > 0.0f && a.ref_logp != nullptr) {
    float kv, kg;
    KlPenalty(logp, a.ref_logp[i], a.kl_type, &kv, &kg);
    tl.loss += a.kl_coef * kv;
    tl.grad += a.kl_coef * kg;
  }
  return tl;
}

// d loss / d logp of row i: RowTokenLoss's gradient times the weight, exactly
// the gradient ScoringKernels::PolicyLoss writes for that token (-weight for SFT).
PV_HD inline float TokenLossGrad(float logp, size_t i, const TokenLossArgs& a) {
  const float w = a.weight[i];
  if (w == 0.0f) return 0.0f;
  if (a.kind == TokenLossKind::kSft) return -w;
  return RowTokenLoss(logp, i, a).grad * w;
}

// The loss value and metrics of a fused loss, summed over its rows (float64).
struct LossSums {
  double loss = 0;          // sum of weight * RowTokenLoss.loss
  double clipped = 0;       // masked rows whose ratio was clipped (policy gradient)
  double dual_clipped = 0;  // masked rows under the dual clip (policy gradient)
  double kl = 0;            // sum over masked rows of old_logp - logp (policy gradient)
  double entropy = 0;       // sum over masked rows of the entropy
};

// Where each query row of an attention call finds its keys. Sequence s owns
// the query rows [query_offsets[s], query_offsets[s+1]); its query row
// query_offsets[s] + i sits at absolute position first_position[s] + i and
// attends (causally) to the keys of positions 0 .. first_position[s] + i,
// which are the K/V rows key_start[s] + 0 .. key_start[s] + position.
//   training / logprobs (packed batch): query_offsets = seqOffsets,
//     key_start[s] = seqOffsets[s], first_position[s] = 0 (K/V = the batch's own qkv rows);
//   a session (KV cache of slot s at rows s * T ..): key_start[s] = s * T,
//     first_position[s] = the cache length before this call.
// The three arrays are backend memory; the sizes are host values.
struct AttentionLayout {
  const int32_t* query_offsets = nullptr;   // [B + 1], query_offsets[0] = 0, query_offsets[B] = N
  const int32_t* key_start = nullptr;       // [B]
  const int32_t* first_position = nullptr;  // [B]
  size_t sequences = 0;    // B
  size_t max_queries = 0;  // max over s of the query rows of s (for launch sizing)
  size_t max_keys = 0;     // max over s of first_position[s] + queries of s
};

class PolicyOps {
 public:
  virtual ~PolicyOps() = default;

  virtual Device device() const = 0;

  // ---- memory ----------------------------------------------------------------
  // Allocation of `bytes` bytes of backend memory, aligned to at least 64
  // bytes, zero-filled. Throws E_OOM (host) or E_CUDA (device) on failure.
  virtual void* Alloc(size_t bytes) = 0;
  virtual void Free(void* ptr) = 0;  // null is a no-op
  virtual void Upload(void* dst, const void* host_src, size_t bytes) = 0;
  virtual void Download(void* host_dst, const void* src, size_t bytes) = 0;  // waits for prior ops
  virtual void Copy(void* dst, const void* src, size_t bytes) = 0;           // backend to backend
  virtual void Zero(void* dst, size_t bytes) = 0;
  virtual void Synchronize() = 0;  // waits for every op issued so far

  // ---- host lanes (generation sessions) ----------------------------------------
  // How many host threads may each run a disjoint part of a session's
  // sequences through the layer sequence at the same time, each calling the
  // ops of LaneOps() (one thread each on the CPU: a decode step's ops are too
  // small for a team per op, and the parts need no synchronisation between
  // ops). 1: the ops parallelise inside themselves (CUDA).
  virtual size_t HostLanes() const { return 1; }
  // The ops one lane calls (this object when HostLanes() is 1); the same
  // memory (Alloc, Free) and the same results as this object's.
  virtual PolicyOps& LaneOps() { return *this; }

  // ---- layers: forward and backward ------------------------------------------

  // out[t] = (tokens[t] >= 0 ? tok_emb[tokens[t]] : patch_out[patch_rows[t]]) + pos_emb[positions[t]]
  // (tokens[t] < 0 exactly where patch_rows[t] >= 0.)
  virtual void EmbeddingForward(float* out,                // [N, C]
                                const int32_t* tokens,     // [N] token id, or -1 at a visual patch
                                const int32_t* patch_rows, // [N] row of patch_out, or -1 at a token
                                const int32_t* positions,  // [N] position within the sequence (< T)
                                const float* tok_emb,      // [V, C]
                                const float* pos_emb,      // [T, C]
                                const float* patch_out,    // [Np, C] patch_proj(patches), or null when Np = 0
                                size_t N, size_t C) = 0;
  // dtok_emb, dpos_emb accumulated; dpatch_out rows written (every row
  // referenced by patch_rows; null when Np = 0).
  virtual void EmbeddingBackward(float* dtok_emb,           // [V, C]
                                 float* dpos_emb,           // [T, C]
                                 float* dpatch_out,         // [Np, C] or null
                                 const float* dout,         // [N, C]
                                 const int32_t* tokens,     // [N]
                                 const int32_t* patch_rows, // [N]
                                 const int32_t* positions,  // [N]
                                 size_t N, size_t C) = 0;

  // LayerNorm over the last dim, eps 1e-5, biased variance (torch):
  // out = (inp - mean) * rstd * weight + bias. mean and rstd may be null (inference).
  virtual void LayerNormForward(float* out,           // [N, C]
                                float* mean,          // [N] or null
                                float* rstd,          // [N] or null
                                const float* inp,     // [N, C]
                                const float* weight,  // [C]
                                const float* bias,    // [C]
                                size_t N, size_t C) = 0;
  // dinp ACCUMULATED (it is the residual stream's gradient); dweight, dbias accumulated.
  virtual void LayerNormBackward(float* dinp,          // [N, C]
                                 float* dweight,       // [C]
                                 float* dbias,         // [C]
                                 const float* dout,    // [N, C]
                                 const float* inp,     // [N, C]
                                 const float* weight,  // [C]
                                 const float* mean,    // [N]
                                 const float* rstd,    // [N]
                                 size_t N, size_t C) = 0;

  // out = inp @ weight^T + bias (torch nn.Linear).
  virtual void MatmulForward(float* out,           // [N, O]
                             const float* inp,     // [N, I]
                             const float* weight,  // [O, I]
                             const float* bias,    // [O] or null
                             size_t N, size_t I, size_t O) = 0;
  // dinp = dout @ weight (written; skipped when null); dweight += dout^T @ inp;
  // dbias += column sums of dout (skipped when null).
  virtual void MatmulBackward(float* dinp,          // [N, I] or null
                              float* dweight,       // [O, I]
                              float* dbias,         // [O] or null
                              const float* dout,    // [N, O]
                              const float* inp,     // [N, I]
                              const float* weight,  // [O, I]
                              size_t N, size_t I, size_t O) = 0;

  // Causal multi-head attention, heads concatenated: for query row r of
  // sequence s at position p, head h (columns h*D .. h*D+D-1):
  //   out[r, h] = sum_j softmax_j(q[r, h] . k[key_start[s] + j, h] / sqrt(D)) v[key_start[s] + j, h],
  //   j = 0 .. p. Row r of q starts at q + r * ldq; row j of k and v at k + j * ldkv, v + j * ldkv.
  // lse (log-sum-exp of the scaled scores per row and head) is saved for the
  // backward when not null. No N x T x T temporaries where avoidable.
  virtual void AttentionForward(float* out,         // [N, C]
                                float* lse,         // [N, H] or null
                                const float* q,     // [N, ldq] (first C columns used)
                                const float* k,     // [rows, ldkv]
                                const float* v,     // [rows, ldkv]
                                const AttentionLayout& layout, size_t N, size_t C, size_t H, size_t ldq,
                                size_t ldkv) = 0;
  // dq, dk, dv ACCUMULATED (the caller zeroes them), laid out as q, k, v
  // (training: the three column blocks of one dqkv [N, 3C] buffer, ldq = ldkv = 3C).
  virtual void AttentionBackward(float* dq,          // [N, ldq]
                                 float* dk,          // [rows, ldkv]
                                 float* dv,          // [rows, ldkv]
                                 const float* dout,  // [N, C]
                                 const float* out,   // [N, C]
                                 const float* lse,   // [N, H]
                                 const float* q,     // [N, ldq]
                                 const float* k,     // [rows, ldkv]
                                 const float* v,     // [rows, ldkv]
                                 const AttentionLayout& layout, size_t N, size_t C, size_t H, size_t ldq,
                                 size_t ldkv) = 0;

  // out = GeluTanh(inp) elementwise; out may alias inp.
  virtual void GeluForward(float* out, const float* inp, size_t n) = 0;  // [n], [n]
  // dinp = dout * GeluTanhGrad(inp); dinp may alias dout.
  virtual void GeluBackward(float* dinp, const float* dout, const float* inp, size_t n) = 0;  // [n] x3

  // out = a + b elementwise; out may alias a or b.
  virtual void ResidualForward(float* out, const float* a, const float* b, size_t n) = 0;  // [n] x3

  // Row copies (KV cache writes, last-position gathers):
  //   GatherRows:  out[i, :] = inp[rows[i] * ld_in + 0 .. width)   for i < n
  //   ScatterRows: out[rows[i] * ld_out + 0 .. width) = inp[i * ld_in + 0 .. width)
  virtual void GatherRows(float* out,            // [n, width]
                          const float* inp,      // [*, ld_in]
                          const int32_t* rows,   // [n]
                          size_t n, size_t width, size_t ld_in) = 0;
  virtual void ScatterRows(float* out,           // [*, ld_out]
                           const float* inp,     // [n, ld_in]
                           const int32_t* rows,  // [n]
                           size_t n, size_t width, size_t ld_out, size_t ld_in) = 0;

  // ---- log-softmax, gather, loss gradient --------------------------------------
  // One pass over each row of logits (online max / log-sum-exp / entropy):
  //   logp[i] = log softmax(logits[i])[targets[i]]   (0 when targets[i] < 0)
  //   entropy[i] = -sum_v p_v log p_v                   (0 when targets[i] < 0)
  virtual void LogSoftmaxForward(float* logp,            // [N]
                                 float* entropy,         // [N]
                                 const float* logits,    // [N, V]
                                 const int32_t* targets, // [N] in [0, V), or -1: no target (row skipped)
                                 size_t N, size_t V) = 0;
  // Fused log-softmax + gather + loss gradient, one pass over each row (the
  // row is read once for the online statistics and rewritten in place from
  // cache): per row i with targets[i] >= 0,
  //   logp[i], entropy[i] as LogSoftmaxForward,
  //   dlogp = TokenLossGrad(logp[i], i, loss)                 (core/loss_math.h semantics)
  //   dlogits[i, v] = dlogp * (onehot(targets[i])_v - softmax(logits[i])_v);
  // rows with targets[i] < 0 get dlogits = 0, logp = entropy = 0.
  // dlogits may alias logits (in place).
  virtual void LogSoftmaxLossBackward(float* dlogits,         // [N, V]
                                      float* logp,            // [N]
                                      float* entropy,         // [N]
                                      const float* logits,    // [N, V]
                                      const int32_t* targets, // [N]
                                      const TokenLossArgs& loss, size_t N, size_t V) = 0;

  // The loss value and metrics of a fused loss from the logp and entropy
  // LogSoftmaxLossBackward wrote: over rows i with mask[i] != 0, the sums of
  // LossSums (loss and weights as TokenLossArgs). The summation order depends
  // on N only (the same sums for every thread count); returned to the host (waits).
  virtual LossSums PolicyLossSums(const float* logp,     // [N]
                                  const float* entropy,  // [N]
                                  const float* mask,     // [N] in {0, 1}
                                  const TokenLossArgs& loss, size_t N) = 0;

  // ---- optimizer ---------------------------------------------------------------
  // sum_i x[i]^2, accumulated in float64, returned to the host (waits).
  virtual double SumSquares(const float* x, size_t n) = 0;  // [n]
  // One AdamW step over n parameters (AdamWElement for each i).
  virtual void AdamW(float* params,       // [n]
                     float* m,            // [n] first moment
                     float* v,            // [n] second moment
                     const float* grads,  // [n]
                     size_t n, const AdamWArgs& args) = 0;
};

// threads: CPU worker threads for this instance (0: CpuThreads()).
std::unique_ptr<PolicyOps> MakeCpuPolicyOps(int threads);
#ifdef PV_WITH_CUDA
std::unique_ptr<PolicyOps> MakeCudaPolicyOps();
#endif
// The backend for `device`; throws E_BACKEND when it cannot run here.
std::unique_ptr<PolicyOps> MakePolicyOps(Device device, int threads);

}  // namespace pv
