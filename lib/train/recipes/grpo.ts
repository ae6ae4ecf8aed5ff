/**
 * Recipe `grpo`: the collapse baseline of agent.md section 5 (plain GRPO).
 * Reads top to bottom as the step runs; everything not named here is a shared default.
 */
import type { RecipeSettings } from '../config.js';

export const GRPO: Readonly<RecipeSettings> = Object.freeze({
  // reward: accuracy only
  toolRewardCoef: 0,
  // advantage: (r - group mean) / (group std + eps)
  advantageScale: 'group-std',
  // one generation batch of exactly the train prompts, no oversampling
  oversampleFactor: 1,
  maxGenRounds: 1,
  // no filters: every trajectory trains, whatever its end reason or tool use
  zeroVarianceFilter: false,
  keepEndReasons: ['DONE', 'EXCEED_MAX_TURNS', 'ERROR_IN_ACTION', 'OVER_LENGTH', 'EXCEED_MAX_IMAGES'],
  requireToolImage: false,
  // no ranking: generation order
  rank: 'none',
} satisfies RecipeSettings);
