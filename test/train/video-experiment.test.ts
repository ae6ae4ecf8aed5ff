/**
 * A tiny end-to-end video experiment (--quick sizes): SFT then RL for the
 * on-demand arm and one uniform arm, evaluation on the test split, the
 * calibration rows and the table written to the experiment folder.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { runVideoExperiment, videoVerdict, type VideoArmRow } from '../../lib/train/video-experiment.js';

const arm = (name: string, acc: number, tokens: number): VideoArmRow => ({
  arm: name,
  seeds: 1,
  acc: { mean: acc, min: acc, max: acc },
  visualTokens: { mean: tokens, min: tokens, max: tokens },
  toolCalls: 1,
  valAccSft: acc,
  minutes: 1,
});

test('the verdict on the claim names the figures and the reason', () => {
  expect(videoVerdict([arm('on-demand', 0.8, 30), arm('uniform-8', 0.5, 128), arm('uniform-32', 0.7, 512)], 0.4)).toMatch(/^holds: .*token ratio 0.059/);
  expect(videoVerdict([arm('on-demand', 0.6, 30), arm('uniform-32', 0.7, 512)], 0.4)).toMatch(/^does not hold \(on-demand accuracy is below the best uniform arm\)/);
  expect(videoVerdict([arm('on-demand', 0.8, 200), arm('uniform-32', 0.7, 512)], 0.4)).toMatch(/more than 1\/5 of its visual tokens/);
  expect(videoVerdict([arm('on-demand', 0.3, 30), arm('uniform-32', 0.2, 512)], 0.4)).toMatch(/^not shown: on-demand accuracy 0.300 is not above chance/);
});

test('runVideoExperiment --quick: every arm trains, evaluates and lands in the table', async () => {
  const outDir = mkdtempSync(join(tmpdir(), 'pyvision-video-exp-'));
  try {
    const lines: string[] = [];
    const report = await runVideoExperiment({ outDir, seeds: 1, quick: true, ks: [8], worldOptions: { frames: [300, 400] }, log: (l) => lines.push(l) });
    expect(report.arms.map((a) => a.arm)).toEqual(['on-demand', 'uniform-8']);
    for (const run of report.runs) {
      expect(run.test).not.toBeNull();
      expect(run.test!.n).toBe(8);
      expect(existsSync(join(run.dir, 'metrics.jsonl'))).toBe(true);
    }
    // The baseline's visual tokens are its k frames in the prompt (16 patches each).
    const uniform = report.runs.find((r) => r.arm === 'uniform-8')!;
    expect(uniform.test!.visual_tokens_mean).toBeGreaterThanOrEqual(8 * 16);
    expect(report.calibration.map((c) => c.name)).toEqual([
      'expert (on demand: the frames its program shows)',
      'random answer',
      'uniform-8 oracle (best answer its frames allow)',
    ]);
    expect(report.calibration[2].visualTokens).toBe(128);
    const table = readFileSync(join(outDir, 'table.md'), 'utf8');
    expect(table).toContain('| on-demand | 1 |');
    expect(table).toContain('| uniform-8 | 1 |');
    expect(table).toContain('Claim: ');
    expect(JSON.parse(readFileSync(join(outDir, 'results.json'), 'utf8')).arms).toHaveLength(2);

    // The same experiment again into the same folder, one arm: every run is taken from its video-run.json.
    const again: string[] = [];
    const second = await runVideoExperiment({ outDir, seeds: 1, quick: true, ks: [8], arms: ['uniform-8'], worldOptions: { frames: [300, 400] }, log: (l) => again.push(l) });
    expect(second.arms.map((a) => a.arm)).toEqual(['uniform-8']);
    expect(again.filter((l) => l.includes('taken from video-run.json'))).toHaveLength(2);
    expect(second.runs[0].test).toEqual(JSON.parse(JSON.stringify(uniform.test))); // as written (NaN as null)
    // Other settings: trained again, not taken.
    const changed: string[] = [];
    await runVideoExperiment({ outDir, seeds: 1, quick: true, ks: [8], arms: ['uniform-8'], base: { sftSteps: 2 }, worldOptions: { frames: [300, 400] }, log: (l) => changed.push(l) });
    expect(changed.filter((l) => l.includes('taken from video-run.json'))).toHaveLength(0);
    // A record whose checkpoint is gone (its folder trained again since) is not taken.
    rmSync(join(outDir, 'uniform-8-s0', 'checkpoints'), { recursive: true, force: true });
    const lost: string[] = [];
    await runVideoExperiment({ outDir, seeds: 1, quick: true, ks: [8], arms: ['uniform-8'], base: { sftSteps: 2 }, worldOptions: { frames: [300, 400] }, log: (l) => lost.push(l) });
    expect(lost.filter((l) => l.includes('uniform-8-s0: finished before'))).toHaveLength(0);
    // An arm the experiment does not have.
    await expect(runVideoExperiment({ outDir, seeds: 1, quick: true, ks: [8], arms: ['uniform-9'] })).rejects.toMatchObject({ code: 'E_ARG', message: expect.stringContaining("no arm 'uniform-9'") });
  } finally {
    rmSync(outDir, { recursive: true, force: true });
  }
}, 300_000);
