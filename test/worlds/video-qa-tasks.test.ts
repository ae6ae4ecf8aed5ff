import { answerFromFrames, expertProgram, makeVideoTask, normaliseAnswer, uniformFrames, videoTaskOptions, VIDEO_QUESTION_TYPES, type VideoTask } from '../../lib/worlds/video-qa-tasks.js';
import { inIntervals } from '../../lib/video/procedural.js';
import type { Split } from '../../lib/worlds/world.js';

const options = videoTaskOptions({});
const tasks = (split: Split, n: number, seed = 0) => Array.from({ length: n }, (_, i) => makeVideoTask(options, split, i, seed));

describe('video QA tasks', () => {
  test('deterministic for (split, index, seed); different seeds give different videos', () => {
    expect(JSON.stringify(tasks('train', 20))).toBe(JSON.stringify(tasks('train', 20)));
    expect(JSON.stringify(tasks('train', 5, 1))).not.toBe(JSON.stringify(tasks('train', 5, 0)));
  });

  test('splits are disjoint: no video appears in two splits', () => {
    const key = (t: VideoTask) => JSON.stringify([t.question, t.scene]);
    const seen = new Map<string, Split>();
    for (const split of ['train', 'val', 'test'] as const) {
      for (const t of tasks(split, 150)) {
        expect(seen.get(key(t)) ?? split).toBe(split);
        seen.set(key(t), split);
      }
    }
  });

  test('every task is well formed: answer among the options, objects inside the video, the types in turn', () => {
    const all = tasks('train', 200);
    const types = new Map<string, number>();
    const answers = new Map<string, number>();
    for (const t of all) {
      expect(t.options).toContain(t.answer);
      expect(new Set(t.options).size).toBe(t.options.length);
      expect(t.scene.frameCount).toBeGreaterThanOrEqual(300);
      expect(t.scene.frameCount).toBeLessThanOrEqual(3000);
      for (const o of t.scene.objects) {
        for (const w of o.visible) expect(w.start >= 0 && w.end <= t.scene.frameCount && w.end > w.start).toBe(true);
        expect(o.colours[0].colour).not.toBe('white');
      }
      for (const target of t.targets) expect(t.scene.objects[target]).toBeDefined();
      types.set(t.type, (types.get(t.type) ?? 0) + 1);
      answers.set(`${t.type}:${t.answer}`, (answers.get(`${t.type}:${t.answer}`) ?? 0) + 1);
      expect(expertProgram(t)).toMatch(/select_frames\(video_clue_0, "/);
    }
    for (const type of VIDEO_QUESTION_TYPES) expect(types.get(type)).toBe(50);
    // Balanced answers: yes/no both common; order answers both common.
    expect(answers.get('presence:yes')).toBeGreaterThan(15);
    expect(answers.get('presence:no')).toBeGreaterThan(15);
    const first = all.filter((t) => t.type === 'order' && t.answer === t.options[0]).length;
    expect(first).toBeGreaterThan(15);
    expect(first).toBeLessThan(35);
  });

  test('the question describes the scene: presence, colour change, order and count', () => {
    for (const t of tasks('val', 80)) {
      const scene = t.scene;
      if (t.type === 'presence') {
        const there = scene.objects.some((o) => o.shape === t.subject.shape && o.colours[0].colour === t.subject.colour);
        expect(there).toBe(t.answer === 'yes');
      } else if (t.type === 'colour') {
        const o = scene.objects[t.targets[0]];
        expect(o.colours).toHaveLength(2);
        expect(o.colours[1].colour).toBe(t.answer);
        expect(scene.objects.filter((x) => x.shape === o.shape)).toHaveLength(1);
      } else if (t.type === 'order') {
        const [a, b] = t.targets.map((i) => scene.objects[i].visible[0].start);
        expect(t.answer).toBe(a < b ? t.options[0] : t.options[1]);
      } else {
        expect(String(scene.objects[t.targets[0]].visible.length)).toBe(t.answer);
      }
    }
  });

  test('oracle: all frames decide every question; no frames leave chance; more uniform frames help on average', () => {
    const all = tasks('test', 120);
    let none = 0;
    const byK = new Map<number, number>();
    for (const t of all) {
      const every = Array.from({ length: t.scene.frameCount }, (_, i) => i);
      expect(`${t.id}: ${answerFromFrames(t, every).acc}`).toBe(`${t.id}: 1`);
      none += answerFromFrames(t, []).acc;
      for (const k of [8, 32]) byK.set(k, (byK.get(k) ?? 0) + answerFromFrames(t, uniformFrames(t.scene.frameCount, k)).acc);
    }
    expect(none / all.length).toBeLessThan(0.6);
    expect(byK.get(32)!).toBeGreaterThan(byK.get(8)! + 0.1 * all.length);
  });

  test('uniform frames are selectFrames uniform mode; answers are normalised', () => {
    expect(uniformFrames(400, 4)).toEqual([50, 150, 250, 350]);
    expect(uniformFrames(3, 8)).toEqual([0, 1, 2]);
    expect(normaliseAnswer('  The RED   ball. ')).toBe('the red ball');
  });

  test('bad options are E_ARG naming the field', () => {
    expect(() => videoTaskOptions({ frames: [10, 20] })).toThrow(/options.frames\[0\] must be an integer >= 60/);
    expect(() => videoTaskOptions({ types: ['colour', 'speed' as 'colour'] })).toThrow(/options.types\[1\]/);
    expect(() => videoTaskOptions({ eventShare: [0.1, 0.05] })).toThrow(/options.eventShare\[1\]/);
  });
});

test('inIntervals', () => {
  expect(inIntervals([{ start: 2, end: 4 }], 3)).toBe(true);
  expect(inIntervals([{ start: 2, end: 4 }], 4)).toBe(false);
});
