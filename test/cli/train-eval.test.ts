/**
 * train, eval and report through the command line, end to end on a tiny run:
 * the toy world of the rollout tests registered under a name (as a user
 * registers their own world), SFT then two RL steps of a one-layer policy.
 * The run folder is checked as agent.md section 7 lists it; `eval --json`
 * prints the evaluation's keys; `--resume` of a finished run changes nothing.
 */
import { existsSync, writeFileSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { runCli } from '../../lib/cli/program.js';
import { readMetricsJsonl } from '../../lib/metrics/jsonl.js';
import { registerWorld } from '../../lib/train/trainer.js';
import { ToyWorld, type ToyWorldOptions } from '../rollout/toy-world.js';

/** The knobs the last cli-toy world was built with. */
let lastWorldOptions: Record<string, unknown> | undefined;
registerWorld('cli-toy', (options) => {
  lastWorldOptions = options;
  return new ToyWorld(options as ToyWorldOptions);
});

async function cli(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await runCli(argv, { stdout: (t) => (out += t), stderr: (t) => (err += t), isTTY: false });
  return { code, out, err };
}

const TINY = [
  '--world', 'cli-toy', '--layers', '1', '--heads', '2', '--dim', '16', '--train-tasks', '24', '--val-tasks', '4', '--test-tasks', '6',
  '--sft-steps', '4', '--sft-batch', '4', '--sft-val-every', '2', '--group-size', '2', '--train-batch-prompts', '2', '--max-turn-tokens', '8',
  '--steps', '2', '--val-every', '1', '--eval-max-turns', '3', '--checkpoint-every', '1', '--samples-per-eval', '2', '--threads', '1',
];

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'pyvision-cli-train-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

test('train writes the run folder, prints progress lines and a summary; eval --json reads its checkpoint', async () => {
  const out = join(dir, 'run');
  const r = await cli('train', ...TINY, '--out', out, '--seed', '3');
  expect(r.err).toBe('');
  expect(r.code).toBe(0);
  expect(r.out).toMatch(/^pyvision-rl train: recipe pyvision-rl, world cli-toy, seed 3, 4 SFT steps, 2 RL steps, run folder /);
  expect(r.out).toMatch(/^sft step 4\/4 \| loss \d+\.\d{4} /m);
  expect(r.out).toMatch(/^rl step 2\/2 \| reward .* \| tool calls .* \| acc .* \| ETA /m);
  expect(r.out).toMatch(/^test: acc \d\.\d{3} on 6 tasks, tool calls /m);
  expect(r.out).toContain(`report: ${join(out, 'report.html')}`);
  expect(r.out).not.toMatch(/\x1b/); // not a terminal: no bar, no escapes

  const files = readdirSync(out);
  for (const f of ['config.json', 'metrics.jsonl', 'checkpoints', 'samples', 'report.html', 'eval-test.jsonl', 'sft.jsonl']) expect(files).toContain(f);
  expect(files.some((f) => f.startsWith('events.out.tfevents.'))).toBe(true);
  const config = JSON.parse(readFileSync(join(out, 'config.json'), 'utf8'));
  expect(config.config).toMatchObject({ world: 'cli-toy', seed: 3, steps: 2, layers: 1, recipe: 'pyvision-rl', toolRewardCoef: 0.1 });
  expect(readMetricsJsonl(join(out, 'metrics.jsonl')).map((row) => row.step)).toEqual([0, 1, 2]);
  expect(readFileSync(join(out, 'report.html'), 'utf8')).toContain('id="samples-data"');

  const e = await cli('eval', '--checkpoint', out, '--json', '--max-turns', '3', '--tasks', '5');
  expect(e.err).toBe('');
  expect(e.code).toBe(0);
  const result = JSON.parse(e.out);
  for (const key of ['acc', 'tool_call_mean', 'turns_mean', 'visual_tokens_mean', 'end_reasons', 'n', 'per_type']) expect(result).toHaveProperty(key);
  expect(result.n).toBe(5);
  expect(Object.keys(result.per_type).sort()).toEqual(expect.arrayContaining([expect.any(String)]));
  const text = await cli('eval', '--checkpoint', join(out, 'checkpoints', readdirSync(join(out, 'checkpoints')).filter((f) => f.startsWith('step-')).sort().pop()!), '--split', 'val', '--no-tools', '--max-turns', '3');
  expect(text.code).toBe(0);
  expect(text.out).toMatch(/^pyvision-rl eval: .*, val split, 4 tasks\n {2}acc {16}: \d\.\d{3}/);
  expect(text.out).toContain('per question type');
  // --world-options replaces the run's knobs for the evaluation
  expect(lastWorldOptions).toEqual({});
  const failing = await cli('eval', '--checkpoint', out, '--json', '--max-turns', '3', '--tasks', '5', '--world-options', '{"alwaysFail":true}');
  expect(failing.code).toBe(0);
  expect(lastWorldOptions).toEqual({ alwaysFail: true });
  expect(JSON.parse(failing.out).tool_call_mean).toBe(0);
  const badKnobs = await cli('eval', '--checkpoint', out, '--world-options', '[1]');
  expect(badKnobs.code).toBe(2);
  expect(badKnobs.err).toMatch(/--world-options must be a JSON object/);

  // a finished run resumed: nothing left to do, the metrics stay as they were
  const before = readFileSync(join(out, 'metrics.jsonl'), 'utf8');
  const resumed = await cli('train', ...TINY, '--out', out, '--seed', '3', '--resume', '--quiet', '--no-report');
  expect(resumed.err).toBe('');
  expect(resumed.code).toBe(0);
  expect(readFileSync(join(out, 'metrics.jsonl'), 'utf8')).toBe(before);
  // a resumed run with other settings is refused, naming the setting
  const changed = await cli('train', ...TINY, '--out', out, '--seed', '4', '--resume', '--quiet');
  expect(changed.code).toBe(1);
  expect(changed.err).toMatch(/^pyvision-rl: E_ARG: config\.seed is 4 but the run being resumed used 3\n$/);
  expect(existsSync(join(out, 'report.html'))).toBe(true);
});

test("eval of a visual-search run made with the world's defaults before 2026-12-02 says how to evaluate it", async () => {
  const out = join(dir, 'old-default');
  const old = { cue: 'attribute', patch: 16 };
  const r = await cli('train', '--layers', '1', '--heads', '2', '--dim', '16', '--train-tasks', '8', '--val-tasks', '0', '--test-tasks', '0', '--sft-steps', '1', '--sft-batch', '2',
    '--steps', '0', '--threads', '1', '--world-options', JSON.stringify(old), '--out', out, '--quiet', '--no-report');
  expect(r.err).toBe('');
  expect(r.code).toBe(0);
  // What such a run recorded: the defaults of then were no knobs at all.
  const checkpoint = join(out, 'checkpoints', 'step-00000000');
  const statePath = join(checkpoint, 'state.json');
  const state = JSON.parse(readFileSync(statePath, 'utf8'));
  state.config.worldOptions = {};
  writeFileSync(statePath, JSON.stringify(state));
  const e = await cli('eval', '--checkpoint', checkpoint, '--tasks', '2', '--max-turns', '2');
  expect(e.code).toBe(1);
  expect(e.err).toContain(`patchDim (192) must equal options.policy's patchDim (768); a run made before 2026-12-02 with the visual-search world's defaults of then is evaluated with --world-options '${JSON.stringify(old)}'`);
  const fixed = await cli('eval', '--checkpoint', checkpoint, '--tasks', '2', '--max-turns', '2', '--json', '--world-options', JSON.stringify(old));
  expect(fixed.err).toBe('');
  expect(fixed.code).toBe(0);
  expect(JSON.parse(fixed.out).n).toBe(2);
});

test('the grpo recipe and the ablation flags reach the run config', async () => {
  const out = join(dir, 'ablation');
  const r = await cli('train', ...TINY, '--steps', '1', '--sft-steps', '0', '--test-tasks', '0', '--out', out, '--tool-reward', '0', '--no-std-rank', '--std-norm', '--max-turns', '2', '--no-tool-image-filter', '--quiet', '--no-report');
  expect(r.err).toBe('');
  expect(r.code).toBe(0);
  const config = JSON.parse(readFileSync(join(out, 'config.json'), 'utf8')).config;
  expect(config).toMatchObject({ toolRewardCoef: 0, rank: 'none', advantageScale: 'group-std', maxTurns: 2, requireToolImage: false });
  expect(r.out).not.toMatch(/^rl step/m); // --quiet
  const g = await cli('train', ...TINY, '--steps', '1', '--sft-steps', '0', '--test-tasks', '0', '--out', join(dir, 'grpo'), '--recipe', 'grpo', '--quiet', '--no-report');
  expect(g.code).toBe(0);
  expect(JSON.parse(readFileSync(join(dir, 'grpo', 'config.json'), 'utf8')).config).toMatchObject({ recipe: 'grpo', toolRewardCoef: 0, advantageScale: 'group-std', rank: 'none', zeroVarianceFilter: false });
});

test('experiment ablations --quick: every run, the table, plots/*.svg, experiment.html and the overlaid report', async () => {
  const settings = join(dir, 'tiny.json');
  writeFileSync(settings, JSON.stringify({ world: 'cli-toy', threads: 1, maxTurnTokens: 8, testTasks: 4, evalMaxTurns: 3 }));
  const out = join(dir, 'ablations');
  const r = await cli('experiment', 'ablations', '--quick', '--seeds', '1', '--config', settings, '--out', out);
  expect(r.err).toBe('');
  expect(r.code).toBe(0);
  expect(r.out).toMatch(/^\| arm \| seeds \| test acc \|/m);
  for (const arm of ['pyvision-rl', 'tool-reward-0', 'no-std-rank', 'std-norm', 'max-turns-2', 'no-tool-image-filter']) {
    expect(r.out).toMatch(new RegExp(`^\\| ${arm} \\| 1 \\|`, 'm'));
    expect(existsSync(join(out, `${arm}-s0`, 'metrics.jsonl'))).toBe(true);
  }
  const files = readdirSync(out);
  for (const f of ['table.md', 'results.json', 'plots', 'experiment.html', 'report.html']) expect(files).toContain(f);
  expect(readdirSync(join(out, 'plots'))).toContain('agent_tool_call_mean.svg');
  const report = readFileSync(join(out, 'report.html'), 'utf8');
  expect(report).toContain('<h2>Experiment: ablations</h2>');
  expect(report).toContain('data-metric="agent/tool_call_mean"><svg');
  const bad = join(dir, 'bad.json');
  writeFileSync(bad, JSON.stringify({ groupSize: 1 }));
  const refused = await cli('experiment', 'collapse', '--quick', '--config', bad, '--out', join(dir, 'never'));
  expect(refused.code).toBe(2);
  expect(refused.err).toMatch(/^pyvision-rl: E_ARG: --config .*bad\.json: config\.groupSize must be an integer >= 2/);
  expect(existsSync(join(dir, 'never'))).toBe(false);
});

test('experiment video --quick: on-demand and the uniform-k arms, the table with its calibration and verdict, the overlaid report', async () => {
  const out = join(dir, 'video');
  const r = await cli('experiment', 'video', '--quick', '--seeds', '1', '--out', out, '--quiet');
  expect(r.err).toBe('');
  expect(r.code).toBe(0);
  for (const arm of ['on-demand', 'uniform-8', 'uniform-16', 'uniform-32']) {
    expect(r.out).toMatch(new RegExp(`^\\| ${arm} \\| 1 \\|`, 'm'));
    expect(existsSync(join(out, `${arm}-s0`, 'metrics.jsonl'))).toBe(true);
  }
  expect(r.out).toMatch(/^Claim: /m);
  for (const f of ['table.md', 'results.json', 'experiment.html', 'report.html']) expect(readdirSync(out)).toContain(f);
  expect(readdirSync(join(out, 'plots'))).toContain('video-acc-tokens.svg');
  // The table and the accuracy-against-tokens plot in experiment.html and in the overlaid report.
  for (const page of ['experiment.html', 'report.html']) {
    const html = readFileSync(join(out, page), 'utf8');
    expect(html).toMatch(/<td>on-demand<\/td><td>1<\/td>/);
    expect(html).toContain('data-metric="video-acc-tokens"><svg');
    expect(html).toContain('accuracy against visual tokens');
  }
  expect(readFileSync(join(out, 'report.html'), 'utf8')).toContain('<h2>Experiment: video (on demand against uniform frames)</h2>');
});
