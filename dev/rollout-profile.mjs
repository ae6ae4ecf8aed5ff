// CPU profile of rollout() at the bench's default configuration (bench/rollout.bench.ts), the
// rollouts alone (not the SFT that teaches the policy the protocol). Writes one .cpuprofile per
// world and prints the functions with the most self time; with PHASES=1, no profiler: the time of
// each phase per rollout (as the bench's rows) instead.
//
//   npx tsc -p tsconfig.bench.json && node dev/rollout-profile.mjs [OUT_DIR] [ROLLOUTS]
//   PHASES=1 node dev/rollout-profile.mjs [OUT_DIR] [ROLLOUTS]
// REPLAY=1: the policy's native calls (startSession, generate, append, end) replaced by the results
// they returned in a first rollout, so that what is timed (and profiled) is the orchestration alone,
// on one thread, whatever else runs on the machine.
import { Session } from 'node:inspector/promises';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { emptyTimings, rollout, VisualSearchWorld } from '../dist/bench/lib/index.js';
import { BenchWorld, taughtPolicy } from '../dist/bench/bench/rollout.bench.js';

const out = process.argv[2] ?? 'rollout-profile';
const n = Number(process.argv[3] ?? 10);
mkdirSync(out, { recursive: true });
const common = { groupSize: 8, temperature: 1, maxTurns: 5, maxTurnTokens: 32, maxObsTokens: 16, seed: 7 };

function summary(profile, top = 30) {
  const self = new Map();
  const byId = new Map(profile.nodes.map((nd) => [nd.id, nd]));
  const dt = profile.timeDeltas;
  const counts = new Map();
  profile.samples.forEach((id, i) => counts.set(id, (counts.get(id) ?? 0) + (dt[i] ?? 0)));
  let total = 0;
  for (const [id, us] of counts) {
    const f = byId.get(id).callFrame;
    const key = `${f.functionName || '(anon)'} ${f.url.split('/').slice(-2).join('/')}:${f.lineNumber + 1}`;
    self.set(key, (self.get(key) ?? 0) + us);
    total += us;
  }
  return [...self.entries()].sort((a, b) => b[1] - a[1]).slice(0, top).map(([k, us]) => `${(us / 1e3).toFixed(1).padStart(8)} ms ${((100 * us) / total).toFixed(1).padStart(5)}%  ${k}`).join('\n');
}

function phases(label, t, n) {
  const native = t.start + t.generate + t.append;
  const rows = ['prompt', 'start', 'generate', 'decode', 'tool', 'observation', 'append', 'finish'].map((k) => `${k} ${(t[k] / n).toFixed(2)} ms ${((100 * t[k]) / t.total).toFixed(1)}%`);
  console.log(`== ${label}: ${(t.total / n).toFixed(1)} ms per rollout; orchestration ${((100 * (t.total - native)) / t.total).toFixed(1)}%\n  ${rows.join('\n  ')}`);
}

/** Records the native calls of one rollout, then makes the policy replay them. */
async function replaying(settings) {
  const { policy } = settings;
  const outs = [];
  const real = policy.startSession.bind(policy);
  policy.startSession = async (batch) => {
    const session = await real(batch);
    const generate = session.generate.bind(session);
    session.generate = async (o) => {
      const out = await generate(o);
      outs.push(out);
      return out;
    };
    return session;
  };
  await rollout(settings);
  policy.startSession = async () => {
    let k = 0;
    return {
      generate: async () => outs[k++],
      append: async (b) => ({ overflowed: new Uint8Array(b.seqOffsets.length - 1) }),
      end: async () => {},
      dispose() {},
    };
  };
}

async function profile(label, settings) {
  if (process.env.REPLAY === '1') await replaying(settings);
  await rollout(settings);
  if (process.env.PHASES === '1') {
    const t = emptyTimings();
    const cpu = process.cpuUsage();
    for (let i = 0; i < n; i++) await rollout({ ...settings, timings: t });
    const used = process.cpuUsage(cpu);
    phases(label, t, n);
    console.log(`  process CPU time ${((used.user + used.system) / 1e3 / n).toFixed(1)} ms per rollout (all threads)`);
    return;
  }
  const session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.setSamplingInterval', { interval: 100 });
  await session.post('Profiler.start');
  const t0 = performance.now();
  for (let i = 0; i < n; i++) await rollout(settings);
  const ms = (performance.now() - t0) / n;
  const { profile: p } = await session.post('Profiler.stop');
  session.disconnect();
  writeFileSync(join(out, `${label}.cpuprofile`), JSON.stringify(p));
  console.log(`== ${label}: ${ms.toFixed(1)} ms per rollout (profiled)\n${summary(p)}`);
}

const synthetic = new BenchWorld();
const p1 = await taughtPolicy(synthetic, synthetic.tasks('train', 64, 0), 40, 3e-3);
await profile('synthetic', { ...common, policy: p1, world: synthetic, tasks: synthetic.tasks('val', 32, 0) });
const search = new VisualSearchWorld({ cue: 'attribute', patch: 16 });
const p2 = await taughtPolicy(search, search.tasks('train', 32, 0), 80, 3e-3);
await profile('visual-search', { ...common, maxTurnTokens: 48, maxObsTokens: 64, policy: p2, world: search, tasks: search.tasks('val', 32, 0) });
