// Details of a video experiment's runs (after runVideoExperiment / `experiment video --out OUT_DIR`), from
// OUT_DIR/results.json and each run's metrics.jsonl: per arm, the mean over seeds of the test accuracy per
// question type, the validation accuracy after SFT and after RL, the train accuracy of the first and last
// quarter of the RL steps, and the RL step by phase (seconds, mean over steps and seeds). Writes OUT_DIR/summary.md.
//   node dev/video_summary.mjs OUT_DIR
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
const out = process.argv[2];
const report = JSON.parse(readFileSync(join(out, 'results.json'), 'utf8'));
const mean = (xs) => { const v = xs.filter((x) => typeof x === 'number' && Number.isFinite(x)); return v.length ? v.reduce((a, b) => a + b, 0) / v.length : NaN; };
const f = (x, d = 3) => (Number.isFinite(x) ? x.toFixed(d) : 'n/a');
const types = ['presence', 'colour', 'order', 'count'];
const phases = ['timing/gen', 'timing/tool', 'timing/score', 'timing/update', 'timing/step'];
const lines = [
  `| arm | seeds | test acc | ${types.join(' | ')} | val acc after SFT | val acc after RL | train acc, first quarter | train acc, last quarter | ${phases.map((p) => p.slice(7)).join(' | ')} (s per RL step) |`,
  `|---|---|---|${types.map(() => '---').join('|')}|---|---|---|---|${phases.map(() => '---').join('|')}|`,
];
for (const arm of report.arms) {
  const runs = report.runs.filter((r) => r.arm === arm.arm);
  const steps = runs.map((r) => readFileSync(join(r.dir, 'metrics.jsonl'), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l)).filter((m) => m.step > 0));
  const quarter = (rows, last) => { const q = Math.max(1, Math.floor(rows.length / 4)); return mean((last ? rows.slice(-q) : rows.slice(0, q)).map((m) => m['critic/acc/mean'])); };
  lines.push(`| ${arm.arm} | ${runs.length} | ${f(arm.acc.mean)} | ${types.map((t) => f(mean(runs.map((r) => r.test?.per_type?.[t]?.acc)), 2)).join(' | ')} | ${f(mean(runs.map((r) => r.valAccSft)))} | ${f(mean(runs.map((r) => r.valAccLast)))} | ${f(mean(steps.map((s) => quarter(s, false))))} | ${f(mean(steps.map((s) => quarter(s, true))))} | ${phases.map((p) => f(mean(steps.flat().map((m) => m[p])), 2)).join(' | ')} |`);
}
writeFileSync(join(out, 'summary.md'), lines.join('\n') + '\n');
console.log(lines.join('\n'));
