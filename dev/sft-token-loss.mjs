/**
 * Per-token loss of an SFT checkpoint on 200 held-out expert trajectories of the visual-search world, by kind of
 * token (box numbers, the answer word, the zoom-or-answer decision, syntax). After npm run build:
 *   node dev/sft-token-loss.mjs RUN/checkpoints/step-00000000/policy.safetensors ['{"world options"}']
 */
import { VisualSearchWorld } from '../dist/lib/worlds/visual-search/world.js';
import { replayExpert } from '../dist/lib/rollout/expert.js';
import { Policy } from '../dist/lib/policy/policy.js';
import { packTrajectories as packSequences } from '../dist/lib/rollout/pack.js';
const world = new VisualSearchWorld(JSON.parse(process.argv[3] ?? '{}'));
const p = await Policy.load(process.argv[2], { threads: 1 });
const tasks = world.tasks('val', 200, 0);
const tr = await replayExpert({ world, tasks, seed: 5 });
const packed = packSequences(tr);
const { logp } = await p.logprobs(packed.batch);
const byTok = new Map();
const cat = (w, prev) => (w === '<code>' || w === '<answer>') ? 'decision:' + w : /^\d+$/.test(w) ? 'number' : prev === '<answer>' ? 'answer-word' : w;
for (let b = 0; b < tr.length; b++) {
  const lo = packed.batch.seqOffsets[b];
  const t = tr[b];
  for (let i = 0; i < t.tokens.length; i++) if (t.mask[i]) {
    const w = world.tokenizer.token(t.tokens[i]); const prev = world.tokenizer.token(t.tokens[i - 1]);
    const k = cat(w, prev);
    const e = byTok.get(k) ?? [0, 0]; e[0] += -logp[lo + i]; e[1]++; byTok.set(k, e);
  }
}
const rows = [...byTok.entries()].map(([k, [s, n]]) => [k, s / n, n, s]).sort((a, b) => b[3] - a[3]);
for (const r of rows.slice(0, 15)) console.log(r[0].padEnd(22), 'mean nll', r[1].toFixed(3), 'n', r[2], 'total', r[3].toFixed(0));
