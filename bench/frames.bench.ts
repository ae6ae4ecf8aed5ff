/**
 * Frame selection: frames per second for 1e4, 1e5 and 1e6 frames at D = 512
 * and 1024 (float32), as one long video and as many short videos (200 frames
 * each, one query per video), for topk and mmr (k = 16); the machine's read
 * bandwidth over the same bytes (a "read" row per size, its rounds interleaved
 * with the native topk calls it scales) and every row's fraction of it; and, in the
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
import { addSpeedups, runPython, timeAsync, timeInTurn, type BenchContext, type BenchRow, type Timing } from './harness.js';

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
 * of a byte it does not hold (memchr, a vectorised read-only loop). `round()`
 * reads it once. The rounds are timed in turn with the native topk calls they
 * scale (timeInTurn), so that the two are sampled over the same moments of a
 * shared machine. Embeddings that fit in
 * the cache are then compared with a read from the cache, as the kernel reads
 * them. The harness's own figure (ctx.readBandwidthGBs) is one JavaScript
 * thread summing doubles, which is compute-bound well below what 2 native
 * threads read.
 */
class ReadProbe {
  private constructor(
    private readonly workers: Worker[],
    private readonly bytes: number,
  ) {}

  static async open(size: number): Promise<ReadProbe> {
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
    const probe = new ReadProbe(workers, share * threads);
    await probe.round(); // warm-up: workers started, pages touched
    return probe;
  }

  /** One read of the buffer by every worker. */
  async round(): Promise<void> {
    await Promise.all(this.workers.map((w) => new Promise((resolve) => { w.once('message', resolve); w.postMessage(0); })));
  }

  /** The rate of a round that took `ms` milliseconds, GB/s. */
  rate(ms: number): number {
    return this.bytes / (ms / 1e3) / 1e9;
  }

  close(): Promise<number[]> {
    return Promise.all(this.workers.map((w) => w.terminate()));
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
        // The read row's rounds alternate with the native topk calls it scales
        // (one round before each call), so that a shared machine's slow and
        // quick moments fall on both alike; the best round, as every row is a
        // best-of.
        const sampleSeconds = frames >= 1e6 ? 3 : 1.5;
        const probe = await ReadProbe.open(embeddings.byteLength);
        let readGBs = 0;
        let readRounds = 0;
        const groupStart = rows.length;
        try {
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
                const call = () => selectFrames(batch, opts);
                const sampling = { minSamples: frames >= 1e6 ? 3 : 5, maxTime: sampleSeconds };
                let timing: Timing;
                let pairedGBs = 0;  // the best read round among those interleaved with this row's calls
                if (mode === 'topk' && backend === 'cpu') {
                  // Each call after a read round; the row's fraction is of these rounds.
                  const [read, measured] = await timeInTurn([() => probe.round(), call], sampling);
                  pairedGBs = probe.rate(read.minMs);
                  readGBs = Math.max(readGBs, pairedGBs);
                  readRounds += 1;
                  timing = measured;
                } else {
                  timing = await timeAsync(call, sampling);
                }
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
                        (pairedGBs > 0 ? `; fraction of the best of the read rounds between its calls (${pairedGBs.toFixed(1)} GB/s)` : '') +
                        `${mode === 'topk' && dim === 512 ? '; target >= 90% of the read bandwidth (large sizes) and >= numpy' : ''}`,
                  ...(pairedGBs > 0 ? { bandwidthFraction: bytes / (t.ms / 1e3) / 1e9 / pairedGBs } : {}),
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
        } finally {
          await probe.close();
        }
        const bytes = embeddings.byteLength;
        // Every peer's topk row of this size (they read the embeddings once per call, as the
        // native rows, which carry the fraction of their own read rounds): its fraction of the
        // read row. (mmr reads them twice; its rows carry no fraction.)
        for (const row of rows.slice(groupStart)) {
          if (!row.impl.startsWith('native') && row.name.startsWith('topk')) row.bandwidthFraction = bytes / (row.ms / 1e3) / 1e9 / readGBs;
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
            `best read round, one round before each call of the native topk rows above (${readRounds} rows, each scaled by the rounds between its own calls), so that read and kernel are sampled over the same moments; the peers are scaled by this row; ms: time to read all the embeddings at that rate`,
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
