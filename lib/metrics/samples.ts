/**
 * samples/ of a run folder: trajectories with the images the agent saw, for
 * the report's trajectory viewer. One JSON file per evaluation,
 * `samples/step-000005.json` (`{ step, samples: [...] }`), and the images as
 * PNG files beside it (`samples/step-000005/<sample>-<k>.png`), referenced by
 * name from the JSON.
 *
 * `sampleFromTrajectory` turns a rollout trajectory into a SampleRecord. It is
 * typed structurally (a Trajectory of lib/rollout fits it), so this layer
 * does not depend on the rollout code. From the world's record it takes, when
 * present: `image` (the input image, an RgbImage), `crops` (boxes
 * [left, top, right, bottom] in the input image's pixels, or objects with a
 * `box` of that form and a `turn`), `target` (the target's box).
 */
import { mkdirSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { PyVisionError } from '../util/errors.js';
import type { RgbImage } from '../util/rgb.js';
import { isTypedArray } from '../util/validate.js';
import { decodePng, encodePng } from './png.js';

/** [left, top, right, bottom] in the input image's pixel coordinates. */
export type Box = [number, number, number, number];

export interface SampleTurn {
  kind: 'code' | 'answer' | 'invalid';
  /** The sampled action: the program, or the answer text. */
  text: string;
  /** Printed output of the code (code turns). */
  output?: string;
  /** The exception, when the code failed ('NameError: name x is not defined'). */
  error?: string;
  /** Indices into the sample's `shown` images that this turn's code showed. */
  images?: number[];
}

export interface SampleRecord {
  /** Task id (unique within the split). */
  taskId: string;
  split: string;
  /** Question type ('color', 'shape', ...). */
  type: string;
  question: string;
  options: string[];
  /** The correct answer. */
  truth: string;
  /** The policy's answer, null when it gave none. */
  answer: string | null;
  acc: number;
  reward: number;
  /** End reason name (DONE, EXCEED_MAX_TURNS, ...). */
  endReason: string;
  toolCalls: number;
  turns: SampleTurn[];
  /** The input image (image_clue_0), when the world has one. */
  image: RgbImage | null;
  /** Crops the agent's code made, in the input image's coordinates, with the turn that made each. */
  crops: Array<{ box: Box; turn: number }>;
  /** The target's box, when the world knows it. */
  target: Box | null;
  /** Images the tool calls returned, in order. */
  shown: RgbImage[];
}

/** One evaluation's samples as read back. */
export interface SampleSet {
  step: number;
  samples: SampleRecord[];
}

/** End reason names by their number (semantics.md, EndReason of the scoring kernels). */
export const END_REASON_NAMES = ['DONE', 'EXCEED_MAX_TURNS', 'ERROR_IN_ACTION', 'OVER_LENGTH', 'EXCEED_MAX_IMAGES'] as const;

/** What sampleFromTrajectory reads of a trajectory (lib/rollout's Trajectory has all of it). */
export interface TrajectoryLike {
  task: { id: string; split: string; type: string; question: string; options: readonly string[]; answer: string };
  answer: string | null;
  acc: number;
  reward: number;
  endReason: number | string;
  toolCalls: number;
  turnRecords: ReadonlyArray<{
    kind: 'code' | 'answer' | 'invalid';
    text: string;
    result?: { output: string; images: readonly RgbImage[]; error: null | { type: string; message: string } };
  }>;
  record: Record<string, unknown>;
}

function isImage(value: unknown): value is RgbImage {
  const v = value as RgbImage | null;
  return (
    v !== null &&
    typeof v === 'object' &&
    Number.isInteger(v.width) &&
    Number.isInteger(v.height) &&
    isTypedArray(v.data, 'Uint8Array') &&
    v.data.length === v.width * v.height * 3
  );
}

function asBox(value: unknown): Box | null {
  if (!Array.isArray(value) || value.length !== 4 || !value.every((x) => typeof x === 'number' && Number.isFinite(x))) return null;
  return [value[0], value[1], value[2], value[3]];
}

/** The SampleRecord of a finished trajectory (see the file comment for what is read from the world's record). */
export function sampleFromTrajectory(trajectory: TrajectoryLike): SampleRecord {
  const { task, record } = trajectory;
  const shown: RgbImage[] = [];
  const turns: SampleTurn[] = trajectory.turnRecords.map((turn) => {
    const out: SampleTurn = { kind: turn.kind, text: turn.text };
    if (turn.result) {
      out.output = turn.result.output;
      if (turn.result.error) out.error = `${turn.result.error.type}: ${turn.result.error.message}`;
      out.images = turn.result.images.map((image) => shown.push(image) - 1);
    }
    return out;
  });
  const crops: Array<{ box: Box; turn: number }> = [];
  if (Array.isArray(record.crops)) {
    record.crops.forEach((crop: unknown, k: number) => {
      const direct = asBox(crop);
      if (direct) {
        crops.push({ box: direct, turn: k });
        return;
      }
      const c = crop as { box?: unknown; turn?: unknown } | null;
      const box = c && typeof c === 'object' ? asBox(c.box) : null;
      if (box) crops.push({ box, turn: typeof c!.turn === 'number' ? c!.turn : k });
    });
  }
  const taskImage = (task as unknown as { image?: unknown }).image;
  const endReason =
    typeof trajectory.endReason === 'number' ? (END_REASON_NAMES[trajectory.endReason] ?? String(trajectory.endReason)) : trajectory.endReason;
  return {
    taskId: task.id,
    split: task.split,
    type: task.type,
    question: task.question,
    options: [...task.options],
    truth: task.answer,
    answer: trajectory.answer,
    acc: trajectory.acc,
    reward: trajectory.reward,
    endReason,
    toolCalls: trajectory.toolCalls,
    turns,
    image: isImage(record.image) ? record.image : isImage(taskImage) ? taskImage : null,
    crops,
    target: asBox(record.target),
    shown,
  };
}

/** The JSON form of a sample: images replaced by the names of their PNG files. */
type StoredSample = Omit<SampleRecord, 'image' | 'shown'> & { image: string | null; shown: string[] };

function stepName(step: number): string {
  return `step-${String(step).padStart(6, '0')}`;
}

/**
 * Writes one evaluation's samples to `runDir/samples/` (replacing an earlier
 * file of the same step). The JSON is written last, through a rename, so a
 * reader never sees a half-written file.
 */
export function writeSamples(runDir: string, step: number, samples: readonly SampleRecord[]): string {
  if (!Number.isInteger(step) || step < 0) throw new PyVisionError('E_ARG', `step must be a non-negative integer, got ${step}`);
  const dir = join(runDir, 'samples');
  const name = stepName(step);
  try {
    mkdirSync(join(dir, name), { recursive: true });
    const stored: StoredSample[] = samples.map((sample, i) => {
      const save = (image: RgbImage, k: string): string => {
        const file = `${name}/${i}-${k}.png`;
        writeFileSync(join(dir, file), encodePng(image, `samples[${i}] image ${k}`));
        return file;
      };
      return {
        ...sample,
        image: sample.image ? save(sample.image, 'input') : null,
        shown: sample.shown.map((image, k) => save(image, String(k))),
      };
    });
    const path = join(dir, `${name}.json`);
    writeFileSync(`${path}.tmp`, JSON.stringify({ step, samples: stored }));
    renameSync(`${path}.tmp`, path);
    return path;
  } catch (error) {
    if (error instanceof PyVisionError) throw error;
    throw new PyVisionError('E_IO', `cannot write samples of step ${step} to ${dir}: ${(error as Error).message}`);
  }
}

/** Every evaluation's samples of a run folder, by step; [] when it has no samples/. */
export function readSamples(runDir: string): SampleSet[] {
  const dir = join(runDir, 'samples');
  let names: string[];
  try {
    names = readdirSync(dir).filter((f) => /^step-\d+\.json$/.test(f));
  } catch {
    return [];
  }
  return names.sort().map((file) => {
    const path = join(dir, file);
    let parsed: { step: number; samples: StoredSample[] };
    try {
      parsed = JSON.parse(readFileSync(path, 'utf8'));
    } catch (error) {
      throw new PyVisionError('E_IO', `cannot read ${path}: ${(error as Error).message}`);
    }
    const load = (file: string): RgbImage => decodePng(readFileSync(join(dir, file)), join(dir, file));
    return {
      step: parsed.step,
      samples: parsed.samples.map((s) => ({ ...s, image: s.image ? load(s.image) : null, shown: s.shown.map(load) })),
    };
  });
}
