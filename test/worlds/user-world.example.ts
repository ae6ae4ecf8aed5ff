// A complete user world: which quadrant of a grey image is brightest? The first view is too
// small to tell close greys apart; the tool adds a built-in, brightness(img), next to the image
// built-ins. Built from pyvision-rl's pieces: WordTokenizer, ImageToolSession, observeImages,
// viewPatches, policyShape, imageRecord.
import {
  ImageToolSession, PyBuiltin, PyException, WordTokenizer, imageRecord, meanColor, observeImages, policyShape, viewPatches,
  type ExpertTurn, type ObservationLimits, type RgbImage, type Segment, type Split, type Task, type ToolResult,
  type ToolSession, type TurnRecord, type World, type WorldPolicyShape, ImageObject,
} from '../../lib/index.js'; // in your project: from 'pyvision-rl'

const QUADRANTS = ['top_left', 'top_right', 'bottom_left', 'bottom_right'];
const SIDE = 64;
const VIEW = { width: 16, height: 16, patch: 8 }; // 4 patches per image

interface QuadrantTask extends Task {
  greys: number[]; // the four quadrants' grey levels
}

/** brightness(img) -> the mean of the mean colour, as a float. */
const brightness = new PyBuiltin('brightness', (args) => {
  const img = args[0];
  if (args.length !== 1 || !(img instanceof ImageObject)) throw new PyException('TypeError', 'brightness() takes one image');
  const [r, g, b] = meanColor(img.image);
  return (r + g + b) / 3;
});

function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), a | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export class QuadrantWorld implements World<QuadrantTask> {
  readonly name = 'quadrants';
  readonly tokenizer = new WordTokenizer(['which', 'quadrant', 'brightest', 'options', 'brightness', 'crop', 'image_clue_0', 'image_clue_1', ...QUADRANTS], { maxNumber: SIDE });
  readonly patchDim = VIEW.patch * VIEW.patch * 3;

  tasks(split: Split, n: number, seed = 0): QuadrantTask[] {
    const offset = { train: 0, val: 1 << 20, test: 2 << 20 }[split]; // disjoint seed ranges per split
    return Array.from({ length: n }, (_, i) => {
      const r = mulberry32(offset + seed * 100_003 + i);
      const base = 80 + Math.floor(r() * 80);
      const greys = QUADRANTS.map(() => base + Math.floor(r() * 6));
      const best = Math.floor(r() * 4);
      greys[best] = Math.max(...greys) + 3; // brightest by a few levels only
      return { id: `quad-${split}-${seed}-${i}`, split, type: 'brightest', question: 'which quadrant is brightest ?', options: QUADRANTS, answer: QUADRANTS[best], greys };
    });
  }

  image(task: QuadrantTask): RgbImage {
    const data = new Uint8Array(SIDE * SIDE * 3);
    for (let y = 0; y < SIDE; y++) {
      for (let x = 0; x < SIDE; x++) {
        const q = (y < SIDE / 2 ? 0 : 2) + (x < SIDE / 2 ? 0 : 1);
        const noise = ((x * 7 + y * 13) % 9) - 4; // texture that hides small differences when averaged away
        data.fill(Math.max(0, Math.min(255, task.greys[q] + noise)), (y * SIDE + x) * 3, (y * SIDE + x) * 3 + 3);
      }
    }
    return { width: SIDE, height: SIDE, data };
  }

  verify(task: QuadrantTask, answer: string): number {
    return answer.trim() === task.answer ? 1 : 0;
  }

  prompt(task: QuadrantTask): Segment {
    const t = this.tokenizer;
    const text = t.encode(`${task.question} options : ${task.options.join(' , ')}`);
    const tokens = Int32Array.from([t.id('<bos>'), t.id('<q>'), ...text, t.id('</q>'), t.id('<img>'), -1, -1, -1, -1, t.id('</img>')]);
    return { tokens, patches: viewPatches(this.image(task), VIEW) };
  }

  openTool(task: QuadrantTask): ToolSession {
    return new ImageToolSession({ image: this.image(task), globals: { brightness } });
  }

  observe(result: ToolResult, limits: ObservationLimits): Segment {
    return observeImages(this.tokenizer, VIEW, result, limits);
  }

  expert(task: QuadrantTask): ExpertTurn[] {
    const h = SIDE / 2;
    const boxes = [[0, 0, h, h], [h, 0, SIDE, h], [0, h, h, SIDE], [h, h, SIDE, SIDE]];
    const code = boxes.map((b) => `print(round(brightness(image_clue_0.crop((${b.join(', ')})))))`).join('\n');
    return [{ kind: 'code', code }, { kind: 'answer', answer: task.answer }];
  }

  policyConfig(overrides?: Partial<WorldPolicyShape>): WorldPolicyShape {
    return policyShape(this.tokenizer.size, this.patchDim, 256, overrides);
  }

  record(task: QuadrantTask, turns: readonly TurnRecord[]): Record<string, unknown> {
    return imageRecord(task, this.image(task), null, turns);
  }
}
