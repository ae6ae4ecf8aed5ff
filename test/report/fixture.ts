/**
 * A synthetic run folder for the report tests: metrics.jsonl with the keys of
 * agent.md section 6 over some steps, config.json, and samples/ with a drawn
 * scene, crops and tool outputs. Seeded; written through the package's own sinks.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { openRunMetrics } from '../../lib/metrics/logger.js';
import { writeSamples, type SampleRecord } from '../../lib/metrics/samples.js';
import type { RgbImage } from '../../lib/util/rgb.js';
import { rng } from '../helpers.js';

function scene(size: number, seed: number): { image: RgbImage; target: [number, number, number, number] } {
  const random = rng(seed);
  const data = new Uint8Array(size * size * 3);
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      const i = 3 * (y * size + x);
      const n = Math.floor(random() * 24);
      data[i] = 90 + n + ((x >> 5) & 1) * 20;
      data[i + 1] = 120 + n;
      data[i + 2] = 80 + n + ((y >> 5) & 1) * 20;
    }
  }
  const box = (l: number, t: number, s: number, rgb: [number, number, number]): void => {
    for (let y = t; y < t + s; y++) for (let x = l; x < l + s; x++) data.set(rgb, 3 * (y * size + x));
  };
  for (let k = 0; k < 6; k++) box(Math.floor(random() * (size - 24)), Math.floor(random() * (size - 24)), 12 + Math.floor(random() * 12), [200, 200, 40]);
  const tl = Math.floor(size * 0.62);
  const tt = Math.floor(size * 0.3);
  box(tl, tt, 6, [220, 30, 30]);
  return { image: { width: size, height: size, data }, target: [tl, tt, tl + 6, tt + 6] };
}

function crop(image: RgbImage, [l, t, r, b]: [number, number, number, number]): RgbImage {
  const w = r - l;
  const h = b - t;
  const data = new Uint8Array(w * h * 3);
  for (let y = 0; y < h; y++) data.set(image.data.subarray(3 * ((t + y) * image.width + l), 3 * ((t + y) * image.width + l + w)), 3 * y * w);
  return { width: w, height: h, data };
}

export function sampleFor(seed: number, correct: boolean): SampleRecord {
  const { image, target } = scene(128, seed);
  const first: [number, number, number, number] = [64, 16, 112, 64];
  const second: [number, number, number, number] = [target[0] - 4, target[1] - 4, target[2] + 4, target[3] + 4];
  return {
    taskId: `test-${seed}`,
    split: 'test',
    type: seed % 2 ? 'color' : 'shape',
    question: 'What is the colour of the small square? <b>not markup</b>',
    options: ['red', 'blue', 'green', 'yellow'],
    truth: 'red',
    answer: correct ? 'red' : 'blue',
    acc: correct ? 1 : 0,
    reward: correct ? 1.2 : 0.2,
    endReason: 'DONE',
    toolCalls: 2,
    turns: [
      { kind: 'code', text: `c = image_clue_0.crop((${first.join(', ')}))\nshow(c)`, output: '', images: [0] },
      { kind: 'code', text: `d = image_clue_0.crop((${second.join(', ')}))\nshow(d)\nprint(mean_color(d))`, output: '(180, 60, 50)', images: [1] },
      { kind: 'code', text: 'print(x)', error: "NameError: name 'x' is not defined" },
      { kind: 'answer', text: correct ? 'red' : 'blue' },
    ],
    image,
    crops: [
      { box: first, turn: 0 },
      { box: second, turn: 1 },
    ],
    target,
    shown: [crop(image, first), crop(image, second)],
  };
}

/** Writes a run folder with `steps` steps; `bias` shifts its curves (to tell overlaid runs apart). */
export async function writeSyntheticRun(dir: string, options: { steps?: number; bias?: number; recipe?: string; seed?: number } = {}): Promise<void> {
  const steps = options.steps ?? 20;
  const bias = options.bias ?? 0;
  const random = rng(options.seed ?? 1);
  mkdirSync(dir, { recursive: true });
  // config.json as the trainer writes it: metadata, and every setting under `config`
  writeFileSync(
    join(dir, 'config.json'),
    JSON.stringify({ backend: 'cpu', world: 'visual-search', package: 'pyvision-rl', version: '0.1.0', config: { recipe: options.recipe ?? 'pyvision-rl', seed: options.seed ?? 1, steps, toolRewardCoef: bias ? 0 : 0.1 } }, null, 2),
  );
  writeFileSync(join(dir, 'eval-test.jsonl'), JSON.stringify({ step: steps, test: { acc: 0.6 - 0.2 * bias, tool_call_mean: 2 - bias, n: 200 }, testNoTools: { acc: 0.4 } }) + '\n');
  const logger = openRunMetrics(dir);
  for (let step = 1; step <= steps; step++) {
    const p = step / steps;
    const tools = Math.max(0, 1.8 + (bias ? -1.5 * p : 0.3 * p) + 0.1 * random());
    const record: Record<string, number> = {
      'critic/score/mean': 0.4 + 0.4 * p - bias * 0.2 + 0.05 * random(),
      'critic/acc/mean': 0.35 + 0.4 * p - bias * 0.2 + 0.05 * random(),
      'agent/tool_call_mean': tools,
      'agent/tool_call_max': Math.ceil(tools + 1),
      'agent/tool_call_min': 0,
      'agent/tool_call_zero_ratio': Math.min(1, Math.max(0, 0.1 + bias * p)),
      'agent/turns_mean': tools + 1,
      'agent/tool_image_mean': tools,
      'agent/visual_tokens_mean': 16 * (1 + tools),
      'response_length/mean': 20 + 10 * tools,
      'actor/entropy': 1.5 - p,
      'actor/pg_loss': 0.05 * (random() - 0.5),
      'actor/pg_clipfrac': 0.02 * random(),
      'actor/ppo_kl': 0.001 * random(),
      'actor/grad_norm': 0.5 + random(),
      'actor/lr': 3e-4,
      'filter/zero_variance': 0.3 * random(),
      'filter/end_reason': 0.05 * random(),
      'filter/no_tool_image': 0.1 * random(),
      'filter/gen_rounds': 1 + Math.floor(2 * random()),
      'data/pos_sample_neg_adv_ratio': 0.1 * random(),
      'end_reason/DONE': 0.9,
      'end_reason/EXCEED_MAX_TURNS': 0.05,
      'end_reason/ERROR_IN_ACTION': 0.05,
      'timing/gen': 2 + random(),
      'timing/tool': 0.2,
      'timing/score': 0.01,
      'timing/update': 1 + random(),
      'timing/step': 3.5 + random(),
      'perf/tokens_per_second': 4000 + 500 * random(),
    };
    if (step % 5 === 0) {
      record['val/acc'] = 0.4 + 0.4 * p - bias * 0.2;
      record['val/tool_call_mean'] = tools;
      record['val/turns_mean'] = tools + 1;
      record['val/acc/color'] = 0.5 + 0.3 * p;
      record['val/acc/shape'] = 0.3 + 0.4 * p;
    }
    await logger.write(step, record);
  }
  await logger.close();
  writeSamples(dir, 0, [sampleFor(1, false), sampleFor(2, true)]);
  writeSamples(dir, steps, [sampleFor(3, true), sampleFor(4, true), sampleFor(5, false)]);
}
