#!/usr/bin/env python3
"""Hyperparameter sweep of a one-view probe on the PyTorch twin of the policy (bench/policy_torch.py's
model of policy.md): trains on the samples that `node dev/probe-twin.mjs dump MODE COUNT DIR` wrote
(fresh random batches from them, the answer token alone), and prints the held-out answer loss and
accuracy every 100 steps. Tells whether the plateaus of docs/experiments.md depend on the optimiser's
settings.
  python3 dev/probe-sweep.py DIR STEPS LR BATCH [dim=C] [layers=L] [heads=H] [wd=W] [b2=BETA2]
                             [warm=STEPS] [seed=S]
AdamW (betas 0.9 / b2, weight decay wd on 2-D tensors), linear warm-up over `warm` steps, grad
clip 1.0, one thread.
"""
import json, os, sys, time
import numpy as np
import torch
sys.path.insert(0, os.path.join(os.path.dirname(__file__), '..', 'bench'))
from policy_torch import build
torch.set_num_threads(1)
d = sys.argv[1]; steps = int(sys.argv[2]); lr = float(sys.argv[3]); bs = int(sys.argv[4])
extra = dict(a.split('=') for a in sys.argv[5:])
cfg = json.load(open(f'{d}/config.json'))
for k in ('dim', 'layers', 'heads'):
    if k in extra: cfg[k] = int(extra[k])
def load(name):
    m = json.load(open(f'{d}/{name}.json'))
    tok = np.fromfile(f'{d}/{name}.tok', dtype=np.int32).reshape(m['count'], m['len'])
    pat = np.fromfile(f'{d}/{name}.pat', dtype=np.uint8).reshape(m['count'], m['patches'], m['patchDim'])
    return torch.from_numpy(tok.astype(np.int64)), torch.from_numpy(pat.astype(np.float32) / 255 - 0.5)
tok, pat = load('train'); htok, hpat = load('held')
torch.manual_seed(int(extra.get('seed', 0)))
net = build(torch)(cfg)
wd = float(extra.get('wd', 0.01)); b2 = float(extra.get('b2', 0.999)); warm = int(extra.get('warm', 0))
matrices = [p for p in net.parameters() if p.dim() == 2]; vectors = [p for p in net.parameters() if p.dim() < 2]
opt = torch.optim.AdamW([{'params': matrices, 'weight_decay': wd}, {'params': vectors, 'weight_decay': 0.0}], lr=lr, betas=(0.9, b2))
positions = torch.arange(tok.shape[1] - 1)
def answer_loss(t, p, acc=False):
    inputs = t[:, :-1]
    full = torch.zeros(inputs.shape[0], inputs.shape[1], p.shape[2])
    full[inputs < 0] = p.reshape(-1, p.shape[2])
    logits = net(inputs, full, positions)
    l = torch.nn.functional.cross_entropy(logits[:, -1], t[:, -1])
    return (l, (logits[:, -1].argmax(-1) == t[:, -1]).float().mean()) if acc else l
t0 = time.time(); line = []
for step in range(steps + 1):
    if step % 100 == 0:
        with torch.no_grad():
            h, a = answer_loss(htok, hpat, True)
        line.append(f'{step}:{h.item():.3f}/{a.item():.2f}')
    if step == steps: break
    for g in opt.param_groups: g['lr'] = lr * min(1.0, (step + 1) / warm) if warm else lr
    idx = torch.randint(0, tok.shape[0], (bs,))
    loss = answer_loss(tok[idx], pat[idx])
    opt.zero_grad(); loss.backward(); torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0); opt.step()
print(os.path.basename(d), f'lr={lr} bs={bs}', extra, f'{time.time()-t0:.0f}s', ' '.join(line), flush=True)
