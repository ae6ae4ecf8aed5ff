#!/usr/bin/env python3
"""Scratch: where PyTorch's CPU train step of bench/policy_torch.py (small config) spends its
time, per aten op (torch.profiler, 3 steps after 2 warm-up steps, 2 threads).
    python3 dev/policy_torch_profile.py"""
import os
import sys

os.environ.setdefault("OMP_NUM_THREADS", "2")
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "bench"))
import torch  # noqa: E402
import policy_torch as pt  # noqa: E402
from torch.profiler import ProfilerActivity, profile  # noqa: E402

torch.set_num_threads(2)
Policy = pt.build(torch)
cfg = pt.CONFIGS["small"]
gen = torch.Generator().manual_seed(0)
torch.manual_seed(0)
model = Policy(cfg)
tokens, patches = pt.make_batch(torch, cfg, pt.BATCH, cfg["maxSeqLen"], gen)
positions = torch.arange(cfg["maxSeqLen"])
mask = (tokens >= 0).float()
mask[:, 0] = 0
opt = torch.optim.AdamW(model.parameters(), lr=1e-4, weight_decay=0.0)


def step():
    opt.zero_grad(set_to_none=True)
    lp, _ = pt.logprobs_of(torch, model(tokens, patches, positions), tokens)
    loss = -(lp * mask).sum() / mask.sum()
    loss.backward()
    opt.step()


step()
step()
with profile(activities=[ProfilerActivity.CPU]) as prof:
    for _ in range(3):
        step()
print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=25))
