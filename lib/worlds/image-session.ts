/**
 * The world-bound sandbox of image worlds: a PythonSandbox with image_clue_0
 * (the task's image), mean_color, and every shown image bound as image_clue_k
 * (k = 1, 2, ...) for the turns after the one that showed it. One session is
 * one trajectory; nothing is shared between sessions.
 *
 * Each result carries `details.shown`: for every shown image, the box of
 * image_clue_0 it shows (null when it is not a crop or resize of the input,
 * e.g. rotated), which worlds use to record where the agent looked.
 */
import { PythonSandbox } from '../sandbox/sandbox.js';
import type { SandboxLimits } from '../sandbox/limits.js';
import type { PyValue } from '../sandbox/host.js';
import { checkImage } from '../image/image.js';
import type { RgbImage } from '../util/rgb.js';
import { DEFAULT_IMAGE_BUILTIN_LIMITS, ImageObject, meanColorBuiltin, type ImageBuiltinLimits } from './image-builtins.js';
import type { ToolResult, ToolSession } from './world.js';

export interface ImageSessionOptions {
  /** The input image, bound as image_clue_0. */
  image: RgbImage;
  /** More variables the programs see (a world's own built-ins). */
  globals?: Record<string, PyValue>;
  /** Sandbox limits (steps, wall time, images per trajectory...) over the sandbox's defaults. */
  limits?: Partial<SandboxLimits>;
  /** Pixel limit of the images the built-ins create. */
  imageLimits?: ImageBuiltinLimits;
  /**
   * Injected tool failures: call k of the session fails with RuntimeError (without running) when
   * failure.chance(k, code) is true. For worlds that model an unreliable tool.
   */
  failure?: (call: number, code: string) => boolean;
}

/** What a session adds to a ToolResult. */
export interface ImageToolDetails {
  /** Per shown image, the input-image box [left, top, right, bottom] it shows, or null. */
  shown: ([number, number, number, number] | null)[];
  /** True when the call failed by injection (the program did not run). */
  injectedFailure?: boolean;
}

export type ImageToolResult = ToolResult & { details: ImageToolDetails };

export class ImageToolSession implements ToolSession {
  private readonly sandbox: PythonSandbox;
  private readonly failure?: (call: number, code: string) => boolean;
  private calls = 0;
  private clues = 0;

  constructor(options: ImageSessionOptions) {
    const image = checkImage(options.image, 'options.image');
    const imageLimits = options.imageLimits ?? DEFAULT_IMAGE_BUILTIN_LIMITS;
    const clue0 = new ImageObject(image, imageLimits, { x0: 0, y0: 0, sx: 1, sy: 1 });
    this.sandbox = new PythonSandbox({
      globals: { ...options.globals, image_clue_0: clue0, mean_color: meanColorBuiltin },
      limits: options.limits,
    });
    this.failure = options.failure;
  }

  async run(code: string): Promise<ImageToolResult> {
    const call = this.calls++;
    if (this.failure?.(call, code)) {
      return {
        output: '',
        images: [],
        error: { type: 'RuntimeError', message: 'the tool failed to run this call' },
        details: { shown: [], injectedFailure: true },
      };
    }
    const result = await this.sandbox.run(code);
    const shown: ([number, number, number, number] | null)[] = [];
    for (const image of result.images) {
      const object = ImageObject.of(image) ?? new ImageObject(image);
      shown.push(object.box());
      this.clues++;
      this.sandbox.setGlobal(`image_clue_${this.clues}`, object);
    }
    return { output: result.output, images: result.images, error: result.error ? { type: result.error.type, message: result.error.message } : null, details: { shown } };
  }

  dispose(): void {
    this.sandbox.dispose();
  }
}
