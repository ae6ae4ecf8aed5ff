#!/usr/bin/env node
/**
 * Runs the training experiments of lib/train/experiments.ts from the compiled
 * library (npm run build first), for docs/experiments.md:
 *
 *   node dev/run-experiments.mjs collapse|ablations OUT_DIR [--seeds N] [--quick] [--threads N] [--sft CHECKPOINT] [--set key=json ...]
 *
 * and writes the plots (OUT_DIR/plots/*.svg, OUT_DIR/experiment.html).
 * (`npx pyvision-rl experiment ...` runs the same functions.)
 */
import { runAblations, runCollapse } from '../dist/lib/train/experiments.js';
import { writeExperimentPlots } from '../dist/lib/report/index.js';

const [name, outDir, ...rest] = process.argv.slice(2);
if (!['collapse', 'ablations'].includes(name) || !outDir) {
  console.error('usage: node dev/run-experiments.mjs collapse|ablations OUT_DIR [--seeds N] [--quick] [--threads N] [--set key=json ...]');
  process.exit(2);
}
let seeds = 3;
let quick = false;
let sftCheckpoint;
const base = {};
for (let i = 0; i < rest.length; i++) {
  if (rest[i] === '--seeds') seeds = Number(rest[++i]);
  else if (rest[i] === '--quick') quick = true;
  else if (rest[i] === '--threads') base.threads = Number(rest[++i]);
  else if (rest[i] === '--sft') sftCheckpoint = rest[++i];
  else if (rest[i] === '--set') {
    const [k, v] = rest[++i].split('=');
    base[k] = JSON.parse(v);
  } else throw new Error(`unknown argument ${rest[i]}`);
}
const log = (line) => console.log(`${new Date().toISOString()} ${line}`);
const run = name === 'collapse' ? runCollapse : runAblations;
const report = await run({ outDir, seeds, quick, base, log, sftCheckpoint });
console.log(report.markdown);
// OUT_DIR/plots/<metric>.svg and OUT_DIR/experiment.html, as the CLI writes them.
const { svgs } = await writeExperimentPlots(report);
console.log(`plots: ${svgs.join(', ')}`);
console.log(`wall time ${(report.seconds / 60).toFixed(1)} min`);
