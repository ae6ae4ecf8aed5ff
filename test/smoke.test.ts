import { backendInfo, groupAdvantages } from '../lib/index.js';

test('loads and runs', async () => {
  const info = backendInfo();
  expect(info.compiled.cpu).toBe(true);
  const r = await groupAdvantages(new Float32Array([1, 0, 1, 1]), new Int32Array([7, 7, 3, 3]));
  expect(Array.from(r.advantages)).toEqual([0.5, -0.5, 0, 0]);
});
