/**
 * Video: frames fetched from a real file through the package against ffmpeg
 * decoding the same frames to raw video, in the same run; and select_frames
 * inside a rollout turn of the video QA world.
 *
 * The file is made here by ffmpeg (testsrc2, 640 x 360, 30 fps, 60 s = 1800
 * frames, H.264 with ffmpeg's default 250-frame groups), so every machine
 * measures the same kind of file. The request is what an agent asks for: 16
 * frames, 4 runs of 4 neighbours and... (see FRAMES). Rows:
 *   - VideoFile.frames(FRAMES), cold cache (cacheBytes 0): one accurate seek per run of nearby frames
 *   - ffmpeg -vf select=eq(n,i)+... -f rawvideo: ffmpeg decoding the file up to the last frame asked
 *     for and keeping those frames (one process), its usual way to pull given frames
 *   - select_frames inside one tool call of the world's expert (count question, 3 frames of a 1500-3000
 *     frame video), against the whole tool call (sandbox, select_frames, get_batch, show)
 *
 *   BENCH_ONLY=video npm run bench         (rows skipped with a note where ffmpeg is missing)
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { VideoFile, locateFfmpeg } from '../lib/video/ffmpeg.js';
import { VideoQAWorld } from '../lib/worlds/video-qa.js';
import { timeAsync, type BenchContext, type BenchRow } from './harness.js';

/** 16 frames of an 1800-frame video: 4 runs of 3 neighbours and 4 single frames. */
const FRAMES = [100, 101, 102, 530, 531, 532, 900, 901, 902, 1400, 1401, 1402, 250, 700, 1150, 1750];

async function fileRows(ctx: BenchContext): Promise<BenchRow[]> {
  const found = locateFfmpeg();
  if ('reason' in found) {
    console.warn(`video file rows skipped: ${found.reason}`);
    return [];
  }
  const { ffmpeg } = found.tools;
  const dir = mkdtempSync(join(tmpdir(), 'pyvision-video-bench-'));
  try {
    const path = join(dir, 'testsrc2.mp4');
    const seconds = ctx.quick ? 20 : 60;
    execFileSync(ffmpeg, ['-loglevel', 'error', '-f', 'lavfi', '-i', `testsrc2=size=640x360:rate=30`, '-t', String(seconds), '-c:v', 'libx264', '-pix_fmt', 'yuv420p', path]);
    const frames = [...new Set(FRAMES.map((i) => Math.floor((i * seconds) / 60)))];
    const t0 = performance.now();
    const probe = await VideoFile.open(path, { cacheBytes: 0 });
    const probeMs = performance.now() - t0;
    const pkg = await timeAsync(async () => {
      const video = await VideoFile.open(path, { cacheBytes: 0 });
      await video.frames(frames);
    }, { minSamples: 3, maxTime: ctx.quick ? 1 : 4 });
    const select = frames.map((i) => `eq(n\\,${i})`).join('+');
    const peer = await timeAsync(async () => {
      const out = execFileSync(ffmpeg, ['-nostdin', '-loglevel', 'error', '-i', path, '-vf', `select=${select}`, '-fps_mode', 'passthrough', '-f', 'rawvideo', '-pix_fmt', 'rgb24', '-'], { maxBuffer: 1 << 28 });
      if (out.length !== frames.length * 640 * 360 * 3) throw new Error(`ffmpeg returned ${out.length} bytes`);
    }, { minSamples: 3, maxTime: ctx.quick ? 1 : 4 });
    const name = `fetch ${frames.length} frames of a ${probe.frameCount}-frame 640x360 H.264 file`;
    return [
      { name, impl: 'VideoFile (seek per run)', ms: pkg.ms, rme: pkg.rme, throughput: (frames.length / pkg.ms) * 1000, unit: 'frames', speedups: { 'ffmpeg select': peer.ms / pkg.ms }, note: `includes the ffprobe of open() (${probeMs.toFixed(0)} ms alone)` },
      { name, impl: 'ffmpeg select', ms: peer.ms, rme: peer.rme, throughput: (frames.length / peer.ms) * 1000, unit: 'frames', note: 'one ffmpeg process decoding up to the last frame asked for' },
    ];
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function toolRows(ctx: BenchContext): Promise<BenchRow[]> {
  const world = new VideoQAWorld({ frames: [1500, 3000], types: ['count'] });
  const tasks = world.tasks('test', ctx.quick ? 4 : 16);
  const turnMs: number[] = [];
  const selectMs: number[] = [];
  let embedMs = 0;
  for (const task of tasks) {
    const tool = world.openTool(task);
    const [turn] = world.expert(task, 0);
    if (turn.kind !== 'code') throw new Error('the count expert starts with code');
    const t0 = performance.now();
    await world.embeddings(task, world.video(task));
    embedMs += performance.now() - t0;
    // Warm (embeddings cached, as for every trajectory of a group after the first), then timed.
    await tool.run(turn.code);
    const before = world.selectTimes.length;
    const t1 = performance.now();
    const result = await tool.run(turn.code);
    turnMs.push(performance.now() - t1);
    selectMs.push(...world.selectTimes.slice(before));
    if (result.error) throw new Error(`${result.error.type}: ${result.error.message}`);
    tool.dispose();
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
  const select = median(selectMs);
  const turn = median(turnMs);
  return [
    { name: 'select_frames in a tool call (count question)', impl: 'selectFrames (native, topk-gap, D=64)', ms: select, rme: 0, note: `median over ${selectMs.length} calls; ${((100 * select) / turn).toFixed(0)}% of the tool call` },
    { name: 'select_frames in a tool call (count question)', impl: 'whole tool call (sandbox, select_frames, get_batch, show)', ms: turn, rme: 0, note: `median; built-in embeddings once per video: ${(embedMs / tasks.length).toFixed(1)} ms` },
  ];
}

export async function run(ctx: BenchContext): Promise<BenchRow[]> {
  return [...(await fileRows(ctx)), ...(await toolRows(ctx))];
}
