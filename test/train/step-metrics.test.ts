import { cropCounts, trajectoryStats } from '../../lib/train/step-metrics.js';
import type { Trajectory } from '../../lib/rollout/types.js';

function traj(o: Partial<Trajectory>): Trajectory {
  return {
    task: { id: 't', split: 'train', type: 'color', question: '', options: [], answer: 'a' },
    promptId: 0, group: 0, sample: 0,
    tokens: new Int32Array(4), patches: new Float32Array(0), mask: Uint8Array.from([0, 1, 1, 0]), logp: new Float32Array(4),
    turns: 1, toolCalls: 0, toolImages: 0, visualTokens: 0, endReason: 0, answer: 'a', acc: 0, reward: 0, turnRecords: [], record: {},
    ...o,
  };
}

test('crops that miss the target: the crop does not contain its centre', () => {
  const t = traj({ record: { target: [10, 10, 20, 20], crops: [[0, 0, 32, 32], { box: [16, 16, 40, 40], turn: 1 }, [0, 0, 15, 15], 'junk'] } });
  expect(cropCounts(t)).toEqual({ crops: 3, missed: 2 });
  expect(cropCounts(traj({ record: { crops: [[0, 0, 1, 1]] } }))).toEqual({ crops: 0, missed: 0 });
});

test('trajectory statistics: accuracy with and without tools, by type, end reasons, tool use', () => {
  const s = trajectoryStats([
    traj({ acc: 1, toolCalls: 2, toolImages: 2, turnRecords: [{ kind: 'code', text: '' }, { kind: 'code', text: '' }, { kind: 'answer', text: 'a' }], turns: 3 }),
    traj({ acc: 0, toolCalls: 0, endReason: 1, task: { id: 'u', split: 'train', type: 'shape', question: '', options: [], answer: 'b' } }),
    traj({ acc: 1, toolCalls: 0, turnRecords: [{ kind: 'code', text: 'bad' }], endReason: 2 }),
  ]);
  expect(s['acc']).toBeCloseTo(2 / 3);
  expect(s['acc_with_tool']).toBe(1);
  expect(s['acc_without_tool']).toBe(0.5);
  expect(s['acc/color']).toBe(1);
  expect(s['acc/shape']).toBe(0);
  expect(s['tool_call_mean']).toBeCloseTo(2 / 3);
  expect(s['tool_call_zero_ratio']).toBeCloseTo(2 / 3);
  // a code block that failed still counts as calling the tool
  expect(s['tool_call_ratio']).toBeCloseTo(2 / 3);
  expect(s['end_reason/EXCEED_MAX_TURNS']).toBeCloseTo(1 / 3);
  expect(s['truncation_ratio']).toBeCloseTo(1 / 3);
  expect(s['response_length']).toBe(2);
});
