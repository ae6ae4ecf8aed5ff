/**
 * `npm run bench`: runs every bench/<area>.bench.ts, prints one table and
 * writes the rows as JSON under bench/results/. BENCH_QUICK=1 for a smoke run;
 * BENCH_ONLY=<area> to run one area.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { cpus, hostname } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

import { backendInfo } from '../lib/index.js';
import { packageRoot } from '../lib/native/addon.js';
import type { BenchContext, BenchRow } from './harness.js';

function measureReadBandwidth(): number {
  const a = new Float64Array(32 << 20); // 256 MiB
  a.fill(1);
  let best = 0;
  for (let r = 0; r < 3; r++) {
    const t0 = process.hrtime.bigint();
    let s = 0;
    for (let i = 0; i < a.length; i += 4) s += a[i] + a[i + 1] + a[i + 2] + a[i + 3];
    const dt = Number(process.hrtime.bigint() - t0) / 1e9;
    if (s < 0) console.log(s);
    best = Math.max(best, a.byteLength / dt / 1e9);
  }
  return best;
}

function findPython(): string | undefined {
  for (const python of ['python3', 'python']) {
    const probe = spawnSync(python, ['-c', 'import numpy'], { encoding: 'utf8' });
    if (probe.status === 0) return python;
  }
  return undefined;
}

function format(row: BenchRow): string {
  const speed = row.speedups
    ? Object.entries(row.speedups)
        .map(([k, v]) => `${v.toFixed(1)}x vs ${k}`)
        .join(', ')
    : '';
  const t = row.throughput ?? 0;
  // Millions where they read well; below 10k per second (frames of a video file) the plain count.
  const tput = !t ? '' : t >= 1e4 ? `${(t / 1e6).toFixed(2)} M${row.unit ?? ''}/s` : `${t.toPrecision(3)} ${row.unit ?? ''}/s`;
  const bw = row.bandwidthFraction !== undefined ? `${(row.bandwidthFraction * 100).toFixed(0)}%` : '';
  return `| ${row.name} | ${row.impl} | ${row.ms.toFixed(2)} ±${row.rme.toFixed(1)}% | ${tput} | ${speed} | ${bw} | ${row.note ?? ''} |`;
}

async function main(): Promise<void> {
  const here = dirname(fileURLToPath(import.meta.url));
  const only = process.env.BENCH_ONLY;
  const info = backendInfo();
  const ctx: BenchContext = {
    readBandwidthGBs: measureReadBandwidth(),
    quick: process.env.BENCH_QUICK === '1',
    python: findPython(),
  };
  const machine = `${cpus().length} x ${cpus()[0]?.model ?? 'cpu'}, node ${process.version}`;
  console.log(`machine: ${machine}; measured read bandwidth ${ctx.readBandwidthGBs.toFixed(1)} GB/s (one JS thread)`);
  console.log(`backend: ${info.chosen} (${info.reason})`);
  const files = readdirSync(here).filter((f) => f.endsWith('.bench.js') && (!only || f.startsWith(only)));
  const rows: BenchRow[] = [];
  for (const file of files.sort()) {
    console.log(`\n== ${file.replace('.bench.js', '')}`);
    const mod = (await import(pathToFileURL(join(here, file)).href)) as { run(ctx: BenchContext): Promise<BenchRow[]> };
    const got = await mod.run(ctx);
    for (const row of got) console.log(format(row));
    rows.push(...got);
  }
  console.log('\n| benchmark | implementation | ms per call | throughput | speed-up | of bandwidth floor | note |');
  console.log('|---|---|---|---|---|---|---|');
  for (const row of rows) console.log(format(row));
  const outDir = join(packageRoot(), 'bench', 'results');
  mkdirSync(outDir, { recursive: true });
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  const out = join(outDir, `${stamp}-${hostname()}.json`);
  writeFileSync(out, JSON.stringify({ date: new Date().toISOString(), machine, backend: info, readBandwidthGBs: ctx.readBandwidthGBs, rows }, null, 2));
  console.log(`\nwrote ${out}`);
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
