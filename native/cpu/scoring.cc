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
//   * otherwise the ids are hashed (the bucket of the trajectory 32 ahead
//     prefetched: a shuffled batch makes every lookup a cache miss otherwise):
//     when a group's members mostly sit together, or on one thread, each of T
//     consecutive chunks of trajectories on its own thread into its own
//     IdTable, merged in chunk order (HashChunks: the dense ids of one
//     sequential pass, whatever T; a repeated id reuses the previous
//     trajectory's answer); when the ids change at most positions (shuffled
//     groups) on T > 1 threads, each thread owns one partition of the ids and
//     its own table (HashPartitions: no id looked up twice, no merge). When
//     every group turned out to be one run, the groups are read in place as
//     above; else a counting sort by dense id gathers the rewards group after
//     group (ascending index within a group): counts per chunk, each
//     trajectory's slot, then the rewards moved to their slots (the slot and
//     the store in separate passes: a store whose address depends on a
//     just-incremented counter serialises the cache misses).
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
  std::vector<uint32_t> part_offset;             // [T] first dense id of each partition (HashPartitions)
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

// The hashing pass over T consecutive chunks of trajectories, each on its own
// thread into its own IdTable (local ids in order of first appearance within
// the chunk), then the chunks' distinct ids merged in chunk order, which gives
// exactly the dense ids of one sequential pass, whatever T. For ids whose
// groups mostly sit together (a chunk's table holds about its own share of the
// ids), or one thread (T == 1). Writes x.group_of (local ids of chunks after the
// first: x.remap maps them to dense ids) and returns G.
size_t HashChunks(GroupIndex& x, const int32_t* groups, size_t n, size_t T) {
  auto hash_begin = [n, T](size_t t) { return n * t / T; };
  x.tables.resize(T);
  x.chunk_keys.resize(T);
  x.remap.resize(T);
  x.key_count.resize(T);
  uint32_t* group_of = x.group_of.data();
  IdTable* tables = x.tables.data();
  std::vector<int32_t>* chunk_keys = x.chunk_keys.data();
  constexpr size_t kAhead = 32;
  size_t* key_count = x.key_count.data();
  for (size_t t = 0; t < T; ++t) {  // sized here, outside the parallel region
    const size_t keys = hash_begin(t + 1) - hash_begin(t);
    tables[t].Reset(keys);
    if (chunk_keys[t].size() < keys) chunk_keys[t].resize(keys);  // only grows: no refill per call
  }
#pragma omp parallel for num_threads(static_cast<int>(T)) schedule(static, 1) if (T > 1)
  for (size_t t = 0; t < T; ++t) {
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
  for (size_t t = 1; t < T; ++t) {
    std::vector<uint32_t>& remap = x.remap[t];
    remap.resize(key_count[t]);
    for (size_t l = 0; l < remap.size(); ++l) {
      bool inserted;
      remap[l] = merged.Find(chunk_keys[t][l], static_cast<uint32_t>(G), &inserted);
      G += inserted ? 1 : 0;
    }
  }
  return G;
}

// The hash that partitions the ids among P tables (HashPartitions): a 32-bit
// multiplicative hash, independent of the bits IdTable's buckets use.
constexpr uint32_t kPartitionMul = 0x85EBCA6Bu;
inline uint32_t PartitionHash(int32_t key) { return static_cast<uint32_t>(key) * kPartitionMul; }

// The partition of an id: its hash scaled to [0, P), floor(h P / 2^32).
inline uint32_t PartitionOf(int32_t key, uint32_t parts) {
  return static_cast<uint32_t>((static_cast<uint64_t>(PartitionHash(key)) * parts) >> 32);
}

// The trajectories i in [begin, end) whose id is in partition p of P, in
// ascending order, into out (which has room for end - begin + 16); returns their
// count. Partition p is the interval of hashes [lo, lo + width) with
// lo = ceil(p 2^32 / P), the hashes that PartitionOf maps to p (it is
// monotonic in the hash), so one unsigned compare picks them.
size_t PickPartition(uint32_t* out, const int32_t* groups, size_t begin, size_t end, uint32_t p, uint32_t parts) {
  const uint64_t lo64 = ((uint64_t(p) << 32) + parts - 1) / parts;
  const uint64_t hi64 = ((uint64_t(p + 1) << 32) + parts - 1) / parts;
  const uint32_t lo = static_cast<uint32_t>(lo64);
  const uint32_t width = static_cast<uint32_t>(hi64 - lo64);  // < 2^32: parts > 1
  size_t m = 0, i = begin;
#if defined(__AVX512F__)
  const __m512i mul = _mm512_set1_epi32(static_cast<int>(kPartitionMul));
  const __m512i lo_v = _mm512_set1_epi32(static_cast<int>(lo));
  const __m512i width_v = _mm512_set1_epi32(static_cast<int>(width));
  const __m512i iota = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
  for (; i + 16 <= end; i += 16) {
    const __m512i h = _mm512_mullo_epi32(_mm512_loadu_si512(groups + i), mul);
    const __mmask16 k = _mm512_cmplt_epu32_mask(_mm512_sub_epi32(h, lo_v), width_v);
    const __m512i index = _mm512_add_epi32(_mm512_set1_epi32(static_cast<int>(i)), iota);
    // The register form of the compress, then a full store (the memory form is slow on some cores).
    _mm512_storeu_si512(out + m, _mm512_maskz_compress_epi32(k, index));
    m += static_cast<size_t>(__builtin_popcount(k));
  }
#endif
  for (; i < end; ++i) {
    out[m] = static_cast<uint32_t>(i);
    m += PartitionHash(groups[i]) - lo < width ? 1 : 0;
  }
  return m;
}

// The hashing pass for ids that change at most positions (shuffled groups,
// where every chunk of trajectories meets nearly every id), on P > 1 threads:
// thread p owns the ids of partition p (PartitionOf), keeps them in its own
// IdTable (1/P of the groups, so the lookups are shared among the threads) and
// numbers them in its own order of first appearance. It
// reads every id, picks its own a block at a time without a branch, and looks
// only those up (the bucket of the one kAhead later prefetched). Thread p scans
// from trajectory p n / P and wraps around, so that the threads' stores to
// group_of fall on different cache lines. Writes each trajectory's local id to
// x.group_of and each partition's first dense id to x.part_offset (dense id =
// part_offset[partition] + local id); returns G. The numbering differs from
// HashChunks' and with P, which changes no result: the statistics are
// functions of a group's reward multiset, and the ranking breaks ties by
// trajectory index, not by group number.
size_t HashPartitions(GroupIndex& x, const int32_t* groups, size_t n, size_t P) {
  x.tables.resize(P);
  x.key_count.resize(P);
  x.part_offset.resize(P);
  for (size_t p = 0; p < P; ++p) x.tables[p].Reset(n);  // keeps the size the last use ended with
  uint32_t* group_of = x.group_of.data();
  IdTable* tables = x.tables.data();
  size_t* key_count = x.key_count.data();
  const uint32_t parts = static_cast<uint32_t>(P);
#pragma omp parallel for num_threads(static_cast<int>(P)) schedule(static, 1)
  for (size_t p = 0; p < P; ++p) {
    IdTable table = std::move(tables[p]);  // on this thread's stack while it works, as in HashChunks
    constexpr size_t kBlock = 2048, kAhead = 32;
    uint32_t mine[kBlock + 16];
    uint32_t count = 0;
    auto scan = [&](size_t from, size_t to) {
      for (size_t b = from; b < to; b += kBlock) {
        const size_t m = PickPartition(mine, groups, b, std::min(b + kBlock, to), static_cast<uint32_t>(p), parts);
        for (size_t j = 0; j < m; ++j) {
          if (j + kAhead < m) __builtin_prefetch(table.Home(groups[mine[j + kAhead]]));
          const uint32_t i = mine[j];
          bool inserted;
          group_of[i] = table.Find(groups[i], count, &inserted);
          count += inserted ? 1 : 0;
        }
      }
    };
    const size_t start = n * p / P;
    scan(start, n);
    scan(0, start);
    key_count[p] = count;
    tables[p] = std::move(table);
  }
  size_t G = 0;
  for (size_t p = 0; p < P; ++p) {
    x.part_offset[p] = static_cast<uint32_t>(G);
    G += key_count[p];
  }
  return G;
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
  x.group_of.resize(n);
  uint32_t* group_of = x.group_of.data();
  // A batch whose ids change at most positions (shuffled groups) on several threads: every chunk
  // of trajectories meets nearly every id, so the ids are split by partition instead (HashPartitions).
  const bool partitioned = runs * 2 > n && T > 1;
  const size_t G = partitioned ? HashPartitions(x, groups, n, T) : HashChunks(x, groups, n, T);
  x.groups = G;
  if (G == runs) {
    // Every group is one run (adjacent, ids not sorted): the groups are read in place, in run
    // order (group_of is not read then).
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
  const uint32_t* offsets = x.part_offset.data();
  const uint32_t parts = static_cast<uint32_t>(T);
#pragma omp parallel for num_threads(threads) schedule(static, 1) if (threads > 1)
  for (size_t t = 0; t < T; ++t) {
    uint32_t* count = cursor + t * G;
    const size_t end = chunk_begin(t + 1);
    if (partitioned) {  // local id -> dense id: the partition's offset (part_offset[p]) plus the local id
      for (size_t i = chunk_begin(t); i < end; ++i) {
        const uint32_t g = offsets[PartitionOf(groups[i], parts)] + group_of[i];
        group_of[i] = g;
        ++count[g];
      }
      continue;
    }
    if (t > 0) {  // the hashing pass had these chunks
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

constexpr uint32_t kFlat = UINT32_MAX;  // the key of a zero-variance group

// key[g] = kFlat for a group whose rewards are all equal, else 0; returns 1 (one bucket).
size_t FlatKeys(uint32_t* key, const GroupStats& s, size_t G) {
  const float* lo = s.lo.data();
  const float* hi = s.hi.data();
  for (size_t g = 0; g < G; ++g) key[g] = hi[g] == lo[g] ? kFlat : 0u;
  return 1;
}

// key[g] = kFlat for a zero-variance group, else the rank of its std among the
// distinct stds of the groups that are not (0 for the largest); returns the
// number of distinct values. A small hash set of the float64 bits finds the
// distinct values, which alone are sorted. Ranking every group that is not
// flat, rather than only those with survivors, gives the survivors the same
// order: a value no survivor has only shifts the ranks after it.
size_t RankKeys(uint32_t* key, const GroupStats& s, size_t G) {
  const float* lo = s.lo.data();
  const float* hi = s.hi.data();
  const double* stdev = s.std.data();
  auto bits_of = [stdev](size_t g) {
    uint64_t bits;
    std::memcpy(&bits, &stdev[g], sizeof bits);
    return bits;
  };
  auto home = [](uint64_t bits, size_t capacity) { return (bits * 0x9E3779B97F4A7C15ull) >> 40 & (capacity - 1); };
  std::vector<uint64_t> distinct;
  size_t capacity = 256;
  std::vector<uint64_t> table(capacity, ~0ull);  // ~0 is a NaN pattern, never a std
  std::vector<uint32_t> index_of(capacity);       // of each table slot: its value's index in `distinct`
  // First pass: key[g] = the value's index in `distinct` (order of first appearance).
  for (size_t g = 0; g < G; ++g) {
    if (hi[g] == lo[g]) {
      key[g] = kFlat;
      continue;
    }
    const uint64_t bits = bits_of(g);
    size_t j = home(bits, capacity);
    while (table[j] != ~0ull && table[j] != bits) j = (j + 1) & (capacity - 1);
    if (table[j] == bits) {
      key[g] = index_of[j];
      continue;
    }
    table[j] = bits;
    index_of[j] = static_cast<uint32_t>(distinct.size());
    key[g] = static_cast<uint32_t>(distinct.size());
    distinct.push_back(bits);
    if (distinct.size() * 2 > capacity) {
      capacity *= 2;
      table.assign(capacity, ~0ull);
      index_of.assign(capacity, 0);
      for (size_t d = 0; d < distinct.size(); ++d) {
        size_t k = home(distinct[d], capacity);
        while (table[k] != ~0ull) k = (k + 1) & (capacity - 1);
        table[k] = distinct[d];
        index_of[k] = static_cast<uint32_t>(d);
      }
    }
  }
  // The rank of each distinct value (std >= 0: descending bits are descending values), then of each group.
  std::vector<uint32_t> order(distinct.size());
  for (size_t d = 0; d < order.size(); ++d) order[d] = static_cast<uint32_t>(d);
  std::sort(order.begin(), order.end(), [&distinct](uint32_t a, uint32_t b) { return distinct[a] > distinct[b]; });
  std::vector<uint32_t> rank(distinct.size());
  for (size_t r = 0; r < order.size(); ++r) rank[order[r]] = static_cast<uint32_t>(r);
  for (size_t g = 0; g < G; ++g) key[g] = key[g] == kFlat ? kFlat : rank[key[g]];
  return distinct.size();
}

// What the trajectory filters of semantics.md section 3 read.
struct FilterRule {
  uint32_t keep_mask = 0;         // bit e: end reason e survives
  uint32_t require_image = 0;     // 1: a trajectory without a tool image is dropped
  const int32_t* lengths = nullptr;  // null: no length filter
  int64_t max_length = -1;
  const uint8_t* end_reasons = nullptr;
  const int32_t* tool_images = nullptr;
};

// The group layout the filter walks: group_of set (gathered index) means trajectory order,
// else group g is the span [begin[g], begin[g + 1]) of the input.
struct FilterLayout {
  const uint32_t* key;  // [G]
  const uint32_t* group_of;
  const uint32_t* begin;
  size_t groups, n;
};

struct FilterCounts {
  size_t kept = 0, zero_variance = 0, end_reason = 0, no_image = 0, over_length = 0;
};

// One chunk of the filter (chunk of `chunks`: of the trajectories in the
// gathered layout, of the groups in the span layout). kWrite: the survivors'
// indices and keys go to out_index and out_key, stopping at the counting
// pass's `limit` (the branch-free store writes one slot past the last survivor
// otherwise, which is the next chunk's first). Counters are locals, so that
// they stay in registers.
template <bool kWrite>
FilterCounts FilterChunk(const FilterRule& rule, const FilterLayout& L, size_t chunk, size_t chunks,
                         uint32_t* out_index, uint32_t* out_key, size_t limit) {
  const uint32_t keep_mask = rule.keep_mask, require_image = rule.require_image;
  const uint8_t* end_reasons = rule.end_reasons;
  const int32_t* tool_images = rule.tool_images;
  const int32_t* lengths = rule.lengths;
  const int64_t max_length = rule.max_length;
  size_t kept = 0, zero_variance = 0, end_reason = 0, no_image = 0, over_length = 0;
  // Trajectory i of a group with key k (not flat); false when the chunk's survivors are all written.
  auto visit = [&](size_t i, uint32_t k) {
    if (kWrite && kept == limit) return false;
    // Branch-free: the outcomes are data-dependent and unpredictable.
    const uint32_t bad_reason = ((keep_mask >> (end_reasons[i] & 31u)) & 1u) ^ 1u;  // & 31: no UB shift, whatever the caller wrote since validation
    const uint32_t bad_image = (bad_reason ^ 1u) & require_image & (tool_images[i] == 0 ? 1u : 0u);
    const uint32_t too_long = lengths != nullptr ? (lengths[i] > max_length ? 1u : 0u) : 0u;
    const uint32_t bad_length = (bad_reason ^ 1u) & (bad_image ^ 1u) & too_long;
    end_reason += bad_reason;
    no_image += bad_image;
    over_length += bad_length;
    if (kWrite) {
      out_index[kept] = static_cast<uint32_t>(i);
      out_key[kept] = k;
    }
    kept += (bad_reason | bad_image | bad_length) ^ 1u;
    return true;
  };
  if (L.group_of != nullptr) {
    for (size_t i = L.n * chunk / chunks; i < L.n * (chunk + 1) / chunks; ++i) {
      const uint32_t k = L.key[L.group_of[i]];
      if (k == kFlat) {
        ++zero_variance;
        continue;
      }
      if (!visit(i, k)) break;
    }
  } else {
    bool more = true;
    for (size_t g = L.groups * chunk / chunks; more && g < L.groups * (chunk + 1) / chunks; ++g) {
      const uint32_t k = L.key[g];
      if (k == kFlat) {
        zero_variance += L.begin[g + 1] - L.begin[g];
        continue;
      }
      for (size_t i = L.begin[g]; more && i < L.begin[g + 1]; ++i) more = visit(i, k);
    }
  }
  return FilterCounts{kept, zero_variance, end_reason, no_image, over_length};
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

    // Each group's key: kFlat for a zero-variance group (dropped whole), else its rank bucket
    // (RankKeys; 0 for all when not ranking). The filter below reads the key of each
    // trajectory's group once, and the ranking then reads only the survivors' keys, in order.
    thread_local std::vector<uint32_t> key_buffer;  // reused across calls
    key_buffer.resize(G);
    uint32_t* key = key_buffer.data();
    const size_t buckets = options.rank_by_std ? RankKeys(key, s, G) : FlatKeys(key, s, G);

    // Filters in the order of semantics.md section 3; each dropped trajectory
    // is counted by the first filter that dropped it. Survivors stay in index
    // order, with their group's key. Chunks of trajectories (of whole groups
    // when they are spans of the input) are filtered in two parallel passes:
    // count the survivors of each chunk, then write them at their offsets.
    thread_local std::vector<uint32_t> survivors_buffer, survivor_key_buffer;  // reused across calls
    survivors_buffer.resize(n);
    survivor_key_buffer.resize(n);
    FilterRule rule;
    for (int e = 0; e < kEndReasonCount; ++e) rule.keep_mask |= options.keep_end_reason[e] ? 1u << e : 0u;
    rule.require_image = options.require_tool_image ? 1 : 0;
    rule.lengths = options.max_length >= 0 ? lengths : nullptr;
    rule.max_length = options.max_length;
    rule.end_reasons = end_reasons;
    rule.tool_images = tool_images;
    const FilterLayout layout{key, index.gathered ? index.group_of.data() : nullptr, index.begin.data(), G, n};
    const int threads = ThreadsFor(n);
    const size_t chunks = static_cast<size_t>(threads) * 4;
    std::vector<FilterCounts> counts(chunks);
#pragma omp parallel for num_threads(threads) schedule(static) if (threads > 1)
    for (size_t c = 0; c < chunks; ++c) counts[c] = FilterChunk<false>(rule, layout, c, chunks, nullptr, nullptr, 0);
    std::vector<size_t> offset(chunks + 1, 0);
    for (size_t c = 0; c < chunks; ++c) offset[c + 1] = offset[c] + counts[c].kept;
    uint32_t* survivors_out = survivors_buffer.data();  // plain pointers for the parallel region
    uint32_t* keys_out = survivor_key_buffer.data();
#pragma omp parallel for num_threads(threads) schedule(static) if (threads > 1)
    for (size_t c = 0; c < chunks; ++c)
      FilterChunk<true>(rule, layout, c, chunks, survivors_out + offset[c], keys_out + offset[c], counts[c].kept);
    SelectResult result;
    for (const FilterCounts& c : counts) {
      result.dropped_zero_variance += c.zero_variance;
      result.dropped_end_reason += c.end_reason;
      result.dropped_no_tool_image += c.no_image;
      result.dropped_over_length += c.over_length;
    }
    const size_t kept = offset[chunks];
    const size_t keep = std::min(options.target, kept);
    if (!options.rank_by_std || kept == 0) {
      result.indices.assign(survivors_out, survivors_out + keep);
      return result;
    }
    // Rank: a counting sort of the survivors by bucket (descending std), stable, so equal std
    // keeps ascending index; only the first `keep` places are written.
    std::vector<size_t> slot(buckets + 1, 0);
    for (size_t j = 0; j < kept; ++j) ++slot[keys_out[j] + 1];
    for (size_t b = 0; b < buckets; ++b) slot[b + 1] += slot[b];
    result.indices.resize(keep);
    int32_t* indices = result.indices.data();
    for (size_t j = 0; j < kept; ++j) {
      const size_t at = slot[keys_out[j]]++;
      if (at < keep) indices[at] = static_cast<int32_t>(survivors_out[j]);
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
