#!/usr/bin/env python3
"""Writes test/fixtures/policy/: a small seeded policy checkpoint and what an
independent PyTorch implementation of policy.md computes from it.

The network below is written from /work/shared/reference/policy.md alone (it
shares no code with the library), evaluated in float64, and its results stored
as float32 little-endian files:

  policy.safetensors   the parameters, exactly in policy.md's checkpoint format
  patches.f32          [N, P] visual patches, N positions packed, zero at token positions
  old_logp.f32         [N]   old log-probabilities for the PG loss
  advantages.f32       [N]   per-token advantages for the PG loss
  logp.f32             [N]   expected logp (0 at sequence starts and visual positions)
  entropy.f32          [N]   expected entropy of the same distributions
  grad_sft.f32         all gradients of the SFT loss, concatenated in checkpoint order
  grad_pg.f32          all gradients of the PG loss, concatenated in checkpoint order
  manifest.json        config, tokens, sequence offsets, mask, losses and where each
                       tensor lies in the gradient files

Run: python3 dev/make_policy_fixture.py   (needs torch; the tests that read the
fixture do not).
"""
import json
import math
import os
import struct

import torch
import torch.nn.functional as F

CONFIG = {"vocabSize": 37, "patchDim": 5, "maxSeqLen": 24, "layers": 2, "heads": 2, "dim": 16}
# Three sequences of odd lengths (the longest not a power of two), positions
# marked -1 are visual patches; they appear mid-sequence, first, and in a run.
SEQUENCE_LENGTHS = [11, 7, 13]
VISUAL = {0: [3, 4, 5], 1: [0], 2: [6, 12]}  # sequence -> positions within it
CLIP_LOW, CLIP_HIGH, DUAL_CLIP = 0.2, 0.2, 3.0
SEED = 20261127

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "test", "fixtures", "policy")


def param_shapes(cfg):
    """Checkpoint names and shapes in policy.md's order."""
    V, P, T, L, C = cfg["vocabSize"], cfg["patchDim"], cfg["maxSeqLen"], cfg["layers"], cfg["dim"]
    shapes = [("tok_emb.weight", [V, C]), ("pos_emb.weight", [T, C]),
              ("patch_proj.weight", [C, P]), ("patch_proj.bias", [C])]
    for l in range(L):
        b = f"blocks.{l}."
        shapes += [(b + "ln1.weight", [C]), (b + "ln1.bias", [C]),
                   (b + "attn.qkv.weight", [3 * C, C]), (b + "attn.qkv.bias", [3 * C]),
                   (b + "attn.proj.weight", [C, C]), (b + "attn.proj.bias", [C]),
                   (b + "ln2.weight", [C]), (b + "ln2.bias", [C]),
                   (b + "mlp.fc.weight", [4 * C, C]), (b + "mlp.fc.bias", [4 * C]),
                   (b + "mlp.proj.weight", [C, 4 * C]), (b + "mlp.proj.bias", [C])]
    shapes += [("ln_f.weight", [C]), ("ln_f.bias", [C]), ("lm_head.weight", [V, C])]
    return shapes


def make_params(cfg, gen):
    """float32 parameters. Not the GPT-2 init on purpose: weights ~ N(0, 1/fan_in),
    embeddings ~ N(0, 1), and non-trivial biases and LayerNorm affine terms, so
    that attention is far from uniform and every parameter changes the result."""
    params = {}
    for name, shape in param_shapes(cfg):
        if name.endswith("emb.weight"):
            t = torch.randn(shape, generator=gen)
        elif len(shape) == 2:
            t = torch.randn(shape, generator=gen) / math.sqrt(shape[1])
        elif ".ln" in name or name.startswith("ln_f"):
            t = (1.0 if name.endswith("weight") else 0.0) + 0.2 * torch.randn(shape, generator=gen)
        else:
            t = 0.1 * torch.randn(shape, generator=gen)
        params[name] = t.to(torch.float32)
    return params


def gelu_tanh(x):
    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x ** 3)))


def layer_norm(x, w, b):
    mean = x.mean(-1, keepdim=True)
    var = ((x - mean) ** 2).mean(-1, keepdim=True)
    return (x - mean) / torch.sqrt(var + 1e-5) * w + b


def forward_sequence(p, cfg, tokens, patches):
    """Logits [n, V] of one sequence (tokens [n] with -1 for visual, patches [n, P])."""
    L, H, C = cfg["layers"], cfg["heads"], cfg["dim"]
    n = tokens.shape[0]
    D = C // H
    visual = tokens < 0
    tok = p["tok_emb.weight"][tokens.clamp(min=0)]
    patch = patches @ p["patch_proj.weight"].T + p["patch_proj.bias"]
    h = torch.where(visual[:, None], patch, tok) + p["pos_emb.weight"][:n]
    causal = torch.tril(torch.ones(n, n, dtype=torch.bool))
    for l in range(L):
        b = f"blocks.{l}."
        a = layer_norm(h, p[b + "ln1.weight"], p[b + "ln1.bias"])
        qkv = a @ p[b + "attn.qkv.weight"].T + p[b + "attn.qkv.bias"]
        q, k, v = qkv[:, :C], qkv[:, C:2 * C], qkv[:, 2 * C:]
        heads = []
        for j in range(H):
            qj, kj, vj = q[:, j * D:(j + 1) * D], k[:, j * D:(j + 1) * D], v[:, j * D:(j + 1) * D]
            scores = (qj @ kj.T) / math.sqrt(D)
            scores = scores.masked_fill(~causal, float("-inf"))
            heads.append(torch.softmax(scores, dim=-1) @ vj)
        y = torch.cat(heads, dim=1)
        h = h + y @ p[b + "attn.proj.weight"].T + p[b + "attn.proj.bias"]
        m = layer_norm(h, p[b + "ln2.weight"], p[b + "ln2.bias"])
        f = gelu_tanh(m @ p[b + "mlp.fc.weight"].T + p[b + "mlp.fc.bias"])
        h = h + f @ p[b + "mlp.proj.weight"].T + p[b + "mlp.proj.bias"]
    return layer_norm(h, p["ln_f.weight"], p["ln_f.bias"]) @ p["lm_head.weight"].T


def logprobs(p, cfg, tokens, patches, offsets):
    """logp and entropy [N] over the packed batch (semantics.md section 6)."""
    logp, entropy = [], []
    for s in range(len(offsets) - 1):
        lo, hi = offsets[s], offsets[s + 1]
        logits = forward_sequence(p, cfg, tokens[lo:hi], patches[lo:hi])
        logsm = torch.log_softmax(logits, dim=-1)
        ent = -(logsm.exp() * logsm).sum(-1)
        zero = torch.zeros(1, dtype=logits.dtype)
        for t in range(hi - lo):
            tok = int(tokens[lo + t])
            if t == 0 or tok < 0:
                logp.append(logits.sum() * 0.0 + 0.0)  # value +0, keeps the graph connected
                entropy.append(zero[0])
            else:
                logp.append(logsm[t - 1, tok])
                entropy.append(ent[t - 1])
    return torch.stack(logp), torch.stack(entropy)


def pg_token_losses(logp, old_logp, adv):
    """Clipped surrogate per token (semantics.md section 4), dual clip on."""
    ratio = torch.exp(torch.clamp(logp - old_logp, -20.0, 20.0))
    pg1 = -adv * ratio
    pg2 = -adv * torch.clamp(ratio, 1.0 - CLIP_LOW, 1.0 + CLIP_HIGH)
    clip1 = torch.maximum(pg1, pg2)
    return torch.where(adv < 0, torch.minimum(-adv * DUAL_CLIP, clip1), clip1)


def f32_bytes(t):
    return t.detach().to(torch.float32).contiguous().numpy().astype("<f4").tobytes()


def write_safetensors(path, params, cfg):
    header = {"__metadata__": {"format": "pyvision-rl-policy", "version": "1",
                               "config": json.dumps(cfg, separators=(",", ":"))}}
    blobs, offset = [], 0
    for name, shape in param_shapes(cfg):
        data = f32_bytes(params[name])
        header[name] = {"dtype": "F32", "shape": shape, "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * ((8 - len(text) % 8) % 8)  # data starts 8-byte aligned
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for blob in blobs:
            f.write(blob)


def main():
    torch.manual_seed(SEED)
    gen = torch.Generator().manual_seed(SEED)
    cfg = CONFIG
    V, P = cfg["vocabSize"], cfg["patchDim"]
    params32 = make_params(cfg, gen)

    offsets = [0]
    for n in SEQUENCE_LENGTHS:
        offsets.append(offsets[-1] + n)
    N = offsets[-1]
    tokens = torch.randint(0, V, (N,), generator=gen, dtype=torch.int64)
    patches = torch.zeros(N, P, dtype=torch.float32)
    for s, positions in VISUAL.items():
        for t in positions:
            tokens[offsets[s] + t] = -1
            patches[offsets[s] + t] = torch.randn(P, generator=gen)

    # Reference in float64 from the float32 parameters.
    p = {k: v.to(torch.float64).requires_grad_(True) for k, v in params32.items()}
    patches64 = patches.to(torch.float64)
    logp, entropy = logprobs(p, cfg, tokens, patches64, offsets)

    # Mask: token positions with a defined logp, minus a few left out on purpose.
    defined = torch.tensor([1.0 if (t not in offsets[:-1] and tokens[t] >= 0) else 0.0 for t in range(N)],
                           dtype=torch.float64)
    mask = defined.clone()
    for t in (2, offsets[1] + 3, offsets[2] + 9):
        mask[t] = 0.0

    # Old log-probabilities spread so that every branch of the surrogate occurs
    # (ratio inside the clip range, above, below, above the dual clip), kept
    # away from every branch boundary so float32 rounding cannot flip a branch.
    lp = logp.detach()
    d = (torch.rand(N, generator=gen, dtype=torch.float64) * 3.0 - 1.5)
    for _ in range(100):
        r = torch.exp(d)
        near = ((r - (1 - CLIP_LOW)).abs() < 0.02) | ((r - (1 + CLIP_HIGH)).abs() < 0.02) | \
               ((r - DUAL_CLIP).abs() < 0.05) | ((r - 1.0).abs() < 0.005)
        if not near.any():
            break
        d = torch.where(near, d + 0.07, d)
    old_logp = (lp - d).to(torch.float32).to(torch.float64) * defined
    adv = (torch.randn(N, generator=gen, dtype=torch.float64)).to(torch.float32).to(torch.float64)
    adv[adv.abs() < 0.05] = 0.3  # no advantage near 0, where the dual-clip branch ties

    loss_sft = -(logp * mask).sum() / mask.sum()
    grads_sft = torch.autograd.grad(loss_sft, [p[n] for n, _ in param_shapes(cfg)], retain_graph=True)
    # ratio is recomputed from the stored (float32-rounded) old logp.
    loss_pg = (pg_token_losses(logp, old_logp, adv) * mask).sum() / mask.sum()
    grads_pg = torch.autograd.grad(loss_pg, [p[n] for n, _ in param_shapes(cfg)])

    ratio = torch.exp(lp - old_logp)[mask > 0]
    a = adv[mask > 0]
    regimes = {
        "inside": int(((ratio > 1 - CLIP_LOW) & (ratio < 1 + CLIP_HIGH)).sum()),
        "above": int((ratio >= 1 + CLIP_HIGH).sum()),
        "below": int((ratio <= 1 - CLIP_LOW).sum()),
        "dualClipped": int(((a < 0) & (ratio > DUAL_CLIP)).sum()),
    }

    os.makedirs(OUT, exist_ok=True)
    write_safetensors(os.path.join(OUT, "policy.safetensors"), params32, cfg)
    files = {"patches.f32": patches, "old_logp.f32": old_logp, "advantages.f32": adv,
             "logp.f32": logp, "entropy.f32": entropy}
    for fname, t in files.items():
        with open(os.path.join(OUT, fname), "wb") as f:
            f.write(f32_bytes(t))
    layout, offset = [], 0
    for (name, shape) in param_shapes(cfg):
        count = math.prod(shape)
        layout.append({"name": name, "shape": shape, "offset": offset, "count": count})
        offset += count
    for fname, grads in (("grad_sft.f32", grads_sft), ("grad_pg.f32", grads_pg)):
        with open(os.path.join(OUT, fname), "wb") as f:
            for g in grads:
                f.write(f32_bytes(g.reshape(-1)))

    manifest = {
        "generator": "dev/make_policy_fixture.py",
        "torch": torch.__version__,
        "config": cfg,
        "tokens": [int(t) for t in tokens],
        "seqOffsets": offsets,
        "mask": [int(m) for m in mask],
        "pg": {"clipLow": CLIP_LOW, "clipHigh": CLIP_HIGH, "dualClip": DUAL_CLIP, "aggregation": "token-mean",
               "regimes": regimes},
        "loss": {"sft": float(loss_sft.detach()), "pg": float(loss_pg.detach())},
        "files": {"checkpoint": "policy.safetensors", "patches": "patches.f32", "oldLogp": "old_logp.f32",
                  "advantages": "advantages.f32", "logp": "logp.f32", "entropy": "entropy.f32",
                  "gradSft": "grad_sft.f32", "gradPg": "grad_pg.f32"},
        "parameters": layout,
    }
    with open(os.path.join(OUT, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)
        f.write("\n")
    print(f"wrote {OUT}: N={N} positions, {offset} parameters, regimes {regimes}, "
          f"loss sft {float(loss_sft.detach()):.6f} pg {float(loss_pg.detach()):.6f}")


if __name__ == "__main__":
    main()
