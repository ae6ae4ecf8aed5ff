#!/usr/bin/env python3
"""PyTorch CPU peer of bench/policy.bench.ts: the policy network of
/work/shared/reference/policy.md in eager PyTorch (float32, 2 threads,
F.scaled_dot_product_attention with is_causal, torch.optim.AdamW), plus a
numpy (OpenBLAS) matmul row for the machine's GEMM rate.

Prints one JSON object per line:
  {"name": ..., "impl": "pytorch cpu" | "numpy openblas", "ms": ..., "throughput": ..., "unit": ..., "note": ...}
with names matching the rows of bench/policy.bench.ts:
  "train step <config> B=16"   forward + SFT loss + backward + AdamW step over B*T positions
  "logprobs <config> B=16"     forward + log-softmax gather + entropy over B*T positions, no grad
  "generate <config> B=16"     prefill T/2 prompt positions, then sample T/2 tokens per sequence
                               one at a time with a KV cache (ms for the whole generation)
  "matmul 512x512x512"          numpy float32 GEMM
Each sequence starts with T/8 visual patches (patch_proj), then tokens.

Usage: python3 bench/policy_torch.py [--quick] [--configs tiny,small]
       python3 bench/policy_torch.py --check-fixture   (this model against test/fixtures/policy)
Exits 0 with a note line when torch is missing (peers are optional).
"""
import argparse
import json
import math
import os
import struct
import sys
import time

os.environ.setdefault("OPENBLAS_NUM_THREADS", "2")
os.environ.setdefault("OMP_NUM_THREADS", "2")

CONFIGS = {
    "tiny": {"vocabSize": 128, "patchDim": 48, "maxSeqLen": 128, "layers": 2, "heads": 4, "dim": 64},
    "small": {"vocabSize": 512, "patchDim": 48, "maxSeqLen": 512, "layers": 4, "heads": 8, "dim": 256},
}
BATCH = 16


def emit(row):
    print(json.dumps(row), flush=True)


def matmul_row(quick):
    import numpy as np

    n = 512
    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, n), dtype=np.float32)
    b = rng.standard_normal((n, n), dtype=np.float32)
    a @ b
    reps = 5 if quick else 30
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        a @ b
        times.append(time.perf_counter() - t0)
    ms = 1e3 * sorted(times)[len(times) // 2]
    gflops = 2 * n ** 3 / (ms * 1e6)
    emit({"name": f"matmul {n}x{n}x{n}", "impl": "numpy openblas", "ms": ms, "throughput": gflops, "unit": "GFLOP/s",
          "note": f"float32, median of {reps}, OPENBLAS_NUM_THREADS={os.environ['OPENBLAS_NUM_THREADS']}"})


def build(torch):
    nn = torch.nn
    F = torch.nn.functional

    class Block(nn.Module):
        def __init__(self, C, H, L):
            super().__init__()
            self.H = H
            self.ln1 = nn.LayerNorm(C, eps=1e-5)
            self.attn = nn.Module()
            self.attn.qkv = nn.Linear(C, 3 * C)
            self.attn.proj = nn.Linear(C, C)
            self.ln2 = nn.LayerNorm(C, eps=1e-5)
            self.mlp = nn.Module()
            self.mlp.fc = nn.Linear(C, 4 * C)
            self.mlp.proj = nn.Linear(4 * C, C)
            for lin in (self.attn.qkv, self.attn.proj, self.mlp.fc, self.mlp.proj):
                nn.init.normal_(lin.weight, 0.0, 0.02)
                nn.init.zeros_(lin.bias)
            for lin in (self.attn.proj, self.mlp.proj):
                nn.init.normal_(lin.weight, 0.0, 0.02 / math.sqrt(2 * L))

        def forward(self, h, cache=None):
            """h [B, n, C]. cache: None (causal over h), or a dict with k, v [B, H, T, D] and the length
            before this call, updated in place."""
            B, n, C = h.shape
            D = C // self.H
            qkv = self.attn.qkv(self.ln1(h))
            q, k, v = (t.view(B, n, self.H, D).transpose(1, 2) for t in qkv.split(C, dim=2))
            if cache is None:
                y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
            else:
                start = cache["length"]
                cache["k"][:, :, start:start + n] = k
                cache["v"][:, :, start:start + n] = v
                keys, values = cache["k"][:, :, :start + n], cache["v"][:, :, :start + n]
                if n == 1:
                    y = F.scaled_dot_product_attention(q, keys, values)
                else:  # prefill from an empty cache
                    y = F.scaled_dot_product_attention(q, keys, values, is_causal=True)
            h = h + self.attn.proj(y.transpose(1, 2).reshape(B, n, C))
            return h + self.mlp.proj(F.gelu(self.mlp.fc(self.ln2(h)), approximate="tanh"))

    class Policy(nn.Module):
        def __init__(self, cfg):
            super().__init__()
            V, P, T, L, H, C = (cfg[k] for k in ("vocabSize", "patchDim", "maxSeqLen", "layers", "heads", "dim"))
            self.cfg = cfg
            self.tok_emb = nn.Embedding(V, C)
            self.pos_emb = nn.Embedding(T, C)
            self.patch_proj = nn.Linear(P, C)
            self.blocks = nn.ModuleList(Block(C, H, L) for _ in range(L))
            self.ln_f = nn.LayerNorm(C, eps=1e-5)
            self.lm_head = nn.Linear(C, V, bias=False)
            for w in (self.tok_emb.weight, self.pos_emb.weight, self.patch_proj.weight, self.lm_head.weight):
                nn.init.normal_(w, 0.0, 0.02)
            nn.init.zeros_(self.patch_proj.bias)

        def forward(self, tokens, patches, positions, caches=None):
            """tokens [B, n] (-1: visual), patches [B, n, P], positions [n] -> logits [B, n, V]."""
            visual = (tokens < 0).unsqueeze(-1)
            h = torch.where(visual, self.patch_proj(patches), self.tok_emb(tokens.clamp(min=0)))
            h = h + self.pos_emb(positions)
            for l, block in enumerate(self.blocks):
                h = block(h, None if caches is None else caches[l])
            return self.lm_head(self.ln_f(h))

    return Policy


def logprobs_of(torch, logits, tokens):
    """logp and entropy [B, n]: position t from logits t-1; 0 at t = 0 and at visual positions."""
    logsm = torch.log_softmax(logits[:, :-1].float(), dim=-1)
    target = tokens[:, 1:]
    valid = target >= 0
    lp = logsm.gather(-1, target.clamp(min=0).unsqueeze(-1)).squeeze(-1) * valid
    ent = -(logsm.exp() * logsm).sum(-1) * valid
    zero = torch.zeros(tokens.shape[0], 1)
    return torch.cat([zero, lp], 1), torch.cat([zero, ent], 1)


def make_batch(torch, cfg, B, n, gen):
    tokens = torch.randint(0, cfg["vocabSize"], (B, n), generator=gen)
    visual = max(1, cfg["maxSeqLen"] // 8)
    tokens[:, :visual] = -1
    patches = torch.randn(B, n, cfg["patchDim"], generator=gen)
    return tokens, patches


def median_ms(fn, reps):
    fn()
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return 1e3 * sorted(times)[len(times) // 2]


def bench_config(torch, Policy, name, cfg, quick):
    gen = torch.Generator().manual_seed(0)
    torch.manual_seed(0)
    model = Policy(cfg)
    T = cfg["maxSeqLen"]
    B = BATCH
    tokens, patches = make_batch(torch, cfg, B, T, gen)
    positions = torch.arange(T)
    mask = (tokens >= 0).float()
    mask[:, 0] = 0
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, weight_decay=0.0)
    reps = 3 if quick else 10
    params = sum(p.numel() for p in model.parameters())
    note = f"L={cfg['layers']} C={cfg['dim']} H={cfg['heads']} V={cfg['vocabSize']} T={T}, {params} params, fp32 eager, 2 threads"

    def train_step():
        opt.zero_grad(set_to_none=True)
        lp, _ = logprobs_of(torch, model(tokens, patches, positions), tokens)
        loss = -(lp * mask).sum() / mask.sum()
        loss.backward()
        opt.step()

    ms = median_ms(train_step, reps)
    emit({"name": f"train step {name} B={B}", "impl": "pytorch cpu", "ms": ms, "throughput": B * T / ms * 1e3,
          "unit": "tokens/s", "note": note + ", SFT loss + backward + AdamW"})

    def logprobs():
        with torch.no_grad():
            logprobs_of(torch, model(tokens, patches, positions), tokens)

    ms = median_ms(logprobs, reps)
    emit({"name": f"logprobs {name} B={B}", "impl": "pytorch cpu", "ms": ms, "throughput": B * T / ms * 1e3,
          "unit": "tokens/s", "note": note})

    prompt, new = T // 2, T - T // 2
    L, H, C = cfg["layers"], cfg["heads"], cfg["dim"]

    def generate():
        with torch.no_grad():
            caches = [{"k": torch.zeros(B, H, T, C // H), "v": torch.zeros(B, H, T, C // H), "length": 0}
                      for _ in range(L)]
            logits = model(tokens[:, :prompt], patches[:, :prompt], positions[:prompt], caches)
            for c in caches:
                c["length"] = prompt
            for t in range(prompt, prompt + new):
                probs = torch.softmax(logits[:, -1], dim=-1)
                nxt = torch.multinomial(probs, 1, generator=gen)
                if t == T - 1:
                    break
                logits = model(nxt, patches[:, t:t + 1], positions[t:t + 1], caches)
                for c in caches:
                    c["length"] = t + 1

    ms = median_ms(generate, max(1, reps // 3))
    emit({"name": f"generate {name} B={B}", "impl": "pytorch cpu", "ms": ms, "throughput": B * new / ms * 1e3,
          "unit": "tokens/s",
          "note": note + f", prefill {prompt} then {new} sampled tokens per sequence, KV cache"})


def read_safetensors(torch, path):
    with open(path, "rb") as f:
        size = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(size))
        data = f.read()
    meta = header.pop("__metadata__")
    tensors = {}
    for name, info in header.items():
        assert info["dtype"] == "F32", name
        lo, hi = info["data_offsets"]
        tensors[name] = torch.frombuffer(bytearray(data[lo:hi]), dtype=torch.float32).reshape(info["shape"])
    return meta, tensors


def check_fixture(torch, Policy):
    """This model, loaded from the fixture checkpoint, against the fixture's logp and entropy
    (an independent cross-check of dev/make_policy_fixture.py and of the checkpoint writer)."""
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "test", "fixtures", "policy")
    manifest = json.load(open(os.path.join(root, "manifest.json")))
    meta, tensors = read_safetensors(torch, os.path.join(root, manifest["files"]["checkpoint"]))
    assert meta["format"] == "pyvision-rl-policy" and meta["version"] == "1", meta
    cfg = json.loads(meta["config"])
    model = Policy(cfg)
    model.load_state_dict(tensors, strict=True)
    load = lambda key: torch.frombuffer(bytearray(open(os.path.join(root, manifest["files"][key]), "rb").read()),
                                        dtype=torch.float32)
    patches = load("patches").reshape(-1, cfg["patchDim"])
    tokens = torch.tensor(manifest["tokens"])
    offsets = manifest["seqOffsets"]
    lps, ents = [], []
    with torch.no_grad():
        for s in range(len(offsets) - 1):
            lo, hi = offsets[s], offsets[s + 1]
            tok = tokens[lo:hi].unsqueeze(0)
            logits = model(tok, patches[lo:hi].unsqueeze(0), torch.arange(hi - lo))
            lp, ent = logprobs_of(torch, logits, tok)
            lps.append(lp[0])
            ents.append(ent[0])
    worst = 0.0
    for got, key in ((torch.cat(lps), "logp"), (torch.cat(ents), "entropy")):
        want = load(key)
        err = float(((got - want).abs() / (1e-5 + 1e-4 * want.abs())).max())
        worst = max(worst, err)
        print(f"{key}: worst margin {err:.3f} (|a-b| <= 1e-5 + 1e-4|b|)")
    if worst > 1:
        sys.exit("fixture check FAILED")
    print("fixture check passed")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--configs", default="tiny,small")
    parser.add_argument("--check-fixture", action="store_true")
    args = parser.parse_args()
    try:
        import torch
    except ImportError:
        emit({"name": "policy peers", "impl": "pytorch cpu", "ms": 0, "note": "skipped: torch is not installed"})
        try:
            matmul_row(args.quick)
        except ImportError:
            pass
        return
    torch.set_num_threads(2)
    Policy = build(torch)
    if args.check_fixture:
        check_fixture(torch, Policy)
        return
    matmul_row(args.quick)
    for name in args.configs.split(","):
        bench_config(torch, Policy, name, CONFIGS[name], args.quick)


if __name__ == "__main__":
    main()
