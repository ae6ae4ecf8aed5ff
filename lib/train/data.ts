/**
 * The data cursor: the train split visited in a seeded order, reshuffled each
 * epoch. Its whole state is { epoch, position }; it is saved in checkpoints.
 */
import { permutation, hash32, STREAM } from './rng.js';

export interface CursorState {
  /** Completed passes over the tasks. */
  epoch: number;
  /** Next index in this epoch's order. */
  position: number;
}

export class DataCursor<T> {
  #order: Int32Array;
  #state: CursorState;

  constructor(
    readonly items: readonly T[],
    readonly seed: number,
    /** A different stream per use of the same tasks (RL prompts, SFT demonstrations). */
    readonly stream: number = STREAM.dataOrder,
    state: CursorState = { epoch: 0, position: 0 },
  ) {
    this.#state = { ...state };
    this.#order = this.#orderOf(this.#state.epoch);
  }

  #orderOf(epoch: number): Int32Array {
    return permutation(this.items.length, hash32(this.seed, this.stream, epoch));
  }

  get state(): CursorState {
    return { ...this.#state };
  }

  /** The next n items (wrapping into the next epoch, which is reshuffled). */
  next(n: number): T[] {
    const out: T[] = [];
    while (out.length < n) {
      if (this.#state.position >= this.items.length) {
        this.#state = { epoch: this.#state.epoch + 1, position: 0 };
        this.#order = this.#orderOf(this.#state.epoch);
      }
      out.push(this.items[this.#order[this.#state.position++]]);
    }
    return out;
  }
}
