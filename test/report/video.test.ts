/** The video experiment's accuracy-against-visual-tokens plot. */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { videoTradeoffSpec, writeVideoTradeoffPlot, type VideoTradeoff } from '../../lib/report/video.js';

const result = (outDir: string): VideoTradeoff => ({
  outDir,
  arms: [
    { arm: 'on-demand', acc: { mean: 0.31, min: 0.26, max: 0.33 }, visualTokens: { mean: 27, min: 25, max: 28 } },
    { arm: 'uniform-8', acc: { mean: 0.26, min: 0.23, max: 0.28 }, visualTokens: { mean: 128, min: 128, max: 128 } },
    { arm: 'uniform-16', acc: { mean: NaN, min: NaN, max: NaN }, visualTokens: { mean: NaN, min: NaN, max: NaN } },
  ],
  calibration: [
    { name: 'expert (on demand: the frames its program shows)', acc: 1, visualTokens: 28 },
    { name: 'random answer', acc: 0.396, visualTokens: 0 },
    { name: 'uniform-8 oracle (best answer its frames allow)', acc: 0.48, visualTokens: 128 },
  ],
});

test('one point per measured arm with its min-max bar, the calibration points and chance', () => {
  const spec = videoTradeoffSpec(result('/unused')) as unknown as { layer: Array<{ data: { values: Array<Record<string, unknown>> }; mark: { type: string } }> };
  const [bars, points, , calibration] = spec.layer;
  expect(points.data.values.map((p) => [p.label, p.tokens, p.acc])).toEqual([['on-demand', 27, 0.31], ['uniform-8', 128, 0.26]]);
  expect(bars.data.values.map((p) => [p.min, p.max])).toEqual([[0.26, 0.33], [0.23, 0.28]]);
  // random answers show no frames: not on the log axis, but the chance rule
  expect(calibration.data.values.map((p) => p.label)).toEqual(['expert', 'uniform-8 oracle']);
  expect(spec.layer.find((l) => l.mark.type === 'rule' && l.data.values[0]?.acc === 0.396)).toBeDefined();
});

test('writes plots/video-acc-tokens.svg', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'pyvision-video-plot-'));
  try {
    const path = await writeVideoTradeoffPlot(result(dir));
    expect(path).toBe(join(dir, 'plots', 'video-acc-tokens.svg'));
    const svg = readFileSync(path, 'utf8');
    expect(svg.startsWith('<svg')).toBe(true);
    for (const text of ['on-demand', 'uniform-8', 'chance 0.396', 'visual tokens per sample']) expect(svg).toContain(text);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
