/**
 * The trainer end to end on the stub world (a one-turn bandit whose answer is
 * in the prompt): SFT then RL steps, the metrics records, the run folder; and
 * exact resume: a run killed with SIGKILL and resumed writes the same metrics
 * lines (timing aside) and ends with the same weight bits as an uninterrupted run.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Policy } from '../../lib/policy/policy.js';
import { packageRoot } from '../../lib/native/addon.js';
import { Trainer, train } from '../../lib/train/trainer.js';
import { STEP_METRIC_KEYS, VAL_METRIC_KEYS } from '../../lib/train/step-metrics.js';
import type { MetricsRecord } from '../../lib/metrics/types.js';
import { StubWorld, banditRollout, stubReplayExpert } from './stub.js';

const SMALL = {
  layers: 1,
  heads: 2,
  dim: 16,
  trainTasks: 64,
  valTasks: 8,
  testTasks: 8,
  sftSteps: 30,
  sftBatch: 8,
  sftLr: 3e-2,
  sftWarmup: 2,
  sftValEvery: 10,
  groupSize: 4,
  trainBatchPrompts: 2,
  steps: 6,
  valEvery: 3,
  checkpointEvery: 2,
  lr: 3e-3,
  seed: 4,
  backend: 'cpu' as const,
};

const hooks = () => ({ world: new StubWorld(), rollout: banditRollout, replayExpert: stubReplayExpert });

const root = packageRoot();
const tmp: string[] = [];
function tempDir(name: string): string {
  const d = mkdtempSync(join(tmpdir(), `pyvision-train-${name}-`));
  tmp.push(d);
  return d;
}
afterAll(() => tmp.forEach((d) => rmSync(d, { recursive: true, force: true })));

function readLines(dir: string): MetricsRecord[] {
  return readFileSync(join(dir, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
}

test('SFT then RL on a stub world: loss decreases, every metrics key, the run folder', async () => {
  const out = tempDir('e2e');
  const sft: number[] = [];
  const records: MetricsRecord[] = [];
  const result = await train(
    { ...SMALL, outDir: out },
    { ...hooks(), onSftStep: (r) => sft.push(r.loss), sinks: [{ write: (_s, r) => void records.push(r), close() {} }] },
  );
  expect(sft.length).toBe(SMALL.sftSteps);
  expect(sft[sft.length - 1]).toBeLessThan(sft[0] * 0.5);
  expect(result.steps).toBe(6);
  // step 0 (after SFT) and steps 1..6
  expect(records.map((r) => r.step)).toEqual([0, 1, 2, 3, 4, 5, 6]);
  for (const r of records.slice(1)) for (const key of STEP_METRIC_KEYS) expect({ key, has: key in r }).toEqual({ key, has: true });
  for (const step of [0, 3, 6]) for (const key of VAL_METRIC_KEYS) expect({ step, key, has: key in records[step] }).toEqual({ step, key, has: true });
  expect('val/acc/even' in records[3]).toBe(true);
  expect('critic/acc/odd' in records[1]).toBe(true);
  // the stub's SFT teaches the answer: accuracy is high after it
  expect(records[0]['val/acc']).toBeGreaterThan(0.5);
  expect(result.test!.n).toBe(8);
  // the run folder
  const files = readdirSync(out);
  for (const f of ['config.json', 'metrics.jsonl', 'sft.jsonl', 'checkpoints', 'samples', 'eval-test.jsonl']) expect(files).toContain(f);
  expect(files.some((f) => f.startsWith('events.out.tfevents'))).toBe(true);
  const config = JSON.parse(readFileSync(join(out, 'config.json'), 'utf8'));
  expect(config.config.steps).toBe(6);
  expect(config.config.recipe).toBe('pyvision-rl');
  expect(typeof config.version).toBe('string');
  expect(config.backend).toBe('cpu');
  expect(readLines(out).length).toBe(7);
  const ckpts = readdirSync(join(out, 'checkpoints')).sort();
  expect(ckpts).toEqual(['latest.json', 'step-00000004', 'step-00000006']);
  const state = JSON.parse(readFileSync(join(out, 'checkpoints', 'step-00000006', 'state.json'), 'utf8'));
  expect(state.step).toBe(6);
  expect(state.cursor.position + state.cursor.epoch * 64).toBeGreaterThan(0);
  expect(existsSync(join(out, 'samples', 'step-000003.json'))).toBe(true);
});

test('a Trainer can be driven step by step', async () => {
  const trainer = await Trainer.create({ ...SMALL, outDir: null, sftSteps: 0, steps: 2, valTasks: 0, testTasks: 0 }, hooks());
  await trainer.sft();
  expect(trainer.stepCount).toBe(0);
  const r1 = await trainer.step();
  expect(r1.step).toBe(1);
  await trainer.step();
  expect(trainer.done).toBe(true);
  await expect(trainer.step()).rejects.toMatchObject({ code: 'E_ARG' });
  await trainer.close();
});

// ---- exact resume: child processes running the compiled library ----
const out = join(root, 'build-train-resume-test');
const CHILD = `
import { train } from './lib/train/trainer.js';
import { StubWorld, banditRollout, stubReplayExpert } from './test/train/stub.js';
const [dir, resume, killAt] = process.argv.slice(2);
const settings = JSON.parse(process.env.TRAIN_SETTINGS);
// killAt 'record:N': SIGKILL itself as step N's record reaches the sinks (after metrics.jsonl, before N's checkpoint);
// 'rollout:N': in the middle of step N, as its rollouts start
const [killWhere, killStep] = (killAt ?? '').split(':');
const die = () => process.kill(process.pid, 'SIGKILL');
let lastRecord = -1;
const rollout = (req) => {
  if (killWhere === 'rollout' && lastRecord === Number(killStep) - 1) die();
  return banditRollout(req);
};
await train({ ...settings, outDir: dir, resume: resume === '1' }, {
  world: new StubWorld(), rollout, replayExpert: stubReplayExpert,
  sinks: [{ write(step) {
    lastRecord = step;
    process.stdout.write('step ' + step + '\\n');
    if (killWhere === 'record' && step === Number(killStep)) die();
  }, close() {} }],
});
process.stdout.write('done\\n');
`;

let compiled = false;
beforeAll(() => {
  writeFileSync(
    join(root, 'tsconfig.train-resume-test.json'),
    JSON.stringify({ extends: './tsconfig.json', compilerOptions: { types: ['node'], outDir: out, declaration: false, sourceMap: false }, include: ['lib', 'test/train/stub.ts'] }),
  );
  const tsc = spawnSync(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.train-resume-test.json'], { cwd: root, encoding: 'utf8' });
  rmSync(join(root, 'tsconfig.train-resume-test.json'), { force: true });
  if (tsc.status !== 0) throw new Error(`tsc failed: ${tsc.stdout}${tsc.stderr}`);
  writeFileSync(join(out, 'package.json'), JSON.stringify({ type: 'module' }));
  writeFileSync(join(out, 'child.js'), CHILD);
  compiled = true;
}, 180000);
afterAll(() => rmSync(out, { recursive: true, force: true }));

/** Runs the child (which SIGKILLs itself at `killAt`, see CHILD); resolves with its exit signal and what it printed. */
function runChild(dir: string, resume: boolean, settings: object, killAt?: string): Promise<{ signal: string | null; printed: string }> {
  return new Promise((resolve, reject) => {
    const args = [join(out, 'child.js'), dir, resume ? '1' : '0', ...(killAt ? [killAt] : [])];
    const child = spawn(process.execPath, args, {
      env: { ...process.env, TRAIN_SETTINGS: JSON.stringify(settings) },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let printed = '';
    child.stdout.on('data', (chunk: Buffer) => void (printed += chunk.toString()));
    child.on('error', reject);
    child.on('exit', (_code, signal) => resolve({ signal, printed }));
  });
}

const untimed = (r: MetricsRecord) => Object.fromEntries(Object.entries(r).filter(([k]) => !k.startsWith('timing/') && !k.startsWith('perf/')));

test('a run killed with SIGKILL and resumed writes the same metrics and ends with the same weights', async () => {
  expect(compiled).toBe(true);
  const settings = { ...SMALL, steps: 7, checkpointEvery: 2, keepCheckpoints: 2 };
  const whole = tempDir('whole');
  expect(await runChild(whole, false, settings)).toMatchObject({ signal: null });
  const killed = tempDir('killed');
  // killed twice: once as step 4's record is written (before step 4's checkpoint: the resume starts after step 2
  // and rewrites 3 and 4), once in the middle of step 6 (the resume starts after step 4's checkpoint)
  const first = await runChild(killed, false, settings, 'record:4');
  expect(first).toMatchObject({ signal: 'SIGKILL' });
  expect(first.printed.trim().split('\n').pop()).toBe('step 4');
  const second = await runChild(killed, true, settings, 'rollout:6');
  expect(second).toMatchObject({ signal: 'SIGKILL' });
  expect(second.printed.trim().split('\n')).toEqual(['step 3', 'step 4', 'step 5']);
  const third = await runChild(killed, true, settings);
  expect(third).toMatchObject({ signal: null });
  expect(third.printed.trim().split('\n')).toEqual(['step 5', 'step 6', 'step 7', 'done']);
  const a = readLines(whole).map(untimed);
  const b = readLines(killed).map(untimed);
  expect(b.map((r) => r.step)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
  expect(b).toEqual(a);
  const last = (d: string) => join(d, 'checkpoints', 'step-00000007', 'policy.safetensors');
  const pa = await Policy.load(last(whole), { backend: 'cpu' });
  const pb = await Policy.load(last(killed), { backend: 'cpu' });
  const ta = await pa.tensors();
  const tb = await pb.tensors();
  for (const [name, t] of ta) expect({ name, same: Buffer.from(t.buffer, t.byteOffset, t.byteLength).equals(Buffer.from(tb.get(name)!.buffer, tb.get(name)!.byteOffset, tb.get(name)!.byteLength)) }).toEqual({ name, same: true });
  pa.dispose();
  pb.dispose();
}, 120000);
