/** Console progress: plain lines every N steps off a terminal; a cli-progress bar on one. */
import { ProgressSink, formatSeconds } from '../../lib/metrics/progress.js';

function fakeStream(isTTY: boolean): { write: (t: string) => boolean; isTTY: boolean; columns: number; text: () => string; on: () => void; cursorTo: () => boolean; clearLine: () => boolean; moveCursor: () => boolean } {
  const parts: string[] = [];
  return {
    write: (t: string) => {
      parts.push(t);
      return true;
    },
    isTTY,
    columns: 160,
    text: () => parts.join(''),
    on: () => undefined,
    cursorTo: () => true,
    clearLine: () => true,
    moveCursor: () => true,
  };
}

test('off a terminal: one plain line every N steps and at the last, no control characters', () => {
  const stream = fakeStream(false);
  const sink = new ProgressSink({ totalSteps: 7, every: 3, label: 'rl', stream });
  for (let step = 1; step <= 7; step++) {
    sink.write(step, { 'critic/score/mean': 0.5 + step / 100, 'agent/tool_call_mean': 1.25, 'critic/acc/mean': NaN });
  }
  sink.log('test acc 0.5');
  sink.close();
  const lines = stream.text().trimEnd().split('\n');
  expect(lines).toHaveLength(4);
  expect(lines[3]).toBe('test acc 0.5');
  expect(lines[0]).toMatch(/^rl step 3\/7 \| reward 0\.530 \| tool calls 1\.25 \| acc - \| elapsed \d+s \| ETA /);
  expect(lines[1]).toMatch(/^rl step 6\/7 /);
  expect(lines[2]).toMatch(/^rl step 7\/7 .*ETA 0s$/);
  expect(stream.text()).not.toMatch(/\x1b/);
});

test('on a terminal: a bar with steps, reward, tool calls and ETA', () => {
  const stream = fakeStream(true);
  const sink = new ProgressSink({ totalSteps: 4, stream, label: 'rl', columns: [{ key: 'critic/score/mean', label: 'reward' }, { key: 'agent/tool_call_mean', label: 'tool calls', digits: 1 }] });
  sink.write(1, { 'critic/score/mean': 0.25, 'agent/tool_call_mean': 2 });
  sink.log('val step 1: acc 0.5');
  sink.write(4, { 'critic/score/mean': 0.75, 'agent/tool_call_mean': 3 });
  sink.close();
  sink.log('after');
  sink.close();
  const text = stream.text();
  expect(text).toContain('4/4');
  expect(text).toContain('reward 0.750');
  expect(text).toContain('tool calls 3.0');
  expect(text).toContain('ETA');
  expect(text).toContain('val step 1: acc 0.5\n');
  expect(text.endsWith('after\n')).toBe(true);
  sink.write(5, {}); // after close: ignored
});

test('elapsed and ETA count from startedAt', () => {
  const stream = fakeStream(false);
  const sink = new ProgressSink({ totalSteps: 4, every: 1, stream, startedAt: Date.now() - 120_000, startStep: 2 });
  sink.write(2, {}); // the resume step itself: no line
  sink.write(3, {});
  sink.close();
  expect(stream.text()).toMatch(/^train step 3\/4 \| .* \| elapsed 2m0\ds \| ETA 2m0\ds\n$/);
});

test('formatSeconds', () => {
  expect(formatSeconds(12.4)).toBe('12s');
  expect(formatSeconds(185)).toBe('3m05s');
  expect(formatSeconds(3725)).toBe('1h02m');
  expect(formatSeconds(NaN)).toBe('-');
});
