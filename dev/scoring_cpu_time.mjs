// Scratch: CPU time per call (process.cpuUsage, so that other load on a
// shared machine inflates it less than wall time) of groupAdvantages and
// selectRollouts on 1M trajectories in groups of 8, adjacent and shuffled
// (ids (i / 8) * 7919; and shuffled with ids 0..G-1),
// for several builds of the addon loaded into one process and called
// interleaved (median and min of 7 rounds). Run with PYVISION_RL_THREADS=1.
//   PYVISION_RL_THREADS=1 node dev/scoring_cpu_time.mjs positional:/path/a.node options:/path/b.node ...
// "positional": builds before commit 78f830c (positional arguments);
// "options": builds from 78f830c on (one options object per call).
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const builds = process.argv.slice(2).map((arg, k) => {
  const [convention, path] = arg.split(/:(.*)/s);
  return { name: `${k}:${convention}`, convention, addon: require(path) };
});
const n = 1 << 20;
let seed = 7;
const rand = () => (seed = (seed * 1103515245 + 12345) >>> 0) / 4294967296;
const rewards = new Float32Array(n).map(() => (rand() < 0.45 ? 1 + Math.floor(rand() * 5) * 0.1 : 0)).map(Math.fround);
const groups = new Int32Array(n).map((_, i) => Math.floor(i / 8) * 7919);
const endReasons = new Uint8Array(n).map(() => (rand() < 0.8 ? 0 : Math.floor(rand() * 5)));
const toolImages = new Int32Array(n).map(() => Math.floor(rand() * 3));
const lengths = new Int32Array(n).map(() => 10 + Math.floor(rand() * 4000));
const perm = Array.from({ length: n }, (_, i) => i);
for (let i = n - 1; i > 0; i--) {
  const j = Math.floor(rand() * (i + 1));
  [perm[i], perm[j]] = [perm[j], perm[i]];
}
const permute = (a) => a.map((_, i) => a[perm[i]]);
const layouts = {
  adjacent: { rewards, groups, endReasons, toolImages, lengths },
  shuffled: { rewards: permute(rewards), groups: permute(groups), endReasons: permute(endReasons), toolImages: permute(toolImages), lengths: permute(lengths) },
};
// The shuffled batch with ids 0..G-1 (a range of at most N ids: direct addressing from ef9fddb on).
layouts['shuffled-dense'] = { ...layouts.shuffled, groups: layouts.shuffled.groups.map((g) => g / 7919) };
const keep = Uint8Array.from([0, 1, 2]);
const calls = {
  groupAdvantages: (b, x) =>
    b.convention === 'positional'
      ? b.addon.groupAdvantages(0, x.rewards, x.groups, 0, 1e-6)
      : b.addon.groupAdvantages({ backend: 'cpu', rewards: x.rewards, groups: x.groups, scale: 'none', eps: 1e-6 }),
  selectRollouts: (b, x) =>
    b.convention === 'positional'
      ? b.addon.selectRollouts(0, x.rewards, x.groups, x.endReasons, x.toolImages, x.lengths, n / 4, 7, true, 3500, true)
      : b.addon.selectRollouts({ backend: 'cpu', ...x, target: n / 4, keepEndReasons: keep, requireToolImage: true, maxLength: 3500, rank: 'std' }),
};
const results = {};
for (let round = 0; round < 7; round++) {
  for (const [layout, x] of Object.entries(layouts)) {
    for (const b of builds) {
      for (const [fn, call] of Object.entries(calls)) {
        const before = process.cpuUsage();
        await call(b, x);
        const used = process.cpuUsage(before);
        (results[`${fn} ${layout} ${b.name}`] ??= []).push((used.user + used.system) / 1000);
      }
    }
  }
}
for (const [key, ms] of Object.entries(results)) {
  ms.sort((a, b) => a - b);
  console.log(`${key.padEnd(40)} median ${ms[3].toFixed(1)} ms  min ${ms[0].toFixed(1)} ms`);
}
