/** The recipes by name: each a named set of settings (no code path differs per recipe). */
import type { RecipeSettings } from '../config.js';
import { GRPO } from './grpo.js';
import { PYVISION_RL } from './pyvision-rl.js';

export const RECIPES: Readonly<Record<string, Readonly<RecipeSettings>>> = Object.freeze({
  'pyvision-rl': PYVISION_RL,
  grpo: GRPO,
});

export const RECIPE_NAMES = Object.keys(RECIPES);
export { GRPO, PYVISION_RL };
