/**
 * A video as the frame tools see it: its metadata and frames fetched by index,
 * on demand. Procedural videos render a frame when it is asked for; files are
 * decoded by ffmpeg around the frames asked for. Both keep recent frames in a
 * FrameCache with a byte budget.
 */
import { PyVisionError } from '../util/errors.js';
import type { RgbImage } from '../util/rgb.js';

export interface VideoSource {
  /** Frames in the video (N >= 0). */
  readonly frameCount: number;
  /** Average frames per second (> 0). */
  readonly fps: number;
  /** Frame width in pixels. */
  readonly width: number;
  /** Frame height in pixels. */
  readonly height: number;
  /** The frames with these indices, in the order asked (repeats allowed). Throws E_ARG naming a bad index. */
  frames(indices: readonly number[]): Promise<RgbImage[]>;
}

/** Default byte budget of a video's frame cache: 64 MiB. */
export const DEFAULT_CACHE_BYTES = 64 * 1024 * 1024;

/** Checks frame indices against a video's length; the message names the argument and the bad index. */
export function checkFrameIndices(indices: readonly number[], frameCount: number, name = 'indices'): void {
  if (!Array.isArray(indices)) throw new PyVisionError('E_ARG', `${name} must be an array of frame indices`);
  for (let j = 0; j < indices.length; j++) {
    const i = indices[j];
    if (typeof i !== 'number' || !Number.isInteger(i) || i < 0 || i >= frameCount) {
      throw new PyVisionError(
        'E_ARG',
        `${name}[${j}] must be a frame index in [0, ${frameCount - 1}] (the video has ${frameCount} frames), got ${String(i)}`,
      );
    }
  }
}
