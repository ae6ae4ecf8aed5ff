/**
 * The video experiment's plot: test accuracy against mean visual tokens per
 * sample, one point per arm (the mean over seeds, a bar from the seeds' min to
 * max), the calibration answerers without a policy (the expert's frames, the
 * uniform-k oracles) as hollow points, and chance as a rule. Visual tokens on
 * a log scale (on demand and uniform-32 are 20x apart).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { TopLevelSpec } from 'vega-lite';

import { renderSvg } from './plots.js';

type Spread = { mean: number; min: number; max: number };

/** What the plot needs of the experiment's result (lib/train's VideoExperimentReport has it). */
export interface VideoTradeoff {
  outDir: string;
  arms: ReadonlyArray<{ arm: string; acc: Spread; visualTokens: Spread }>;
  calibration: ReadonlyArray<{ name: string; acc: number; visualTokens: number }>;
}

/** The vega-lite spec of the plot (see the file comment). */
export function videoTradeoffSpec(r: VideoTradeoff): TopLevelSpec {
  const arms = r.arms
    .filter((a) => Number.isFinite(a.acc.mean) && a.visualTokens.mean > 0)
    .map((a) => ({ name: `${a.arm} (trained policy)`, label: a.arm, tokens: a.visualTokens.mean, acc: a.acc.mean, min: a.acc.min, max: a.acc.max }));
  const calibration = r.calibration
    .filter((c) => c.visualTokens > 0)
    .map((c) => ({ name: 'no policy: the frames alone (expert, uniform-k oracle)', label: c.name.split(' (')[0], tokens: c.visualTokens, acc: c.acc }));
  const chance = r.calibration.find((c) => c.name.startsWith('random'))?.acc;
  const x = { field: 'tokens', type: 'quantitative' as const, title: 'visual tokens per sample (log scale)', scale: { type: 'log' as const } };
  const y = { field: 'acc', type: 'quantitative' as const, title: 'test accuracy', scale: { domain: [0, 1] } };
  const color = { field: 'name', type: 'nominal' as const, title: null, legend: { orient: 'bottom' as const, columns: 1, labelLimit: 600 } };
  return {
    width: 380,
    height: 240,
    title: { text: 'accuracy against visual tokens (mean over seeds, bar: min to max)', fontSize: 12, anchor: 'start' },
    layer: [
      { data: { values: arms }, mark: { type: 'rule', strokeWidth: 1.5 }, encoding: { x, y: { field: 'min', type: 'quantitative' }, y2: { field: 'max' }, color } },
      { data: { values: arms }, mark: { type: 'point', filled: true, size: 60 }, encoding: { x, y, color } },
      { data: { values: arms }, mark: { type: 'text', dx: 6, align: 'left', fontSize: 10 }, encoding: { x, y, text: { field: 'label' } } },
      { data: { values: calibration }, mark: { type: 'point', filled: false, size: 60 }, encoding: { x, y, color } },
      { data: { values: calibration }, mark: { type: 'text', dx: 6, dy: -8, align: 'left', fontSize: 10, color: '#666' }, encoding: { x, y, text: { field: 'label' } } },
      ...(chance === undefined
        ? []
        : [
            { data: { values: [{ acc: chance }] }, mark: { type: 'rule' as const, strokeDash: [4, 3], color: '#999' }, encoding: { y } },
            { data: { values: [{ acc: chance, tokens: Math.min(...[...arms, ...calibration].map((p) => p.tokens), 16) }] }, mark: { type: 'text' as const, dy: -6, align: 'left' as const, fontSize: 10, color: '#999' }, encoding: { x, y, text: { value: `chance ${chance.toFixed(3)}` } } },
          ]),
    ],
    config: { font: 'sans-serif', view: { stroke: '#ddd' } },
  } as TopLevelSpec;
}

/** Writes OUT/plots/video-acc-tokens.svg; returns its path. */
export async function writeVideoTradeoffPlot(r: VideoTradeoff): Promise<string> {
  return (await writeVideoTradeoff(r)).path;
}

/** Writes OUT/plots/video-acc-tokens.svg; returns its path and its SVG text. */
export async function writeVideoTradeoff(r: VideoTradeoff): Promise<{ path: string; svg: string }> {
  const dir = join(r.outDir, 'plots');
  mkdirSync(dir, { recursive: true });
  const path = join(dir, 'video-acc-tokens.svg');
  const svg = await renderSvg(videoTradeoffSpec(r));
  writeFileSync(path, svg);
  return { path, svg };
}
