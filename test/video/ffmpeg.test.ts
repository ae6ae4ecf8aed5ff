import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readdirSync, readFileSync, statSync, truncateSync, writeFileSync, chmodSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { PyVisionError } from '../../lib/util/errors.js';
import { VideoFile, locateFfmpeg, requireFfmpeg } from '../../lib/video/ffmpeg.js';
import { FIXTURE, fixtureFrame } from './fixture-frames.js';

const found = locateFfmpeg();
const haveFfmpeg = 'tools' in found;
if (!haveFfmpeg) console.log(`skipping the ffmpeg decoding tests: ${found.reason}`);
const withFfmpeg = haveFfmpeg ? describe : describe.skip;

const FILES = ['counter.mkv', 'counter.mp4'].map((name) => join(process.cwd(), 'test/fixtures/video', name));

/** ffmpeg's own decode of the whole file, frame by frame. */
function fullDecode(path: string): Uint8Array[] {
  const tools = requireFfmpeg();
  const raw = execFileSync(tools.ffmpeg, ['-nostdin', '-loglevel', 'error', '-i', path, '-fps_mode', 'passthrough', '-f', 'rawvideo', '-pix_fmt', 'rgb24', '-'], {
    maxBuffer: 1 << 26,
  });
  const size = FIXTURE.width * FIXTURE.height * 3;
  return Array.from({ length: raw.length / size }, (_, i) => new Uint8Array(raw.buffer, raw.byteOffset + i * size, size));
}

/** Running ffmpeg processes whose parent is this process (Linux /proc; null where there is none). */
function ffmpegChildren(): number[] | null {
  if (!existsSync('/proc/self/stat')) return null;
  const out: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
    } catch {
      continue; // ended meanwhile
    }
    // pid (comm) state ppid ...
    const close = stat.lastIndexOf(')');
    const comm = stat.slice(stat.indexOf('(') + 1, close);
    const [state, ppid] = stat.slice(close + 2).split(' ');
    if (comm === 'ffmpeg' && Number(ppid) === process.pid && state !== 'Z') out.push(Number(entry));
  }
  return out;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Waits until the process has gone (a killed child is reaped asynchronously). */
async function gone(pid: number, ms = 5000): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (!alive(pid) || ffmpegChildren()?.includes(pid) === false) return true;
    await new Promise((r) => setTimeout(r, 20));
  }
  return false;
}

function firstDifference(a: Uint8Array, b: Uint8Array): string {
  if (a.length !== b.length) return `lengths ${a.length} and ${b.length}`;
  for (let j = 0; j < a.length; j++) if (a[j] !== b[j]) return `byte ${j}: ${a[j]} against ${b[j]}`;
  return 'none';
}

withFfmpeg.each(FILES)('VideoFile %s', (path) => {
  test('metadata from ffprobe', async () => {
    const video = await VideoFile.open(path);
    expect([video.frameCount, video.fps, video.width, video.height]).toEqual([FIXTURE.frames, FIXTURE.fps, FIXTURE.width, FIXTURE.height]);
  });

  test.each([
    ['a seek per call (decoderIdleMs 0)', 0],
    ['one decoder reading on between calls', 5000],
  ])("every fetched frame equals ffmpeg's full decode of that frame (and the known source frame): %s", async (_, decoderIdleMs) => {
    const reference = fullDecode(path);
    expect(reference.length).toBe(FIXTURE.frames);
    // Single frames (no cache) at and around the keyframes (every 12 frames), then runs that together cover
    // every frame, then a batch with repeats in no order; with the decoder kept open, calls that go back and forth.
    const video = await VideoFile.open(path, { cacheBytes: 0, decoderIdleMs });
    const check = (i: number, data: Uint8Array): void => {
      expect(`frame ${i}: ${firstDifference(data, reference[i])}`).toBe(`frame ${i}: none`);
      expect(`frame ${i}: ${firstDifference(data, fixtureFrame(i))}`).toBe(`frame ${i}: none`);
    };
    try {
      for (const i of [0, 1, 11, 12, 13, 23, 37, 50, 71, 74]) check(i, (await video.frames([i]))[0].data);
      for (const [first, last] of [[0, 6], [7, 29], [30, 74]]) {
        const indices = Array.from({ length: last - first + 1 }, (_, j) => first + j);
        (await video.frames(indices)).forEach((frame, j) => check(indices[j], frame.data));
      }
      const batch = [74, 3, 4, 5, 40, 3, 0, 73, 12, 11, 13];
      (await video.frames(batch)).forEach((frame, j) => check(batch[j], frame.data));
      if (decoderIdleMs > 0) {
        for (const i of [20, 21, 5, 30, 31, 45, 44, 60, 2, 74, 73]) check(i, (await video.frames([i]))[0].data);
        // Concurrent calls share the decoder one at a time.
        const [a, b] = await Promise.all([video.frames([8, 9]), video.frames([10, 33])]);
        [...a, ...b].forEach((frame, j) => check([8, 9, 10, 33][j], frame.data));
      }
    } finally {
      await video.close();
    }
    if (decoderIdleMs === 0) expect(video.decoderPid).toBeUndefined();
  });

  test('one decoder serves requests that move forward; a jump back or far ahead starts another', async () => {
    // keyframes 0 12 24 32 44 56 68; runGap 4
    const video = await VideoFile.open(path, { cacheBytes: 0, runGap: 4 });
    try {
      await video.frames([2]);
      const pid = video.decoderPid!;
      expect(pid).toBeGreaterThan(0);
      await video.frames([3]);
      await video.frames([5, 6]); // 1 ahead
      await video.frames([10]); // 3 ahead
      await video.frames([12]); // frame 12 is a keyframe but the decoder is at 11: reading on is cheaper
      expect([video.decodeCalls, video.decoderPid]).toEqual([1, pid]);
      await video.frames([25]); // 12 ahead, keyframe 24 after the position: a new seek
      expect(video.decodeCalls).toBe(2);
      expect(await gone(pid)).toBe(true);
      await video.frames([26, 30]); // 4 ahead, then 3
      expect(video.decodeCalls).toBe(2);
      await video.frames([20]); // back: a new seek
      expect(video.decodeCalls).toBe(3);
      expect((await video.frames([74]))[0].data).toEqual(fixtureFrame(74));
      expect(video.decodeCalls).toBe(4);
    } finally {
      await video.close();
    }
  });

  test('the decoder ends on close(), when idle, and after an error, leaving no ffmpeg process', async () => {
    const closing = await VideoFile.open(path);
    await closing.frames([40]);
    const pid = closing.decoderPid!;
    expect(alive(pid)).toBe(true);
    await closing.close();
    expect(closing.decoderPid).toBeUndefined();
    expect(await gone(pid)).toBe(true);
    // A later request starts a new decoder.
    expect((await closing.frames([41]))[0].data).toEqual(fixtureFrame(41));
    await closing.close();

    const idle = await VideoFile.open(path, { decoderIdleMs: 50 });
    await idle.frames([10]);
    const idlePid = idle.decoderPid!;
    expect(await gone(idlePid)).toBe(true);
    expect((await idle.frames([11]))[0].data).toEqual(fixtureFrame(11));
    await idle.close();

    // A file cut short after it was opened: ffmpeg runs out of frames; E_IO naming the file, and no process left.
    const dir = mkdtempSync(join(tmpdir(), 'pyvision-video-'));
    try {
      const copy = join(dir, path.endsWith('.mkv') ? 'cut.mkv' : 'cut.mp4');
      copyFileSync(path, copy);
      const cut = await VideoFile.open(copy, { cacheBytes: 0 });
      await cut.frames([0]);
      truncateSync(copy, Math.floor(statSync(copy).size * 0.3));
      await expect(cut.frames([70])).rejects.toMatchObject({ code: 'E_IO', message: expect.stringContaining(copy) });
      expect(cut.decoderPid).toBeUndefined();
      const children = ffmpegChildren();
      if (children !== null) expect(children).toEqual([]);
      await cut.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('nearby frames share one decode; cached frames need none', async () => {
    const video = await VideoFile.open(path, { runGap: 4 });
    await video.frames([10, 12, 14, 40]);
    expect(video.decodeCalls).toBe(2);
    await video.frames([11, 14, 40]);
    expect(video.decodeCalls).toBe(2);
    expect(video.cache.stats().hits).toBe(3);
    await video.close();
    // Frames decoded from a keyframe at or before the decoder's position share its process whatever their
    // distance (the fixture's keyframes, from ffprobe's packet flags: 0 12 24 32 44 56 68).
    const grouped = await VideoFile.open(path, { runGap: 1, cacheBytes: 0 });
    expect([0, 1, 11, 12, 23, 24, 31, 32, 67, 68, 74].map((i) => grouped.keyframeOf(i))).toEqual([0, 0, 0, 12, 12, 24, 24, 32, 56, 68, 68]);
    const frames = await grouped.frames([1, 11, 13, 23]);
    expect(grouped.decodeCalls).toBe(1);
    expect(frames.map((f) => f.data)).toEqual([1, 11, 13, 23].map((i) => fixtureFrame(i)));
    await grouped.frames([40]); // keyframe 32, after the position (24): a new seek
    expect(grouped.decodeCalls).toBe(2);
    await grouped.close();
  });

  test.each([1, 3])('frames far apart in one call: a process per run, %i at once, every frame as the full decode', async (decoders) => {
    const reference = fullDecode(path);
    // keyframes 0 12 24 32 44 56 68; runGap 1: runs [1, 2] [13] [25, 26] [40] [57, 60] (60 reads on from 58: keyframe 56)
    const video = await VideoFile.open(path, { cacheBytes: 0, runGap: 1, decoders });
    const children = async (atMost: number): Promise<number | null> => {
      for (let t = 0; t < 250; t++) {
        const c = ffmpegChildren();
        if (c === null || c.length <= atMost) return c?.length ?? null;
        await new Promise((r) => setTimeout(r, 20));
      }
      return ffmpegChildren()?.length ?? null;
    };
    try {
      const batch = [60, 40, 1, 26, 13, 2, 25, 57, 40];
      const frames = await video.frames(batch);
      frames.forEach((frame, j) => expect(`frame ${batch[j]}: ${firstDifference(frame.data, reference[batch[j]])}`).toBe(`frame ${batch[j]}: none`));
      expect(video.decodeCalls).toBe(5);
      // The earlier runs' processes are gone; the last run's stays open (or has already written the
      // short fixture's last frames and exited), and a later call reads on from it.
      const left = await children(1);
      if (left !== null) expect(left).toBeLessThanOrEqual(1);
      const pid = video.decoderPid!;
      expect((await video.frames([62]))[0].data).toEqual(reference[62]);
      expect([video.decodeCalls, video.decoderPid]).toEqual([5, pid]);
      expect((await video.frames([59]))[0].data).toEqual(reference[59]);
      expect(video.decodeCalls).toBe(6); // 59 is behind the decoder: a new seek
      expect(await gone(pid)).toBe(true);
    } finally {
      await video.close();
    }
    const after = await children(0);
    if (after !== null) expect(after).toBe(0);
  });

  test('a failed run of a far-apart request ends every process of the call (E_IO naming the file)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pyvision-video-'));
    try {
      const copy = join(dir, path.endsWith('.mkv') ? 'cut.mkv' : 'cut.mp4');
      copyFileSync(path, copy);
      const cut = await VideoFile.open(copy, { cacheBytes: 0, runGap: 1, decoders: 4 });
      truncateSync(copy, Math.floor(statSync(copy).size * 0.4));
      await expect(cut.frames([1, 13, 25, 40, 70])).rejects.toMatchObject({ code: 'E_IO', message: expect.stringContaining(copy) });
      expect(cut.decoderPid).toBeUndefined();
      for (let t = 0; t < 250 && (ffmpegChildren()?.length ?? 0) > 0; t++) await new Promise((r) => setTimeout(r, 20));
      const children = ffmpegChildren();
      if (children !== null) expect(children).toEqual([]);
      await cut.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    await expect(VideoFile.open(path, { decoders: 0 })).rejects.toMatchObject({ code: 'E_ARG', message: expect.stringContaining('opts.decoders') });
  });

  test('bad indices are E_ARG errors naming the index', async () => {
    const video = await VideoFile.open(path);
    await expect(video.frames([75])).rejects.toThrow(/indices\[0\] must be a frame index in \[0, 74\].*got 75/);
    await expect(video.frames([1, -1])).rejects.toThrow(/indices\[1\]/);
    await expect(video.frames([1.5])).rejects.toMatchObject({ code: 'E_ARG' });
  });
});

withFfmpeg('VideoFile errors', () => {
  test('a missing file and a file that is not a video are E_IO', async () => {
    await expect(VideoFile.open('/nonexistent/video.mkv')).rejects.toMatchObject({ code: 'E_IO' });
    const dir = mkdtempSync(join(tmpdir(), 'pyvision-video-'));
    try {
      writeFileSync(join(dir, 'not-a-video.mkv'), 'hello');
      await expect(VideoFile.open(join(dir, 'not-a-video.mkv'))).rejects.toMatchObject({ code: 'E_IO' });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('ffmpeg missing', () => {
  test('a clear E_IO error naming the fix, from PYVISION_RL_FFMPEG and from PATH', async () => {
    const saved = { ffmpeg: process.env.PYVISION_RL_FFMPEG, path: process.env.PATH };
    const dir = mkdtempSync(join(tmpdir(), 'pyvision-video-'));
    try {
      process.env.PYVISION_RL_FFMPEG = join(dir, 'no-ffmpeg');
      expect(() => requireFfmpeg()).toThrow(PyVisionError);
      expect(() => requireFfmpeg()).toThrow(/PYVISION_RL_FFMPEG=.*no-ffmpeg is not an executable.*apt-get install ffmpeg/);
      delete process.env.PYVISION_RL_FFMPEG;
      process.env.PATH = dir;
      expect(() => requireFfmpeg()).toThrow(/ffmpeg was not found on PATH; install ffmpeg/);
      await expect(VideoFile.open(FILES[0])).rejects.toMatchObject({ code: 'E_IO' });
      // An executable named by PYVISION_RL_FFMPEG without an ffprobe beside it or on PATH.
      writeFileSync(join(dir, 'ffmpeg'), '#!/bin/sh\nexit 1\n');
      chmodSync(join(dir, 'ffmpeg'), 0o755);
      process.env.PYVISION_RL_FFMPEG = join(dir, 'ffmpeg');
      expect(() => requireFfmpeg()).toThrow(/ffprobe was not found next to PYVISION_RL_FFMPEG/);
    } finally {
      if (saved.ffmpeg === undefined) delete process.env.PYVISION_RL_FFMPEG;
      else process.env.PYVISION_RL_FFMPEG = saved.ffmpeg;
      process.env.PATH = saved.path;
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
