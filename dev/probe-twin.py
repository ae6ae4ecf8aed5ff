#!/usr/bin/env python3
"""The PyTorch twin of dev/probe-twin.mjs (bench/policy_torch.py's model of policy.md): writes the
initial weights (torch.manual_seed(0), DIR/init/NAME.f32 and index.json) and the order of the
training batches (32 samples per step from torch's global generator, DIR/batches.i32); with
--train it also trains itself on them (AdamW lr 2e-3, weight decay 0.01 on 2-D tensors, grad clip
1.0: the engine's defaults) and writes DIR/twin-losses.json (loss, grad norm, and the held-out
answer loss every 50 steps, before the step).
  python3 dev/probe-twin.py DIR STEPS [--train]
"""
import json, os, sys
import numpy as np
import torch
sys.path.insert(0, os.path.join(os.path.dirname(__file__), '..', 'bench'))
from policy_torch import build  # noqa: E402

torch.set_num_threads(1)
d, steps, train = sys.argv[1], int(sys.argv[2]), '--train' in sys.argv
cfg = json.load(open(f'{d}/config.json'))


def load(name):
    m = json.load(open(f'{d}/{name}.json'))
    tok = np.fromfile(f'{d}/{name}.tok', dtype=np.int32).reshape(m['count'], m['len'])
    pat = np.fromfile(f'{d}/{name}.pat', dtype=np.uint8).reshape(m['count'], m['patches'], m['patchDim'])
    return torch.from_numpy(tok.astype(np.int64)), torch.from_numpy(pat.astype(np.float32) / 255 - 0.5)


tok, pat = load('train')
htok, hpat = load('held')
torch.manual_seed(0)
net = build(torch)(cfg)
os.makedirs(f'{d}/init', exist_ok=True)
index = {}
for name, p in net.state_dict().items():
    p.detach().numpy().astype(np.float32).tofile(f'{d}/init/{name}.f32')
    index[name] = list(p.shape)
json.dump(index, open(f'{d}/init/index.json', 'w'))
batches = torch.stack([torch.randint(0, tok.shape[0], (32,)) for _ in range(steps)])
batches.numpy().astype(np.int32).tofile(f'{d}/batches.i32')
if not train:
    sys.exit(0)

matrices = [p for p in net.parameters() if p.dim() == 2]
vectors = [p for p in net.parameters() if p.dim() < 2]
opt = torch.optim.AdamW([{'params': matrices, 'weight_decay': 0.01}, {'params': vectors, 'weight_decay': 0.0}], lr=2e-3)
positions = torch.arange(tok.shape[1] - 1)


def answer_loss(t, p):
    # patches fill the visual positions in order; the answer token is the last one
    inputs = t[:, :-1]
    full = torch.zeros(inputs.shape[0], inputs.shape[1], p.shape[2])
    full[inputs < 0] = p.reshape(-1, p.shape[2])
    logits = net(inputs, full, positions)
    return torch.nn.functional.cross_entropy(logits[:, -1], t[:, -1])


out = []
for step in range(steps):
    held = None
    if step % 50 == 0:
        with torch.no_grad():
            held = answer_loss(htok, hpat).item()
    loss = answer_loss(tok[batches[step]], pat[batches[step]])
    opt.zero_grad()
    loss.backward()
    norm = torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
    opt.step()
    out.append({'loss': loss.item(), 'gradNorm': norm.item(), 'held': held})
    if held is not None:
        print(f'step {step}: held-out answer loss {held:.3f}; batch loss {loss.item():.5f}, grad norm {norm.item():.5f}', flush=True)
json.dump(out, open(f'{d}/twin-losses.json', 'w'))
