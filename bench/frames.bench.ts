/**
 * Frame selection: frames per second for 1e4, 1e5 and 1e6 frames at D = 512
 * and 1024 (float32), as one long video and as many short videos (200 frames
 * each, one query per video), for topk and mmr (k = 16); the machine's read
 * bandwidth over the same bytes (a "read" row per size, measured just before
 * and just after the rows it scales) and every row's fraction of it; and, in the
 * same run and on the same data (written to a temporary file), numpy
 * (matrix-vector product + argpartition) and faiss-cpu IndexFlatIP when they
 * can be imported. With a CUDA device the native rows are repeated on the card
 * (end to end, including the upload of the embeddings; the kernel-only
 * bandwidth fraction is in `npm run check:native`).
 *
 *   npm run bench                          all areas
 *   BENCH_ONLY=frames npm run bench        this one
 *   BENCH_QUICK=1 BENCH_ONLY=frames npm run bench   1e4 and 1e5 frames only
 *   BENCH_FRAMES_SIZES=1e6 BENCH_ONLY=frames npm run bench   the given frame counts only (comma-separated)
 */
import { spawnSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';

import { backendInfo, selectFrames } from '../lib/index.js';
import type { FrameBatch, FrameMode } from '../lib/index.js';
import { addSpeedups, runPython, timeAsync, type BenchContext, type BenchRow } from './harness.js';

const K = 16;
const SHORT_VIDEO = 200;

/** Deterministic values in [-0.5, 0.5): a 32-bit LCG, fast enough for 1e9 floats. */
function fill(out: Float32Array, seed: number): void {
  let x = seed >>> 0;
  for (let i = 0; i < out.length; i++) {
    x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
    out[i] = x / 4294967296 - 0.5;
  }
}

function offsets(frames: number, videoLength: number): Int32Array {
  const videos = Math.ceil(frames / videoLength);
  const out = new Int32Array(videos + 1);
  for (let b = 0; b <= videos; b++) out[b] = Math.min(frames, b * videoLength);
  return out;
}

function writeFloats(path: string, data: Float32Array): void {
  const fd = openSync(path, 'w');
  const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  for (let at = 0; at < bytes.length; at += 1 << 30) writeSync(fd, bytes, at, Math.min(1 << 30, bytes.length - at));
  closeSync(fd);
}

/** The Python peers: argv = embeddings file, queries file, N, D, video length, label, impl filter. */
const PEERS = String.raw`
import json, sys, time
import numpy as np
emb_path, q_path, N, D, n, label, which = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), sys.argv[6], sys.argv[7]
K = ${K}
E = np.fromfile(emb_path, dtype=np.float32).reshape(N, D)
Q = np.fromfile(q_path, dtype=np.float32).reshape(-1, D)
B = Q.shape[0]
def best(fn, repeats, seconds):
    # As the native rows: the best call of at least repeats, and of as many
    # as fit in seconds (minSamples and maxTime of benchmark.js there).
    fn()
    times = []
    start = time.perf_counter()
    while len(times) < repeats or time.perf_counter() - start < seconds:
        t = time.perf_counter(); fn(); times.append(time.perf_counter() - t)
    return 1000 * min(times)
repeats, seconds = (3, 3.0) if N >= 1000000 else (5, 1.5)
if which == 'numpy':
    if B == 1:
        def run():
            s = E @ Q[0]
            idx = np.argpartition(-s, K - 1)[:K] if N > K else np.arange(N)
            return np.sort(idx)
    else:
        E3 = E.reshape(B, n, D)
        Q3 = Q[:, :, None]
        def run():
            s = np.matmul(E3, Q3)[:, :, 0]
            idx = np.argpartition(-s, K - 1, axis=1)[:, :K]
            return np.sort(idx, axis=1)
    print(json.dumps({"name": label, "impl": "numpy", "ms": best(run, repeats, seconds), "note": "matmul + argpartition, numpy " + np.__version__ + ", best call of %d+ over %.1f s or more" % (repeats, seconds)}))
else:
    import faiss
    if B == 1:
        index = faiss.IndexFlatIP(D); index.add(E)
        run = lambda: index.search(Q[0:1], K)
    else:
        indexes = []
        for b in range(B):
            index = faiss.IndexFlatIP(D); index.add(E[b * n:(b + 1) * n]); indexes.append(index)
        def run():
            for b in range(B):
                indexes[b].search(Q[b:b + 1], K)
    print(json.dumps({"name": label, "impl": "faiss-cpu", "ms": best(run, repeats, seconds), "note": "IndexFlatIP.search (index built untimed), faiss " + faiss.__version__}))
`;

/**
 * The machine's read bandwidth with every core reading as many bytes as the
 * rows it scales (the embeddings' size, at most 1 GiB): a SharedArrayBuffer of
 * that size, one worker thread per core scanning its share with Buffer.indexOf
 * of a byte it does not hold (memchr, a vectorised read-only loop); the best
 * round of at least 5, and of as many as `seconds` allow. Embeddings that fit
 * in the cache are then compared with a read from the cache, as the kernel
 * reads them. The harness's own figure (ctx.readBandwidthGBs) is one
 * JavaScript thread summing doubles, which is compute-bound well below what 2
 * native threads read.
 */
async function parallelReadBandwidth(size: number, seconds: number): Promise<number> {
  const threads = availableParallelism();
  const bytes = Math.min(size, 1 << 30);
  const shared = new SharedArrayBuffer(bytes);
  new Uint8Array(shared).fill(1);
  const code = `const { parentPort, workerData } = require('node:worker_threads');
const view = Buffer.from(workerData.shared, workerData.begin, workerData.length);
parentPort.on('message', () => parentPort.postMessage(view.indexOf(7)));`;
  const share = Math.floor(bytes / threads);
  const workers = Array.from(
    { length: threads },
    (_, t) => new Worker(code, { eval: true, workerData: { shared, begin: t * share, length: share } }),
  );
  const round = () =>
    Promise.all(workers.map((w) => new Promise((resolve) => { w.once('message', resolve); w.postMessage(0); })));
  try {
    await round();
    let best = 0;
    const start = performance.now();
    for (let r = 0; r < 5 || performance.now() - start < seconds * 1e3; r++) {
      const t0 = performance.now();
      await round();
      best = Math.max(best, (share * threads) / ((performance.now() - t0) / 1e3) / 1e9);
    }
    return best;
  } finally {
    await Promise.all(workers.map((w) => w.terminate()));
  }
}

/** A python that imports `module`: the harness's first, then the system one. */
function pythonWith(ctx: BenchContext, module: string): string | undefined {
  for (const python of [ctx.python, 'python3', '/usr/bin/python3']) {
    if (!python) continue;
    const probe = spawnSync(python, ['-c', `import ${module}, numpy`], { encoding: 'utf8' });
    if (probe.status === 0) return python;
  }
  return undefined;
}

export async function run(ctx: BenchContext): Promise<BenchRow[]> {
  const rows: BenchRow[] = [];
  const info = backendInfo();
  const backends: ('cpu' | 'cuda')[] = info.compiled.cuda && info.devices.length > 0 && backendInfo('auto').chosen === 'cuda' ? ['cpu', 'cuda'] : ['cpu'];
  const numpyPython = pythonWith(ctx, 'numpy');
  const faissPython = pythonWith(ctx, 'faiss');
  if (!faissPython) console.warn('frames: faiss-cpu is not importable; its rows are skipped');
  const only = process.env.BENCH_FRAMES_SIZES?.split(',').map(Number).filter((n) => Number.isInteger(n) && n > 0);
  const sizes = only?.length ? only : ctx.quick ? [1e4, 1e5] : [1e4, 1e5, 1e6];
  const dir = mkdtempSync(join(tmpdir(), 'pyvision-frames-'));
  try {
    for (const dim of [512, 1024]) {
      for (const frames of sizes) {
        const embeddings = new Float32Array(frames * dim);
        fill(embeddings, frames + dim);
        // Measured just before and just after the rows it scales (the machine
        // may be shared); the better of the two, as every row is a best-of.
        // Each measurement reads for half the time a native row is sampled
        // (benchmark.js's maxTime below), so the read row, best of about as
        // long as a native row, is sampled no less than the rows it scales.
        const sampleSeconds = frames >= 1e6 ? 3 : 1.5;
        const readBefore = await parallelReadBandwidth(embeddings.byteLength, sampleSeconds / 2);
        const groupStart = rows.length;
        const embPath = join(dir, 'embeddings.f32');
        if (numpyPython || faissPython) writeFloats(embPath, embeddings);
        for (const [layout, videoLength] of [['one video', frames], [`${SHORT_VIDEO}-frame videos`, SHORT_VIDEO]] as const) {
          const frameOffsets = offsets(frames, videoLength);
          const videos = frameOffsets.length - 1;
          const queries = new Float32Array(videos * dim);
          fill(queries, 7 * videos + dim);
          const batch: FrameBatch = { embeddings, frameOffsets, queries, dim };
          const bytes = embeddings.byteLength;
          const base = `D=${dim} N=${frames.toExponential(0)} ${layout}`;
          for (const mode of ['topk', 'mmr'] as FrameMode[]) {
            for (const backend of backends) {
              const opts = { mode, k: K, backend };
              const timing = await timeAsync(() => selectFrames(batch, opts), { minSamples: frames >= 1e6 ? 3 : 5, maxTime: sampleSeconds });
              // Best of the samples, the statistic the numpy and faiss peers report.
              const t = { ms: timing.minMs, rme: timing.rme };
              rows.push({
                name: `${mode} ${base}`,
                impl: `native ${backend}`,
                ms: t.ms,
                rme: t.rme,
                throughput: frames / (t.ms / 1e3),
                unit: 'frames',
                note:
                  backend === 'cuda'
                    ? 'end to end, including the host-to-device copy of the embeddings'
                    : `best of ${frames >= 1e6 ? '3+' : '5+'} calls, as the peers; k=${K}; embeddings read at ${(bytes / (t.ms / 1e3) / 1e9).toFixed(1)} GB/s` +
                      `${mode === 'topk' && dim === 512 ? '; target >= 90% of the read row (large sizes) and >= numpy' : ''}`,
              });
            }
          }
          const qPath = join(dir, 'queries.f32');
          writeFloats(qPath, queries);
          const label = `topk ${base}`;
          const args = [embPath, qPath, String(frames), String(dim), String(videoLength), label];
          if (numpyPython) rows.push(...runPython({ ...ctx, python: numpyPython }, PEERS, [...args, 'numpy']));
          if (faissPython) rows.push(...runPython({ ...ctx, python: faissPython }, PEERS, [...args, 'faiss']));
        }
        const readAfter = await parallelReadBandwidth(embeddings.byteLength, sampleSeconds / 2);
        const readGBs = Math.max(readBefore, readAfter);
        const bytes = embeddings.byteLength;
        // Every CPU topk row of this size (native and peers read the embeddings
        // once per call): its fraction of the read bandwidth just measured.
        // (mmr reads them twice; its rows carry no fraction.)
        for (const row of rows.slice(groupStart)) {
          if (row.impl !== 'native cuda' && row.name.startsWith('topk')) row.bandwidthFraction = bytes / (row.ms / 1e3) / 1e9 / readGBs;
        }
        rows.push({
          name: `read D=${dim} N=${frames.toExponential(0)}`,
          impl: 'memchr, all cores',
          ms: bytes / (readGBs * 1e9) * 1e3,
          rme: 0,
          throughput: readGBs * 1e9,
          unit: 'B',
          bandwidthFraction: 1,
          note: `${bytes <= 2 ** 30 ? 'as many bytes as' : '1 GiB of the'} ${(bytes / 1e6).toFixed(0)} MB of embeddings of the rows above, ` +
            `best round of 5+ (${sampleSeconds / 2} s or more) each, measured before (${readBefore.toFixed(1)} GB/s) and after (${readAfter.toFixed(1)} GB/s) them; ms: time to read all the embeddings at that rate`,
        });
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  for (const row of rows) {
    if (row.impl !== 'native cpu' && row.impl !== 'native cuda' && !row.throughput) {
      const frames = Number(/N=(\S+)/.exec(row.name)?.[1] ?? 0);
      row.throughput = frames / (row.ms / 1e3);
      row.unit = 'frames';
    }
  }
  for (const impl of backends.map((b) => `native ${b}`)) {
    addSpeedups(rows, impl, 'numpy');
    addSpeedups(rows, impl, 'faiss-cpu');
  }
  return rows;
}
