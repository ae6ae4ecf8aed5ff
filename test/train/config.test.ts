import { ABLATIONS, CONFIG_KEYS, DEFAULT_CONFIG, mergeConfig, genBatchPrompts, trainBatchSize } from '../../lib/train/config.js';
import { RECIPES } from '../../lib/train/recipes/index.js';
import { PyVisionError } from '../../lib/util/errors.js';

function expectArg(settings: Record<string, unknown>, field: string): void {
  let caught: unknown;
  try {
    mergeConfig(settings as never, RECIPES);
  } catch (error) {
    caught = error;
  }
  expect(caught).toBeInstanceOf(PyVisionError);
  expect((caught as PyVisionError).code).toBe('E_ARG');
  expect((caught as PyVisionError).message).toContain(`config.${field}`);
}

describe('training config', () => {
  test('the defaults are the pyvision-rl recipe and every field is validated', () => {
    const c = mergeConfig(undefined, RECIPES);
    expect(c).toEqual(DEFAULT_CONFIG);
    expect(c.recipe).toBe('pyvision-rl');
    expect(Object.keys(c).sort()).toEqual([...CONFIG_KEYS].sort());
  });

  test("recipes produce the settings of agent.md section 5's table", () => {
    const p = mergeConfig({ recipe: 'pyvision-rl' }, RECIPES);
    const g = mergeConfig({ recipe: 'grpo' }, RECIPES);
    // tool reward coef
    expect([p.toolRewardCoef, g.toolRewardCoef]).toEqual([0.1, 0]);
    // advantage scale
    expect([p.advantageScale, g.advantageScale]).toEqual(['none', 'group-std']);
    // zero-variance filter, oversampling until K vs one gen batch
    expect(p.zeroVarianceFilter).toBe(true);
    expect(p.maxGenRounds).toBeGreaterThan(1);
    expect(genBatchPrompts(p)).toBeGreaterThan(p.trainBatchPrompts);
    expect(g.zeroVarianceFilter).toBe(false);
    expect(g.maxGenRounds).toBe(1);
    expect(genBatchPrompts(g) * g.groupSize).toBe(trainBatchSize(g));
    // broken-interaction filter
    expect(p.keepEndReasons).toEqual(['DONE', 'EXCEED_MAX_TURNS', 'ERROR_IN_ACTION']);
    expect(g.keepEndReasons).toEqual(['DONE', 'EXCEED_MAX_TURNS', 'ERROR_IN_ACTION', 'OVER_LENGTH', 'EXCEED_MAX_IMAGES']);
    // tool-image filter
    expect([p.requireToolImage, g.requireToolImage]).toEqual([true, false]);
    // rank by group std
    expect([p.rank, g.rank]).toEqual(['std', 'none']);
    // the PPO settings are shared: clip 0.2/0.2, dual clip 3, token-mean, grad clip 1
    for (const c of [p, g]) {
      expect([c.clipLow, c.clipHigh, c.dualClip, c.lossAgg, c.gradClip, c.ppoEpochs]).toEqual([0.2, 0.2, 3, 'token-mean', 1, 1]);
    }
    // the recipes differ in nothing but the table's settings
    const differ = CONFIG_KEYS.filter((k) => JSON.stringify(p[k]) !== JSON.stringify(g[k])).sort();
    expect(differ).toEqual(['advantageScale', 'keepEndReasons', 'maxGenRounds', 'oversampleFactor', 'rank', 'recipe', 'requireToolImage', 'toolRewardCoef', 'zeroVarianceFilter'].sort());
  });

  test('user settings go over the recipe; ablations are single settings over the default', () => {
    expect(mergeConfig({ recipe: 'grpo', toolRewardCoef: 0.3 }, RECIPES).toolRewardCoef).toBe(0.3);
    const base = mergeConfig({}, RECIPES);
    for (const [name, settings] of Object.entries(ABLATIONS)) {
      const c = mergeConfig(settings, RECIPES);
      const differ = CONFIG_KEYS.filter((k) => JSON.stringify(c[k]) !== JSON.stringify(base[k]));
      expect({ name, differ }).toEqual({ name, differ: Object.keys(settings) });
    }
    expect(mergeConfig(ABLATIONS['tool-reward-0'], RECIPES).toolRewardCoef).toBe(0);
    expect(mergeConfig(ABLATIONS['no-std-rank'], RECIPES).rank).toBe('none');
    expect(mergeConfig(ABLATIONS['std-norm'], RECIPES).advantageScale).toBe('group-std');
    expect(mergeConfig(ABLATIONS['max-turns-2'], RECIPES).maxTurns).toBe(2);
    expect(mergeConfig(ABLATIONS['no-tool-image-filter'], RECIPES).requireToolImage).toBe(false);
  });

  test('bad values throw E_ARG naming the field', () => {
    expectArg({ steps: -1 }, 'steps');
    expectArg({ steps: 1.5 }, 'steps');
    expectArg({ lr: 'x' }, 'lr');
    expectArg({ lr: NaN }, 'lr');
    expectArg({ groupSize: 1 }, 'groupSize');
    expectArg({ temperature: 0 }, 'temperature');
    expectArg({ recipe: 'ppo' }, 'recipe');
    expectArg({ advantageScale: 'std' }, 'advantageScale');
    expectArg({ keepEndReasons: ['DONE', 'LATE'] }, 'keepEndReasons[1]');
    expectArg({ keepEndReasons: [] }, 'keepEndReasons');
    expectArg({ dualClip: 1 }, 'dualClip');
    expectArg({ requireToolImage: 'yes' }, 'requireToolImage');
    expectArg({ worldOptions: [] }, 'worldOptions');
    expectArg({ lossAgg: 'mean' }, 'lossAgg');
    expectArg({ clipLow: 1 }, 'clipLow');
    expectArg({ learningRate: 1 }, 'learningRate');
    expectArg({ dim: 30, heads: 4 }, 'dim');
    expectArg({ resume: true, outDir: null }, 'resume');
    expectArg({ ppoMiniBatches: 1000 }, 'ppoMiniBatches');
    expect(() => mergeConfig(null as never, RECIPES)).toThrow(PyVisionError);
    expect(mergeConfig({ dualClip: null }, RECIPES).dualClip).toBeNull();
  });
});
