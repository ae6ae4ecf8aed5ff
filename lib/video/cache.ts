/**
 * A least-recently-used cache of decoded frames with a byte budget: frames are
 * kept until their bytes would exceed the budget, then the least recently used
 * ones go first. A frame larger than the whole budget is returned but not kept.
 */
import type { RgbImage } from '../util/rgb.js';
import * as v from '../util/validate.js';

export interface FrameCacheStats {
  /** Frames currently held. */
  frames: number;
  /** Bytes currently held (sum of the frames' data lengths). */
  bytes: number;
  /** The budget in bytes. */
  budgetBytes: number;
  /** Lookups that found their frame. */
  hits: number;
  /** Lookups that did not. */
  misses: number;
  /** Frames dropped to stay under the budget. */
  evictions: number;
}

export class FrameCache {
  readonly budgetBytes: number;
  // A Map iterates in insertion order: re-inserting on use keeps the least
  // recently used entry first.
  private readonly entries = new Map<number, RgbImage>();
  private bytes = 0;
  private hits = 0;
  private misses = 0;
  private evictions = 0;

  /** @param budgetBytes the most bytes of frame data held at once (integer >= 0; 0 keeps nothing). */
  constructor(budgetBytes: number) {
    this.budgetBytes = v.number(budgetBytes, 'budgetBytes', { integer: true, min: 0 });
  }

  /** The frame with this index, marked as most recently used; undefined when not held. */
  get(index: number): RgbImage | undefined {
    const frame = this.entries.get(index);
    if (frame === undefined) {
      this.misses++;
      return undefined;
    }
    this.hits++;
    this.entries.delete(index);
    this.entries.set(index, frame);
    return frame;
  }

  /** Whether the frame is held (does not change the order or the statistics). */
  has(index: number): boolean {
    return this.entries.has(index);
  }

  /** Keeps a frame (most recently used), evicting the least recently used ones to stay within the budget. */
  set(index: number, frame: RgbImage): void {
    const old = this.entries.get(index);
    if (old !== undefined) {
      this.entries.delete(index);
      this.bytes -= old.data.length;
    }
    const size = frame.data.length;
    if (size > this.budgetBytes) return;
    while (this.bytes + size > this.budgetBytes) {
      const oldest = this.entries.keys().next().value as number;
      this.bytes -= this.entries.get(oldest)!.data.length;
      this.entries.delete(oldest);
      this.evictions++;
    }
    this.entries.set(index, frame);
    this.bytes += size;
  }

  /** Indices held, least recently used first. */
  keys(): number[] {
    return [...this.entries.keys()];
  }

  clear(): void {
    this.entries.clear();
    this.bytes = 0;
  }

  stats(): FrameCacheStats {
    return {
      frames: this.entries.size,
      bytes: this.bytes,
      budgetBytes: this.budgetBytes,
      hits: this.hits,
      misses: this.misses,
      evictions: this.evictions,
    };
  }
}
