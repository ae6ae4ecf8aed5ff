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
 * is frame i whatever the rounding of the timestamps. Indices close together,
 * or decoded from the same keyframe, are fetched by one process (a run of
 * consecutive frames).
 */
import { spawn } from 'node:child_process';
import { accessSync, constants, statSync } from 'node:fs';
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
  /** ffmpeg processes started so far (one per run of nearby frames). */
  decodeCalls = 0;
  private readonly runGap: number;

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
    const found = new Map<number, RgbImage>();
    const missing: number[] = [];
    for (const i of new Set(indices)) {
      const hit = this.cache.get(i);
      if (hit !== undefined) found.set(i, hit);
      else missing.push(i);
    }
    missing.sort((a, b) => a - b);
    // Runs of frames decoded by one process each: frames that start decoding at
    // the same keyframe (ffmpeg decodes from it anyway), or at most runGap apart.
    let start = 0;
    while (start < missing.length) {
      let end = start;
      while (end + 1 < missing.length && (missing[end + 1] - missing[end] <= this.runGap || this.keyframeOf(missing[end + 1]) <= missing[end])) end++;
      const first = missing[start];
      const decoded = await this.decodeRun(first, missing[end] - first + 1);
      for (let j = start; j <= end; j++) found.set(missing[j], decoded[missing[j] - first]);
      for (let j = 0; j < decoded.length; j++) this.cache.set(first + j, decoded[j]);
      start = end + 1;
    }
    return indices.map((i) => found.get(i)!);
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

  /** Decodes frames first .. first + count - 1. */
  private async decodeRun(first: number, count: number): Promise<RgbImage[]> {
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
    } else {
      // No timestamps (a raw stream): count frames from the start.
      filter = ['-vf', `select=between(n\\,${first}\\,${first + count - 1})`];
    }
    args.push('-i', this.path, '-map', '0:v:0', ...filter, '-frames:v', String(count), '-fps_mode', 'passthrough');
    args.push('-f', 'rawvideo', '-pix_fmt', 'rgb24', '-');
    const out = await runTool(this.tools.ffmpeg, args, `decoding frames ${first}..${first + count - 1} of ${this.path}`);
    const size = this.width * this.height * 3;
    if (out.length !== size * count) {
      throw new PyVisionError(
        'E_IO',
        `decoding frames ${first}..${first + count - 1} of ${this.path}: ffmpeg returned ${out.length / size} frames, expected ${count}`,
      );
    }
    const frames: RgbImage[] = [];
    for (let j = 0; j < count; j++) {
      frames.push({ width: this.width, height: this.height, data: new Uint8Array(out.buffer.slice(out.byteOffset + j * size, out.byteOffset + (j + 1) * size)) });
    }
    return frames;
  }
}
