/**
 * Greedy test rollouts of a checkpoint on the visual-search world, broken down by question type and difficulty:
 * accuracy, tool calls, share of first crops containing the target's centre, accuracy when the crop hit,
 * and the most common answers. After npm run build:
 *   node dev/eval-breakdown.mjs RUN/checkpoints/step-XXXXXXXX/policy.safetensors ['{"world options"}'] [n]
 */
import { VisualSearchWorld } from '../dist/lib/worlds/visual-search/world.js';
import { rollout } from '../dist/lib/rollout/rollout.js';
import { Policy } from '../dist/lib/policy/policy.js';
const world = new VisualSearchWorld(JSON.parse(process.argv[3] ?? '{}'));
const policy = await Policy.load(process.argv[2], { threads: 1, optimizer: false });
const tasks = world.tasks('test', Number(process.argv[4] ?? 200), 0);
const trajs = await rollout({ policy, world, tasks, groupSize: 1, temperature: 0, maxTurns: 30, maxTurnTokens: 32, seed: 0 });
const rows = new Map();
const answers = new Map();
for (const t of trajs) {
  const k = `${t.task.type}/${t.task.difficulty}`;
  const r = rows.get(k) ?? { n: 0, acc: 0, tc: 0, crops: 0, hit: 0, hitAcc: 0, err: 0 };
  r.n++; r.acc += t.acc; r.tc += t.toolCalls; if (t.endReason !== 0) r.err++;
  const crops = t.record.crops ?? [];
  if (crops.length > 0) { r.crops++; const h = crops.some((c) => !c.missed); if (h) { r.hit++; r.hitAcc += t.acc; } }
  rows.set(k, r);
  const a = answers.get(t.task.type) ?? new Map(); a.set(t.answer, (a.get(t.answer) ?? 0) + 1); answers.set(t.task.type, a);
}
console.log('type/difficulty  n  acc  toolcalls  not-DONE  with-crop  crop-hit  acc|hit');
for (const [k, r] of [...rows.entries()].sort()) console.log(k.padEnd(18), r.n, (r.acc / r.n).toFixed(2), (r.tc / r.n).toFixed(2), (r.err / r.n).toFixed(2), (r.crops / r.n).toFixed(2), r.crops ? (r.hit / r.crops).toFixed(2) : '-', r.hit ? (r.hitAcc / r.hit).toFixed(2) : '-');
const all = trajs.reduce((a, t) => a + t.acc, 0) / trajs.length;
console.log('all acc', all.toFixed(3), 'tool calls', (trajs.reduce((a, t) => a + t.toolCalls, 0) / trajs.length).toFixed(2));
for (const [k, a] of answers) console.log(k, [...a.entries()].sort((x, y) => y[1] - x[1]).slice(0, 5).map(([w, c]) => `${w}:${c}`).join(' '));
