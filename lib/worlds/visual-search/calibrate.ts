/**
 * Calibration of the visual-search world (docs/agent.md): accuracy by question
 * type and difficulty of (i) the scripted expert, its programs run through the
 * world's real sandbox (a program error counts as wrong, as it ends an RL
 * trajectory), (ii) the first-view solver (first-view.ts), which sees only the
 * first observation, and (iii) random guessing (the exact expectation, 1 / options).
 */
import type { Split } from '../world.js';
import { firstViewAnswer } from './first-view.js';
import type { VisualSearchTask, VisualSearchWorld } from './world.js';

export interface CalibrationOptions {
  /** Tasks. Default 400. */
  n?: number;
  split?: Split;
  /** Task seed. Default 0. */
  seed?: number;
  /** Expert seed. Default 1. */
  expertSeed?: number;
}

export interface CalibrationRow {
  type: string;
  difficulty: string;
  n: number;
  expert: number;
  firstView: number;
  random: number;
  /** Mean tool calls of the expert. */
  expertToolCalls: number;
}

export interface Calibration {
  rows: CalibrationRow[];
  options: Required<CalibrationOptions>;
}

interface Outcome {
  task: VisualSearchTask;
  expert: number;
  firstView: number;
  random: number;
  toolCalls: number;
}

async function expertOutcome(world: VisualSearchWorld, task: VisualSearchTask, seed: number): Promise<{ acc: number; toolCalls: number }> {
  const turns = world.expert(task, seed);
  const session = world.openTool(task);
  let toolCalls = 0;
  try {
    for (const turn of turns) {
      if (turn.kind === 'answer') return { acc: world.verify(task, turn.answer), toolCalls };
      // What the policy would execute: the code's tokens, decoded.
      const result = await session.run(world.tokenizer.decode(world.tokenizer.encode(turn.code)));
      if (result.error) return { acc: 0, toolCalls };
      toolCalls++;
    }
  } finally {
    session.dispose();
  }
  return { acc: 0, toolCalls };
}

function summarise(type: string, difficulty: string, items: Outcome[]): CalibrationRow {
  const mean = (f: (o: Outcome) => number) => (items.length === 0 ? NaN : items.reduce((a, o) => a + f(o), 0) / items.length);
  return { type, difficulty, n: items.length, expert: mean((o) => o.expert), firstView: mean((o) => o.firstView), random: mean((o) => o.random), expertToolCalls: mean((o) => o.toolCalls) };
}

export async function calibrateVisualSearch(world: VisualSearchWorld, options: CalibrationOptions = {}): Promise<Calibration> {
  const o: Required<CalibrationOptions> = { n: options.n ?? 400, split: options.split ?? 'test', seed: options.seed ?? 0, expertSeed: options.expertSeed ?? 1 };
  const outcomes: Outcome[] = [];
  for (const task of world.tasks(o.split, o.n, o.seed)) {
    const expert = await expertOutcome(world, task, o.expertSeed);
    outcomes.push({
      task,
      expert: expert.acc,
      toolCalls: expert.toolCalls,
      firstView: world.verify(task, firstViewAnswer(task, world.firstView(task))),
      random: 1 / task.options.length,
    });
  }
  const rows: CalibrationRow[] = [];
  const types = [...new Set(outcomes.map((x) => x.task.type))].sort();
  for (const type of types) {
    for (const difficulty of ['first-view', 'zoom']) rows.push(summarise(type, difficulty, outcomes.filter((x) => x.task.type === type && x.task.difficulty === difficulty)));
    rows.push(summarise(type, 'all', outcomes.filter((x) => x.task.type === type)));
  }
  for (const difficulty of ['first-view', 'zoom']) rows.push(summarise('all', difficulty, outcomes.filter((x) => x.task.difficulty === difficulty)));
  rows.push(summarise('all', 'all', outcomes));
  return { rows, options: o };
}

/** The calibration as a Markdown table. */
export function calibrationTable(calibration: Calibration): string {
  const pct = (x: number) => (Number.isNaN(x) ? '-' : `${(100 * x).toFixed(1)}%`);
  const lines = [
    '| question type | difficulty | n | expert (sandbox) | first-view solver | random guess | expert tool calls |',
    '|---|---|---|---|---|---|---|',
  ];
  for (const r of calibration.rows) {
    lines.push(`| ${r.type} | ${r.difficulty} | ${r.n} | ${pct(r.expert)} | ${pct(r.firstView)} | ${pct(r.random)} | ${Number.isNaN(r.expertToolCalls) ? '-' : r.expertToolCalls.toFixed(2)} |`);
  }
  return lines.join('\n');
}
