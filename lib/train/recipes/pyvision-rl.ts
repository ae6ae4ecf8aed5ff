/**
 * Recipe `pyvision-rl` (the default): the PyVision-RL step of agent.md section 5.
 * Reads top to bottom as the step runs; everything not named here is a shared default.
 */
import type { RecipeSettings } from '../config.js';

export const PYVISION_RL: Readonly<RecipeSettings> = Object.freeze({
  // reward: accuracy plus 0.1 per successful tool call, paid only when correct
  toolRewardCoef: 0.1,
  // advantage: r - group mean, no std division
  advantageScale: 'none',
  // oversampling: generation rounds of 2x the train prompts, until K survivors (at most 3 rounds)
  oversampleFactor: 2,
  maxGenRounds: 3,
  // filters: zero-variance groups, broken interactions, trajectories without a tool image
  zeroVarianceFilter: true,
  keepEndReasons: ['DONE', 'EXCEED_MAX_TURNS', 'ERROR_IN_ACTION'],
  requireToolImage: true,
  // ranking: the pool by group reward std, descending; the top K train
  rank: 'std',
} satisfies RecipeSettings);
