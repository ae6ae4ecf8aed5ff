/**
 * Hostile inputs to the policy engine's files and options, each in a child
 * process (test/child.ts) with an address-space limit and a time limit, so
 * that an endless read, a hang or a crash fails its test: crafted checkpoint
 * metadata, non-regular files, malformed optimizer steps, missing tensors of
 * a large config, and stop tokens that are not token ids.
 */
import { expectClean, runChild } from '../child.js';

// A small checkpoint saved in a fresh folder, and a helper that rewrites its
// metadata (or appends bytes) as an attacker would.
const PRELUDE = `
const { mkdtempSync, readFileSync, writeFileSync } = await import('node:fs');
const { tmpdir } = await import('node:os');
const { join } = await import('node:path');
const st = await import(libDir + '/policy/safetensors.js');
const dir = mkdtempSync(join(tmpdir(), 'pyvision-hostile-'));
const path = join(dir, 'policy.safetensors');
const policy = await pv.Policy.create({ vocabSize: 32, patchDim: 4, maxSeqLen: 16, layers: 1, heads: 2, dim: 8, seed: 1, backend: 'cpu', threads: 1 });
await policy.save(path);
policy.dispose();
const rewrite = (file, edit, extraBytes = 0) => {
  const decoded = st.decodeSafetensors(readFileSync(file), file);
  const tensors = [...decoded.tensors].map(([name, t]) => ({ name, shape: t.shape, data: t.data }));
  const chunks = st.encodeSafetensors(tensors, edit({ ...decoded.metadata }));
  if (extraBytes) chunks.push(new Uint8Array(extraBytes));
  writeFileSync(file, Buffer.concat(chunks));
};
const outcome = async (run) => {
  try { await run(); return 'resolved'; } catch (e) { return e instanceof pv.PyVisionError ? e.code : 'not a PyVisionError: ' + e; }
};
`;

function run(body: string, timeoutMs = 60000): Record<string, unknown> {
  return expectClean(runChild(PRELUDE + body, { timeoutMs })) as Record<string, unknown>;
}

test('an optimizer file name that leaves the folder is E_IO, without reading it', () => {
  const result = run(`
const names = ['../../../../dev/zero', '/dev/zero', 'sub/file', '..', '.', ''];
const codes = [];
for (const name of names) {
  rewrite(path, (m) => ({ ...m, optimizer: name }));
  codes.push(await outcome(() => pv.Policy.load(path)));
}
// Without the optimizer state the name is not followed, and the weights load.
rewrite(path, (m) => ({ ...m, optimizer: '../../../../dev/zero' }));
const withoutOptimizer = await outcome(async () => (await pv.Policy.load(path, { optimizer: false })).dispose());
report({ codes, withoutOptimizer });
`);
  expect(result).toEqual({ codes: ['E_IO', 'E_IO', 'E_IO', 'E_IO', 'E_IO', 'E_IO'], withoutOptimizer: 'resolved' });
});

test('a device, a FIFO or a folder as the checkpoint is E_IO (no endless read, no blocking open)', () => {
  const result = run(`
const { execFileSync } = await import('node:child_process');
const fifo = join(dir, 'pipe');
execFileSync('mkfifo', [fifo]);
const codes = [];
for (const file of ['/dev/zero', fifo, dir]) codes.push(await outcome(() => pv.Policy.load(file)));
report({ codes });
`);
  expect(result).toEqual({ codes: ['E_IO', 'E_IO', 'E_IO'] });
});

test('sizes that disagree with the header are E_IO', () => {
  const result = run(`
rewrite(path, (m) => m, 4096);
report({ code: await outcome(() => pv.Policy.load(path, { optimizer: false })) });
`);
  expect(result).toEqual({ code: 'E_IO' });
});

test('an optimizer step that is not a decimal count is E_IO', () => {
  const result = run(`
const optimizer = join(dir, st.decodeSafetensors(readFileSync(path), path).metadata.optimizer);
const codes = [];
for (const step of ['', '0x10', '1e3', ' 7', '-1', '7.5', '12']) {
  rewrite(optimizer, (m) => ({ ...m, step }));
  codes.push(await outcome(async () => (await pv.Policy.load(path)).dispose()));
}
report({ codes });
`);
  expect(result).toEqual({ codes: ['E_IO', 'E_IO', 'E_IO', 'E_IO', 'E_IO', 'E_IO', 'resolved'] });
});

test('fromTensors with a large config and missing tensors is E_ARG before anything is allocated', () => {
  const result = run(`
const config = { vocabSize: 1 << 24, patchDim: 1 << 20, maxSeqLen: 1 << 20, layers: 1024, heads: 1024, dim: 1 << 16 };
const codes = [];
codes.push(await outcome(() => pv.Policy.fromTensors(config, {})));
codes.push(await outcome(() => pv.Policy.fromTensors(config, new Map())));
report({ codes });
`);
  expect(result).toEqual({ codes: ['E_ARG', 'E_ARG'] });
});

test('stop tokens that are not token ids are E_ARG', () => {
  const result = run(`
const p = await pv.Policy.create({ vocabSize: 32, patchDim: 4, maxSeqLen: 16, layers: 1, heads: 2, dim: 8, seed: 1, backend: 'cpu', threads: 1 });
const session = await p.startSession({ tokens: Int32Array.from([1, 2]), patches: new Float32Array(0), seqOffsets: Int32Array.from([0, 2]) });
const codes = [];
for (const stopTokens of [['abc', 1.7], [1.7], [2 ** 32 + 1], [-1], [32], [NaN]]) {
  codes.push(await outcome(() => session.generate({ maxNewTokens: 1, stopTokens })));
}
codes.push(await outcome(() => session.generate({ maxNewTokens: 1, stopTokens: [3, 31] })));
session.dispose();
p.dispose();
report({ codes });
`);
  expect(result).toEqual({ codes: ['E_ARG', 'E_ARG', 'E_ARG', 'E_ARG', 'E_ARG', 'E_ARG', 'resolved'] });
});
