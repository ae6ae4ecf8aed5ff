/**
 * TensorBoard event files: the CRC32C and TFRecord framing against known
 * values, and the files read back by TensorBoard's own EventAccumulator
 * (skipped with a reason where python3 or the tensorboard package is absent).
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { crc32c, maskedCrc32c, TensorBoardSink } from '../../lib/metrics/tensorboard.js';

test('crc32c matches the RFC 3720 check values', () => {
  expect(crc32c(new TextEncoder().encode('123456789'))).toBe(0xe3069283);
  expect(crc32c(new Uint8Array(32))).toBe(0x8a9136aa);
  expect(crc32c(new Uint8Array(32).fill(0xff))).toBe(0x62a8ab43);
  expect(crc32c(Uint8Array.from({ length: 32 }, (_, i) => i))).toBe(0x46dd794e);
  expect(crc32c(new Uint8Array(0))).toBe(0);
});

test('the file starts with a framed file_version event whose CRCs verify', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pyvision-tb-'));
  try {
    const sink = new TensorBoardSink(dir, { now: () => 1700000000.5 });
    sink.write(1, { 'critic/acc/mean': 0.25 });
    sink.close();
    sink.close(); // idempotent
    const bytes = readFileSync(sink.path);
    expect(sink.path).toMatch(/events\.out\.tfevents\.1700000000\./);
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    let offset = 0;
    const records: Uint8Array[] = [];
    while (offset < bytes.length) {
      const length = Number(view.getBigUint64(offset, true));
      expect(view.getUint32(offset + 8, true)).toBe(maskedCrc32c(bytes.subarray(offset, offset + 8)));
      const data = bytes.subarray(offset + 12, offset + 12 + length);
      expect(view.getUint32(offset + 12 + length, true)).toBe(maskedCrc32c(data));
      records.push(data);
      offset += 16 + length;
    }
    expect(offset).toBe(bytes.length);
    expect(records).toHaveLength(2);
    expect(Buffer.from(records[0]).toString('latin1')).toContain('brain.Event:2');
    expect(() => sink.write(2, {})).toThrow(/closed/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

const python = spawnSync('python3', ['-c', 'import tensorboard'], { encoding: 'utf8' });
const hasTensorBoard = python.status === 0;
if (!hasTensorBoard) {
  console.log(`TensorBoard reader test skipped: ${python.error ? 'python3 is not on PATH' : 'the tensorboard Python package is not installed (pip install tensorboard)'}`);
}

const READER = `
import json, sys
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
acc = EventAccumulator(sys.argv[1], size_guidance={'scalars': 0})
acc.Reload()
out = {tag: [[e.step, e.value, e.wall_time] for e in acc.Scalars(tag)] for tag in acc.Tags()['scalars']}
print(json.dumps(out))
`;

function readWithTensorBoard(dir: string): Record<string, Array<[number, number, number]>> {
  const run = spawnSync('python3', ['-c', READER, dir], { encoding: 'utf8' });
  if (run.status !== 0) throw new Error(`EventAccumulator failed: ${run.stderr}`);
  return JSON.parse(run.stdout);
}

(hasTensorBoard ? test : test.skip)("TensorBoard's EventAccumulator reads every scalar at its step", () => {
  const dir = mkdtempSync(join(tmpdir(), 'pyvision-tb-'));
  try {
    let clock = 1700000000;
    const sink = new TensorBoardSink(dir, { now: () => clock++ });
    const expected: Record<string, Array<[number, number]>> = { 'critic/acc/mean': [], 'agent/tool_call_mean': [], 'timing/step': [] };
    for (let step = 1; step <= 7; step++) {
      const record = {
        'critic/acc/mean': step / 7,
        'agent/tool_call_mean': 3 - step * 0.1,
        'timing/step': 1e-3 * step ** 3,
        'val/acc': step === 4 ? 0.5 : NaN, // NaN: not written
      };
      sink.write(step, record);
      for (const key of Object.keys(expected)) expected[key].push([step, Math.fround(record[key as keyof typeof record])]);
    }
    // a step number past 2^32 (varint of more than 5 bytes)
    sink.write(2 ** 33 + 5, { 'critic/acc/mean': -1.5 });
    expected['critic/acc/mean'].push([2 ** 33 + 5, -1.5]);
    sink.close();
    const read = readWithTensorBoard(dir);
    expect(Object.keys(read).sort()).toEqual([...Object.keys(expected), 'val/acc'].sort());
    for (const [tag, points] of Object.entries(expected)) {
      expect(read[tag].map(([s, v]) => [s, v])).toEqual(points);
    }
    expect(read['val/acc'].map(([s, v]) => [s, v])).toEqual([[4, 0.5]]);
    expect(read['critic/acc/mean'][0][2]).toBe(1700000001); // wall time of the first scalars event
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

(hasTensorBoard ? test : test.skip)('a resumed run supersedes the killed run from its resume step on', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pyvision-tb-'));
  try {
    const first = new TensorBoardSink(dir, { now: () => 1700000000 });
    for (let step = 1; step <= 6; step++) first.write(step, { loss: step });
    first.close(); // the killed run got to step 6; its last checkpoint was step 3
    const resumed = new TensorBoardSink(dir, { resumeStep: 4, now: () => 1700000000 });
    for (let step = 4; step <= 8; step++) resumed.write(step, { loss: 100 + step });
    resumed.close();
    expect(readdirSync(dir)).toHaveLength(2);
    const read = readWithTensorBoard(dir);
    expect(read.loss.map(([s, v]) => [s, v])).toEqual([
      [1, 1], [2, 2], [3, 3], [4, 104], [5, 105], [6, 106], [7, 107], [8, 108],
    ]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
