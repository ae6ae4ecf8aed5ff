// CPU backend of the trajectory scoring kernels (semantics.md sections 1-5).
#include <algorithm>
#include <functional>
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "core/device.h"
#include "core/loss_math.h"
#include "core/scoring.h"
#include "core/scoring_stats.h"

namespace pv {
namespace {

// Maps arbitrary int32 group ids to dense ids 0..G-1 in order of first
// appearance, as runs of equal consecutive ids (the usual layout puts a
// group's samples together, so most batches have one run per group). When the
// run ids strictly increase (ids sorted, the common case) every run is its own
// group and no lookup is needed; otherwise an open-addressing table with a
// growing power-of-two size maps them, one lookup per run: key and dense id
// packed in one 64-bit slot (one cache line per probe), the slot chosen by the
// high bits of a multiplicative hash (ids that are multiples of a power of two
// do not collide), and the slot of the run 16 ahead prefetched (a shuffled
// batch has about one run per trajectory, each lookup a cache miss).
struct GroupRuns {
  std::vector<uint32_t> start;   // [R + 1] run boundaries, start[R] = N
  std::vector<uint32_t> group;   // [R] dense group id of each run
  size_t groups = 0;             // G
  std::vector<int32_t> run_key;  // [R] the group id of each run
  std::vector<uint64_t> table;   // hash table scratch, reused across calls
};

constexpr uint64_t kEmptySlot = ~uint64_t(0);  // dense id UINT32_MAX: never assigned

void IndexGroups(GroupRuns& runs, const int32_t* groups, size_t n) {
  runs.start.clear();
  runs.run_key.clear();
  bool increasing = true;
  for (size_t i = 0; i < n;) {
    const int32_t key = groups[i];
    increasing &= runs.run_key.empty() || key > runs.run_key.back();
    runs.start.push_back(static_cast<uint32_t>(i));
    runs.run_key.push_back(key);
    while (++i < n && groups[i] == key) {
    }
  }
  runs.start.push_back(static_cast<uint32_t>(n));
  const size_t R = runs.run_key.size();
  runs.group.resize(R);
  if (increasing) {
    for (size_t r = 0; r < R; ++r) runs.group[r] = static_cast<uint32_t>(r);
    runs.groups = R;
    return;
  }
  runs.groups = 0;
  int bits = 10;
  std::vector<uint64_t>& table = runs.table;
  table.assign(size_t(1) << bits, kEmptySlot);
  auto slot_of = [](int32_t key, int b) {
    return static_cast<size_t>((static_cast<uint64_t>(static_cast<uint32_t>(key)) * 0x9E3779B97F4A7C15ull) >> (64 - b));
  };
  auto key_of = [](uint64_t entry) { return static_cast<int32_t>(static_cast<uint32_t>(entry >> 32)); };
  auto grow = [&] {
    std::vector<uint64_t> bigger(size_t(1) << (bits + 1), kEmptySlot);
    const size_t mask = bigger.size() - 1;
    for (uint64_t entry : table) {
      if (entry == kEmptySlot) continue;
      size_t j = slot_of(key_of(entry), bits + 1);
      while (bigger[j] != kEmptySlot) j = (j + 1) & mask;
      bigger[j] = entry;
    }
    table.swap(bigger);
    ++bits;
  };
  const int32_t* run_key = runs.run_key.data();
  uint32_t* run_group = runs.group.data();
  constexpr size_t kAhead = 16;
  for (size_t r = 0; r < R; ++r) {
    if (r + kAhead < R) __builtin_prefetch(&table[slot_of(run_key[r + kAhead], bits)]);
    const int32_t key = run_key[r];
    const size_t mask = table.size() - 1;
    size_t j = slot_of(key, bits);
    while (table[j] != kEmptySlot && key_of(table[j]) != key) j = (j + 1) & mask;
    if (table[j] == kEmptySlot) {
      const uint32_t id = static_cast<uint32_t>(runs.groups++);
      table[j] = (static_cast<uint64_t>(static_cast<uint32_t>(key)) << 32) | id;
      run_group[r] = id;
      if (runs.groups * 2 > table.size()) grow();
    } else {
      run_group[r] = static_cast<uint32_t>(table[j]);
    }
  }
}

// Mean, unbiased std, min and max of one group whose members are
// values[0, n) (core/scoring_stats.h: a function of the multiset only, the
// same bits as the CUDA backend). `sorted` is scratch for the rare fallback.
inline void GroupMoments(const float* values, size_t n, double* mean, double* stdev, float* lo, float* hi,
                         std::vector<float>& sorted) {
  const GroupScan scan = GroupScan::Of([values](size_t j) { return values[j]; }, n);
  *lo = scan.lo;
  *hi = scan.hi;
  if (scan.Exact()) {
    ExactGroupMoments(scan, [values](size_t j) { return values[j]; }, mean, stdev);
    return;
  }
  sorted.assign(values, values + n);
  std::sort(sorted.begin(), sorted.end());
  const float* v = sorted.data();
  TwoPassGroupMoments(n, [v](size_t j) { return v[j]; }, mean, stdev);
}

// Group statistics in float64 (core/scoring_stats.h), with the min and max
// reward of each group for the zero-variance test. Groups that are one run
// each (the usual layout) are read in place; otherwise the rewards are first
// gathered group by group (a counting sort by dense group id, stable), so
// that every group is one contiguous, cache-friendly span either way.
struct GroupStats {
  GroupRuns runs;
  std::vector<double> mean;        // [G]
  std::vector<double> std;         // [G] unbiased; 0 for singletons
  std::vector<uint32_t> size;      // [G]
  std::vector<float> lo, hi;       // [G] min and max reward
  std::vector<uint32_t> group_of;  // [N] dense group of each trajectory (scattered layout only)
  std::vector<uint32_t> offset;    // [G + 1] scattered layout: group g's rewards at gathered[offset[g], offset[g + 1])
  std::vector<float> gathered;     // [N]
};

// Per-thread scratch of GroupMoments' fallback.
std::vector<float>& SortScratch() {
  thread_local std::vector<float> scratch;
  return scratch;
}

// The returned statistics live in a per-thread buffer reused by the next call
// on the same thread (large batches otherwise pay page faults on every call).
// `indexed`, when given, holds the runs of `groups` already (its contents are
// taken over), so a caller that indexed first does not index twice.
const GroupStats& ComputeGroupStats(const float* rewards, const int32_t* groups, size_t n,
                                    GroupRuns* indexed = nullptr) {
  thread_local GroupStats s;
  if (indexed) {
    s.runs.start.swap(indexed->start);
    s.runs.group.swap(indexed->group);
    s.runs.groups = indexed->groups;
  } else {
    IndexGroups(s.runs, groups, n);
  }
  CheckFinite(rewards, n, "rewards");
  const size_t G = s.runs.groups, R = s.runs.group.size();
  const uint32_t* start = s.runs.start.data();
  const uint32_t* run_group = s.runs.group.data();
  s.mean.resize(G);
  s.std.resize(G);
  s.size.resize(G);
  s.lo.resize(G);
  s.hi.resize(G);
  // Plain pointers: inside the parallel regions `s` would name each worker
  // thread's own thread_local instance.
  double* mean_out = s.mean.data();
  double* std_out = s.std.data();
  uint32_t* size_out = s.size.data();
  float* lo_out = s.lo.data();
  float* hi_out = s.hi.data();
  const float* base = rewards;
  const uint32_t* begin_of = start;
  if (G != R) {
    // Scattered: each trajectory's dense group, then the rewards gathered
    // group after group (ascending index within a group) by a counting sort
    // over `threads` consecutive chunks of trajectories, in parallel: each
    // chunk counts its members per group, then writes them at its own offsets.
    s.group_of.resize(n);
    s.offset.assign(G + 1, 0);
    s.gathered.resize(n);
    uint32_t* group_of = s.group_of.data();
    uint32_t* offset = s.offset.data();
    float* gathered = s.gathered.data();
    const int threads = n > 65536 ? CpuThreads() : 1;
    const size_t T = static_cast<size_t>(threads);
    thread_local std::vector<uint32_t> cursor;  // [T][G]: chunk t's count, then its next slot, of group g
    cursor.assign(T * G, 0);
    uint32_t* cur = cursor.data();
    auto chunk_runs = [&](size_t t) { return std::make_pair(R * t / T, R * (t + 1) / T); };
#pragma omp parallel for num_threads(threads) schedule(static, 1) if (threads > 1)
    for (size_t t = 0; t < T; ++t) {
      uint32_t* count = cur + t * G;
      for (size_t r = chunk_runs(t).first; r < chunk_runs(t).second; ++r) {
        const uint32_t g = run_group[r];
        count[g] += start[r + 1] - start[r];
        for (size_t i = start[r]; i < start[r + 1]; ++i) group_of[i] = g;
      }
    }
    uint32_t total = 0;
    for (size_t g = 0; g < G; ++g) {
      offset[g] = total;
      for (size_t t = 0; t < T; ++t) {
        const uint32_t c = cur[t * G + g];
        cur[t * G + g] = total;
        total += c;
      }
    }
    offset[G] = total;
#pragma omp parallel for num_threads(threads) schedule(static, 1) if (threads > 1)
    for (size_t t = 0; t < T; ++t) {
      uint32_t* next = cur + t * G;
      for (size_t i = start[chunk_runs(t).first]; i < start[chunk_runs(t).second]; ++i) gathered[next[group_of[i]]++] = rewards[i];
    }
    base = gathered;
    begin_of = offset;
  }
  // Every group is now one contiguous span (group g at base + begin_of[j],
  // j = the run of g, or g itself when gathered): independent, in parallel.
  const bool gathered_layout = G != R;
#pragma omp parallel num_threads(CpuThreads()) if (n > 65536)
  {
    std::vector<float>& sorted = SortScratch();
#pragma omp for schedule(static)
    for (size_t j = 0; j < G; ++j) {
      const uint32_t g = gathered_layout ? static_cast<uint32_t>(j) : run_group[j];
      const size_t b = begin_of[j], e = begin_of[j + 1];
      GroupMoments(base + b, e - b, &mean_out[g], &std_out[g], &lo_out[g], &hi_out[g], sorted);
      size_out[g] = static_cast<uint32_t>(e - b);
    }
  }
  return s;
}

uint64_t DoubleBits(double v) {
  uint64_t bits;
  std::memcpy(&bits, &v, sizeof bits);
  return bits;
}

class CpuScoringKernels final : public ScoringKernels {
 public:
  void AccumulativeToolReward(float* reward, const float* acc, const int32_t* tool_calls, size_t n,
                              float coef, float threshold) override {
    ValidateToolRewardInputs(acc, tool_calls, n);
    for (size_t i = 0; i < n; ++i) {
      const double gate = acc[i] >= threshold ? 1.0 : 0.0;
      reward[i] = static_cast<float>(static_cast<double>(acc[i]) +
                                     static_cast<double>(coef) * tool_calls[i] * gate);
    }
    CheckToolRewards(reward, acc, tool_calls, n, coef);
  }

  void GroupAdvantages(float* advantages, float* group_mean, float* group_std, const float* rewards,
                       const int32_t* groups, size_t n, AdvantageScale scale, float eps) override {
    thread_local GroupRuns runs_buffer;
    IndexGroups(runs_buffer, groups, n);
    const bool scaled = scale == AdvantageScale::kGroupStd;
    const double eps_d = static_cast<double>(eps);
    auto write = [=](size_t i, double mean, double stdev, bool single, float mean_f, float std_f) {
      const double centered = static_cast<double>(rewards[i]) - mean;
      const double a = single ? 0.0 : (scaled ? centered / (stdev + eps_d) : centered);
      advantages[i] = static_cast<float>(a);
      group_mean[i] = mean_f;
      group_std[i] = std_f;
    };
    {
      // Every group one contiguous run (the common layout): statistics and
      // outputs in one parallel visit of each group, which is still in cache.
      const GroupRuns& runs = runs_buffer;
      if (runs.groups == runs.group.size()) {
        CheckFinite(rewards, n, "rewards");
        const uint32_t* start = runs.start.data();
        const size_t R = runs.groups;
#pragma omp parallel num_threads(CpuThreads()) if (n > 65536)
        {
          std::vector<float>& sorted = SortScratch();
#pragma omp for schedule(static)
        for (size_t r = 0; r < R; ++r) {
          const size_t begin = start[r], end = start[r + 1];
          double mean, stdev;
          float lo, hi;
          GroupMoments(rewards + begin, end - begin, &mean, &stdev, &lo, &hi, sorted);
          const float mean_f = static_cast<float>(mean), std_f = static_cast<float>(stdev);
          for (size_t i = begin; i < end; ++i) write(i, mean, stdev, end - begin == 1, mean_f, std_f);
        }
        }
        return;
      }
    }
    const GroupStats& s = ComputeGroupStats(rewards, groups, n, &runs_buffer);
    const uint32_t* group_of = s.group_of.data();
    const double* mean = s.mean.data();
    const double* stdev = s.std.data();
    const uint32_t* size = s.size.data();
    // Elementwise from here (which also spreads the first-touch page faults
    // of the fresh output arrays over the cores).
#pragma omp parallel for num_threads(CpuThreads()) schedule(static) if (n > 65536)
    for (size_t i = 0; i < n; ++i) {
      const uint32_t g = group_of[i];
      write(i, mean[g], stdev[g], size[g] == 1, static_cast<float>(mean[g]), static_cast<float>(stdev[g]));
    }
  }

  SelectResult SelectRollouts(const float* rewards, const int32_t* groups, const uint8_t* end_reasons,
                              const int32_t* tool_images, const int32_t* lengths, size_t n,
                              const SelectOptions& options) override {
    ValidateSelectInputs(rewards, end_reasons, tool_images, lengths, n);
    const GroupStats& s = ComputeGroupStats(rewards, groups, n);
    const size_t G = s.runs.groups, R = s.runs.group.size();
    const uint32_t* start = s.runs.start.data();

    // Filters in the order of semantics.md section 3; each dropped trajectory
    // is counted by the first filter that drops it. Survivors stay in index
    // order, with their group's dense id.
    SelectResult result;
    thread_local std::vector<uint32_t> survivors_buffer, survivor_group_buffer;  // reused across calls
    survivors_buffer.resize(n);
    survivor_group_buffer.resize(n);
    uint32_t* survivors_out = survivors_buffer.data();  // plain pointers for the parallel region
    uint32_t* groups_out = survivor_group_buffer.data();
    uint32_t keep_mask = 0;
    for (int e = 0; e < kEndReasonCount; ++e) keep_mask |= options.keep_end_reason[e] ? 1u << e : 0u;
    const uint32_t require_image = options.require_tool_image ? 1 : 0;
    const bool check_length = options.max_length >= 0 && lengths != nullptr;
    const int64_t max_length = options.max_length;
    const uint32_t* run_group = s.runs.group.data();
    const float* lo = s.lo.data();
    const float* hi = s.hi.data();

    // Chunks of runs, filtered in two parallel passes: count the survivors of
    // each chunk, then write them at their offsets (index order is kept).
    struct Counts {
      size_t kept = 0, zero_variance = 0, end_reason = 0, no_image = 0, over_length = 0;
    };
    // The writing pass (out_index set) stops at the chunk's survivor count
    // `limit` from the counting pass: the branch-free store below writes one
    // slot past the last survivor otherwise, which is the next chunk's first.
    auto filter = [&](size_t run_begin, size_t run_end, uint32_t* out_index, uint32_t* out_group, size_t limit) {
      Counts c;
      for (size_t r = run_begin; r < run_end; ++r) {
        const uint32_t g = run_group[r];
        if (hi[g] == lo[g]) {
          c.zero_variance += start[r + 1] - start[r];
          continue;
        }
        // Branch-free: the outcomes are data-dependent and unpredictable.
        for (size_t i = start[r]; i < start[r + 1]; ++i) {
          if (out_index && c.kept == limit) return c;
          const uint32_t bad_reason = ((keep_mask >> (end_reasons[i] & 31u)) & 1u) ^ 1u;  // & 31: no UB shift, whatever the caller wrote since validation
          const uint32_t bad_image = (bad_reason ^ 1u) & require_image & (tool_images[i] == 0 ? 1u : 0u);
          const uint32_t too_long = check_length ? (lengths[i] > max_length ? 1u : 0u) : 0u;
          const uint32_t bad_length = (bad_reason ^ 1u) & (bad_image ^ 1u) & too_long;
          const uint32_t keep = (bad_reason | bad_image | bad_length) ^ 1u;
          c.end_reason += bad_reason;
          c.no_image += bad_image;
          c.over_length += bad_length;
          if (out_index) {
            out_index[c.kept] = static_cast<uint32_t>(i);
            out_group[c.kept] = g;
          }
          c.kept += keep;
        }
      }
      return c;
    };
    const int threads = n > 65536 ? CpuThreads() : 1;
    const size_t chunks = static_cast<size_t>(threads) * 4;
    std::vector<Counts> counts(chunks);
    auto chunk_runs = [&](size_t c) { return std::make_pair(R * c / chunks, R * (c + 1) / chunks); };
#pragma omp parallel for num_threads(threads) schedule(static) if (threads > 1)
    for (size_t c = 0; c < chunks; ++c) counts[c] = filter(chunk_runs(c).first, chunk_runs(c).second, nullptr, nullptr, 0);
    std::vector<size_t> offset(chunks + 1, 0);
    for (size_t c = 0; c < chunks; ++c) offset[c + 1] = offset[c] + counts[c].kept;
#pragma omp parallel for num_threads(threads) schedule(static) if (threads > 1)
    for (size_t c = 0; c < chunks; ++c)
      filter(chunk_runs(c).first, chunk_runs(c).second, survivors_out + offset[c], groups_out + offset[c], counts[c].kept);
    size_t zero_variance = 0, end_reason = 0, no_image = 0, over_length = 0;
    for (const Counts& c : counts) {
      zero_variance += c.zero_variance;
      end_reason += c.end_reason;
      no_image += c.no_image;
      over_length += c.over_length;
    }
    const size_t kept = offset[chunks];
    const std::vector<uint32_t>& survivors = survivors_buffer;
    const std::vector<uint32_t>& survivor_group = survivor_group_buffer;
    survivors_buffer.resize(kept);  // keeps the capacity
    survivor_group_buffer.resize(kept);
    result.dropped_zero_variance = zero_variance;
    result.dropped_end_reason = end_reason;
    result.dropped_no_tool_image = no_image;
    result.dropped_over_length = over_length;
    const size_t keep = std::min(options.target, survivors.size());
    if (!options.rank_by_std || survivors.empty()) {
      result.indices.assign(survivors.begin(), survivors.begin() + keep);
      return result;
    }

    // Rank: give each distinct std among the surviving groups a bucket in
    // descending order (a small hash set of the float64 bits, then a sort of
    // the distinct values only), then counting-sort the survivors by bucket.
    // The counting sort is stable, so equal std keeps ascending index.
    thread_local std::vector<uint32_t> bucket_buffer;  // reused across calls
    bucket_buffer.assign(G, UINT32_MAX);
    uint32_t* bucket = bucket_buffer.data();  // [G] rank of the group's std; UINT32_MAX: not seen
    std::vector<uint64_t> distinct;
    size_t capacity = 256;
    std::vector<uint64_t> table(capacity, ~0ull);  // ~0 is a NaN pattern, never a std
    auto insert = [&](uint64_t bits) {
      size_t j = (bits * 0x9E3779B97F4A7C15ull) >> 40 & (capacity - 1);
      while (table[j] != ~0ull && table[j] != bits) j = (j + 1) & (capacity - 1);
      if (table[j] == ~0ull) {
        table[j] = bits;
        distinct.push_back(bits);
        if (distinct.size() * 2 > capacity) {
          capacity *= 2;
          table.assign(capacity, ~0ull);
          for (uint64_t b : distinct) {
            size_t k = (b * 0x9E3779B97F4A7C15ull) >> 40 & (capacity - 1);
            while (table[k] != ~0ull) k = (k + 1) & (capacity - 1);
            table[k] = b;
          }
        }
      }
    };
    std::vector<uint32_t> alive_groups;  // groups with survivors, each once
    uint32_t previous = UINT32_MAX;
    for (uint32_t g : survivor_group) {
      if (g == previous) continue;  // survivors of a group are mostly adjacent
      previous = g;
      if (bucket[g] == UINT32_MAX) {
        bucket[g] = 0;
        alive_groups.push_back(g);
        insert(DoubleBits(s.std[g]));
      }
    }
    std::sort(distinct.begin(), distinct.end(), std::greater<uint64_t>());  // std >= 0: bits are monotonic
    // The rank of each distinct value, then of each surviving group.
    std::vector<uint32_t> rank_of_slot(capacity);
    for (size_t r = 0; r < distinct.size(); ++r) {
      size_t j = (distinct[r] * 0x9E3779B97F4A7C15ull) >> 40 & (capacity - 1);
      while (table[j] != distinct[r]) j = (j + 1) & (capacity - 1);
      rank_of_slot[j] = static_cast<uint32_t>(r);
    }
    for (uint32_t g : alive_groups) {
      const uint64_t bits = DoubleBits(s.std[g]);
      size_t j = (bits * 0x9E3779B97F4A7C15ull) >> 40 & (capacity - 1);
      while (table[j] != bits) j = (j + 1) & (capacity - 1);
      bucket[g] = rank_of_slot[j];
    }
    const size_t buckets = distinct.size();
    std::vector<size_t> slot(buckets + 1, 0);
    for (uint32_t g : survivor_group) ++slot[bucket[g] + 1];
    for (size_t b = 0; b < buckets; ++b) slot[b + 1] += slot[b];
    result.indices.resize(keep);
    for (size_t j = 0; j < survivors.size(); ++j) {
      const size_t at = slot[bucket[survivor_group[j]]]++;
      if (at < keep) result.indices[at] = static_cast<int32_t>(survivors[j]);
    }
    return result;
  }

  LossResult PolicyLoss(float* grad, const LossInput& in, const LossOptions& o) override {
    return in.mask_u8 ? PolicyLossImpl(grad, in, in.mask_u8, o) : PolicyLossImpl(grad, in, in.mask, o);
  }

 private:
  struct SequenceSums {
    double loss = 0, kl = 0, clipped = 0, lower = 0;
    double probe = 0;  // NaN when any input was NaN or infinite
  };

  // The token loop of one sequence: branch-free, so it vectorises. Kept out of
  // the OpenMP region (whose outlining drops the restrict qualifiers).
  template <typename Mask, bool kPerSequence, bool kWithKl>
  __attribute__((noinline)) static SequenceSums SequenceLoss(float* __restrict grad, const float* __restrict logp,
                                                             const float* __restrict old_logp,
                                                             const float* __restrict ref_logp,
                                                             const float* __restrict advantages,
                                                             const Mask* __restrict mask, size_t n, float w,
                                                             const LossOptions& o) {
    const float clip_low = o.clip_low, clip_high = o.clip_high, dual_clip = o.dual_clip, kl_coef = o.kl_coef;
    const bool use_dual_clip = o.use_dual_clip;
    const KlType kl_type = o.kl_type;
    const float seq_adv = kPerSequence ? advantages[0] : 0.0f;
    // Chunks of kChunk tokens: a branch-free elementwise loop (vectorised by
    // the compiler) writes the gradient and per-token terms to small local
    // arrays, then a float64 simd reduction sums them.
    constexpr size_t kChunk = 256;
    float loss_t[kChunk], kl_t[kChunk], clip_t[kChunk], lower_t[kChunk], probe_t[kChunk];
    double loss = 0, kl = 0, clipped = 0, lower = 0, probe = 0;
    for (size_t start = 0; start < n; start += kChunk) {
      const size_t len = n - start < kChunk ? n - start : kChunk;
      float* __restrict g = grad + start;
      for (size_t t = 0; t < len; ++t) {
        const size_t u = start + t;
        const float adv = kPerSequence ? seq_adv : advantages[u];
        const float lp = logp[u], old = old_logp[u];
        const float m = mask[u] != 0 ? 1.0f : 0.0f;
        float p = lp * 0.0f + old * 0.0f + adv * 0.0f;
        TokenLoss tl = ClippedTokenLoss(lp, old, adv, clip_low, clip_high, use_dual_clip, dual_clip);
        if (kWithKl) {
          const float ref = ref_logp[u];
          p += ref * 0.0f;
          float kv, kg;
          KlPenalty(lp, ref, kl_type, &kv, &kg);
          tl.loss += kl_coef * kv;
          tl.grad += kl_coef * kg;
        }
        g[t] = m != 0.0f ? tl.grad * w : 0.0f;
        loss_t[t] = m != 0.0f ? tl.loss : 0.0f;
        kl_t[t] = m != 0.0f ? old - lp : 0.0f;
        clip_t[t] = tl.clipped ? m : 0.0f;
        lower_t[t] = tl.dual_clipped ? m : 0.0f;
        probe_t[t] = p;
      }
#pragma omp simd reduction(+ : loss, kl, clipped, lower, probe)
      for (size_t t = 0; t < len; ++t) {
        loss += static_cast<double>(loss_t[t]);
        kl += static_cast<double>(kl_t[t]);
        clipped += static_cast<double>(clip_t[t]);
        lower += static_cast<double>(lower_t[t]);
        probe += static_cast<double>(probe_t[t]);
      }
    }
    return SequenceSums{loss, kl, clipped, lower, probe};
  }

  template <typename Mask>
  static LossResult PolicyLossImpl(float* grad, const LossInput& in, const Mask* mask, const LossOptions& o) {
    const bool with_kl = o.kl_coef > 0 && in.ref_logp != nullptr;
    if (in.advantages_per_sequence) {
      return with_kl ? PolicyLossLoop<Mask, true, true>(grad, in, mask, o) : PolicyLossLoop<Mask, true, false>(grad, in, mask, o);
    }
    return with_kl ? PolicyLossLoop<Mask, false, true>(grad, in, mask, o) : PolicyLossLoop<Mask, false, false>(grad, in, mask, o);
  }

  // Two passes, parallel over sequences: (1) mask counts per sequence, which
  // fix the aggregation weights; (2) the per-token loss and gradient, a
  // branch-free loop the compiler vectorises. loss = sum_t m_t l_t w(seq(t)).
  template <typename Mask, bool kPerSequence, bool kWithKl>
  static LossResult PolicyLossLoop(float* grad, const LossInput& in, const Mask* mask, const LossOptions& o) {
    const size_t T = in.tokens, B = in.sequences;
    CheckSeqOffsets(in.seq_offsets, B, T, "seqOffsets");
    const int32_t* off = in.seq_offsets;
    const int threads = CpuThreads();
    const bool parallel = T > 32768;

    std::vector<uint32_t> seq_mask(B, 0);
    size_t longest = 0;
    int bad_mask = 0;
#pragma omp parallel for num_threads(threads) schedule(dynamic, 256) reduction(max : longest, bad_mask) if (parallel)
    for (size_t b = 0; b < B; ++b) {
      uint32_t count = 0;
      int bad = 0;
      const size_t begin = static_cast<size_t>(off[b]), end = static_cast<size_t>(off[b + 1]);
#pragma omp simd reduction(+ : count) reduction(| : bad)
      for (size_t t = begin; t < end; ++t) {
        count += mask[t] == 1;
        bad |= mask[t] != 0 && mask[t] != 1;
      }
      seq_mask[b] = count;
      bad_mask = std::max(bad_mask, bad);
      longest = std::max(longest, end - begin);
    }
    if (bad_mask) {
      for (size_t t = 0; t < T; ++t)
        if (mask[t] != 0 && mask[t] != 1) Fail("E_ARG", "mask[", t, "] must be 0 or 1, got ", +mask[t]);
    }
    const LossPrologue prologue = MakeLossPrologue(seq_mask.data(), B, longest, o.agg, o.norm_denominator);
    const double total_mask = prologue.total_mask;
    const AggWeights weights = prologue.weights;

    double loss = 0, kl_sum = 0, clipped = 0, lower = 0;
    int nonfinite = 0;
#pragma omp parallel for num_threads(threads) schedule(dynamic, 64) reduction(+ : loss, clipped, lower, kl_sum) reduction(max : nonfinite) if (parallel)
    for (size_t b = 0; b < B; ++b) {
      const float w = static_cast<float>(SequenceWeight(o.agg, weights, seq_mask[b]));
      const size_t begin = static_cast<size_t>(off[b]), end = static_cast<size_t>(off[b + 1]);
      if (end == begin) continue;
      SequenceSums sums = SequenceLoss<Mask, kPerSequence, kWithKl>(
          grad + begin, in.logp + begin, in.old_logp + begin, kWithKl ? in.ref_logp + begin : nullptr,
          kPerSequence ? in.advantages + b : in.advantages + begin, mask + begin, end - begin, w, o);
      loss += sums.loss * static_cast<double>(w);
      kl_sum += sums.kl;
      clipped += sums.clipped;
      lower += sums.lower;
      nonfinite = std::max(nonfinite, sums.probe != sums.probe ? 1 : 0);
    }
    if (nonfinite) ReportNonFinite(in, kWithKl);
    LossResult r;
    r.loss = loss;
    if (total_mask > 0) {
      r.clip_frac = clipped / total_mask;
      r.clip_frac_lower = lower / total_mask;
      r.approx_kl = kl_sum / total_mask;
    }
    return r;
  }

  [[noreturn]] static void ReportNonFinite(const LossInput& in, bool with_kl) {
    const size_t adv_count = in.advantages_per_sequence ? in.sequences : in.tokens;
    CheckFinite(in.logp, in.tokens, "logp");
    CheckFinite(in.old_logp, in.tokens, "oldLogp");
    CheckFinite(in.advantages, adv_count, "advantages");
    if (with_kl) CheckFinite(in.ref_logp, in.tokens, "refLogp");
    Fail("E_INTERNAL", "policyLoss found a non-finite input but could not locate it");
  }
};

}  // namespace

ScoringKernels& CpuScoring() {
  static CpuScoringKernels kernels;
  return kernels;
}

}  // namespace pv
