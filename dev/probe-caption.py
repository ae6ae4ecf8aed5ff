#!/usr/bin/env python3
"""Trains the PyTorch twin of the policy (bench/policy_torch.py's model of policy.md, L=2 C=96 H=4,
AdamW lr 2e-3 with the engine's other defaults, grad clip 1.0, one thread) on the scenes that
`node dev/probe-caption.mjs COUNT DIR` wrote, 32 scenes per step:
  qa    32 one-token shape questions
  mix   16 shape questions and 16 descriptions (every object's colour and shape: 2K tokens each),
        the loss a mean over all supervised tokens
and prints, every 100 steps, the held-out shape question's loss and accuracy (the most likely of
the four shapes) and, for mix, the held-out descriptions' shape-token accuracy.
  python3 dev/probe-caption.py DIR STEPS qa|mix [seed=S]
"""
import json, os, sys, time
import numpy as np
import torch
sys.path.insert(0, os.path.join(os.path.dirname(__file__), '..', 'bench'))
from policy_torch import build  # noqa: E402

torch.set_num_threads(1)
d, steps, mode = sys.argv[1], int(sys.argv[2]), sys.argv[3]
extra = dict(a.split('=') for a in sys.argv[4:])
cfg = json.load(open(f'{d}/config.json'))
shape_ids = torch.tensor(json.load(open(f'{d}/shapes.json')))


def load(name):
    pat_m = json.load(open(f'{d}/{name}_qa.json'))
    pat = np.fromfile(f'{d}/{name}.pat', dtype=np.uint8).reshape(pat_m['count'], pat_m['patches'], pat_m['patchDim'])
    out = {'pat': torch.from_numpy(pat.astype(np.float32) / 255 - 0.5)}
    for kind in ('qa', 'cap'):
        m = json.load(open(f'{d}/{name}_{kind}.json'))
        tok = np.fromfile(f'{d}/{name}_{kind}.tok', dtype=np.int32).reshape(m['count'], m['len'])
        out[kind] = (torch.from_numpy(tok.astype(np.int64)), m['answerTokens'])
    return out


train, held = load('train'), load('held')
torch.manual_seed(int(extra.get('seed', 0)))
net = build(torch)(cfg)
matrices = [p for p in net.parameters() if p.dim() == 2]
vectors = [p for p in net.parameters() if p.dim() < 2]
opt = torch.optim.AdamW([{'params': matrices, 'weight_decay': 0.01}, {'params': vectors, 'weight_decay': 0.0}], lr=2e-3)


def logits_of(tok, pat):
    inputs = tok[:, :-1]
    full = torch.zeros(inputs.shape[0], inputs.shape[1], pat.shape[2])
    full[inputs < 0] = pat.reshape(-1, pat.shape[2])
    return net(inputs, full, torch.arange(inputs.shape[1]))


def supervised(set_, kind, ids):
    tok, k = set_[kind]
    t = tok[ids]
    logits = logits_of(t, set_['pat'][ids])[:, -k:]
    return logits, t[:, -k:]


def evaluate():
    with torch.no_grad():
        ids = torch.arange(held['pat'].shape[0])
        logits, target = supervised(held, 'qa', ids)
        loss = torch.nn.functional.cross_entropy(logits[:, -1], target[:, -1]).item()
        acc = (shape_ids[logits[:, -1][:, shape_ids].argmax(1)] == target[:, -1]).float().mean().item()
        cap = None
        if mode == 'mix':
            logits, target = supervised(held, 'cap', ids)
            s = logits[:, 1::2]  # the shape tokens (odd answer positions)
            cap = (shape_ids[s[..., shape_ids].argmax(-1)] == target[:, 1::2]).float().mean().item()
    return loss, acc, cap


g = torch.Generator().manual_seed(int(extra.get('seed', 0)))
n = train['pat'].shape[0]
t0 = time.time()
for step in range(steps + 1):
    if step % 100 == 0:
        loss, acc, cap = evaluate()
        extra_s = f', description shape accuracy {cap:.3f}' if cap is not None else ''
        print(f'{mode} step {step}: held-out shape question loss {loss:.3f} (uniform 1.386), accuracy {acc:.3f}{extra_s}, {time.time() - t0:.0f} s', flush=True)
    if step == steps:
        break
    if mode == 'qa':
        logits, target = supervised(train, 'qa', torch.randint(0, n, (32,), generator=g))
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), target.reshape(-1))
    else:
        lq, tq = supervised(train, 'qa', torch.randint(0, n, (16,), generator=g))
        lc, tc = supervised(train, 'cap', torch.randint(0, n, (16,), generator=g))
        logits = torch.cat([lq.reshape(-1, lq.shape[-1]), lc.reshape(-1, lc.shape[-1])])
        loss = torch.nn.functional.cross_entropy(logits, torch.cat([tq.reshape(-1), tc.reshape(-1)]))
    opt.zero_grad()
    loss.backward()
    torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
    opt.step()
