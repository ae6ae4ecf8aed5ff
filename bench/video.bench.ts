/**
 * Video: frames fetched from a real file through the package against ffmpeg
 * decoding the same frames to raw video, in the same run; and select_frames
 * inside a rollout turn of the video QA world.
 *
 * The file is made here by ffmpeg (testsrc2, 640 x 360, 30 fps, 60 s = 1800
 * frames, H.264 with ffmpeg's default 250-frame groups), so every machine
 * measures the same kind of file. The request is what an agent asks for: 16
 * frames, 4 runs of 4 neighbours and... (see FRAMES). Rows:
 *   - VideoFile.frames(FRAMES), cold cache (cacheBytes 0): one accurate seek per run of nearby frames,
 *     the runs decoded by up to `decoders` processes at once (the default, and decoders 1: one after the other)
 *   - ffmpeg -vf select=eq(n,i)+... -f rawvideo: ffmpeg decoding the file up to the last frame asked
 *     for and keeping those frames (one process), its usual way to pull given frames
 *   - a forward scan: 64 consecutive frames (from frame 100) asked for in 8 calls of 8, as an agent
 *     reading a clip in chunks: VideoFile with its decoder kept open between calls (one process
 *     reading on), VideoFile with decoderIdleMs 0 (a seek per call, the decoder ended after each),
 *     and ffmpeg seeking to frame 100 and decoding the 64 frames in one process
 *   - select_frames inside one tool call of the world's expert (count question, 3 frames of a 1500-3000
 *     frame video), against the whole tool call (sandbox, select_frames, get_batch, show)
 *
 *   BENCH_ONLY=video npm run bench         (rows skipped with a note where ffmpeg is missing)
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';

import { VideoFile, locateFfmpeg, probeVideo } from '../lib/video/ffmpeg.js';
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
    const fetchAll = (decoders?: number) =>
      timeAsync(async () => {
        const video = await VideoFile.open(path, { cacheBytes: 0, decoders });
        try {
          await video.frames(frames);
        } finally {
          await video.close();
        }
      }, { minSamples: 3, maxTime: ctx.quick ? 1 : 4 });
    const pkg = await fetchAll();
    const oneByOne = await fetchAll(1);
    const runs = new Set(frames.map((i) => probe.keyframeOf(i))).size;
    await probe.close();
    const select = frames.map((i) => `eq(n\\,${i})`).join('+');
    const peer = await timeAsync(async () => {
      const out = execFileSync(ffmpeg, ['-nostdin', '-loglevel', 'error', '-i', path, '-vf', `select=${select}`, '-fps_mode', 'passthrough', '-f', 'rawvideo', '-pix_fmt', 'rgb24', '-'], { maxBuffer: 1 << 28 });
      if (out.length !== frames.length * 640 * 360 * 3) throw new Error(`ffmpeg returned ${out.length} bytes`);
    }, { minSamples: 3, maxTime: ctx.quick ? 1 : 4 });
    const name = `fetch ${frames.length} frames of a ${probe.frameCount}-frame 640x360 H.264 file`;
    // The forward scan: frames 100..163 in 8 calls of 8.
    const scanFirst = 100;
    const scanCalls = Array.from({ length: 8 }, (_, c) => Array.from({ length: 8 }, (_, j) => scanFirst + 8 * c + j));
    const scan = (decoderIdleMs: number) =>
      timeAsync(async () => {
        const video = await VideoFile.open(path, { cacheBytes: 0, decoderIdleMs, tools: found.tools });
        try {
          for (const call of scanCalls) await video.frames(call);
        } finally {
          await video.close();
        }
      }, { minSamples: 3, maxTime: ctx.quick ? 1 : 4 });
    // open() (two ffprobe runs) is timed alone and taken out of the scan rows.
    const openOnly = await timeAsync(async () => {
      await VideoFile.open(path, { cacheBytes: 0, tools: found.tools });
    }, { minSamples: 3, maxTime: ctx.quick ? 1 : 2 });
    const kept = await scan(5000);
    const perCall = await scan(0);
    const times = (await probeVideo(path, found.tools)).times!;
    const cut = (times[scanFirst - 1] + times[scanFirst]) / 2;
    const scanPeer = await timeAsync(async () => {
      const out = execFileSync(ffmpeg, ['-nostdin', '-loglevel', 'error', '-seek_timestamp', '1', '-ss', cut.toFixed(6), '-i', path, '-frames:v', '64', '-fps_mode', 'passthrough', '-f', 'rawvideo', '-pix_fmt', 'rgb24', '-'], { maxBuffer: 1 << 28 });
      if (out.length !== 64 * 640 * 360 * 3) throw new Error(`ffmpeg returned ${out.length} bytes`);
    }, { minSamples: 3, maxTime: ctx.quick ? 1 : 4 });
    const scanName = `forward scan: 64 consecutive frames in 8 calls of 8 (${probe.frameCount}-frame 640x360 H.264 file)`;
    const keptMs = kept.ms - openOnly.ms;
    const perCallMs = perCall.ms - openOnly.ms;
    return [
      { name: scanName, impl: 'VideoFile, decoder kept open (one process reading on)', ms: keptMs, rme: kept.rme, throughput: (64 / keptMs) * 1000, unit: 'frames', speedups: { 'ffmpeg one process': scanPeer.ms / keptMs, 'VideoFile, a seek per call': perCallMs / keptMs }, note: `open() (${openOnly.ms.toFixed(0)} ms, ffprobe) subtracted` },
      { name: scanName, impl: 'VideoFile, a seek per call (decoderIdleMs 0)', ms: perCallMs, rme: perCall.rme, throughput: (64 / perCallMs) * 1000, unit: 'frames', speedups: { 'ffmpeg one process': scanPeer.ms / perCallMs }, note: `open() subtracted; ${scanCalls.length} ffmpeg processes, each decoding from keyframe 0` },
      { name: scanName, impl: 'ffmpeg one process', ms: scanPeer.ms, rme: scanPeer.rme, throughput: (64 / scanPeer.ms) * 1000, unit: 'frames', note: 'accurate seek to frame 100, -frames:v 64' },
      { name, impl: 'VideoFile (seek per run, runs at once)', ms: pkg.ms, rme: pkg.rme, throughput: (frames.length / pkg.ms) * 1000, unit: 'frames', speedups: { 'ffmpeg select': peer.ms / pkg.ms, 'VideoFile, decoders 1': oneByOne.ms / pkg.ms }, note: `includes the ffprobe of open() (${probeMs.toFixed(0)} ms alone); about ${runs} runs, up to ${Math.min(4, availableParallelism())} processes at once` },
      { name, impl: 'VideoFile, decoders 1 (runs one after the other)', ms: oneByOne.ms, rme: oneByOne.rme, throughput: (frames.length / oneByOne.ms) * 1000, unit: 'frames', speedups: { 'ffmpeg select': peer.ms / oneByOne.ms }, note: 'includes open()' },
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
