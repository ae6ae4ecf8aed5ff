/** The experiments' plumbing on the stub world (--quick sizes): runs, tables, series. */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runAblations, runCollapse } from '../../lib/train/experiments.js';
import { ABLATIONS } from '../../lib/train/config.js';
import { StubWorld, banditRollout, stubReplayExpert } from './stub.js';

const hooks = { world: () => new StubWorld(), rollout: banditRollout, replayExpert: stubReplayExpert };
const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

test('collapse: grpo and pyvision-rl on both worlds with the same rollout budget', async () => {
  const outDir = mkdtempSync(join(tmpdir(), 'pyvision-collapse-'));
  dirs.push(outDir);
  const r = await runCollapse({ outDir, quick: true, seeds: 2, hooks, base: { backend: 'cpu' } });
  expect(r.table.map((a) => a.arm)).toEqual(['grpo / main', 'pyvision-rl / main', 'grpo / control', 'pyvision-rl / control']);
  expect(r.runs.length).toBe(8);
  for (const run of r.runs) {
    // the budget is 2 grpo steps of K = 8 trajectories
    expect(run.rolloutTotal).toBeGreaterThanOrEqual(16);
    if (run.arm.startsWith('grpo')) expect(run.steps).toBe(2);
    expect(run.rows[0].step).toBe(0);
  }
  // both recipes of a world start from the same SFT checkpoint: the same step-0 validation
  const step0 = (arm: string) => r.runs.filter((x) => x.arm === arm).map((x) => x.rows[0]['val/acc']);
  expect(step0('grpo / main')).toEqual(step0('pyvision-rl / main'));
  expect(r.table[0].stats['test acc'].mean).toBeGreaterThanOrEqual(0);
  expect(r.series['grpo / main']['agent/tool_call_mean'].length).toBeGreaterThan(0);
  expect(existsSync(join(outDir, 'table.md'))).toBe(true);
  expect(readFileSync(join(outDir, 'table.md'), 'utf8')).toContain('| pyvision-rl / control | 2 |');
  expect(JSON.parse(readFileSync(join(outDir, 'results.json'), 'utf8')).runs.length).toBe(8);
}, 120000);

test('ablations: the default and the five ablations', async () => {
  const outDir = mkdtempSync(join(tmpdir(), 'pyvision-ablations-'));
  dirs.push(outDir);
  const r = await runAblations({ outDir, quick: true, seeds: 1, hooks, base: { backend: 'cpu' } });
  expect(r.table.map((a) => a.arm)).toEqual(['pyvision-rl', ...Object.keys(ABLATIONS)]);
  const config = (arm: string) => JSON.parse(readFileSync(join(outDir, `${arm}-s0`, 'config.json'), 'utf8')).config;
  expect(config('tool-reward-0').toolRewardCoef).toBe(0);
  expect(config('max-turns-2').maxTurns).toBe(2);
  expect(config('no-std-rank').rank).toBe('none');
  expect(config('pyvision-rl').rank).toBe('std');
}, 120000);
