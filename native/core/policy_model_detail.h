// Internals of PolicyModel shared by its source files (core/policy_model.cc,
// policy_loss.cc, policy_session.cc): the named parameter views, the plan of
// a forward pass and the workspace that its sizes table carves, and the
// SplitMix64 stream of initialisation and sampling. Not part of the API.
#pragma once

#include <algorithm>
#include <cstdint>
#include <type_traits>
#include <vector>

#include "core/policy_model.h"

namespace pv {

// SplitMix64: the seeded stream of initialisation and sampling.
inline uint64_t Mix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

// Uniform in (0, 1) from a 64-bit hash.
inline double UnitOpen(uint64_t h) { return (static_cast<double>(h >> 11) + 0.5) * (1.0 / 9007199254740992.0); }

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

}  // namespace pv
