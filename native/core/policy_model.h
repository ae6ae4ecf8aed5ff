// The policy network of policy.md: parameters, gradients, AdamW moments and
// activations, each in one backend buffer carved up by a sizes table (llm.c);
// the layer sequence (forward and backward) written once against PolicyOps;
// log-probs, the PG / SFT loss gradients, the AdamW step, and generation
// sessions that keep a KV cache across appended observations.
//
// Thread safety: the addon runs every call on its one compute thread; every
// public method that touches tensors also takes the model's mutex_ itself,
// so any other caller (dev/, native/check) is serialised as well.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "core/common.h"
#include "core/policy_ops.h"
#include "core/scoring.h"

namespace pv {

struct PolicyConfig {
  size_t vocab_size = 0;   // V
  size_t patch_dim = 0;    // P
  size_t max_seq_len = 0;  // T
  size_t layers = 0;       // L
  size_t heads = 0;        // H
  size_t dim = 0;          // C (C % H == 0)
};

// Throws E_ARG naming the first bad field.
void ValidatePolicyConfig(const PolicyConfig& config);

// One checkpoint tensor: its name (policy.md), shape, and place in the
// parameter buffer. The table order is the checkpoint order of policy.md.
struct PolicyTensor {
  std::string name;
  std::vector<size_t> shape;
  size_t offset = 0;  // in floats, into the parameter buffer
  size_t size = 0;    // in floats
  bool decay = false; // AdamW weight decay applies (matrices: 2-D tensors)
};
std::vector<PolicyTensor> PolicyTensorTable(const PolicyConfig& config);

// A packed ragged batch, host memory (the JS SequenceBatch).
struct PolicyBatch {
  const int32_t* tokens = nullptr;       // [N] token id, or -1 at a visual patch
  size_t positions = 0;                  // N
  const float* patches = nullptr;        // [Np * P], in position order
  size_t patch_floats = 0;               // Np * P
  const int32_t* seq_offsets = nullptr;  // [B + 1]
  size_t sequences = 0;                  // B
};

// Checks a batch against the config (shapes, token range, sequence lengths,
// finite patches); throws E_SHAPE / E_ARG / E_NONFINITE naming `name`.
void ValidatePolicyBatch(const PolicyConfig& config, const PolicyBatch& batch, const char* name);

// The loss of gradients() / trainStep(), host memory, one value per position
// of the batch. SFT: mean over masked positions of -logp. PG: the clipped
// policy-gradient loss of semantics.md sections 4-5 (ScoringKernels::PolicyLoss).
struct PolicyLossSpec {
  TokenLossKind kind = TokenLossKind::kSft;
  const float* mask_f32 = nullptr;    // [N] in {0, 1}, or
  const uint8_t* mask_u8 = nullptr;   // [N] (exactly one of the two)
  const float* old_logp = nullptr;    // [N] (pg)
  const float* advantages = nullptr;  // [N] or [B] (pg)
  size_t advantages_length = 0;
  const float* ref_logp = nullptr;    // [N] or null
  LossOptions options;                // pg options (ignored for sft)
};

struct PolicyMetrics {
  double loss = 0;
  double grad_norm = 0;   // global L2 norm of the gradient before clipping (trainStep)
  double clip_frac = 0;   // pg only
  double clip_frac_lower = 0;
  double approx_kl = 0;   // pg only
  double entropy = 0;     // mean entropy over masked positions
};

struct AdamWOptions {
  double lr = 1e-3;
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
  double weight_decay = 0.0;
  double grad_clip = 0;  // <= 0: no clipping
};

struct SampleOptions {
  size_t max_new_tokens = 0;
  double temperature = 1.0;  // 0: greedy
  size_t top_k = 0;          // 0: whole vocabulary
  std::vector<int32_t> stop_tokens;
  uint64_t seed = 0;
  // Empty, or one seed per sequence of the session: sequence b then draws
  // from (seeds[b], position) alone, as sequence 0 of a call with that seed,
  // whatever the batch it is in.
  std::vector<uint64_t> seeds;
};

struct GenerateResult {
  std::vector<int32_t> tokens;   // generated tokens of every sequence, concatenated
  std::vector<float> logp;       // their log-probability under the policy (temperature 1)
  std::vector<int32_t> offsets;  // [B + 1]
  std::vector<uint8_t> stopped;  // [B] 0: ran to maxNewTokens, 1: stop token, 2: maxSeqLen reached
};

class PolicySession;

class PolicyModel : public std::enable_shared_from_this<PolicyModel> {
 public:
  PolicyModel(const PolicyConfig& config, Device device, int threads);
  // With a given backend (e.g. an instrumented one, dev/policy_profile.cc).
  PolicyModel(const PolicyConfig& config, std::unique_ptr<PolicyOps> ops);
  ~PolicyModel();
  PolicyModel(const PolicyModel&) = delete;
  PolicyModel& operator=(const PolicyModel&) = delete;

  const PolicyConfig& config() const { return config_; }
  const std::vector<PolicyTensor>& tensors() const { return table_; }
  size_t parameter_count() const { return param_count_; }
  Device device() const { return ops_->device(); }

  // GPT-2 initialisation of policy.md, reproducible from the seed on every
  // backend (generated on the host); resets the optimizer state.
  void InitRandom(uint64_t seed);
  void SetParameters(const float* host);  // [parameter_count], checked finite
  void GetParameters(float* host);        // [parameter_count]
  void GetOptimizerState(float* m, float* v, int64_t* step);  // [parameter_count] x2
  void SetOptimizerState(const float* m, const float* v, int64_t step);

  // logp / entropy [N] per position (semantics.md section 6).
  void Logprobs(float* logp, float* entropy, const PolicyBatch& batch);
  // d loss / d parameters into grads_host [parameter_count].
  PolicyMetrics Gradients(float* grads_host, const PolicyBatch& batch, const PolicyLossSpec& loss);
  PolicyMetrics TrainStep(const PolicyBatch& batch, const PolicyLossSpec& loss, const AdamWOptions& optim);

  std::unique_ptr<PolicySession> StartSession(const PolicyBatch& prompts);

 private:
  friend class PolicySession;
  struct Params;
  struct Workspace;
  struct Plan;

  void ValidateLoss(const PolicyBatch& batch, const PolicyLossSpec& loss) const;
  Plan MakeTrainingPlan(const PolicyBatch& batch) const;
  void UploadPlan(Workspace& ws, const Plan& plan, const float* patches);
  // The layer sequence: embedding, L blocks, then the head on plan.head_rows.
  void Forward(Workspace& ws, const Plan& plan, float* const* kcache, float* const* vcache);
  void Backward(Workspace& ws, const Plan& plan);
  // The attention layout of a planned batch (the same for forward and backward).
  static AttentionLayout LayoutOf(const Workspace& ws, const Plan& plan);
  PolicyMetrics ComputeGradients(const PolicyBatch& batch, const PolicyLossSpec& loss);

  PolicyConfig config_;
  std::vector<PolicyTensor> table_;
  size_t param_count_ = 0;
  std::unique_ptr<PolicyOps> ops_;
  float* params_ = nullptr;  // [P] backend memory
  float* grads_ = nullptr;   // [P]
  float* m_ = nullptr;       // [P]
  float* v_ = nullptr;       // [P]
  int64_t step_ = 0;
  std::unique_ptr<Params> p_;   // named views into params_
  std::unique_ptr<Params> g_;   // named views into grads_
  std::unique_ptr<Workspace> train_ws_;
  std::unique_ptr<Workspace> infer_ws_;
  int threads_ = 0;  // host threads for sampling (0: CpuThreads())
  std::mutex mutex_;
};

// A generation session: B sequences, each with a KV cache of maxSeqLen
// positions per layer. Positions not yet in the cache (the last sampled token,
// appended observations) are kept pending and fed in the next forward pass, so
// the prefix is never recomputed.
class PolicySession {
 public:
  PolicySession(std::shared_ptr<PolicyModel> model, const PolicyBatch& prompts);
  ~PolicySession();
  PolicySession(const PolicySession&) = delete;
  PolicySession& operator=(const PolicySession&) = delete;

  size_t sequences() const { return slots_; }
  // Per sequence: 1 while it can still grow (not ended by maxSeqLen).
  std::vector<uint8_t> Live() const;
  // Positions per sequence, pending ones included.
  std::vector<int32_t> Lengths() const;
  // Positions run through the network by this session so far (each position
  // once: the prefix is never recomputed).
  size_t Forwarded() const;

  GenerateResult Generate(const SampleOptions& options);
  // One entry per live sequence (in order); returns, per entry, 1 when the
  // observation did not fit in maxSeqLen (the sequence then ends), else 0.
  std::vector<uint8_t> Append(const PolicyBatch& observations);
  // Ends the given sequences (indices in [0, B)): they sample nothing more,
  // and take no entry in later Append calls (their lengths stay as they are).
  void End(const std::vector<size_t>& slots);

 private:
  struct Pending {
    std::vector<int32_t> tokens;   // token id or -1
    std::vector<float> patches;    // P floats per -1
  };
  // One host lane's plan and workspace (PolicyOps::HostLanes).
  struct Lane;
  // Feeds the pending positions of `slots` through the model and refreshes
  // their next-token logits (in parallel lanes when the feed is small enough).
  void Feed(const std::vector<size_t>& slots);
  // Runs the pending positions of slots[0, n) through the model on `lane`'s
  // ops; their logits rows go to `rows`, one per slot with pending positions,
  // in order. Returns the positions run.
  size_t FeedPart(const size_t* slots, size_t n, Lane& lane, float* rows);
  // Up to `steps` decode steps (from step `first` of `options`) of slots[0, n)
  // on `lane`: sample, then feed the new tokens (logits rows at `rows`).
  // Returns whether any of them is still generating.
  bool RunSteps(const size_t* slots, size_t n, size_t first, size_t steps, const SampleOptions& options, Lane& lane,
                float* rows, GenerateResult& result, std::vector<std::vector<int32_t>>& tokens,
                std::vector<std::vector<float>>& logps);
  // The lanes a pass over `count` sequences of `positions` positions in all
  // uses (1: the model's own ops), and lane i of a pass in `lanes`.
  size_t LanesFor(size_t count, size_t positions) const;
  Lane& LaneAt(size_t i, size_t lanes);
  // A buffer for the logits rows of the next pass: the one not written last,
  // after copying into saved_logits_ the rows of slots that still point there.
  float* NextRows(size_t rows);

  std::shared_ptr<PolicyModel> model_;
  size_t slots_ = 0;
  std::vector<float*> kcache_, vcache_;  // [L] of [B * T, C] backend memory
  std::vector<size_t> cached_;           // positions in the cache per slot
  std::vector<Pending> pending_;
  std::vector<uint8_t> ended_;
  // Per slot, its next-token logits [V] (host; into rows_ or saved_logits_),
  // or null while it has pending positions.
  std::vector<const float*> next_logits_;
  // [fed slots, V] x 2: the logits of the last pass and of the one before,
  // alternating, so that lanes sampling from one write the other.
  std::vector<float> rows_[2];
  size_t rows_last_ = 0;             // which of rows_ the last pass wrote
  std::vector<float> saved_logits_;  // [B, V] rows kept across passes that did not include their slot
  // [0]: the model's own ops and inference workspace (passes in one lane);
  // [1 + i]: lane i of a pass in several (LaneOps, a workspace of its own).
  std::vector<std::unique_ptr<Lane>> lanes_;
  size_t forwarded_ = 0;
};

}  // namespace pv
