/**
 * The built-in worlds the command line can train on, registered with the
 * trainer by name (config.world): 'visual-search' (lib/worlds/visual-search,
 * its documented knobs from --world-options; the run's seed picks its tasks
 * through world.tasks). A world registered already (by the library or a user)
 * is left as it is.
 */
import { registerWorld, worldNames } from '../train/trainer.js';
import { VisualSearchWorld, type VisualSearchCreateOptions } from '../worlds/visual-search/world.js';

export function registerBuiltinWorlds(): void {
  const have = new Set(worldNames());
  if (!have.has('visual-search')) {
    registerWorld('visual-search', (options) => VisualSearchWorld.create(options as VisualSearchCreateOptions));
  }
}
