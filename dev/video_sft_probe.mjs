// An SFT checkpoint of the video experiment on N val tasks: its greedy first action against the expert's program (do
// the queries copy the question's words?), greedy accuracy, and teacher-forced accuracy (the expert's trajectory, the
// policy choosing among the options by log-prob: does it read the answer from what the expert showed?), per type.
//   npm run build && node dev/video_sft_probe.mjs CHECKPOINT/policy.safetensors on-demand|uniform-K [N]
import { VideoQAWorld } from '../dist/lib/worlds/video-qa.js';
import { replayExpert } from '../dist/lib/rollout/expert.js';
import { rollout } from '../dist/lib/rollout/rollout.js';
import { packTrajectories } from '../dist/lib/rollout/pack.js';
import { Policy } from '../dist/lib/policy/policy.js';
const [ck, arm, nArg] = process.argv.slice(2);
const k = arm === 'on-demand' ? null : Number(arm.split('-')[1]);
const world = new VideoQAWorld(k === null ? { context: 'on-demand' } : { context: { uniform: k } });
const policy = await Policy.load(ck, { threads: 1, optimizer: false });
const tasks = world.tasks('val', Number(nArg ?? 48), 0);
const tok = world.tokenizer;
const dec = (ids) => Array.from(ids).filter((x) => x >= 0).map((x) => tok.decode([x])).join(' ');
const ex = await replayExpert({ world, tasks, seed: 7 });
const gr = await rollout({ policy, world, tasks, groupSize: 1, temperature: 0, maxTurns: 5, maxTurnTokens: 72, seed: 1 });
const ansId = tok.id('<answer>'), ansEnd = tok.id('</answer>');
// teacher-forced choice among the options
const seqs = [], meta = [];
ex.forEach((t, i) => {
  const toks = Array.from(t.tokens); const a = toks.lastIndexOf(ansId);
  tasks[i].options.forEach((opt) => {
    const body = Array.from(tok.encode(opt));
    const nt = Int32Array.from([...toks.slice(0, a + 1), ...body, ansEnd]);
    const mask = new Uint8Array(nt.length); for (let j = a + 1; j < nt.length; j++) mask[j] = 1;
    seqs.push({ ...t, tokens: nt, mask, logp: new Float32Array(nt.length) }); meta.push({ i, opt });
  });
});
const scores = new Map();
for (let s = 0; s < seqs.length; s += 32) {
  const chunk = seqs.slice(s, s + 32); const pk = packTrajectories(chunk);
  const { logp } = await policy.logprobs(pk.batch);
  chunk.forEach((c, j) => { let sum = 0; for (let p = pk.batch.seqOffsets[j]; p < pk.batch.seqOffsets[j + 1]; p++) if (pk.mask[p]) sum += logp[p]; const m = meta[s + j]; const best = scores.get(m.i); if (!best || sum > best.s) scores.set(m.i, { s: sum, opt: m.opt }); });
}
const per = {};
tasks.forEach((task, i) => {
  const g = gr[i]; const e = ex[i];
  const firstAct = (t) => { const x = Array.from(t.tokens); const a = x.indexOf(tok.id('<code>')); const b = x.indexOf(tok.id('</code>')); return a < 0 ? dec(x.slice(x.indexOf(ansId))) : dec(x.slice(a, b + 1)); };
  const same = firstAct(g) === firstAct(e);
  const r = (per[task.type] ??= { n: 0, acc: 0, tf: 0, same: 0, accSame: 0 });
  r.n++; r.acc += g.acc; r.tf += world.verify(task, scores.get(i).opt); r.same += same ? 1 : 0; r.accSame += same ? g.acc : 0;
  if (i < 8) console.log(task.type, '| expert:', firstAct(e).slice(0, 120), '\n      | policy:', firstAct(g).slice(0, 120), '| ans', g.answer, 'truth', task.answer);
});
let tot = { n: 0, acc: 0, tf: 0, same: 0 };
for (const [ty, r] of Object.entries(per)) { console.log(ty, `n ${r.n} greedy acc ${(r.acc / r.n).toFixed(2)} teacher-forced acc ${(r.tf / r.n).toFixed(2)} program = expert ${(r.same / r.n).toFixed(2)} acc | same ${(r.accSame / Math.max(1, r.same)).toFixed(2)}`); tot.n += r.n; tot.acc += r.acc; tot.tf += r.tf; tot.same += r.same; }
console.log('all', `greedy ${(tot.acc / tot.n).toFixed(3)} teacher-forced ${(tot.tf / tot.n).toFixed(3)} same program ${(tot.same / tot.n).toFixed(3)}`);
