/**
 * A tiny end-to-end run on the built-in visual-search world with the real
 * rollout engine and expert: SFT then RL steps, the SFT loss decreasing, every
 * metrics key in metrics.jsonl, the run folder complete.
 */
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { train } from '../../lib/train/trainer.js';
import { STEP_METRIC_KEYS, VAL_METRIC_KEYS } from '../../lib/train/step-metrics.js';

test('visual search: SFT then RL, loss decreasing, every metrics key', async () => {
  const outDir = mkdtempSync(join(tmpdir(), 'pyvision-vs-'));
  const losses: number[] = [];
  try {
    const result = await train(
      {
        outDir,
        layers: 1,
        heads: 2,
        dim: 32,
        trainTasks: 32,
        valTasks: 4,
        testTasks: 4,
        sftSteps: 8,
        sftBatch: 6,
        sftLr: 1e-2,
        sftWarmup: 0,
        sftValEvery: 4,
        groupSize: 4,
        trainBatchPrompts: 2,
        oversampleFactor: 1,
        maxGenRounds: 2,
        steps: 2,
        valEvery: 1,
        evalMaxTurns: 4,
        checkpointEvery: 1,
        samplesPerEval: 2,
      },
      { onSftStep: (r) => losses.push(r.loss) },
    );
    expect(result.steps).toBe(2);
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
    expect(mean(losses.slice(-3))).toBeLessThan(mean(losses.slice(0, 3)) * 0.8);
    const lines = readFileSync(join(outDir, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(lines.map((l) => l.step)).toEqual([0, 1, 2]);
    for (const line of lines.slice(1)) {
      for (const key of [...STEP_METRIC_KEYS, ...VAL_METRIC_KEYS]) expect({ step: line.step, key, has: key in line }).toEqual({ step: line.step, key, has: true });
      // per question type, on the world's types
      expect(Object.keys(line).some((k) => k.startsWith('val/acc/') && ['color', 'shape', 'relation', 'count'].includes(k.slice(8)))).toBe(true);
    }
    expect(result.test!.n).toBe(4);
    const files = readdirSync(outDir);
    for (const f of ['config.json', 'metrics.jsonl', 'sft.jsonl', 'checkpoints', 'samples', 'eval-test.jsonl']) expect(files).toContain(f);
    expect(JSON.parse(readFileSync(join(outDir, 'config.json'), 'utf8')).world).toBe('visual-search');
  } finally {
    rmSync(outDir, { recursive: true, force: true });
  }
}, 240000);
