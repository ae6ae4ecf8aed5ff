// CPU backend of the trajectory scoring kernels (semantics.md sections 1-5).
#include <algorithm>
#include <functional>
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#if defined(__AVX512F__)
#include <immintrin.h>
#endif

#include "core/device.h"
#include "core/loss_math.h"
#include "core/scoring.h"
#include "core/scoring_stats.h"

namespace pv {
namespace {

constexpr uint64_t kEmptySlot = ~uint64_t(0);  // dense id UINT32_MAX: never assigned

// An open-addressing table from group id to dense id: key and dense id packed
// in one 64-bit slot, eight slots to a bucket of one cache line, the bucket
// chosen by the high bits of a multiplicative hash (ids that are multiples of
// a power of two do not collide) and searched at once (AVX-512: one compare of
// the eight keys, one of the eight slots against empty), the next bucket only
// when this one is full, grown to keep the load at most 1/2 (so a search
// nearly always ends in its first bucket, without a data-dependent branch).
class IdTable {
 public:
  // Movable (the buffer, and base_ into it, move together), not copyable (a copy's base_ would
  // point into the original's buffer).
  IdTable() = default;
  IdTable(const IdTable&) = delete;
  IdTable& operator=(const IdTable&) = delete;
  IdTable(IdTable&&) noexcept = default;
  IdTable& operator=(IdTable&&) noexcept = default;

  // Empties the table for at most `max_keys` keys, at the size the previous use ended with
  // (a trainer's batches are alike: growing from 1024 slots again cost a rehash per doubling,
  // during which the lookups' prefetches point at the old slots), but no larger than
  // max_keys needs. The size changes no dense id: they follow the order of first appearance.
  void Reset(size_t max_keys) {
    int need = kMinBits;
    while (need < 31 && (size_t(1) << need) < 2 * max_keys) ++need;
    bits_ = std::min(std::max(bits_, kMinBits), need);
    base_ = Allocate(storage_, bits_);
    count_ = 0;
  }
  // The bucket `key` hashes to, for prefetching.
  const uint64_t* Home(int32_t key) const { return base_ + BucketOf(key, bits_) * kBucket; }
  // The dense id of `key`, inserting it with `next_id` when absent (then *inserted = true).
  uint32_t Find(int32_t key, uint32_t next_id, bool* inserted) {
    const size_t mask = (size_t(1) << (bits_ - kBucketBits)) - 1;
    size_t b = BucketOf(key, bits_);
    for (;;) {
      uint64_t* bucket = base_ + b * kBucket;
      uint32_t match, empty;
      Probe(bucket, key, &match, &empty);
      if (match != 0) {
        *inserted = false;
        return static_cast<uint32_t>(bucket[__builtin_ctz(match)]);
      }
      if (empty != 0) {  // no deletions: a key is never stored past an empty slot of its bucket chain
        bucket[__builtin_ctz(empty)] = (static_cast<uint64_t>(static_cast<uint32_t>(key)) << 32) | next_id;
        *inserted = true;
        if (++count_ * 2 > (size_t(1) << bits_)) Grow();
        return next_id;
      }
      b = (b + 1) & mask;
    }
  }

 private:
  static constexpr int kBucketBits = 3;
  static constexpr size_t kBucket = size_t(1) << kBucketBits;  // slots per bucket: 64 bytes
  static constexpr int kMinBits = 10;
  static size_t BucketOf(int32_t key, int bits) {
    return static_cast<size_t>((static_cast<uint64_t>(static_cast<uint32_t>(key)) * 0x9E3779B97F4A7C15ull) >>
                               (64 - (bits - kBucketBits)));
  }
  // Bit j of *match: slot j holds `key`; of *empty: slot j is empty.
  static void Probe(const uint64_t* bucket, int32_t key, uint32_t* match, uint32_t* empty) {
#if defined(__AVX512F__)
    const __m512i v = _mm512_load_si512(bucket);
    const __mmask8 e = _mm512_cmpeq_epi64_mask(v, _mm512_set1_epi64(-1));
    const __m512i key_bits = _mm512_and_si512(v, _mm512_set1_epi64(static_cast<int64_t>(0xFFFFFFFF00000000ull)));
    const __mmask8 m = _mm512_cmpeq_epi64_mask(
        key_bits, _mm512_set1_epi64(static_cast<int64_t>(static_cast<uint64_t>(static_cast<uint32_t>(key)) << 32)));
    *match = static_cast<uint32_t>(m & ~e);  // an empty slot's key bits read as id -1
    *empty = static_cast<uint32_t>(e);
#else
    uint32_t m = 0, e = 0;
    for (size_t j = 0; j < kBucket; ++j) {
      const uint32_t is_empty = bucket[j] == kEmptySlot ? 1u : 0u;
      e |= is_empty << j;
      const uint32_t same = static_cast<int32_t>(static_cast<uint32_t>(bucket[j] >> 32)) == key ? 1u : 0u;
      m |= ((is_empty ^ 1u) & same) << j;
    }
    *match = m;
    *empty = e;
#endif
  }
  // `storage` sized for 2^bits empty slots, and its first cache-line-aligned slot.
  static uint64_t* Allocate(std::vector<uint64_t>& storage, int bits) {
    storage.assign((size_t(1) << bits) + kBucket, kEmptySlot);
    uint64_t* p = storage.data();
    while (reinterpret_cast<uintptr_t>(p) % (kBucket * sizeof(uint64_t)) != 0) ++p;
    return p;
  }
  void Grow() {
    const size_t old_slots = size_t(1) << bits_;
    uint64_t* bigger = Allocate(spare_, bits_ + 1);  // spare_ keeps its capacity across calls: no fresh pages
    const size_t mask = (size_t(1) << (bits_ + 1 - kBucketBits)) - 1;
    for (size_t j = 0; j < old_slots; ++j) {
      const uint64_t entry = base_[j];
      if (entry == kEmptySlot) continue;
      size_t b = BucketOf(static_cast<int32_t>(static_cast<uint32_t>(entry >> 32)), bits_ + 1);
      for (;;) {
        uint64_t* bucket = bigger + b * kBucket;
        uint32_t match, empty;
        Probe(bucket, 0, &match, &empty);  // only `empty` is read: the first empty slot
        if (empty != 0) {
          bucket[__builtin_ctz(empty)] = entry;
          break;
        }
        b = (b + 1) & mask;
      }
    }
    storage_.swap(spare_);
    base_ = bigger;
    ++bits_;
  }
  std::vector<uint64_t> storage_, spare_;
  uint64_t* base_ = nullptr;
  int bits_ = kMinBits;
  size_t count_ = 0;
};

// Maps arbitrary int32 group ids to dense ids 0..G-1 and lays every group out
// as one contiguous span of rewards, so that the group statistics always run
// over spans, whatever the order of the trajectories (the statistics are
// functions of a group's reward multiset, core/scoring_stats.h, so neither the
// numbering of the groups nor the order of the members within a span changes
// a bit of the results):
//   * ids that never decrease (sorted; the usual layout puts a group's samples
//     together under increasing prompt ids): every run of equal ids is a group,
//     read in place, and no lookup is needed;
//   * ids within a range of at most N values (prompt numbers, in any order):
//     direct addressing by id - min (DenseGroups), dense ids in ascending id
//     order, then the same in-place test and counting sort as below;
//   * otherwise each of T consecutive chunks of trajectories is hashed on its
//     own thread into its own IdTable (one chunk when the ids change at most
//     positions, see BuildGroupIndex; the bucket of the trajectory 32 ahead
//     prefetched: a shuffled batch makes every lookup a cache miss otherwise;
//     a repeated id reuses the previous trajectory's answer), giving local ids
//     in order of first appearance within the chunk; the chunks' distinct ids
//     are then merged in chunk order, which gives exactly the dense ids of one
//     sequential pass, whatever T. When every group turned out to be one run,
//     the groups are read in place as above; else a counting sort by dense id
//     gathers the rewards group after group (ascending index within a group):
//     counts per chunk, each trajectory's slot, then the rewards moved to their
//     slots (the slot and the store in separate passes: a store whose address
//     depends on a just-incremented counter serialises the cache misses).
// No allocation per group; the buffers are reused across calls.
struct GroupIndex {
  size_t groups = 0;               // G
  bool gathered = false;           // false: group g is input[begin[g], begin[g + 1]); true: rewards[begin[g], ...)
  std::vector<uint32_t> begin;     // [G + 1]
  std::vector<uint32_t> group_of;  // [N] dense group of each trajectory (hashed layouts)
  std::vector<float> rewards;      // [N] the rewards gathered group by group (gathered layout only)
  std::vector<uint32_t> slot;      // [N] scratch: each trajectory's slot in `rewards`
  std::vector<uint32_t> cursor;    // [T][G] scratch: per chunk, member counts, then next slots ([T][range] for dense ids)
  std::vector<uint32_t> dense;     // [range] scratch (dense ids): the group of each id value
  std::vector<IdTable> tables;     // [T] scratch
  std::vector<std::vector<int32_t>> chunk_keys;  // [T] the distinct ids of each chunk, by local id (first key_count[t])
  std::vector<size_t> key_count;                 // [T] distinct ids of each chunk
  std::vector<std::vector<uint32_t>> remap;      // [T] local id -> dense id (chunks after the first)
  bool reusable = false;           // the index was built from `ids`, for the rewards `ids_rewards`
  uint64_t version = 0;            // changes with the ids or the rewards (0: never built)
  std::vector<int32_t> ids;        // [N] copy of the ids of the last build
  std::vector<float> ids_rewards;  // [N] copy of the rewards of the last call
};

// The index and statistics buffers of the calling (compute) thread, shared by
// groupAdvantages and selectRollouts and reused across calls (large batches
// otherwise pay page faults on every call).
GroupIndex& IndexScratch() {
  thread_local GroupIndex index;
  return index;
}

// Threads for a pass over n trajectories.
inline int ThreadsFor(size_t n) { return n > 65536 ? CpuThreads() : 1; }

// gathered[slot[i]] = rewards[i] for i in [begin, end): stores to random slots of the gathered
// rewards, each slot's cache line fetched (for writing) kAhead trajectories before its store, so
// that the misses overlap instead of filling the store buffer one after the other.
inline void ScatterRewards(float* gathered, const uint32_t* slot, const float* rewards, size_t begin, size_t end) {
  constexpr size_t kAhead = 64;
  for (size_t i = begin; i < end; ++i) {
    if (i + kAhead < end) __builtin_prefetch(gathered + slot[i + kAhead], 1);
    gathered[slot[i]] = rewards[i];
  }
}

// Run starts of a sequence of n ids with `runs` runs: begin[r] for r = 0..R.
void RunStarts(std::vector<uint32_t>& begin, const int32_t* groups, size_t n, size_t runs) {
  begin.resize(runs + 1);
  uint32_t* out = begin.data();
  size_t r = 0;
  if (n > 0) out[r++] = 0;
  for (size_t i = 1; i < n; ++i) {
    out[r] = static_cast<uint32_t>(i);
    r += groups[i] != groups[i - 1] ? 1 : 0;
  }
  out[runs] = static_cast<uint32_t>(n);
}

// Dense ids (max - min < n): each id's group is found by direct addressing
// instead of a hash lookup. Counts per chunk and id value (the tables of T
// chunks side by side, kept in L2 for the usual range of about n / 8 ids),
// then one sequential pass over the values numbers the present ones in
// ascending order and gives each (chunk, value) its first slot, then each
// trajectory's group and slot, then the rewards moved to their slots.
void DenseGroups(GroupIndex& x, const float* rewards, const int32_t* groups, size_t n, size_t runs, int32_t lo,
                 size_t range) {
  const int threads = ThreadsFor(n);
  const size_t T = static_cast<size_t>(threads);
  auto chunk_begin = [n, T](size_t t) { return n * t / T; };
  x.cursor.assign(T * range, 0);
  x.dense.resize(range);
  uint32_t* cursor = x.cursor.data();
  uint32_t* dense = x.dense.data();
  const uint32_t base = static_cast<uint32_t>(lo);
  // Value of trajectory i: groups[i] - lo in [0, range), computed modulo 2^32 (no signed overflow).
#pragma omp parallel for num_threads(threads) schedule(static, 1) if (threads > 1)
  for (size_t t = 0; t < T; ++t) {
    uint32_t* count = cursor + t * range;
    const size_t end = chunk_begin(t + 1);
    for (size_t i = chunk_begin(t); i < end; ++i) ++count[static_cast<uint32_t>(groups[i]) - base];
  }
  size_t G = 0;
  for (size_t v = 0; v < range; ++v) {
    uint32_t members = 0;
    for (size_t t = 0; t < T; ++t) members += cursor[t * range + v];
    dense[v] = static_cast<uint32_t>(G);
    G += members != 0 ? 1 : 0;
  }
  x.groups = G;
  if (G == runs) {
    // Every group is one run (adjacent, ids not sorted).
    RunStarts(x.begin, groups, n, runs);
    return;
  }
  x.gathered = true;
  x.begin.resize(G + 1);
  x.group_of.resize(n);
  x.slot.resize(n);
  x.rewards.resize(n);
  uint32_t* begin = x.begin.data();
  uint32_t* group_of = x.group_of.data();
  uint32_t* slot = x.slot.data();
  float* gathered = x.rewards.data();
  uint32_t total = 0;
  for (size_t v = 0; v < range; ++v) {
    uint32_t members = 0;
    for (size_t t = 0; t < T; ++t) members += cursor[t * range + v];
    if (members == 0) continue;
    begin[dense[v]] = total;
    for (size_t t = 0; t < T; ++t) {
      const uint32_t c = cursor[t * range + v];
      cursor[t * range + v] = total;
      total += c;
    }
  }
  begin[G] = total;
#pragma omp parallel num_threads(threads) if (threads > 1)
  {
#pragma omp for schedule(static, 1)
    for (size_t t = 0; t < T; ++t) {
      uint32_t* next = cursor + t * range;
      const size_t end = chunk_begin(t + 1);
      for (size_t i = chunk_begin(t); i < end; ++i) {
        const uint32_t v = static_cast<uint32_t>(groups[i]) - base;
        group_of[i] = dense[v];
        slot[i] = next[v]++;
      }
    }
#pragma omp for schedule(static, 1)
    for (size_t t = 0; t < T; ++t) ScatterRewards(gathered, slot, rewards, chunk_begin(t), chunk_begin(t + 1));
  }
}

// Builds the index of `groups`; returns false for ids that never decrease
// (then the index is one scan, cheaper than comparing with a cached copy).
bool BuildGroupIndex(GroupIndex& x, const float* rewards, const int32_t* groups, size_t n) {
  x.gathered = false;
  size_t runs = n > 0 ? 1 : 0;
  uint32_t increasing = 1;
  int32_t lo = n > 0 ? groups[0] : 0, hi = lo;
  for (size_t i = 1; i < n; ++i) {
    runs += groups[i] != groups[i - 1] ? 1 : 0;
    increasing &= groups[i] >= groups[i - 1] ? 1u : 0u;
    lo = groups[i] < lo ? groups[i] : lo;
    hi = groups[i] > hi ? groups[i] : hi;
  }
  if (increasing) {
    RunStarts(x.begin, groups, n, runs);
    x.groups = runs;
    return false;
  }
  const size_t range = static_cast<size_t>(static_cast<int64_t>(hi) - static_cast<int64_t>(lo)) + 1;
  if (range <= n) {
    DenseGroups(x, rewards, groups, n, runs, lo, range);
    return true;
  }

  const int threads = ThreadsFor(n);
  const size_t T = static_cast<size_t>(threads);
  auto chunk_begin = [n, T](size_t t) { return n * t / T; };
  // Chunks of the hashing pass: one per thread when a group's members mostly sit together (a
  // chunk's table then holds about its own share of the ids), one for a batch whose ids change
  // at most positions (shuffled groups: every chunk meets nearly every id, so T threads would
  // each build a table of all of them and then merge them, slower than one thread building one;
  // the README's Benchmarks section has the measurements).
  const size_t TH = runs * 2 > n ? 1 : T;
  auto hash_begin = [n, TH](size_t t) { return n * t / TH; };
  x.group_of.resize(n);
  x.tables.resize(TH);
  x.chunk_keys.resize(TH);
  x.remap.resize(TH);
  x.key_count.resize(TH);
  uint32_t* group_of = x.group_of.data();
  IdTable* tables = x.tables.data();
  std::vector<int32_t>* chunk_keys = x.chunk_keys.data();
  constexpr size_t kAhead = 32;
  size_t* key_count = x.key_count.data();
  for (size_t t = 0; t < TH; ++t) {  // sized here, outside the parallel region
    const size_t keys = hash_begin(t + 1) - hash_begin(t);
    tables[t].Reset(keys);
    if (chunk_keys[t].size() < keys) chunk_keys[t].resize(keys);  // only grows: no refill per call
  }
#pragma omp parallel for num_threads(static_cast<int>(TH)) schedule(static, 1) if (TH > 1)
  for (size_t t = 0; t < TH; ++t) {
    // The chunk's table and key list on this thread's stack while it works (moved, no copy):
    // the objects of neighbouring chunks share cache lines, and an insert writes to them.
    IdTable table = std::move(tables[t]);
    std::vector<int32_t> keys = std::move(chunk_keys[t]);
    const size_t begin = hash_begin(t), end = hash_begin(t + 1);
    int32_t* out = keys.data();
    size_t count = 0;
    for (size_t i = begin; i < end; ++i) {
      const int32_t key = groups[i];
      if (i + kAhead < end) __builtin_prefetch(table.Home(groups[i + kAhead]));
      if (i > begin && key == groups[i - 1]) {
        group_of[i] = group_of[i - 1];
        continue;
      }
      bool inserted;
      group_of[i] = table.Find(key, static_cast<uint32_t>(count), &inserted);
      out[count] = key;  // kept only when new: no branch on the unpredictable insert
      count += inserted ? 1 : 0;
    }
    key_count[t] = count;
    tables[t] = std::move(table);
    chunk_keys[t] = std::move(keys);
  }
  // Merge: chunk 0's local ids are dense ids; each later chunk's distinct ids
  // are looked up (or added) in chunk 0's table, in order.
  IdTable& merged = tables[0];
  size_t G = key_count[0];
  for (size_t t = 1; t < TH; ++t) {
    std::vector<uint32_t>& remap = x.remap[t];
    remap.resize(key_count[t]);
    for (size_t l = 0; l < remap.size(); ++l) {
      bool inserted;
      remap[l] = merged.Find(chunk_keys[t][l], static_cast<uint32_t>(G), &inserted);
      G += inserted ? 1 : 0;
    }
  }
  x.groups = G;
  if (G == runs) {
    // Every group is one run (adjacent, ids not sorted): dense ids are in run order.
    RunStarts(x.begin, groups, n, runs);
    return true;
  }
  x.gathered = true;
  x.cursor.assign(T * G, 0);
  x.begin.resize(G + 1);
  x.slot.resize(n);
  x.rewards.resize(n);
  uint32_t* cursor = x.cursor.data();
  uint32_t* begin = x.begin.data();
  uint32_t* slot = x.slot.data();
  float* gathered = x.rewards.data();
  std::vector<uint32_t>* remaps = x.remap.data();
#pragma omp parallel for num_threads(threads) schedule(static, 1) if (threads > 1)
  for (size_t t = 0; t < T; ++t) {
    uint32_t* count = cursor + t * G;
    const size_t end = chunk_begin(t + 1);
    if (t > 0 && TH > 1) {  // the hashing pass had these chunks (TH == T)
      const uint32_t* remap = remaps[t].data();
      for (size_t i = chunk_begin(t); i < end; ++i) group_of[i] = remap[group_of[i]];
    }
    for (size_t i = chunk_begin(t); i < end; ++i) ++count[group_of[i]];
  }
  uint32_t total = 0;
  for (size_t g = 0; g < G; ++g) {
    begin[g] = total;
    for (size_t t = 0; t < T; ++t) {
      const uint32_t c = cursor[t * G + g];
      cursor[t * G + g] = total;
      total += c;
    }
  }
  begin[G] = total;
#pragma omp parallel num_threads(threads) if (threads > 1)
  {
#pragma omp for schedule(static, 1)
    for (size_t t = 0; t < T; ++t) {
      uint32_t* next = cursor + t * G;
      const size_t end = chunk_begin(t + 1);
      for (size_t i = chunk_begin(t); i < end; ++i) slot[i] = next[group_of[i]]++;
    }
#pragma omp for schedule(static, 1)
    for (size_t t = 0; t < T; ++t) ScatterRewards(gathered, slot, rewards, chunk_begin(t), chunk_begin(t + 1));
  }
  return true;
}

// The index of `groups` in `x`, reusing the previous call's when the ids are
// the same (groupAdvantages then selectRollouts on one batch): the index is a
// function of the ids alone, and the gathered rewards of the ids and the
// rewards, so a reused index is bit for bit the one a new build gives. The
// comparison with the kept copies costs two sequential reads, the build of a
// shuffled batch several random accesses per trajectory.
void IndexGroups(GroupIndex& x, const float* rewards, const int32_t* groups, size_t n) {
  if (x.reusable && x.ids.size() == n && n > 0 && std::memcmp(groups, x.ids.data(), n * sizeof(int32_t)) == 0) {
    if (std::memcmp(rewards, x.ids_rewards.data(), n * sizeof(float)) != 0) {
      ++x.version;  // statistics of the old rewards are stale
      std::memcpy(x.ids_rewards.data(), rewards, n * sizeof(float));
      if (x.gathered) {
        const uint32_t* slot = x.slot.data();
        float* gathered = x.rewards.data();
        const int threads = ThreadsFor(n);
        const size_t T = static_cast<size_t>(threads);
#pragma omp parallel for num_threads(threads) schedule(static, 1) if (threads > 1)
        for (size_t t = 0; t < T; ++t) ScatterRewards(gathered, slot, rewards, n * t / T, n * (t + 1) / T);
      }
    }
    return;
  }
  ++x.version;
  x.reusable = false;  // not reusable while half built (an allocation may throw)
  const bool reusable = BuildGroupIndex(x, rewards, groups, n);
  if (reusable) {
    x.ids.assign(groups, groups + n);
    x.ids_rewards.assign(rewards, rewards + n);
  }
  x.reusable = reusable;
}

// The 64-bit variant of ExactGroupMoments' second pass (core/scoring_stats.h):
// when every k_i < 2^b with 2b + ceil(log2 n) <= 64, sum k_i^2 fits in 64 bits
// and the same integer comes out of plain 64-bit arithmetic.
inline bool SquaresFit64(const GroupScan& scan) {
  const uint32_t b = scan.max_unit + 24u - scan.min_unit;
  const uint32_t log_n = scan.n > 1 ? 64u - static_cast<uint32_t>(__builtin_clzll(scan.n - 1)) : 0u;
  return 2u * b + log_n <= 64u;
}

inline void ExactGroupMoments64(const GroupScan& scan, const float* values, double* mean, double* stdev) {
  const size_t n = scan.n;
  *mean = scan.sum / static_cast<double>(n);
  const uint32_t min_unit = scan.min_unit;
  uint64_t sum_k2 = 0;
  for (size_t j = 0; j < n; ++j) {
    const uint32_t bits = FloatBits(values[j]);
    const uint32_t e = (bits >> 23) & 0xffu;
    const uint64_t sig = (bits & 0x7fffffu) | (e != 0u ? 0x800000u : 0u);
    const uint32_t unit = UnitField(bits);
    const uint64_t k = sig << (unit > min_unit ? unit - min_unit : 0u);  // 0 for a zero
    sum_k2 += k * k;
  }
  const int unit_exp = static_cast<int>(min_unit) - 150;
  const double sum_k = scan.sum * PowerOfTwo(-unit_exp);  // exact: a power of two, |sum k| < 2^52
  const uint64_t abs_sum = static_cast<uint64_t>(sum_k < 0 ? -sum_k : sum_k);
  const U128 n_sum_k2 = MulWide(sum_k2, static_cast<uint64_t>(n));
  const U128 m2 = SubWide(n_sum_k2, MulWide(abs_sum, abs_sum));
  const double var_units = WideToDouble(m2) / (static_cast<double>(n) * static_cast<double>(n - 1));
  *stdev = std::sqrt(var_units) * PowerOfTwo(unit_exp);
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
    if (n >= 2 && scan.min_unit != kAllZero && SquaresFit64(scan)) {
      ExactGroupMoments64(scan, values, mean, stdev);
      return;
    }
    ExactGroupMoments(scan, [values](size_t j) { return values[j]; }, mean, stdev);
    return;
  }
  sorted.assign(values, values + n);
  std::sort(sorted.begin(), sorted.end());
  const float* v = sorted.data();
  TwoPassGroupMoments(n, [v](size_t j) { return v[j]; }, mean, stdev);
}

// Per-thread scratch of GroupMoments' fallback.
std::vector<float>& SortScratch() {
  thread_local std::vector<float> scratch;
  return scratch;
}

// Group statistics in float64 (core/scoring_stats.h), with the min and max
// reward of each group for the zero-variance test, over the spans of `index`.
struct GroupStats {
  std::vector<double> mean;   // [G]
  std::vector<double> std;    // [G] unbiased; 0 for singletons
  std::vector<float> lo, hi;  // [G] min and max reward
  uint64_t version = 0;       // the reusable index version they were computed for (0: none)
};

GroupStats& StatsScratch() {
  thread_local GroupStats stats;
  return stats;
}

// The statistics of `index` into `s`, unless `s` already holds them (computed
// by groupAdvantages for the same ids and rewards: the same bits).
void ComputeGroupStats(GroupStats& s, const GroupIndex& index, const float* rewards, size_t n) {
  if (index.reusable && s.version == index.version) return;
  s.version = 0;
  const size_t G = index.groups;
  s.mean.resize(G);
  s.std.resize(G);
  s.lo.resize(G);
  s.hi.resize(G);
  // Plain pointers for the parallel region.
  double* mean_out = s.mean.data();
  double* std_out = s.std.data();
  float* lo_out = s.lo.data();
  float* hi_out = s.hi.data();
  const float* base = index.gathered ? index.rewards.data() : rewards;
  const uint32_t* begin = index.begin.data();
#pragma omp parallel num_threads(ThreadsFor(n)) if (n > 65536)
  {
    std::vector<float>& sorted = SortScratch();
#pragma omp for schedule(static)
    for (size_t g = 0; g < G; ++g)
      GroupMoments(base + begin[g], begin[g + 1] - begin[g], &mean_out[g], &std_out[g], &lo_out[g], &hi_out[g], sorted);
  }
  if (index.reusable) s.version = index.version;
}

// Where groupAdvantages leaves the statistics it computes, for a
// selectRollouts on the same batch (only for a reusable index).
struct StatsSink {
  double *mean = nullptr, *stdev = nullptr;
  float *lo = nullptr, *hi = nullptr;
  void Put(size_t g, double m, double s, float l, float h) const {
    if (mean == nullptr) return;
    mean[g] = m;
    stdev[g] = s;
    lo[g] = l;
    hi[g] = h;
  }
};

StatsSink OpenStatsSink(GroupStats& s, const GroupIndex& index) {
  s.version = 0;
  if (!index.reusable) return {};
  const size_t G = index.groups;
  s.mean.resize(G);
  s.std.resize(G);
  s.lo.resize(G);
  s.hi.resize(G);
  return StatsSink{s.mean.data(), s.std.data(), s.lo.data(), s.hi.data()};
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
    GroupIndex& index = IndexScratch();
    IndexGroups(index, rewards, groups, n);
    CheckFinite(rewards, n, "rewards");
    const bool scaled = scale == AdvantageScale::kGroupStd;
    const double eps_d = static_cast<double>(eps);
    auto write = [=](size_t i, double mean, double stdev, bool single, float mean_f, float std_f) {
      const double centered = static_cast<double>(rewards[i]) - mean;
      const double a = single ? 0.0 : (scaled ? centered / (stdev + eps_d) : centered);
      advantages[i] = static_cast<float>(a);
      group_mean[i] = mean_f;
      group_std[i] = std_f;
    };
    const size_t G = index.groups;
    const uint32_t* begin = index.begin.data();
    GroupStats& stats = StatsScratch();
    const StatsSink sink = OpenStatsSink(stats, index);
    if (!index.gathered) {
      // Every group one contiguous span of the input: statistics and outputs
      // in one parallel visit of each group, which is still in cache.
#pragma omp parallel num_threads(ThreadsFor(n)) if (n > 65536)
      {
        std::vector<float>& sorted = SortScratch();
#pragma omp for schedule(static)
        for (size_t g = 0; g < G; ++g) {
          const size_t b = begin[g], e = begin[g + 1];
          double mean, stdev;
          float lo, hi;
          GroupMoments(rewards + b, e - b, &mean, &stdev, &lo, &hi, sorted);
          sink.Put(g, mean, stdev, lo, hi);
          const float mean_f = static_cast<float>(mean), std_f = static_cast<float>(stdev);
          for (size_t i = b; i < e; ++i) write(i, mean, stdev, e - b == 1, mean_f, std_f);
        }
      }
      if (index.reusable) stats.version = index.version;
      return;
    }
    // Gathered: the statistics of each group into one 16-byte record (the
    // elementwise pass below reads its group's at random: G records stay in
    // L2 for groups of 8 up to a million trajectories), then the outputs
    // elementwise (which also spreads the first-touch page faults of the fresh
    // output arrays over the cores). A singleton's record has std -0.0 (no
    // other group's std is negative zero): its advantage is 0 whatever eps.
    struct GroupRecord {
      double mean, stdev;
    };
    thread_local std::vector<GroupRecord> records_buffer;
    records_buffer.resize(G);
    GroupRecord* records = records_buffer.data();
    const float* gathered = index.rewards.data();
#pragma omp parallel num_threads(ThreadsFor(n)) if (n > 65536)
    {
      std::vector<float>& sorted = SortScratch();
#pragma omp for schedule(static)
      for (size_t g = 0; g < G; ++g) {
        const size_t b = begin[g], e = begin[g + 1];
        double mean, stdev;
        float lo, hi;
        GroupMoments(gathered + b, e - b, &mean, &stdev, &lo, &hi, sorted);
        sink.Put(g, mean, stdev, lo, hi);
        records[g] = GroupRecord{mean, e - b == 1 ? -0.0 : stdev};
      }
    }
    if (index.reusable) stats.version = index.version;
    const uint32_t* group_of = index.group_of.data();
#pragma omp parallel for num_threads(ThreadsFor(n)) schedule(static) if (n > 65536)
    for (size_t i = 0; i < n; ++i) {
      if (i + 32 < n) __builtin_prefetch(records + group_of[i + 32]);  // the records are read at random
      const GroupRecord r = records[group_of[i]];
      const bool single = std::signbit(r.stdev);
      const double stdev = std::fabs(r.stdev);
      write(i, r.mean, stdev, single, static_cast<float>(r.mean), static_cast<float>(stdev));
    }
  }

  SelectResult SelectRollouts(const float* rewards, const int32_t* groups, const uint8_t* end_reasons,
                              const int32_t* tool_images, const int32_t* lengths, size_t n,
                              const SelectOptions& options) override {
    ValidateSelectInputs(rewards, end_reasons, tool_images, lengths, n);
    GroupIndex& index = IndexScratch();
    GroupStats& s = StatsScratch();
    IndexGroups(index, rewards, groups, n);
    CheckFinite(rewards, n, "rewards");
    ComputeGroupStats(s, index, rewards, n);
    const size_t G = index.groups;
    const uint32_t* begin = index.begin.data();
    const uint32_t* group_of = index.group_of.data();
    const bool gathered = index.gathered;

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
    const float* lo = s.lo.data();
    const float* hi = s.hi.data();
    // Gathered layout: one byte per group says whether it has zero variance
    // (G bytes stay in cache where the per-trajectory lookups of lo and hi
    // would miss it).
    thread_local std::vector<uint8_t> flat_buffer;
    const uint8_t* flat = nullptr;
    if (gathered) {
      flat_buffer.resize(G);
      uint8_t* out = flat_buffer.data();
      for (size_t g = 0; g < G; ++g) out[g] = hi[g] == lo[g] ? 1 : 0;
      flat = out;
    }

    // Chunks of trajectories (of whole groups when they are spans of the
    // input), filtered in two parallel passes: count the survivors of each
    // chunk, then write them at their offsets (index order is kept).
    struct Counts {
      size_t kept = 0, zero_variance = 0, end_reason = 0, no_image = 0, over_length = 0;
    };
    // Trajectory i of group g, not in a zero-variance group.
    auto visit = [&](Counts& c, size_t i, uint32_t g, uint32_t* out_index, uint32_t* out_group) {
      // Branch-free: the outcomes are data-dependent and unpredictable.
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
    };
    // The writing pass (out_index set) stops at the chunk's survivor count
    // `limit` from the counting pass: the branch-free store of `visit` writes
    // one slot past the last survivor otherwise, which is the next chunk's first.
    auto filter = [&](size_t chunk, size_t chunks, uint32_t* out_index, uint32_t* out_group, size_t limit) {
      Counts c;
      if (gathered) {
        for (size_t i = n * chunk / chunks; i < n * (chunk + 1) / chunks; ++i) {
          if (out_index && c.kept == limit) return c;
          const uint32_t g = group_of[i];
          if (flat[g]) {
            ++c.zero_variance;
            continue;
          }
          visit(c, i, g, out_index, out_group);
        }
      } else {
        for (size_t g = G * chunk / chunks; g < G * (chunk + 1) / chunks; ++g) {
          if (hi[g] == lo[g]) {
            c.zero_variance += begin[g + 1] - begin[g];
            continue;
          }
          for (size_t i = begin[g]; i < begin[g + 1]; ++i) {
            if (out_index && c.kept == limit) return c;
            visit(c, i, static_cast<uint32_t>(g), out_index, out_group);
          }
        }
      }
      return c;
    };
    const int threads = ThreadsFor(n);
    const size_t chunks = static_cast<size_t>(threads) * 4;
    std::vector<Counts> counts(chunks);
#pragma omp parallel for num_threads(threads) schedule(static) if (threads > 1)
    for (size_t c = 0; c < chunks; ++c) counts[c] = filter(c, chunks, nullptr, nullptr, 0);
    std::vector<size_t> offset(chunks + 1, 0);
    for (size_t c = 0; c < chunks; ++c) offset[c + 1] = offset[c] + counts[c].kept;
#pragma omp parallel for num_threads(threads) schedule(static) if (threads > 1)
    for (size_t c = 0; c < chunks; ++c) filter(c, chunks, survivors_out + offset[c], groups_out + offset[c], counts[c].kept);
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
