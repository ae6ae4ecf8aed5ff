// The policy's config, its tensor table (the checkpoint order of policy.md)
// and the validation of configs and batches.
#include <string>

#include "core/policy_model.h"
#include "core/scoring.h"

namespace pv {

// ---- config, tensor table, validation ---------------------------------------------

// What the engine needs to index its buffers safely: non-zero sizes, whole
// heads, and a parameter count in int32 (the flat vectors cross as typed
// arrays and are indexed in int32 by some kernels). The sizes' upper limits
// are lib/'s (LIMITS.policy in lib/util/limits.ts), checked there with the
// argument's name; the count here is computed in double, so that no product
// of sizes can wrap whatever they are.
void ValidatePolicyConfig(const PolicyConfig& c) {
  auto positive = [](size_t v, const char* name) {
    if (v < 1) Fail("E_ARG", "config.", name, " must be >= 1, got ", v);
  };
  positive(c.vocab_size, "vocabSize");
  positive(c.patch_dim, "patchDim");
  positive(c.max_seq_len, "maxSeqLen");
  positive(c.layers, "layers");
  positive(c.heads, "heads");
  positive(c.dim, "dim");
  if (c.dim % c.heads != 0)
    Fail("E_ARG", "config.dim must be a multiple of config.heads (", c.heads, "), got ", c.dim);
  const double V = static_cast<double>(c.vocab_size), T = static_cast<double>(c.max_seq_len),
               P = static_cast<double>(c.patch_dim), L = static_cast<double>(c.layers), C = static_cast<double>(c.dim);
  // PolicyTensorTable's sizes: embeddings, patch projection, L blocks of
  // 12 C^2 + 13 C, the final norm and the head.
  const double total = 2 * V * C + T * C + C * P + C + L * (12 * C * C + 13 * C) + 2 * C;
  if (total > static_cast<double>(INT32_MAX))
    Fail("E_ARG", "the config has ", total < 1e18 ? std::to_string(static_cast<uint64_t>(total)) : std::string("more than 10^18"),
         " parameters; at most 2^31 - 1 are supported");
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

}  // namespace pv
