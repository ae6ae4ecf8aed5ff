/**
 * Atomic checkpoints: a process that trains and saves in a loop is killed
 * (SIGKILL) at random moments; after every kill the checkpoint loads, its
 * weights and optimizer state belong to the same save, and the weights are
 * those of a save that was started (never a mixture or a partial file).
 *
 * The child runs the library compiled by tsc into build-policy-save-test/
 * (ignored by git) so that it is a separate OS process that can be killed.
 */
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { Policy } from '../../lib/index.js';

const root = process.cwd();
const out = join(root, 'build-policy-save-test');

function checksum(tensors: Map<string, Float32Array>): string {
  const hash = createHash('sha256');
  for (const t of tensors.values()) hash.update(Buffer.from(t.buffer, t.byteOffset, t.byteLength));
  return hash.digest('hex').slice(0, 16);
}

const CHILD = `
import { createHash } from 'node:crypto';
import { Policy } from './lib/index.js';
const [path] = process.argv.slice(2);
const config = { vocabSize: 512, patchDim: 8, maxSeqLen: 64, layers: 4, heads: 4, dim: 128 };
const policy = await Policy.create({ ...config, seed: 1, backend: 'cpu', threads: 1 });
const tokens = Int32Array.from({ length: 64 }, (_, i) => (i * 37) % 512);
const batch = { tokens, patches: new Float32Array(0), seqOffsets: Int32Array.from([0, 64]) };
const mask = new Float32Array(64).fill(1); mask[0] = 0;
const sum = (t) => { const h = createHash('sha256'); for (const x of t.values()) h.update(Buffer.from(x.buffer, x.byteOffset, x.byteLength)); return h.digest('hex').slice(0, 16); };
for (let i = 0; ; i++) {
  await policy.trainStep(batch, { kind: 'sft', mask }, { lr: 1e-3 });
  process.stdout.write('saving ' + sum(await policy.tensors()) + '\\n');
  await policy.save(path);
  process.stdout.write('saved\\n');
}
`;

test('a reader polling during saves only ever sees a complete, consistent checkpoint', async () => {
  // Every write of a save yields to the event loop (one chunk per tensor), so
  // the polling reader observes the files between all of those steps.
  const dir = mkdtempSync(join(tmpdir(), 'pyvision-save-poll-'));
  const path = join(dir, 'policy.safetensors');
  const policy = await Policy.create({ vocabSize: 300, patchDim: 8, maxSeqLen: 64, layers: 3, heads: 4, dim: 96, seed: 4, backend: 'cpu' });
  await policy.save(path);
  let reads = 0;
  for (let round = 0; round < 3; round++) {
    let done = false;
    const saving = policy.save(path).then(() => {
      done = true;
    });
    while (!done) {
      const loaded = await Policy.load(path, { backend: 'cpu' }); // E_IO on a partial or mismatched pair
      loaded.dispose();
      const bytes = await readFile(path);
      expect(Number(bytes.readBigUInt64LE(0))).toBeLessThan(bytes.length);
      reads++;
    }
    await saving;
  }
  expect(reads).toBeGreaterThan(3);
  policy.dispose();
  rmSync(dir, { recursive: true, force: true });
});

let compiled = false;
beforeAll(() => {
  const tsc = spawnSync(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.build.json', '--outDir', out, '--declaration', 'false', '--sourceMap', 'false'], {
    cwd: root,
    encoding: 'utf8',
  });
  if (tsc.status !== 0) throw new Error(`tsc failed: ${tsc.stdout}${tsc.stderr}`);
  writeFileSync(join(out, 'package.json'), JSON.stringify({ type: 'module' }));
  writeFileSync(join(out, 'save-child.js'), CHILD);
  compiled = true;
}, 120000);
afterAll(() => rmSync(out, { recursive: true, force: true }));

test('a save killed at any moment leaves a loadable, consistent checkpoint', async () => {
  expect(compiled).toBe(true);
  const dir = mkdtempSync(join(tmpdir(), 'pyvision-save-kill-'));
  const path = join(dir, 'policy.safetensors');
  // A complete checkpoint exists before the first kill.
  const first = await Policy.create({ vocabSize: 512, patchDim: 8, maxSeqLen: 64, layers: 4, heads: 4, dim: 128, seed: 9, backend: 'cpu' });
  await first.save(path);
  const started: string[] = [checksum(await first.tensors())];
  first.dispose();
  let saves = 0;
  const delays = [0, 3, 7, 15, 25, 40];
  for (const [k, delay] of delays.entries()) {
    const child = spawn(process.execPath, [join(out, 'save-child.js'), path], { env: process.env, stdio: ['ignore', 'pipe', 'inherit'] });
    let buffer = '';
    // Kill `delay` ms after the k-th "saving" line of this child: inside the
    // write of either file, between the renames, or after.
    await new Promise<void>((resolve, reject) => {
      let seen = 0;
      child.stdout.on('data', (chunk: Buffer) => {
        buffer += chunk.toString();
        let nl: number;
        while ((nl = buffer.indexOf('\n')) >= 0) {
          const line = buffer.slice(0, nl);
          buffer = buffer.slice(nl + 1);
          if (line.startsWith('saving ')) {
            started.push(line.slice(7));
            if (++seen === 1 + (k % 2)) setTimeout(() => child.kill('SIGKILL'), delay);
          } else if (line === 'saved') {
            saves++;
          }
        }
      });
      child.on('exit', () => resolve());
      child.on('error', reject);
    });
    const policy = await Policy.load(path, { backend: 'cpu' }); // throws when inconsistent or partial
    expect(started).toContain(checksum(await policy.tensors()));
    policy.dispose();
  }
  expect(saves).toBeGreaterThan(0);
  const leftovers = readdirSync(dir).filter((f) => f.startsWith('policy.safetensors.optim-'));
  expect(leftovers.length).toBeGreaterThanOrEqual(1);
  rmSync(dir, { recursive: true, force: true });
}, 120000);
