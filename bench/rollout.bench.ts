/**
 * The rollout engine at the default configuration: 256 trajectories (32 tasks
 * x 8 samples) of a policy with L=2, C=64, H=4, maxTurns 5, temperature 1,
 * the policy first taught the protocol by a short SFT on the expert's
 * replayed trajectories, in two worlds:
 *   - a synthetic world of the visual-search world's sizes (V=1300, 8 x 8 RGB
 *     patches, 64 per image; programs of four box numbers returning a 64 x 64
 *     crop): the engine alone, without the sandbox and the image code;
 *   - the built-in visual-search world (its defaults) with its sandboxed Python
 *     tool: the default configuration end to end.
 *
 * Rows per world: trajectories/s and sampled tokens/s of rollout(); the time of
 * each phase (generate, decode, tool, observation, append, and the rest) and
 * the share of orchestration (everything but the native startSession,
 * generate and append calls; target <= 10%); world.prompt's cost on a task it
 * has not seen (scenes are rendered once per task and cached); reading every
 * trajectory's patches once (they are copied on first read); and, in the same
 * run on the same tasks and seeds, a naive rollout without a KV cache across
 * turns: every turn starts a session on the whole prefix of each live
 * trajectory (prompt, earlier turns, observations), i.e. recomputes it.
 *
 *   BENCH_ONLY=rollout npm run bench
 *   BENCH_QUICK=1 BENCH_ONLY=rollout npm run bench      64 trajectories
 */
import { EndReason, Policy, emptyTimings, packTrajectories, replayExpert, rollout, type RolloutTimings, type Trajectory } from '../lib/index.js';
import { protocolIds, trajectorySeed } from '../lib/rollout/protocol.js';
import { TrajectoryBuilder } from '../lib/rollout/trajectory.js';
import type { RgbImage } from '../lib/util/rgb.js';
import {
  SPECIAL_TOKENS,
  type ExpertTurn,
  type ObservationLimits,
  type Segment,
  type Split,
  type Task,
  type Tokenizer,
  type ToolResult,
  type ToolSession,
  type World,
  type WorldPolicyShape,
} from '../lib/worlds/world.js';
import { VisualSearchWorld } from '../lib/worlds/index.js';
import { addSpeedups, timeAsync, type BenchContext, type BenchRow } from './harness.js';

const V = 1300;
const VIEW = 64;
const PATCH = 8;
const PATCH_DIM = PATCH * PATCH * 3;
const NP = (VIEW / PATCH) ** 2;
const CANVAS = 256;

class WordTokenizer implements Tokenizer {
  readonly size = V;
  readonly #words: string[] = [...SPECIAL_TOKENS, ...Array.from({ length: V - SPECIAL_TOKENS.length }, (_, i) => `w${i}`)];
  readonly #ids = new Map(this.#words.map((w, i) => [w, i]));
  id(token: string): number {
    const i = this.#ids.get(token);
    if (i === undefined) throw new Error(`unknown token ${token}`);
    return i;
  }
  token(id: number): string {
    return this.#words[id];
  }
  encode(text: string): Int32Array {
    const unk = this.id('<unk>');
    return Int32Array.from(text.split(/\s+/).filter((w) => w.length > 0).map((w) => this.#ids.get(w) ?? unk));
  }
  decode(ids: ArrayLike<number>): string {
    const out: string[] = [];
    for (let i = 0; i < ids.length; i++) if (ids[i] >= 0) out.push(this.#words[ids[i]]);
    return out.join(' ');
  }
}

interface BenchTask extends Task {
  /** Zooms the expert makes (0, 1 or 2). */
  zooms: number;
  box: [number, number, number, number];
}

/** A canvas pixel, procedural (no stored image). */
function pixel(x: number, y: number, c: number): number {
  return ((x * 7 + y * 13 + c * 101) ^ (x * y)) & 255;
}

/** The plain crop: a VIEW x VIEW nearest-neighbour sample of the canvas box (black outside). */
function cropPlain(box: number[]): RgbImage {
  const [l, t, r, b] = box;
  const data = new Uint8Array(VIEW * VIEW * 3);
  const w = Math.max(1, r - l);
  const h = Math.max(1, b - t);
  for (let y = 0; y < VIEW; y++)
    for (let x = 0; x < VIEW; x++) {
      const sx = l + Math.floor((x * w) / VIEW);
      const sy = t + Math.floor((y * h) / VIEW);
      for (let c = 0; c < 3; c++) data[3 * (y * VIEW + x) + c] = sx < 0 || sy < 0 || sx >= CANVAS || sy >= CANVAS ? 0 : pixel(sx, sy, c);
    }
  return { width: VIEW, height: VIEW, data };
}

/** The plain patches of a VIEW x VIEW image, row-major patches, each value / 255 - 0.5. */
function patchesPlain(img: RgbImage): Float32Array {
  const out = new Float32Array(NP * PATCH_DIM);
  let k = 0;
  for (let py = 0; py < VIEW / PATCH; py++)
    for (let px = 0; px < VIEW / PATCH; px++)
      for (let y = 0; y < PATCH; y++)
        for (let x = 0; x < PATCH; x++) {
          const at = 3 * ((py * PATCH + y) * VIEW + px * PATCH + x);
          out[k++] = img.data[at] / 255 - 0.5;
          out[k++] = img.data[at + 1] / 255 - 0.5;
          out[k++] = img.data[at + 2] / 255 - 0.5;
        }
  return out;
}

/** The canvas, computed once (pixel() of every position). */
const CANVAS_PIXELS = Uint8Array.from({ length: CANVAS * CANVAS * 3 }, (_, i) => pixel(Math.floor(i / 3) % CANVAS, Math.floor(i / 3 / CANVAS), i % 3));
/** value / 255 - 0.5 of each byte, as the plain patches compute it. */
const BYTE_FLOAT = Float32Array.from({ length: 256 }, (_, v) => v / 255 - 0.5);
const sourceX = new Int32Array(VIEW);

/** cropPlain's pixels, read from the precomputed canvas a row at a time (the engine is the subject here, not the world). */
function crop(box: number[]): RgbImage {
  const [l, t, r, b] = box;
  const data = new Uint8Array(VIEW * VIEW * 3);
  const w = Math.max(1, r - l);
  const h = Math.max(1, b - t);
  // Module bindings in locals: the loop then reads them without a context load and hole check.
  const canvas = CANVAS_PIXELS;
  const xs = sourceX;
  for (let x = 0; x < VIEW; x++) xs[x] = l + Math.floor((x * w) / VIEW);
  for (let y = 0; y < VIEW; y++) {
    const sy = t + Math.floor((y * h) / VIEW);
    if (sy < 0 || sy >= CANVAS) continue;
    const row = sy * CANVAS * 3;
    let at = y * VIEW * 3;
    for (let x = 0; x < VIEW; x++, at += 3) {
      const sx = xs[x];
      if (sx < 0 || sx >= CANVAS) continue;
      const from = row + sx * 3;
      data[at] = canvas[from];
      data[at + 1] = canvas[from + 1];
      data[at + 2] = canvas[from + 2];
    }
  }
  return { width: VIEW, height: VIEW, data };
}

/** patchesPlain(img) written into out at `offset`, through the byte-to-float table. */
function patchesInto(img: RgbImage, out: Float32Array, offset: number): void {
  const d = img.data;
  const table = BYTE_FLOAT;
  let k = offset;
  for (let py = 0; py < VIEW / PATCH; py++)
    for (let px = 0; px < VIEW / PATCH; px++)
      for (let y = 0; y < PATCH; y++) {
        let at = 3 * ((py * PATCH + y) * VIEW + px * PATCH);
        for (let x = 0; x < PATCH * 3; x++) out[k++] = table[d[at++]];
      }
}

function patches(img: RgbImage): Float32Array {
  const out = new Float32Array(NP * PATCH_DIM);
  patchesInto(img, out, 0);
  return out;
}

/** The fast crop and patches against the plain ones, bit for bit, on boxes inside, across and outside the canvas. */
function checkFastPaths(): void {
  const boxes = [[0, 0, CANVAS, CANVAS], [10, 20, 58, 68], [-30, -7, 40, 300], [200, 190, 320, 260], [5, 5, 6, 6], [300, 300, 310, 330], [17, 3, 250, 11]];
  for (const box of boxes) {
    const a = cropPlain(box);
    const b = crop(box);
    if (!a.data.every((v, i) => v === b.data[i])) throw new Error(`bench: the fast crop differs from the plain one at ${box}`);
    const pa = patchesPlain(a);
    const pb = patches(b);
    if (!pa.every((v, i) => Object.is(v, pb[i]))) throw new Error(`bench: the fast patches differ from the plain ones at ${box}`);
  }
}

export class BenchWorld implements World<BenchTask> {
  readonly name = 'bench';
  readonly tokenizer = new WordTokenizer();
  readonly patchDim = PATCH_DIM;
  readonly #first = patches(crop([0, 0, CANVAS, CANVAS]));

  tasks(split: Split, n: number, seed = 0): BenchTask[] {
    return Array.from({ length: n }, (_, i) => {
      const k = i + 1000 * seed + (split === 'train' ? 0 : 500);
      const l = (k * 37) % 200;
      const t = (k * 53) % 200;
      return {
        id: `${split}-${seed}-${i}`,
        split,
        type: ['direct', 'zoom', 'zoom2'][k % 3],
        question: Array.from({ length: 10 }, (_, j) => `w${100 + ((k * (j + 3)) % 400)}`).join(' '),
        options: ['w0', 'w1', 'w2', 'w3'],
        answer: `w${k % 4}`,
        zooms: k % 3,
        box: [l, t, l + 48, t + 48],
      };
    });
  }
  verify(task: BenchTask, answer: string): number {
    return answer === task.answer ? 1 : 0;
  }
  prompt(task: BenchTask): Segment {
    const t = this.tokenizer;
    const tokens = [t.id('<bos>'), t.id('<q>'), ...t.encode(task.question), t.id('</q>'), t.id('<img>'), ...new Array<number>(NP).fill(-1), t.id('</img>')];
    return { tokens: Int32Array.from(tokens), patches: this.#first };
  }
  openTool(): ToolSession {
    return {
      async run(code: string): Promise<ToolResult> {
        const box = code.split(' ').map((w) => Number(w.slice(1)));
        if (box.length !== 4 || box.some((x) => !Number.isInteger(x))) return { output: '', images: [], error: { type: 'SyntaxError', message: 'invalid syntax' } };
        return { output: `w${box[0]} w${box[1]}`, images: [crop(box)], error: null };
      },
      dispose() {},
    };
  }
  observe(result: ToolResult, limits: ObservationLimits): Segment {
    const t = this.tokenizer;
    const text = t.encode(result.output).subarray(0, limits.maxObsTokens);
    const n = result.images.length;
    // <obs> text (<img> patch x NP </img>) x n </obs>, written in place.
    const tokens = new Int32Array(2 + text.length + n * (NP + 2));
    const flat = new Float32Array(n * NP * PATCH_DIM);
    let k = 0;
    tokens[k++] = t.id('<obs>');
    tokens.set(text, k);
    k += text.length;
    result.images.forEach((img, i) => {
      tokens[k++] = t.id('<img>');
      tokens.fill(-1, k, k + NP);
      k += NP;
      tokens[k++] = t.id('</img>');
      patchesInto(img, flat, i * NP * PATCH_DIM);
    });
    tokens[k++] = t.id('</obs>');
    return { tokens, patches: flat };
  }
  expert(task: BenchTask): ExpertTurn[] {
    const turns: ExpertTurn[] = [];
    const [l, t, r, b] = task.box;
    if (task.zooms >= 1) turns.push({ kind: 'code', code: `w${l} w${t} w${r} w${b}` });
    if (task.zooms >= 2) turns.push({ kind: 'code', code: `w${l + 8} w${t + 8} w${r - 8} w${b - 8}` });
    turns.push({ kind: 'answer', answer: task.answer });
    return turns;
  }
  policyConfig(overrides: Partial<WorldPolicyShape> = {}): WorldPolicyShape {
    return { vocabSize: V, patchDim: PATCH_DIM, maxSeqLen: 512, ...overrides };
  }
}

interface Settings<T extends Task> {
  policy: Policy;
  world: World<T>;
  tasks: T[];
  groupSize: number;
  temperature: number;
  maxTurns: number;
  maxTurnTokens: number;
  maxObsTokens: number;
  seed: number;
}

/**
 * The comparison: the same turn logic, but every turn a fresh session on the
 * whole prefix of each live trajectory (nothing cached across turns).
 */
async function naiveRollout<T extends Task>(s: Settings<T>, timings: RolloutTimings): Promise<Trajectory<T>[]> {
  const t0 = performance.now();
  const { world } = s;
  const ids = protocolIds(world.tokenizer, 'world.tokenizer');
  const limits = { maxTurns: s.maxTurns, maxSeqLen: s.policy.config.maxSeqLen, maxImages: 32, maxObsTokens: s.maxObsTokens, errorFeedback: false };
  const builders: TrajectoryBuilder<T>[] = [];
  s.tasks.forEach((task, i) => {
    for (let g = 0; g < s.groupSize; g++) {
      const b = new TrajectoryBuilder(task, i, g, limits, ids);
      b.appendContext(world.prompt(task));
      builders.push(b);
    }
  });
  const seeds = builders.map((b) => trajectorySeed(s.seed, b.task.id, b.sample));
  const stopTokens = [ids.codeEnd, ids.answerEnd];
  let live = builders.map((_, k) => k);
  while (live.length > 0) {
    const seqs = live.map((k) => builders[k].sequence());
    const seqOffsets = new Int32Array(live.length + 1);
    seqs.forEach((q, i) => (seqOffsets[i + 1] = seqOffsets[i] + q.tokens.length));
    const tokens = new Int32Array(seqOffsets[live.length]);
    const patchFloats = new Float32Array(seqs.reduce((a, q) => a + q.patches.length, 0));
    let at = 0;
    seqs.forEach((q, i) => {
      tokens.set(q.tokens, seqOffsets[i]);
      patchFloats.set(q.patches, at);
      at += q.patches.length;
    });
    let t = performance.now();
    const session = await s.policy.startSession({ tokens, patches: patchFloats, seqOffsets });
    const out = await session.generate({ maxNewTokens: s.maxTurnTokens, temperature: s.temperature, stopTokens, seeds: live.map((k) => seeds[k]) });
    session.dispose();
    timings.generate += performance.now() - t;
    t = performance.now();
    const code: { k: number; code: string }[] = [];
    live.forEach((k, i) => {
      const b = builders[k];
      const sampled = out.tokens.subarray(out.offsets[i], out.offsets[i + 1]);
      timings.sampledTokens += sampled.length;
      const kept = b.appendSampled(sampled, out.logp.subarray(out.offsets[i], out.offsets[i + 1]));
      const next = b.takeAction(world, sampled.subarray(0, kept), b.length >= limits.maxSeqLen || out.stopped[i] === 2);
      if (next.kind === 'code') code.push({ k, code: next.code });
    });
    const results: ToolResult[] = [];
    for (const { k, code: c } of code) results.push(await builders[k].run(world, c));
    code.forEach(({ k, code: c }, i) => {
      const segment = builders[k].observe(world, c, results[i]);
      if (segment !== null) builders[k].appendContext(segment);
    });
    live = live.filter((k) => !builders[k].ended);
    timings.decode += performance.now() - t;
  }
  const trajs = builders.map((b) => b.build(world));
  timings.total += performance.now() - t0;
  timings.trajectories += trajs.length;
  return trajs;
}

const pct = (x: number, total: number) => `${((100 * x) / total).toFixed(1)}%`;

/** Teaches a fresh policy the world's protocol: SFT steps on the expert's replayed trajectories. */
export async function taughtPolicy<T extends Task>(world: World<T>, tasks: T[], steps: number, lr: number): Promise<Policy> {
  const policy = await Policy.create({ ...world.policyConfig(), layers: 2, heads: 4, dim: 64, seed: 1, backend: 'cpu' });
  const expert = await replayExpert({ world, tasks, seed: 0 });
  const packed = packTrajectories(expert);
  for (let i = 0; i < steps; i++) await policy.trainStep(packed.batch, { kind: 'sft', mask: packed.mask }, { lr, weightDecay: 0 });
  return policy;
}

/** rollout() and the naive comparison, alternated, on one world; rows named by `label`. */
async function measure<T extends Task>(ctx: BenchContext, settings: Settings<T>, label: string): Promise<BenchRow[]> {
  const B = settings.tasks.length * settings.groupSize;
  const c = settings.policy.config;
  const name = `rollout ${label} B=${B} (L=${c.layers} C=${c.dim} V=${c.vocabSize})`;
  let engineTrajs: Trajectory<T>[] = [];
  let naiveTrajs: Trajectory<T>[] = [];
  const engine = emptyTimings();
  const naive = emptyTimings();
  const opts = { minSamples: ctx.quick ? 2 : 4, maxTime: ctx.quick ? 1 : 4 };
  // world.prompt on tasks it has not seen (a world may render and cache each task's image).
  const cold = performance.now();
  for (const task of settings.tasks) settings.world.prompt(task);
  const coldPromptMs = (performance.now() - cold) / settings.tasks.length;
  // One warm-up each, then alternated.
  await rollout({ ...settings });
  await naiveRollout(settings, emptyTimings());
  const te = await timeAsync(async () => {
    engineTrajs = await rollout({ ...settings, timings: engine });
  }, opts);
  const tn = await timeAsync(async () => {
    naiveTrajs = await naiveRollout(settings, naive);
  }, opts);
  const te2 = await timeAsync(async () => {
    engineTrajs = await rollout({ ...settings, timings: engine });
  }, opts);
  const bestEngine = te.medianMs <= te2.medianMs ? te : te2;

  const runs = engine.trajectories / B;
  const tokensPer = engine.sampledTokens / runs;
  const same = engineTrajs.filter((t, i) => t.tokens.length === naiveTrajs[i].tokens.length && t.tokens.every((x, j) => x === naiveTrajs[i].tokens[j])).length;
  const turns = engineTrajs.reduce((a, t) => a + t.turns, 0) / B;
  const tools = engineTrajs.reduce((a, t) => a + t.toolCalls, 0) / B;
  const done = engineTrajs.filter((t) => t.endReason === EndReason.DONE).length / B;
  const shape = `${turns.toFixed(2)} turns, ${tools.toFixed(2)} tool calls, ${(tokensPer / B).toFixed(1)} sampled tokens per trajectory, ${(100 * done).toFixed(0)}% DONE; median of samples`;
  const naiveTokensPer = naive.sampledTokens / (naive.trajectories / B);
  const rate = (n: number, ms: number) => ((n / ms) * 1e3).toFixed(n / ms > 10 ? 0 : 1);
  const rows: BenchRow[] = [
    {
      name,
      impl: 'rollout() (KV cache)',
      ms: bestEngine.medianMs,
      rme: bestEngine.rme,
      throughput: (B / bestEngine.medianMs) * 1e3,
      unit: 'trajectories',
      note: `${rate(B, bestEngine.medianMs)} trajectories/s, ${rate(tokensPer, bestEngine.medianMs)} sampled tokens/s; ${shape}`,
    },
    {
      name,
      impl: 'naive (prefix recomputed each turn)',
      ms: tn.medianMs,
      rme: tn.rme,
      throughput: (B / tn.medianMs) * 1e3,
      unit: 'trajectories',
      note: `${rate(B, tn.medianMs)} trajectories/s, ${rate(naiveTokensPer, tn.medianMs)} sampled tokens/s; the same tokens as rollout() in ${same}/${B} trajectories`,
    },
  ];
  addSpeedups(rows, 'rollout() (KV cache)', 'naive (prefix recomputed each turn)');
  // Phases, per rollout, from the timings summed over every timed call.
  const total = engine.total;
  const per = (x: number) => x / runs;
  const native = engine.start + engine.generate + engine.append;
  const rest = total - (engine.prompt + engine.start + engine.generate + engine.decode + engine.tool + engine.observation + engine.append + engine.finish);
  for (const [phase, ms, what] of [
    ['prompt', engine.prompt, 'world.prompt, packing'],
    ['start', engine.start, 'native: startSession (prefill)'],
    ['generate', engine.generate, 'native: session.generate'],
    ['decode', engine.decode, 'reading the turns'],
    ['tool', engine.tool, 'tool sessions running the programs'],
    ['observation', engine.observation, 'world.observe, limits, packing'],
    ['append', engine.append, 'native: session.end + append'],
    ['finish', engine.finish + rest, 'trajectories built, sessions disposed, the rest'],
  ] as const) {
    rows.push({ name: `${name} phase ${phase}`, impl: 'rollout() (KV cache)', ms: per(ms), rme: 0, note: `${pct(ms, total)} of the rollout; ${what}` });
  }
  rows.push({
    name: `${name} world.prompt of a new task`,
    impl: settings.world.name,
    ms: coldPromptMs,
    rme: 0,
    note: `once per task (then cached by the world): ${(coldPromptMs * settings.tasks.length).toFixed(0)} ms for this rollout's ${settings.tasks.length} tasks, not in the phases above`,
  });
  // The flat patches are copied from the segments on first read (not in the phases): what reading them costs.
  const read = performance.now();
  let floats = 0;
  for (const t of engineTrajs) floats += t.patches.length;
  const readMs = performance.now() - read;
  rows.push({
    name: `${name} trajectory.patches, first read`,
    impl: 'rollout() (KV cache)',
    ms: readMs,
    rme: 0,
    note: `the flat patches of the ${B} trajectories of one rollout (${((floats * 4) / 2 ** 20).toFixed(1)} MiB), copied on first read; not in the phases above (packTrajectories pays it for the trajectories it packs); one sample`,
  });
  rows.push({
    name: `${name} orchestration`,
    impl: 'rollout() (KV cache)',
    ms: per(total - native),
    rme: 0,
    note:
      settings.world instanceof BenchWorld
        ? `${pct(total - native, total)} of the rollout outside native startSession/generate/append (this world's own crops and patches, bench code, included; the target, <= 10%, is the default configuration's: the visual-search row)`
        : `${pct(total - native, total)} of the rollout outside native startSession/generate/append (target <= 10%)`,
  });
  settings.policy.dispose();
  return rows;
}

export async function run(ctx: BenchContext): Promise<BenchRow[]> {
  const tasksN = ctx.quick ? 8 : 32;
  const common = { groupSize: 8, temperature: 1, maxTurns: 5, maxTurnTokens: 32, maxObsTokens: 16, seed: 7 };
  const rows: BenchRow[] = [];
  checkFastPaths();
  // The synthetic world: the engine alone.
  const synthetic = new BenchWorld();
  const p1 = await taughtPolicy(synthetic, synthetic.tasks('train', 64, 0), 40, 3e-3);
  rows.push(...(await measure(ctx, { ...common, policy: p1, world: synthetic, tasks: synthetic.tasks('val', tasksN, 0) }, 'synthetic world')));
  // The visual-search world with its sandboxed Python tool, V*-like (cue 'attribute', 16 patches
  // of 768 floats: this series' world since its first run; the world's defaults are now cue 'region', patch 8).
  const search = new VisualSearchWorld({ cue: 'attribute', patch: 16 });
  const p2 = await taughtPolicy(search, search.tasks('train', 32, 0), 80, 3e-3);
  rows.push(...(await measure(ctx, { ...common, maxTurnTokens: 48, maxObsTokens: 64, policy: p2, world: search, tasks: search.tasks('val', tasksN, 0) }, 'visual-search')));
  return rows;
}
