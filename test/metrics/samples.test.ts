/** samples/ of a run folder: PNG round trips, trajectories to sample records, write and read back. */
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { deflateSync } from 'node:zlib';

import { decodePng, encodePng } from '../../lib/metrics/png.js';
import { readSamples, sampleFromTrajectory, writeSamples, type TrajectoryLike } from '../../lib/metrics/samples.js';
import type { RgbImage } from '../../lib/util/rgb.js';
import { rng } from '../helpers.js';

function randomImage(width: number, height: number, seed: number): RgbImage {
  const random = rng(seed);
  return { width, height, data: Uint8Array.from({ length: width * height * 3 }, () => Math.floor(random() * 256)) };
}

test('PNG encode and decode round trip, odd sizes included', () => {
  for (const [w, h] of [[1, 1], [7, 3], [33, 17]]) {
    const image = randomImage(w, h, w * 31 + h);
    const png = encodePng(image);
    expect(png.subarray(1, 4).toString('latin1')).toBe('PNG');
    const back = decodePng(png);
    expect([back.width, back.height]).toEqual([w, h]);
    expect(Buffer.from(back.data).equals(Buffer.from(image.data))).toBe(true);
  }
  expect(() => encodePng({ width: 2, height: 2, data: new Uint8Array(11) }, 'crop')).toThrow(/crop must be an RgbImage/);
  expect(() => decodePng(new Uint8Array([1, 2, 3]))).toThrow(/not a PNG/);
});

test('PNG decoding undoes every row filter', () => {
  // A 2 x 3 image written by hand with filters sub, up, average and paeth on its rows.
  const width = 2;
  const pixels = [
    [10, 20, 30, 40, 50, 60],
    [11, 22, 33, 44, 55, 66],
    [200, 100, 50, 25, 12, 6],
  ];
  const paeth = (a: number, b: number, c: number): number => {
    const p = a + b - c;
    const pa = Math.abs(p - a);
    const pb = Math.abs(p - b);
    const pc = Math.abs(p - c);
    return pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
  };
  for (const filter of [1, 2, 3, 4]) {
    const raw: number[] = [];
    pixels.forEach((row, y) => {
      raw.push(filter);
      row.forEach((v, x) => {
        const a = x >= 3 ? row[x - 3] : 0;
        const b = y > 0 ? pixels[y - 1][x] : 0;
        const c = y > 0 && x >= 3 ? pixels[y - 1][x - 3] : 0;
        const pred = filter === 1 ? a : filter === 2 ? b : filter === 3 ? (a + b) >> 1 : paeth(a, b, c);
        raw.push((v - pred + 256) & 0xff);
      });
    });
    const reference = encodePng({ width, height: 3, data: Uint8Array.from(pixels.flat()) });
    // swap the IDAT of the reference for the filtered one (IHDR kept); the CRC is not checked on read
    const idat = deflateSync(Buffer.from(raw));
    const head = reference.subarray(0, 8 + 25);
    const chunk = Buffer.alloc(12 + idat.length);
    chunk.writeUInt32BE(idat.length, 0);
    chunk.write('IDAT', 4, 'latin1');
    idat.copy(chunk, 8);
    const file = Buffer.concat([head, chunk, reference.subarray(reference.length - 12)]);
    expect(Array.from(decodePng(file).data)).toEqual(pixels.flat());
  }
});

const IMAGE = randomImage(16, 12, 1);
const CROP = randomImage(8, 8, 2);

function trajectory(): TrajectoryLike {
  return {
    task: { id: 'test-3', split: 'test', type: 'color', question: 'What color is the small star?', options: ['red', 'blue'], answer: 'red' },
    answer: 'red',
    acc: 1,
    reward: 1.1,
    endReason: 0,
    toolCalls: 1,
    turnRecords: [
      { kind: 'code', text: 'c = image_clue_0.crop((2, 2, 10, 10))\nshow(c)', result: { output: '', images: [CROP], error: null } },
      { kind: 'code', text: 'print(x)', result: { output: '', images: [], error: { type: 'NameError', message: "name 'x' is not defined" } } },
      { kind: 'answer', text: 'red' },
    ],
    record: { image: IMAGE, crops: [[2, 2, 10, 10], { box: [4, 4, 8, 8], turn: 1 }, 'junk'], target: [5, 5, 7, 7] },
  };
}

test('sampleFromTrajectory keeps the question, turns, crops, target and images', () => {
  const s = sampleFromTrajectory(trajectory());
  expect(s).toMatchObject({
    taskId: 'test-3',
    type: 'color',
    truth: 'red',
    answer: 'red',
    endReason: 'DONE',
    crops: [{ box: [2, 2, 10, 10], turn: 0 }, { box: [4, 4, 8, 8], turn: 1 }],
    target: [5, 5, 7, 7],
  });
  expect(s.turns[0].images).toEqual([0]);
  expect(s.turns[1].error).toBe("NameError: name 'x' is not defined");
  expect(s.turns[2]).toEqual({ kind: 'answer', text: 'red' });
  expect(s.image).toBe(IMAGE);
  expect(s.shown).toEqual([CROP]);
  expect(sampleFromTrajectory({ ...trajectory(), endReason: 3, record: {} })).toMatchObject({ endReason: 'OVER_LENGTH', image: null, crops: [], target: null });
});

test('writeSamples and readSamples round trip, by step', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pyvision-samples-'));
  try {
    expect(readSamples(dir)).toEqual([]);
    const s = sampleFromTrajectory(trajectory());
    writeSamples(dir, 10, [s]);
    writeSamples(dir, 5, [s, { ...s, taskId: 'test-4', image: null, shown: [] }]);
    expect(readdirSync(join(dir, 'samples')).sort()).toEqual(['step-000005', 'step-000005.json', 'step-000010', 'step-000010.json']);
    const sets = readSamples(dir);
    expect(sets.map((set) => [set.step, set.samples.length])).toEqual([[5, 2], [10, 1]]);
    const back = sets[1].samples[0];
    expect(Buffer.from(back.image!.data).equals(Buffer.from(IMAGE.data))).toBe(true);
    expect(back.shown[0].width).toBe(8);
    expect({ ...back, image: null, shown: [] }).toEqual({ ...s, image: null, shown: [] });
    expect(() => writeSamples(dir, -1, [])).toThrow(/step must be a non-negative integer/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
