/**
 * A small World written against lib/worlds/world.ts alone (what a user of the
 * package writes): a word tokenizer, a tool whose programs are words, 4 x 4
 * images cut into four 2 x 2 patches. It keeps a log of its tool sessions so
 * that tests can check what ran.
 *
 * Tool programs (words, state persists across the calls of one session):
 *   zoom       shows a 4 x 4 image (its colour from the task) and prints "ok"
 *   say W...   prints the words W...
 *   count      prints how many calls this session has run before (0, 1, ...)
 *   fail       raises ValueError("bad box")
 *   anything else: NameError
 */
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
  type TurnRecord,
  type World,
  type WorldPolicyShape,
} from '../../lib/worlds/world.js';
import { PyVisionError } from '../../lib/util/errors.js';
import type { RgbImage } from '../../lib/util/rgb.js';

const WORDS = [
  'what', 'colour', 'is', 'it', '?', 'small', 'big', 'zoom', 'say', 'count', 'fail', 'ok',
  'red', 'green', 'blue', '0', '1', '2', '3', '4', '5', 'ValueError:', 'NameError:', 'bad', 'box',
] as const;

export class WordTokenizer implements Tokenizer {
  readonly vocab: string[] = [...SPECIAL_TOKENS, ...WORDS];
  readonly #ids = new Map(this.vocab.map((w, i) => [w, i]));
  get size(): number {
    return this.vocab.length;
  }
  id(token: string): number {
    const i = this.#ids.get(token);
    if (i === undefined) throw new PyVisionError('E_ARG', `token must be in the vocabulary, got '${token}'`);
    return i;
  }
  token(id: number): string {
    return this.vocab[id];
  }
  encode(text: string): Int32Array {
    const unk = this.id('<unk>');
    return Int32Array.from(text.split(/\s+/).filter((w) => w.length > 0).map((w) => this.#ids.get(w) ?? unk));
  }
  decode(ids: ArrayLike<number>): string {
    const out: string[] = [];
    for (let i = 0; i < ids.length; i++) if (ids[i] >= 0) out.push(this.vocab[ids[i]]);
    return out.join(' ');
  }
}

export interface ToyTask extends Task {
  /** 'small': the answer needs a zoom; 'big': visible in the prompt's image. */
  readonly size: 'small' | 'big';
}

export const COLOURS = ['red', 'green', 'blue'] as const;
const RGB: Record<string, [number, number, number]> = { red: [255, 0, 0], green: [0, 255, 0], blue: [0, 0, 255] };

export function image(colour: string, shade = 1): RgbImage {
  const data = new Uint8Array(4 * 4 * 3);
  const [r, g, b] = RGB[colour] ?? [128, 128, 128];
  for (let p = 0; p < 16; p++) {
    const f = shade * (0.5 + p / 32);
    data[3 * p] = Math.round(r * f);
    data[3 * p + 1] = Math.round(g * f);
    data[3 * p + 2] = Math.round(b * f);
  }
  return { width: 4, height: 4, data };
}

/** The session log of one ToolSession. */
export interface ToolLog {
  task: string;
  runs: { code: string; result: ToolResult }[];
  disposed: boolean;
}

export interface ToyWorldOptions {
  /** Every program raises (a tool that always fails). */
  alwaysFail?: boolean;
  /** Words the `zoom` program prints (default 'ok'): long outputs make big observations. */
  zoomOutput?: string;
  /** Expert: this many `count` calls before its zoom on small tasks. */
  expertExtraTurns?: number;
}

export class ToyWorld implements World<ToyTask> {
  readonly name = 'toy';
  readonly tokenizer = new WordTokenizer();
  /** 2 x 2 patches of RGB. */
  readonly patchDim = 12;
  readonly logs: ToolLog[] = [];
  constructor(readonly options: ToyWorldOptions = {}) {}

  tasks(split: Split, n: number, seed = 0): ToyTask[] {
    const out: ToyTask[] = [];
    for (let i = 0; i < n; i++) {
      const k = (i * 7 + seed * 3 + (split === 'train' ? 0 : split === 'val' ? 1 : 2)) % 6;
      const answer = COLOURS[k % 3];
      out.push({ id: `${split}-${seed}-${i}`, split, type: k < 3 ? 'small' : 'big', size: k < 3 ? 'small' : 'big', question: `what colour is it ? ${k < 3 ? 'small' : 'big'}`, options: [...COLOURS], answer });
    }
    return out;
  }

  verify(task: ToyTask, answer: string): number {
    return answer === task.answer ? 1 : 0;
  }

  #view(img: RgbImage): Float32Array {
    const out = new Float32Array(4 * this.patchDim);
    let k = 0;
    for (let py = 0; py < 2; py++)
      for (let px = 0; px < 2; px++)
        for (let y = 0; y < 2; y++)
          for (let x = 0; x < 2; x++)
            for (let c = 0; c < 3; c++) out[k++] = img.data[3 * ((2 * py + y) * 4 + 2 * px + x) + c] / 255 - 0.5;
    return out;
  }

  #imageTokens(): number[] {
    return [this.tokenizer.id('<img>'), -1, -1, -1, -1, this.tokenizer.id('</img>')];
  }

  prompt(task: ToyTask): Segment {
    const t = this.tokenizer;
    const tokens = [t.id('<bos>'), t.id('<q>'), ...t.encode(task.question), t.id('</q>'), ...this.#imageTokens()];
    // Small targets look grey in the first view; big ones show their colour.
    return { tokens: Int32Array.from(tokens), patches: this.#view(image(task.size === 'big' ? task.answer : 'grey')) };
  }

  openTool(task: ToyTask): ToolSession {
    const log: ToolLog = { task: task.id, runs: [], disposed: false };
    this.logs.push(log);
    const options = this.options;
    return {
      async run(code: string): Promise<ToolResult> {
        if (log.disposed) throw new Error('run after dispose');
        const words = code.split(/\s+/);
        let result: ToolResult;
        if (options.alwaysFail || words[0] === 'fail') result = { output: '', images: [], error: { type: 'ValueError', message: 'bad box' } };
        else if (words[0] === 'zoom') result = { output: options.zoomOutput ?? 'ok', images: [image(task.answer)], error: null };
        else if (words[0] === 'say') result = { output: words.slice(1).join(' '), images: [], error: null };
        else if (words[0] === 'count') result = { output: String(log.runs.length), images: [], error: null };
        else result = { output: '', images: [], error: { type: 'NameError', message: `name '${words[0]}' is not defined` } };
        log.runs.push({ code, result });
        return result;
      },
      dispose() {
        log.disposed = true;
      },
    };
  }

  observe(result: ToolResult, limits: ObservationLimits): Segment {
    const t = this.tokenizer;
    const text = Array.from(t.encode(result.output)).slice(0, limits.maxObsTokens);
    const tokens: number[] = [t.id('<obs>'), ...text];
    const patches: Float32Array[] = [];
    for (const img of result.images) {
      tokens.push(...this.#imageTokens());
      patches.push(this.#view(img));
    }
    tokens.push(t.id('</obs>'));
    const flat = new Float32Array(patches.length * 4 * this.patchDim);
    patches.forEach((p, i) => flat.set(p, i * p.length));
    return { tokens: Int32Array.from(tokens), patches: flat };
  }

  expert(task: ToyTask, seed: number): ExpertTurn[] {
    const turns: ExpertTurn[] = [];
    if (task.size === 'small') {
      for (let k = 0; k < (this.options.expertExtraTurns ?? 0); k++) turns.push({ kind: 'code', code: 'count' });
      // Odd expert seeds say what they look for first.
      if (seed % 2 === 1) turns.push({ kind: 'code', code: 'say small' });
      turns.push({ kind: 'code', code: 'zoom' });
    }
    turns.push({ kind: 'answer', answer: task.answer });
    return turns;
  }

  policyConfig(overrides: Partial<WorldPolicyShape> = {}): WorldPolicyShape {
    return { vocabSize: this.tokenizer.size, patchDim: this.patchDim, maxSeqLen: 96, ...overrides };
  }

  record(task: ToyTask, turns: readonly TurnRecord[]): Record<string, unknown> {
    return { type: task.type, zooms: turns.filter((t) => t.kind === 'code' && t.text === 'zoom').length };
  }
}
