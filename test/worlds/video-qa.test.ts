import { Policy } from '../../lib/policy/policy.js';
import { replayExpert } from '../../lib/rollout/expert.js';
import { packTrajectories } from '../../lib/rollout/pack.js';
import { rollout } from '../../lib/rollout/rollout.js';
import { viewPatches } from '../../lib/image/view.js';
import { renderSceneFrame } from '../../lib/video/procedural.js';
import { VideoQAWorld } from '../../lib/worlds/video-qa.js';
import { answerFromFrames, uniformFrames } from '../../lib/worlds/video-qa-tasks.js';

const world = new VideoQAWorld();
const baseline = new VideoQAWorld({ context: { uniform: 8 } });

describe('VideoQAWorld', () => {
  test('on-demand prompt: the video metadata and the question, no frames', () => {
    const [task] = world.tasks('train', 1);
    const p = world.prompt(task);
    expect(p.patches.length).toBe(0);
    expect(Array.from(p.tokens).includes(-1)).toBe(false);
    const s = task.scene;
    expect(world.tokenizer.decode(p.tokens)).toBe(
      world.tokenizer.decode(world.tokenizer.encode(`<bos> <video> frames ${s.frameCount} fps ${s.fps} size 64 64 </video> <q> ${task.question} options : ${task.options.join(' , ')} </q>`)),
    );
    expect(Array.from(p.tokens)).not.toContain(world.tokenizer.id('<unk>'));
  });

  test('uniform baseline prompt: k uniformly sampled frames as image blocks, patches of the view', () => {
    const [task] = baseline.tasks('train', 1);
    const p = baseline.prompt(task);
    const Np = baseline.patchesPerImage;
    expect(Array.from(p.tokens).filter((t) => t === -1).length).toBe(8 * Np);
    expect(Array.from(p.tokens).filter((t) => t === baseline.tokenizer.id('<img>')).length).toBe(8);
    expect(p.patches.length).toBe(8 * Np * baseline.patchDim);
    const frames = uniformFrames(task.scene.frameCount, 8);
    const third = viewPatches(renderSceneFrame(task.scene, frames[2]), baseline.view);
    expect(Array.from(p.patches.subarray(2 * Np * baseline.patchDim, 3 * Np * baseline.patchDim))).toEqual(Array.from(third));
    expect(baseline.name).toBe('video-qa/uniform-8');
  });

  test("the expert's programs run in the tool and show the frames that answer the question", async () => {
    const tasks = world.tasks('val', 24);
    for (const task of tasks) {
      const [code, answer] = world.expert(task, 0);
      expect(code.kind).toBe('code');
      expect(answer).toEqual({ kind: 'answer', answer: task.answer });
      const tool = world.openTool(task);
      const result = await tool.run((code as { code: string }).code);
      tool.dispose();
      expect(result.error).toBeNull();
      const shown = world.shownFrames(result);
      expect(shown.every((i) => i >= 0)).toBe(true);
      expect(`${task.id} ${task.type}: ${answerFromFrames(task, shown, undefined, true).acc}`).toBe(`${task.id} ${task.type}: 1`);
      if (task.type === 'order') expect(result.output.trim()).toMatch(/^(True|False)$/);
    }
  });

  test('tool misuse is an observed Python error, the uniform baseline has no video in its tool', async () => {
    const [task] = world.tasks('test', 1);
    const tool = world.openTool(task);
    const bad = await tool.run('video_clue_0.get_batch([100000])');
    expect(bad.error).toMatchObject({ type: 'IndexError' });
    const huge = await tool.run('select_frames(video_clue_0, "red ball", 1000)');
    expect(huge.error).toMatchObject({ type: 'ValueError', message: 'select_frames() k must be <= 64, got 1000' });
    const ok = await tool.run('print(len(video_clue_0), video_clue_0.get_avg_fps())');
    expect(ok.output.trim()).toBe(`${task.scene.frameCount} ${task.scene.fps.toFixed(1)}`);
    tool.dispose();
    const noVideo = baseline.openTool(baseline.tasks('test', 1)[0]);
    expect((await noVideo.run('len(video_clue_0)')).error).toMatchObject({ type: 'NameError' });
    noVideo.dispose();
  });

  test('observations: text, then one image block per shown frame', async () => {
    const [task] = world.tasks('train', 1);
    const tool = world.openTool(task);
    const r = await tool.run('f = video_clue_0.get_batch([0, 1])\nshow(f[0])\nshow(f[1])\nprint(len(f))');
    tool.dispose();
    const seg = world.observe(r, { maxObsTokens: 16 });
    const Np = world.patchesPerImage;
    expect(seg.tokens[0]).toBe(world.tokenizer.id('<obs>'));
    expect(seg.tokens[seg.tokens.length - 1]).toBe(world.tokenizer.id('</obs>'));
    expect(Array.from(seg.tokens).filter((t) => t === -1).length).toBe(2 * Np);
    expect(seg.patches.length).toBe(2 * Np * world.patchDim);
    expect(world.tokenizer.decode(seg.tokens.subarray(1, 2))).toBe('2');
  });

  test('verify, seeded splits and options', () => {
    const [task] = world.tasks('train', 1);
    expect(world.verify(task, task.answer)).toBe(1);
    expect(world.verify(task, ` ${task.answer.toUpperCase()} `)).toBe(1);
    expect(world.verify(task, 'maybe')).toBe(0);
    expect(world.tasks('val', 3, 5).map((t) => t.id)).toEqual(['video-qa/5/val/0', 'video-qa/5/val/1', 'video-qa/5/val/2']);
    expect(() => new VideoQAWorld({ context: { uniform: 0 } })).toThrow(/options.context.uniform must be an integer >= 1/);
    expect(() => new VideoQAWorld({ context: 'all' as 'on-demand' })).toThrow(/options.context must be 'on-demand' or \{ uniform: k \}/);
    expect(() => new VideoQAWorld({ view: { width: 60, height: 64, patch: 16 } })).toThrow(/multiples of options.view.patch/);
  });
});

describe('VideoQAWorld through the rollout engine', () => {
  let policy: Policy;
  afterAll(() => policy?.dispose());

  test.each([
    ['on-demand', world],
    ['uniform-8', baseline],
  ])('%s: expert replay and sampled rollouts keep the trajectory invariants', async (_name, w) => {
    const tasks = w.tasks('train', 4);
    const expert = await replayExpert({ world: w, tasks, seed: 0 });
    for (const [j, t] of expert.entries()) {
      // On demand the expert knows the answer; the baseline's expert answers from its k frames.
      expect(tasks[j].options).toContain(t.answer);
      expect(t.acc).toBe(w.verify(tasks[j], t.answer!));
      if (w === world) expect(t.acc).toBe(1);
      const sampled = Array.from(t.mask).reduce((a, b) => a + b, 0);
      const turns = w.expert(tasks[j], 0);
      const expected = turns.reduce((n, turn) => n + w.tokenizer.encode(turn.kind === 'code' ? turn.code : turn.answer).length + 2, 0);
      expect(sampled).toBe(expected);
      expect(t.visualTokens).toBe(Array.from(t.tokens).filter((x) => x === -1).length);
      expect(t.toolCalls).toBe(turns.filter((x) => x.kind === 'code').length);
    }
    const shape = w.policyConfig();
    policy = await Policy.create({ ...shape, layers: 1, heads: 2, dim: 32, seed: 3, backend: 'cpu' });
    const packed = packTrajectories(expert);
    for (let i = 0; i < 3; i++) await policy.trainStep(packed.batch, { kind: 'sft', mask: packed.mask }, { lr: 1e-2, weightDecay: 0 });
    const options = { policy, world: w, tasks: tasks.slice(0, 2), groupSize: 2, temperature: 1, maxTurns: 3, maxTurnTokens: 48, seed: 5, errorFeedback: true };
    const trajs = await rollout(options);
    const again = await rollout(options);
    expect(trajs.map((t) => Array.from(t.tokens))).toEqual(again.map((t) => Array.from(t.tokens)));
    const repacked = packTrajectories(trajs);
    const { logp } = await policy.logprobs(repacked.batch);
    let offset = 0;
    for (const t of trajs) {
      for (let i = 0; i < t.tokens.length; i++) {
        if (t.mask[i]) expect(Math.abs(logp[offset + i] - t.logp[i])).toBeLessThan(1e-4);
        else expect(t.logp[i]).toBe(0);
      }
      expect(t.visualTokens).toBe(Array.from(t.tokens).filter((x) => x === -1).length);
      offset += t.tokens.length;
    }
    policy.dispose();
  });
});
