// Generation sessions: the KV cache, pending positions fed in one forward
// pass per step, sampling in parallel over sequences (policy_sampling.h).
#include <algorithm>
#include <limits>

#include "core/device.h"
#include "core/policy_model.h"
#include "core/policy_model_detail.h"
#include "core/policy_sampling.h"
#include "core/scoring.h"

namespace pv {

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
  // The KV cache's rows are indexed in int32 (key_start, cache_rows).
  if (slots_ * cfg.max_seq_len > static_cast<size_t>(INT32_MAX))
    Fail("E_SHAPE", "prompts: B (", slots_, ") x maxSeqLen (", cfg.max_seq_len, ") KV-cache rows must be at most 2^31 - 1");
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
