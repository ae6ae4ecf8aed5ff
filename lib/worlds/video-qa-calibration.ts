/**
 * Calibration of the video QA world without a policy: what the scripted
 * expert's frames allow (its programs run in the tool; the answer the frames
 * it showed imply), a random answerer, and the uniform-k oracle (the expected
 * accuracy of the best answer k uniformly sampled frames allow), each with the
 * visual tokens per sample it puts in the context.
 */
import { answerFromFrames, uniformFrames, type VideoTask } from './video-qa-tasks.js';
import type { VideoQAWorld } from './video-qa.js';
import type { Split } from './world.js';

export interface CalibrationRow {
  name: string;
  acc: number;
  /** Visual tokens per sample (patches in the context). */
  visualTokens: number;
  perType: Record<string, number>;
}

export interface CalibrationOptions {
  split: Split;
  n: number;
  seed: number;
  /** Uniform budgets of the oracle rows. */
  ks: number[];
}

function row(name: string, tasks: readonly VideoTask[], accs: number[], tokens: number[]): CalibrationRow {
  const perType: Record<string, number> = {};
  for (const type of new Set(tasks.map((t) => t.type))) {
    const of = tasks.map((t, j) => (t.type === type ? accs[j] : NaN)).filter(Number.isFinite);
    perType[type] = of.reduce((a, b) => a + b, 0) / of.length;
  }
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);
  return { name, acc: mean(accs), visualTokens: mean(tokens), perType };
}

export async function calibrateVideoQA(world: VideoQAWorld, o: CalibrationOptions): Promise<CalibrationRow[]> {
  const tasks = world.tasks(o.split, o.n, o.seed);
  const Np = world.patchesPerImage;
  const rows: CalibrationRow[] = [];
  const expertAcc: number[] = [];
  const expertTokens: number[] = [];
  for (const task of tasks) {
    const shown: number[] = [];
    const tool = world.openTool(task);
    try {
      for (const turn of world.expert(task, o.seed)) {
        if (turn.kind !== 'code') continue;
        const result = await tool.run(turn.code);
        shown.push(...world.shownFrames(result));
      }
    } finally {
      tool.dispose();
    }
    expertAcc.push(answerFromFrames(task, shown.filter((i) => i >= 0), undefined, true).acc);
    expertTokens.push(shown.length * Np);
  }
  rows.push(row('expert (on demand: the frames its program shows)', tasks, expertAcc, expertTokens));
  rows.push(row('random answer', tasks, tasks.map((t) => 1 / t.options.length), tasks.map(() => 0)));
  for (const k of o.ks) {
    const frames = tasks.map((t) => uniformFrames(t.scene.frameCount, k));
    rows.push(row(`uniform-${k} oracle (best answer its frames allow)`, tasks, tasks.map((t, j) => answerFromFrames(t, frames[j]).acc), frames.map((f) => f.length * Np)));
  }
  return rows;
}
