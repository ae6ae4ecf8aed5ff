/**
 * Video files decoded by ffmpeg, frame by frame on demand. The ffmpeg and
 * ffprobe executables are found through PYVISION_RL_FFMPEG (the path of
 * ffmpeg; ffprobe is looked for next to it) or on PATH; without them opening a
 * file fails with an E_IO error that says how to install them, and nothing
 * else in the package needs them.
 *
 * Opening a file runs ffprobe once: the stream's size and average frame rate,
 * and every video packet's presentation timestamp (read from the container,
 * nothing is decoded). Sorted, these timestamps give frame i's exact time, so a
 * fetch of frame i seeks to the keyframe before it (-ss before -i, accurate
 * seek) with the cut placed halfway between frames i - 1 and i: ffmpeg decodes
 * from that keyframe and drops every frame before i, and the first frame out
 * is frame i whatever the rounding of the timestamps.
 *
 * The decoder process stays open between requests: it writes raw frames into a
 * pipe, one after the other, and a request for frame j after frame i is served
 * by reading on from the same process when j is at most runGap frames ahead or
 * decoded from a keyframe at or before the process's position (a new seek
 * would decode at least as much). A request further ahead, or behind, ends it
 * and starts a new one at the new frame. It is killed after decoderIdleMs
 * without requests, by close(), on any error, and when the Node process exits.
 *
 * One request for frames far apart is split by the same rule into runs, each
 * decoded by its own process from its own keyframe; up to `decoders` of them
 * run at once (each decodes up to its first frame while the earlier runs are
 * read), and the last run's process is the one kept open.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants, statSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { delimiter, dirname, join } from 'node:path';

import { PyVisionError } from '../util/errors.js';
import type { RgbImage } from '../util/rgb.js';
import * as v from '../util/validate.js';
import { FrameCache } from './cache.js';
import { DEFAULT_CACHE_BYTES, checkFrameIndices, type VideoSource } from './source.js';

export interface FfmpegTools {
  ffmpeg: string;
  ffprobe: string;
}

const INSTALL_HINT =
  'install ffmpeg (Debian/Ubuntu: apt-get install ffmpeg; macOS: brew install ffmpeg) or set PYVISION_RL_FFMPEG to the path of the ffmpeg executable (ffprobe must sit next to it)';

function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

function onPath(name: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (dir === '') continue;
    const candidate = join(dir, name);
    if (isExecutable(candidate)) return candidate;
  }
  return undefined;
}

/** Where ffmpeg and ffprobe are, or undefined with the reason (for tests that skip and for `doctor`). */
export function locateFfmpeg(): { tools: FfmpegTools } | { reason: string } {
  const configured = process.env.PYVISION_RL_FFMPEG;
  if (configured !== undefined && configured !== '') {
    if (!isExecutable(configured)) return { reason: `PYVISION_RL_FFMPEG=${configured} is not an executable file; ${INSTALL_HINT}` };
    const beside = join(dirname(configured), 'ffprobe');
    const ffprobe = isExecutable(beside) ? beside : onPath('ffprobe');
    if (ffprobe === undefined) return { reason: `ffprobe was not found next to PYVISION_RL_FFMPEG (${beside}) nor on PATH; ${INSTALL_HINT}` };
    return { tools: { ffmpeg: configured, ffprobe } };
  }
  const ffmpeg = onPath('ffmpeg');
  if (ffmpeg === undefined) return { reason: `ffmpeg was not found on PATH; ${INSTALL_HINT}` };
  const ffprobe = onPath('ffprobe');
  if (ffprobe === undefined) return { reason: `ffprobe was not found on PATH (ffmpeg is at ${ffmpeg}); ${INSTALL_HINT}` };
  return { tools: { ffmpeg, ffprobe } };
}

/** ffmpeg and ffprobe, or an E_IO PyVisionError naming the fix. */
export function requireFfmpeg(): FfmpegTools {
  const found = locateFfmpeg();
  if ('reason' in found) throw new PyVisionError('E_IO', `reading video files needs ffmpeg: ${found.reason}`);
  return found.tools;
}

/** Runs a program to completion and returns its stdout; E_IO with its stderr when it fails. */
export function runTool(program: string, args: string[], what: string): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const child = spawn(program, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (chunk: Buffer) => out.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => err.push(chunk));
    child.on('error', (error) => reject(new PyVisionError('E_IO', `${what}: could not run ${program}: ${error.message}`)));
    child.on('close', (code, signal) => {
      if (code === 0) resolve(Buffer.concat(out));
      else {
        const message = Buffer.concat(err).toString('utf8').trim().split('\n').slice(-3).join(' | ');
        reject(new PyVisionError('E_IO', `${what}: ${program} exited with ${signal ?? code}${message ? `: ${message}` : ''}`));
      }
    });
  });
}

export interface VideoFileOptions {
  /** Byte budget of the decoded-frame cache. Default 64 MiB. */
  cacheBytes?: number;
  /**
   * Requested frames at most this many frames apart are decoded by one ffmpeg
   * process (the frames between are decoded too, and cached). Default 16.
   */
  runGap?: number;
  /** ffmpeg and ffprobe to use (default: requireFfmpeg()). */
  tools?: FfmpegTools;
  /**
   * Milliseconds the decoder process stays open without requests, for the
   * next one to read on (0: it is ended after every frames() call, so every
   * call seeks anew). Default 5000.
   */
  decoderIdleMs?: number;
  /**
   * ffmpeg processes one frames() call may run at once when its frames are
   * far apart (each decodes one run from its keyframe). Default: the
   * processors available, at most 4; 1 decodes the runs one after the other.
   */
  decoders?: number;
}

/** Decoder processes alive in this Node process: killed when it exits, so none outlives it. */
const liveDecoders = new Set<ChildProcess>();
let exitHookInstalled = false;
function track(child: ChildProcess): void {
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.once('exit', () => {
      for (const c of liveDecoders) c.kill('SIGKILL');
    });
  }
  liveDecoders.add(child);
}

/**
 * One ffmpeg process writing raw RGB frames into a pipe from frame `first` on;
 * `next` is the index of the frame the next read() returns.
 */
class FrameDecoder {
  next: number;
  /** The process has ended (its stdout closed, or it could not start). */
  ended = false;
  private readonly child: ChildProcess;
  private readonly stderr: Buffer[] = [];
  private stderrBytes = 0;
  private wake: (() => void) | null = null;
  private startError: Error | null = null;
  private readonly closed: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;

  constructor(
    program: string,
    args: string[],
    first: number,
    private readonly frameBytes: number,
    private readonly what: string,
  ) {
    this.next = first;
    this.child = spawn(program, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    track(this.child);
    const stdout = this.child.stdout!;
    stdout.on('readable', () => this.#wake());
    stdout.on('end', () => {
      this.ended = true;
      this.#wake();
    });
    stdout.on('error', () => {
      this.ended = true;
      this.#wake();
    });
    this.child.stderr!.on('data', (chunk: Buffer) => {
      // the last few KB are enough for the message
      this.stderr.push(chunk);
      this.stderrBytes += chunk.length;
      while (this.stderrBytes > 8192 && this.stderr.length > 1) this.stderrBytes -= this.stderr.shift()!.length;
    });
    this.closed = new Promise((resolve) => {
      this.child.on('error', (error) => {
        this.startError = error;
        this.ended = true;
        liveDecoders.delete(this.child);
        this.#wake();
        resolve({ code: null, signal: null });
      });
      this.child.on('close', (code, signal) => {
        this.ended = true;
        liveDecoders.delete(this.child);
        this.#wake();
        resolve({ code, signal });
      });
    });
  }

  /** The process id (undefined when it could not start). */
  get pid(): number | undefined {
    return this.child.pid;
  }

  #wake(): void {
    const w = this.wake;
    this.wake = null;
    w?.();
  }

  /** Keeps the Node process alive while a read waits (ref) or not while idle (unref). */
  hold(active: boolean): void {
    const handles = [this.child, this.child.stdout, this.child.stderr] as Array<{ ref?: () => void; unref?: () => void } | null>;
    for (const h of handles) (active ? h?.ref : h?.unref)?.call(h);
  }

  /** Frame `next` (then next + 1 is next). E_IO when the process ends first. */
  async read(): Promise<Uint8Array> {
    const stdout = this.child.stdout!;
    for (;;) {
      const chunk = stdout.read(this.frameBytes) as Buffer | null;
      if (chunk !== null && chunk.length === this.frameBytes) {
        this.next++;
        return new Uint8Array(chunk);
      }
      if (chunk !== null || this.ended) {
        this.kill();
        const { code, signal } = await this.closed;
        const message = Buffer.concat(this.stderr).toString('utf8').trim().split('\n').slice(-3).join(' | ');
        const how = this.startError !== null ? `could not run ffmpeg: ${this.startError.message}` : `ffmpeg ended (${signal ?? `exit code ${code}`}) before frame ${this.next}`;
        throw new PyVisionError('E_IO', `${this.what}: ${how}${message ? `: ${message}` : ''}`);
      }
      await new Promise<void>((resolve) => {
        this.wake = resolve;
      });
    }
  }

  /** Ends the process (SIGKILL: it holds no state worth a clean exit). */
  kill(): void {
    this.ended = true;
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
  }
}

/** Metadata of a video file, from ffprobe. */
export interface VideoFileInfo {
  frameCount: number;
  fps: number;
  width: number;
  height: number;
  /** Presentation time of every frame in seconds, ascending (frame i is shown at times[i]); null when the stream has no timestamps. */
  times: Float64Array | null;
  /** Indices of the keyframes (packets flagged K), ascending; decoding frame i starts at the last one <= i. */
  keyframes: Int32Array;
}

function parseRate(text: unknown): number {
  if (typeof text !== 'string') return NaN;
  const [num, den] = text.split('/').map(Number);
  if (den === undefined) return num;
  return den > 0 ? num / den : NaN;
}

/** Probes a file: size, average frame rate, frame count and every frame's timestamp (packets read, nothing decoded). */
export async function probeVideo(path: string, tools: FfmpegTools = requireFfmpeg()): Promise<VideoFileInfo> {
  const what = `probing video file ${path}`;
  const streamJson = await runTool(
    tools.ffprobe,
    ['-v', 'error', '-select_streams', 'v:0', '-show_entries', 'stream=width,height,avg_frame_rate,r_frame_rate,time_base', '-of', 'json', path],
    what,
  );
  let stream: Record<string, unknown> | undefined;
  try {
    stream = (JSON.parse(streamJson.toString('utf8')) as { streams?: Record<string, unknown>[] }).streams?.[0];
  } catch {
    stream = undefined;
  }
  if (stream === undefined) throw new PyVisionError('E_IO', `${what}: the file has no video stream`);
  const width = Number(stream.width);
  const height = Number(stream.height);
  if (!(width >= 1 && height >= 1)) throw new PyVisionError('E_IO', `${what}: the video stream has no frame size`);
  const [tbNum, tbDen] = String(stream.time_base ?? '').split('/').map(Number);
  const packets = await runTool(
    tools.ffprobe,
    ['-v', 'error', '-select_streams', 'v:0', '-show_entries', 'packet=pts,flags', '-of', 'csv=p=0', path],
    what,
  );
  const lines = packets.toString('utf8').split('\n').map((l) => l.trim()).filter((l) => l !== '');
  const pts = lines.map((l) => Number(l.split(',')[0]));
  const key = lines.map((l) => (l.split(',')[1] ?? '').includes('K'));
  const timed = pts.length > 0 && tbNum > 0 && tbDen > 0 && pts.every((p) => Number.isFinite(p));
  let times: Float64Array | null = null;
  let keyframes = new Int32Array([0]);
  if (timed) {
    const order = pts.map((_, j) => j).sort((a, b) => pts[a] - pts[b]);
    times = Float64Array.from(order, (j) => (pts[j] * tbNum) / tbDen);
    const keys = order.map((j, i) => (key[j] ? i : -1)).filter((i) => i >= 0);
    keyframes = Int32Array.from(keys.length > 0 && keys[0] === 0 ? keys : [0, ...keys]);
  }
  let fps = parseRate(stream.avg_frame_rate);
  if (!(fps > 0)) fps = parseRate(stream.r_frame_rate);
  if (!(fps > 0) && times !== null && times.length > 1) fps = (times.length - 1) / (times[times.length - 1] - times[0]);
  if (!(fps > 0)) throw new PyVisionError('E_IO', `${what}: the video stream has no frame rate`);
  return { frameCount: lines.length, fps, width, height, times, keyframes };
}

/** A video file decoded on demand by ffmpeg (see the file comment). Open it with VideoFile.open. */
export class VideoFile implements VideoSource {
  readonly frameCount: number;
  readonly fps: number;
  readonly width: number;
  readonly height: number;
  readonly cache: FrameCache;
  /** ffmpeg processes started so far (one per seek: see the file comment). */
  decodeCalls = 0;
  private readonly runGap: number;
  private readonly idleMs: number;
  private readonly decoders: number;
  private decoder: FrameDecoder | null = null;
  private idleTimer: ReturnType<typeof setTimeout> | null = null;
  /** Requests run one at a time (they share the decoder). */
  private queue: Promise<unknown> = Promise.resolve();

  private constructor(
    readonly path: string,
    private readonly info: VideoFileInfo,
    private readonly tools: FfmpegTools,
    opts: Record<string, unknown>,
  ) {
    this.frameCount = info.frameCount;
    this.fps = info.fps;
    this.width = info.width;
    this.height = info.height;
    this.cache = new FrameCache(v.optionalNumber(opts.cacheBytes, 'opts.cacheBytes', DEFAULT_CACHE_BYTES, { integer: true, min: 0 }));
    this.runGap = v.optionalNumber(opts.runGap, 'opts.runGap', 16, { integer: true, min: 1 });
    this.idleMs = v.optionalNumber(opts.decoderIdleMs, 'opts.decoderIdleMs', 5000, { min: 0 });
    this.decoders = v.optionalNumber(opts.decoders, 'opts.decoders', Math.min(4, availableParallelism()), { integer: true, min: 1, max: 64 });
  }

  /** The process id of the open decoder, or undefined when none is open. */
  get decoderPid(): number | undefined {
    return this.decoder !== null && !this.decoder.ended ? this.decoder.pid : undefined;
  }

  /** Ends the decoder process (a later frames() call starts a new one). */
  async close(): Promise<void> {
    await this.#exclusive(async () => this.#endDecoder());
  }

  /** Probes the file (E_IO when it cannot be read or ffmpeg is missing). */
  static async open(path: string, opts: VideoFileOptions = {}): Promise<VideoFile> {
    if (typeof path !== 'string' || path === '') throw new PyVisionError('E_ARG', `path must be a video file path, got ${String(path)}`);
    const o = v.optionalObject(opts, 'opts');
    const tools = (o.tools as FfmpegTools | undefined) ?? requireFfmpeg();
    try {
      statSync(path);
    } catch {
      throw new PyVisionError('E_IO', `video file ${path} does not exist or cannot be read`);
    }
    return new VideoFile(path, await probeVideo(path, tools), tools, o);
  }

  async frames(indices: readonly number[]): Promise<RgbImage[]> {
    checkFrameIndices(indices, this.frameCount);
    return this.#exclusive(() => this.#fetch(indices));
  }

  #exclusive<R>(work: () => Promise<R>): Promise<R> {
    const run = this.queue.then(work, work);
    this.queue = run.then(
      () => undefined,
      () => undefined,
    );
    return run;
  }

  async #fetch(indices: readonly number[]): Promise<RgbImage[]> {
    const found = new Map<number, RgbImage>();
    const missing: number[] = [];
    for (const i of new Set(indices)) {
      const hit = this.cache.get(i);
      if (hit !== undefined) found.set(i, hit);
      else missing.push(i);
    }
    missing.sort((a, b) => a - b);
    if (this.idleTimer !== null) {
      clearTimeout(this.idleTimer);
      this.idleTimer = null;
    }
    const runs = this.#runs(missing);
    const open = this.decoder;
    this.decoder = null;
    // started[r] decodes run r; the first run reads on from the open decoder when the rule allows.
    const started: FrameDecoder[] = [];
    try {
      const reuse = open !== null && runs.length > 0 && this.#readsOn(open, runs[0][0]);
      if (runs.length === 0) this.decoder = open;
      else if (!reuse) open?.kill();
      for (let r = 0; r < runs.length; r++) {
        while (started.length < Math.min(runs.length, r + this.decoders)) {
          started.push(started.length === 0 && reuse ? open! : this.#startDecoder(runs[started.length][0]));
        }
        const decoder = started[r];
        decoder.hold(true);
        const last = runs[r][runs[r].length - 1];
        // The frames between the requested ones are decoded anyway: cached, as before.
        while (decoder.next <= last) {
          const at = decoder.next;
          const frame: RgbImage = { width: this.width, height: this.height, data: await decoder.read() };
          this.cache.set(at, frame);
          found.set(at, frame);
        }
        if (r < runs.length - 1) decoder.kill();
        else this.decoder = decoder;
      }
    } catch (error) {
      for (const d of started) d.kill();
      open?.kill();
      this.decoder = null;
      this.#endDecoder();
      throw error;
    }
    this.#idle();
    return indices.map((i) => found.get(i)!);
  }

  /** Whether decoder d should read on to frame i (else i needs a new seek): the rule of the file comment. */
  #readsOn(d: FrameDecoder, i: number): boolean {
    return !d.ended && d.next <= i && (i - d.next <= this.runGap || this.keyframeOf(i) <= d.next);
  }

  /** The sorted frames split into runs by that rule, each to be served by one decoder reading on from its first frame. */
  #runs(sorted: readonly number[]): number[][] {
    const runs: number[][] = [];
    let next = -1;
    for (const i of sorted) {
      if (runs.length > 0 && (i - next <= this.runGap || this.keyframeOf(i) <= next)) runs[runs.length - 1].push(i);
      else runs.push([i]);
      next = i + 1;
    }
    return runs;
  }

  #endDecoder(): void {
    if (this.idleTimer !== null) {
      clearTimeout(this.idleTimer);
      this.idleTimer = null;
    }
    this.decoder?.kill();
    this.decoder = null;
  }

  /** After a request: the decoder waits idleMs for the next one (without keeping Node alive), or ends. */
  #idle(): void {
    const d = this.decoder;
    if (d === null) return;
    if (this.idleMs === 0 || d.ended) {
      this.#endDecoder();
      return;
    }
    d.hold(false);
    this.idleTimer = setTimeout(() => {
      this.idleTimer = null;
      if (this.decoder === d) this.#endDecoder();
    }, this.idleMs);
    this.idleTimer.unref();
  }

  /** The keyframe decoding frame i starts from (the last keyframe <= i). */
  keyframeOf(i: number): number {
    const k = this.info.keyframes;
    let lo = 0;
    let hi = k.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (k[mid] <= i) lo = mid;
      else hi = mid - 1;
    }
    return k[lo];
  }

  /** A decoder process whose first frame out is frame `first`. */
  #startDecoder(first: number): FrameDecoder {
    this.decodeCalls++;
    const args = ['-nostdin', '-hide_banner', '-loglevel', 'error'];
    const times = this.info.times;
    let filter: string[] = [];
    if (times !== null) {
      if (first > 0) {
        // Absolute timestamp (not offset by the file's start time), halfway between frames first - 1 and first.
        const cut = (times[first - 1] + times[first]) / 2;
        args.push('-seek_timestamp', '1', '-ss', cut.toFixed(6));
      }
    } else if (first > 0) {
      // No timestamps (a raw stream): count frames from the start.
      filter = ['-vf', `select=gte(n\\,${first})`];
    }
    args.push('-i', this.path, '-map', '0:v:0', ...filter, '-fps_mode', 'passthrough');
    args.push('-f', 'rawvideo', '-pix_fmt', 'rgb24', '-');
    return new FrameDecoder(this.tools.ffmpeg, args, first, this.width * this.height * 3, `decoding frames from ${first} of ${this.path}`);
  }
}
