// Generation sessions: the KV cache, pending positions fed in one forward
// pass per step, sampling in parallel over sequences (policy_sampling.h).
#include <algorithm>
#include <exception>
#include <limits>
#include <memory>

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
  lanes_.clear();  // their workspaces
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

// ---- passes through the model, in host lanes ---------------------------------------

struct PolicySession::Lane {
  PolicyOps* ops = nullptr;
  PolicyModel::Workspace* ws = nullptr;
  std::unique_ptr<PolicyModel::Workspace> own;  // lanes of a multi-lane pass
  PolicyModel::Plan plan;                       // reused by every pass
  std::vector<float> patches;
  std::vector<size_t> active, fed;  // RunSteps' scratch
  std::vector<Sampled> drawn;
  size_t forwarded = 0;
};

namespace {

// A pass over more positions per lane than this runs on the model's own ops
// (its products are large enough for a team per op), so that lanes'
// workspaces stay small.
constexpr size_t kLanePositions = 2048;
// Decode steps between two re-splits of the live sequences across lanes
// (sequences that stop early leave their lane with less work).
constexpr size_t kLaneSteps = 16;

// [begin of part i] for `lanes` contiguous parts of n items with about equal weight.
template <typename Weight>
std::vector<size_t> SplitParts(size_t n, size_t lanes, const Weight& weight) {
  double total = 0;
  for (size_t i = 0; i < n; ++i) total += weight(i);
  std::vector<size_t> begin(lanes + 1, n);
  begin[0] = 0;
  double acc = 0;
  size_t part = 1;
  for (size_t i = 0; i < n && part < lanes; ++i) {
    acc += weight(i);
    while (part < lanes && acc >= total * static_cast<double>(part) / static_cast<double>(lanes)) begin[part++] = i + 1;
  }
  return begin;
}

// Runs body(i) for i in [0, lanes) on `lanes` threads (inline for one),
// rethrowing the first exception after every lane has finished.
template <typename Body>
void ForLanes(size_t lanes, const Body& body) {
  if (lanes <= 1) {
    body(size_t(0));
    return;
  }
  std::exception_ptr error;
#pragma omp parallel for num_threads(static_cast<int>(lanes)) schedule(static, 1)
  for (size_t i = 0; i < lanes; ++i) {
    try {
      body(i);
    } catch (...) {
#pragma omp critical(pv_session_lanes)
      if (!error) error = std::current_exception();
    }
  }
  if (error) std::rethrow_exception(error);
}

}  // namespace

size_t PolicySession::LanesFor(size_t count, size_t positions) const {
  const PolicyModel& m = *model_;
  const int threads = m.threads_ > 0 ? m.threads_ : CpuThreads();
  size_t lanes = std::min({m.ops_->HostLanes(), static_cast<size_t>(std::max(threads, 1)), count});
  if (lanes > 1 && positions > kLanePositions * lanes) lanes = 1;
  return std::max<size_t>(lanes, 1);
}

PolicySession::Lane& PolicySession::LaneAt(size_t i, size_t lanes) {
  PolicyModel& m = *model_;
  const size_t index = lanes <= 1 ? 0 : 1 + i;
  while (lanes_.size() <= index) lanes_.push_back(std::make_unique<Lane>());
  Lane& lane = *lanes_[index];
  if (!lane.ops) {
    if (index == 0) {
      lane.ops = m.ops_.get();
      lane.ws = m.infer_ws_.get();
    } else {
      lane.ops = &m.ops_->LaneOps();
      lane.own = std::make_unique<PolicyModel::Workspace>(lane.ops, false);
      lane.ws = lane.own.get();
    }
  }
  return lane;
}

float* PolicySession::NextRows(size_t rows) {
  const size_t V = model_->config().vocab_size;
  const size_t next = 1 - rows_last_;
  std::vector<float>& buffer = rows_[next];
  const float* begin = buffer.data();
  const float* end = begin + buffer.size();
  for (size_t s = 0; s < slots_; ++s) {
    const float* row = next_logits_[s];
    if (row == nullptr || row < begin || row >= end) continue;
    if (saved_logits_.empty()) saved_logits_.resize(slots_ * V);
    std::copy(row, row + V, saved_logits_.begin() + s * V);
    next_logits_[s] = saved_logits_.data() + s * V;
  }
  if (buffer.size() < rows * V) buffer.resize(rows * V);
  rows_last_ = next;
  return buffer.data();
}

size_t PolicySession::FeedPart(const size_t* slots, size_t n, Lane& lane, float* rows) {
  PolicyModel& m = *model_;
  const PolicyConfig& cfg = m.config();
  const size_t V = cfg.vocab_size;
  PolicyModel::Plan& plan = lane.plan;
  plan.Reset();
  lane.patches.clear();
  plan.query_offsets.push_back(0);
  for (size_t x = 0; x < n; ++x) {
    const size_t s = slots[x];
    const Pending& pend = pending_[s];
    const size_t count = pend.tokens.size();
    if (count == 0) continue;
    plan.key_start.push_back(static_cast<int32_t>(s * cfg.max_seq_len));
    plan.first_position.push_back(static_cast<int32_t>(cached_[s]));
    for (size_t i = 0; i < count; ++i) {
      const int32_t tok = pend.tokens[i];
      plan.tokens.push_back(tok);
      plan.positions.push_back(static_cast<int32_t>(cached_[s] + i));
      plan.cache_rows.push_back(static_cast<int32_t>(s * cfg.max_seq_len + cached_[s] + i));
      plan.patch_rows.push_back(tok < 0 ? static_cast<int32_t>(plan.Np++) : -1);
    }
    lane.patches.insert(lane.patches.end(), pend.patches.begin(), pend.patches.end());
    plan.max_queries = std::max(plan.max_queries, count);
    plan.max_keys = std::max(plan.max_keys, cached_[s] + count);
    plan.head_rows.push_back(static_cast<int32_t>(plan.tokens.size() - 1));
    plan.query_offsets.push_back(static_cast<int32_t>(plan.tokens.size()));
  }
  plan.N = plan.tokens.size();
  plan.B = plan.key_start.size();
  plan.Nt = plan.head_rows.size();
  if (plan.N == 0) return 0;
  PolicyModel::Workspace& ws = *lane.ws;
  m.UploadPlan(ws, plan, lane.patches.data());
  m.Forward(ws, plan, kcache_.data(), vcache_.data());
  lane.ops->Download(rows, ws.logits, plan.Nt * V * sizeof(float));
  size_t r = 0;
  for (size_t x = 0; x < n; ++x) {
    const size_t s = slots[x];
    if (pending_[s].tokens.empty()) continue;
    next_logits_[s] = rows + r * V;
    ++r;
    cached_[s] += pending_[s].tokens.size();
    pending_[s].tokens.clear();
    pending_[s].patches.clear();
  }
  return plan.N;
}

void PolicySession::Feed(const std::vector<size_t>& slots) {
  const size_t V = model_->config().vocab_size;
  std::vector<size_t> fed;
  size_t positions = 0;
  for (size_t s : slots)
    if (!pending_[s].tokens.empty()) {
      fed.push_back(s);
      positions += pending_[s].tokens.size();
    }
  if (fed.empty()) return;
  float* rows = NextRows(fed.size());
  const size_t lanes = LanesFor(fed.size(), positions);
  // Parts of about equal positions (a sequence's work grows with its
  // pending positions); each lane writes the logits rows of its part.
  const std::vector<size_t> begin =
      SplitParts(fed.size(), lanes, [&](size_t i) { return static_cast<double>(pending_[fed[i]].tokens.size()); });
  std::vector<size_t> runs(lanes, 0);
  for (size_t i = 0; i < lanes; ++i) LaneAt(i, lanes);
  ForLanes(lanes, [&](size_t i) {
    runs[i] = FeedPart(fed.data() + begin[i], begin[i + 1] - begin[i], LaneAt(i, lanes), rows + begin[i] * V);
  });
  for (size_t r : runs) forwarded_ += r;
}

bool PolicySession::RunSteps(const size_t* slots, size_t n, size_t first, size_t steps, const SampleOptions& options,
                             Lane& lane, float* rows, GenerateResult& result,
                             std::vector<std::vector<int32_t>>& tokens, std::vector<std::vector<float>>& logps) {
  PolicyModel& m = *model_;
  const PolicyConfig& cfg = m.config();
  const size_t V = cfg.vocab_size, T = cfg.max_seq_len;
  const bool whole = lane.ops == m.ops_.get();  // the only lane: sampling may use every host thread
  const int threads = whole ? (m.threads_ > 0 ? m.threads_ : CpuThreads()) : 1;
  std::vector<size_t>& active = lane.active;
  std::vector<size_t>& fed = lane.fed;
  active.assign(slots, slots + n);
  bool any = false;
  for (size_t step = first; step < first + steps; ++step) {
    size_t kept = 0;
    for (size_t s : active) {
      if (ended_[s] || result.stopped[s]) continue;
      if (cached_[s] >= T) {  // no room for another position
        ended_[s] = 1;
        result.stopped[s] = 2;
        continue;
      }
      if (next_logits_[s] == nullptr) Fail("E_INTERNAL", "session slot ", s, " has no next-token logits");
      active[kept++] = s;
    }
    active.resize(kept);
    lane.drawn.resize(kept);
    // Each draw depends on its slot's logits and hash only: the same tokens
    // whatever the lanes and threads.
#pragma omp parallel for num_threads(threads) schedule(static) if (threads > 1 && kept * V >= 65536)
    for (size_t i = 0; i < kept; ++i) {
      const size_t s = active[i];
      const uint64_t h = options.seeds.empty()
                             ? Mix64(options.seed ^ Mix64(0xC0FFEEull + s) ^ Mix64(static_cast<uint64_t>(cached_[s]) << 20))
                             : Mix64(options.seeds[s] ^ Mix64(0xC0FFEEull) ^ Mix64(static_cast<uint64_t>(cached_[s]) << 20));
      lane.drawn[i] = SampleToken(next_logits_[s], V, options.temperature, options.top_k, UnitOpen(h), ThreadSampleScratch());
    }
    fed.clear();
    any = false;
    for (size_t i = 0; i < kept; ++i) {
      const size_t s = active[i];
      const Sampled x = lane.drawn[i];
      tokens[s].push_back(x.token);
      logps[s].push_back(x.logp);
      pending_[s].tokens.assign(1, x.token);
      next_logits_[s] = nullptr;
      if (std::find(options.stop_tokens.begin(), options.stop_tokens.end(), x.token) != options.stop_tokens.end()) {
        result.stopped[s] = 1;
        continue;
      }
      any = true;
      if (step + 1 < options.max_new_tokens) fed.push_back(s);
    }
    if (!any) break;
    lane.forwarded += FeedPart(fed.data(), fed.size(), lane, rows);
    active.swap(fed);
  }
  return any;
}

GenerateResult PolicySession::Generate(const SampleOptions& options) {
  PolicyModel& m = *model_;
  const size_t V = m.config().vocab_size;
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
  // Decode steps: the live slots split into lanes that each sample and feed
  // their own part for up to kLaneSteps steps, then split again.
  std::vector<size_t> live;
  for (size_t step = 0; step < options.max_new_tokens;) {
    live.clear();
    for (size_t s = 0; s < slots_; ++s)
      if (!ended_[s] && !result.stopped[s]) live.push_back(s);
    if (live.empty()) break;
    const size_t lanes = LanesFor(live.size(), live.size());
    const size_t steps = lanes > 1 ? std::min(kLaneSteps, options.max_new_tokens - step) : options.max_new_tokens - step;
    float* rows = NextRows(live.size());
    const std::vector<size_t> begin = SplitParts(live.size(), lanes, [](size_t) { return 1.0; });
    std::vector<uint8_t> going(lanes, 0);
    for (size_t i = 0; i < lanes; ++i) LaneAt(i, lanes).forwarded = 0;
    ForLanes(lanes, [&](size_t i) {
      going[i] = RunSteps(live.data() + begin[i], begin[i + 1] - begin[i], step, steps, options, LaneAt(i, lanes),
                          rows + begin[i] * V, result, tokens, logps);
    });
    bool any = false;
    for (size_t i = 0; i < lanes; ++i) {
      forwarded_ += LaneAt(i, lanes).forwarded;
      any = any || going[i];
    }
    if (!any) break;
    step += steps;
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
