/**
 * TensorBoard event files written without TensorFlow: the TFRecord framing
 * (length, masked CRC32C of the length, data, masked CRC32C of the data) around
 * `tensorboard.Event` protobufs, encoded by hand. Only what scalar logging needs:
 *
 *   Event   { double wall_time = 1; int64 step = 2; string file_version = 3;
 *             Summary summary = 5; SessionLog session_log = 7; }
 *   Summary { repeated Value value = 1; }
 *   Value   { string tag = 1; float simple_value = 2; }
 *   SessionLog { SessionStatus status = 1; }   (START = 1)
 *
 * (field numbers of tensorboard/compat/proto/event.proto and summary.proto).
 * The file is named `events.out.tfevents.<seconds>.<host>` as TensorBoard's
 * loader expects, written with synchronous appends so a killed run keeps every
 * complete record.
 */
import { closeSync, fsyncSync, mkdirSync, openSync, writeSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';

import { PyVisionError } from '../util/errors.js';
import type { MetricsRecord, MetricsSink } from './types.js';

// ---- CRC32C (Castagnoli), reflected polynomial 0x82f63b78 ------------------------------------

const CRC32C_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

/** CRC32C of the bytes (crc32c("123456789") = 0xe3069283). */
export function crc32c(bytes: Uint8Array): number {
  let crc = 0xffffffff;
  for (let i = 0; i < bytes.length; i++) crc = CRC32C_TABLE[(crc ^ bytes[i]) & 0xff] ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

/** The TFRecord mask: rotate right by 15 and add 0xa282ead8 (mod 2^32). */
export function maskedCrc32c(bytes: Uint8Array): number {
  const crc = crc32c(bytes);
  return ((((crc >>> 15) | (crc << 17)) >>> 0) + 0xa282ead8) >>> 0;
}

/** One TFRecord: uint64 length (little-endian), masked CRC of those 8 bytes, data, masked CRC of data. */
export function tfRecord(data: Uint8Array): Uint8Array {
  const out = new Uint8Array(8 + 4 + data.length + 4);
  const view = new DataView(out.buffer);
  view.setBigUint64(0, BigInt(data.length), true);
  view.setUint32(8, maskedCrc32c(out.subarray(0, 8)), true);
  out.set(data, 12);
  view.setUint32(12 + data.length, maskedCrc32c(data), true);
  return out;
}

// ---- protobuf wire format ---------------------------------------------------------------------

class ProtoWriter {
  private chunks: number[] = [];

  /** Unsigned varint of a non-negative integer up to 2^53. */
  varint(value: number): this {
    let v = value;
    while (v >= 0x80) {
      this.chunks.push((v % 0x80) | 0x80);
      v = Math.floor(v / 0x80);
    }
    this.chunks.push(v);
    return this;
  }

  private key(field: number, wireType: number): this {
    return this.varint(field * 8 + wireType);
  }

  uint(field: number, value: number): this {
    return this.key(field, 0).varint(value);
  }

  double(field: number, value: number): this {
    this.key(field, 1);
    const bytes = new Uint8Array(8);
    new DataView(bytes.buffer).setFloat64(0, value, true);
    this.chunks.push(...bytes);
    return this;
  }

  float(field: number, value: number): this {
    this.key(field, 5);
    const bytes = new Uint8Array(4);
    new DataView(bytes.buffer).setFloat32(0, value, true);
    this.chunks.push(...bytes);
    return this;
  }

  bytes(field: number, value: Uint8Array): this {
    this.key(field, 2).varint(value.length);
    for (let i = 0; i < value.length; i++) this.chunks.push(value[i]);
    return this;
  }

  string(field: number, value: string): this {
    return this.bytes(field, new TextEncoder().encode(value));
  }

  finish(): Uint8Array {
    return Uint8Array.from(this.chunks);
  }
}

/** An Event holding only a file version (the first record of every event file). */
export function fileVersionEvent(wallTime: number): Uint8Array {
  return new ProtoWriter().double(1, wallTime).string(3, 'brain.Event:2').finish();
}

/** An Event with a Summary of simple_value scalars, one Value per tag. */
export function scalarsEvent(wallTime: number, step: number, scalars: ReadonlyArray<[string, number]>): Uint8Array {
  const summary = new ProtoWriter();
  for (const [tag, value] of scalars) summary.bytes(1, new ProtoWriter().string(1, tag).float(2, value).finish());
  return new ProtoWriter().double(1, wallTime).uint(2, step).bytes(5, summary.finish()).finish();
}

/**
 * An Event with SessionLog START at a step: TensorBoard's reader then drops the
 * events of earlier runs at that step and later (what a resumed run rewrites).
 */
export function sessionStartEvent(wallTime: number, step: number): Uint8Array {
  return new ProtoWriter().double(1, wallTime).uint(2, step).bytes(7, new ProtoWriter().uint(1, 1).finish()).finish();
}

// ---- the sink ---------------------------------------------------------------------------------

export interface TensorBoardSinkOptions {
  /**
   * When resuming a run at this step (the first step the resumed run will write),
   * the new file starts with a SessionLog START there, so the killed run's events
   * from this step on are superseded in TensorBoard.
   */
  resumeStep?: number;
  /** Clock for wall times, in seconds (tests pass a fixed one). */
  now?: () => number;
}

/** Writes each step's finite metrics as TensorBoard scalars (tag = metric key) to a new event file in `dir`. */
export class TensorBoardSink implements MetricsSink {
  /** Path of the event file this sink writes. */
  readonly path: string;
  private fd: number | null;
  private readonly now: () => number;

  constructor(dir: string, options: TensorBoardSinkOptions = {}) {
    this.now = options.now ?? (() => Date.now() / 1000);
    const start = this.now();
    try {
      mkdirSync(dir, { recursive: true });
      // A resumed run in the same second must not append to the killed run's file.
      const suffix = options.resumeStep === undefined ? '' : `.resume${options.resumeStep}`;
      this.path = join(dir, `events.out.tfevents.${Math.floor(start)}.${hostname()}${suffix}`);
      this.fd = openSync(this.path, 'a');
    } catch (error) {
      throw new PyVisionError('E_IO', `cannot create a TensorBoard event file in ${dir}: ${(error as Error).message}`);
    }
    this.append(fileVersionEvent(start));
    if (options.resumeStep !== undefined) this.append(sessionStartEvent(start, options.resumeStep));
  }

  write(step: number, record: MetricsRecord): void {
    const scalars: Array<[string, number]> = [];
    for (const [key, value] of Object.entries(record)) {
      if (key !== 'step' && typeof value === 'number' && Number.isFinite(value)) scalars.push([key, value]);
    }
    this.append(scalarsEvent(this.now(), step, scalars));
  }

  close(): void {
    if (this.fd === null) return;
    try {
      fsyncSync(this.fd);
    } finally {
      closeSync(this.fd);
      this.fd = null;
    }
  }

  private append(event: Uint8Array): void {
    if (this.fd === null) throw new PyVisionError('E_IO', `TensorBoard sink for ${this.path} is closed`);
    const record = tfRecord(event);
    let offset = 0;
    while (offset < record.length) offset += writeSync(this.fd, record, offset, record.length - offset);
  }
}
