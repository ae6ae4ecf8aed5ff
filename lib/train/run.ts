/**
 * The run folder (agent.md section 7):
 *
 *   config.json        every setting, the package version, the backend
 *   metrics.jsonl      one record per step (written by the metrics sinks)
 *   sft.jsonl          one record per SFT step
 *   checkpoints/       step-NNNNNNNN/{policy.safetensors, policy.safetensors.optim-*, state.json}
 *                      and latest.json naming the newest complete one
 *   samples/           trajectories with the images the agent saw, for the report
 *
 * A checkpoint is complete when latest.json names it: the policy's save is
 * atomic (weights and optimizer state), then state.json (RNG and data-cursor
 * state), then latest.json, each written to a temporary file, fsynced and renamed.
 */
import { appendFileSync, existsSync, mkdirSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../policy/safetensors.js';
import type { Policy } from '../policy/policy.js';
import { PyVisionError } from '../util/errors.js';
import type { TrainConfig } from './config.js';
import type { CursorState } from './data.js';

/** What a checkpoint holds beside the policy: everything the next step depends on. */
export interface TrainState {
  /** The last completed RL step (0: SFT done, no RL step yet). */
  step: number;
  /** The RL prompt cursor. */
  cursor: CursorState;
  /** Trajectories sampled so far (the rollout budget). */
  rolloutTotal: number;
  /** The run's seed; every random stream derives from it and the counters above. */
  seed: number;
  /** The settings the run was started with (a resume must use the same). */
  config: TrainConfig;
}

const CHECKPOINTS = 'checkpoints';

export function checkpointName(step: number): string {
  return `step-${String(step).padStart(8, '0')}`;
}

async function writeJsonAtomic(path: string, value: unknown): Promise<void> {
  await writeFileAtomic(path, [Buffer.from(JSON.stringify(value, null, 2) + '\n')]);
}

/** The package's version (package.json beside lib/ and dist/lib/). */
export function packageVersion(): string {
  for (const up of ['../../package.json', '../../../package.json']) {
    try {
      const p = JSON.parse(readFileSync(new URL(up, import.meta.url), 'utf8')) as { name?: string; version?: string };
      if (p.name === 'pyvision-rl' && p.version) return p.version;
    } catch {
      // try the next
    }
  }
  return 'unknown';
}

export class RunFolder {
  constructor(readonly dir: string) {
    mkdirSync(join(dir, CHECKPOINTS), { recursive: true });
  }

  /**
   * A fresh run in an existing folder: removes what an earlier run left
   * (checkpoints, samples, TensorBoard files, sft.jsonl, eval-test.jsonl);
   * metrics.jsonl is replaced by its sink.
   */
  reset(): void {
    for (const f of readdirSync(this.dir)) {
      if (f === CHECKPOINTS || f === 'samples' || f === 'sft.jsonl' || f === 'eval-test.jsonl' || f.startsWith('events.out.tfevents')) {
        rmSync(join(this.dir, f), { recursive: true, force: true });
      }
    }
    mkdirSync(join(this.dir, CHECKPOINTS), { recursive: true });
  }

  get metricsPath(): string {
    return join(this.dir, 'metrics.jsonl');
  }

  /** config.json: every setting, the package version, the backend. */
  async writeConfig(config: TrainConfig, extra: Record<string, unknown>): Promise<void> {
    await writeJsonAtomic(join(this.dir, 'config.json'), { ...extra, package: 'pyvision-rl', version: packageVersion(), config });
  }

  /** Saves a complete checkpoint of `step`, then removes all but the newest `keep`. */
  async saveCheckpoint(policy: Policy, state: TrainState, keep: number): Promise<string> {
    const name = checkpointName(state.step);
    const dir = join(this.dir, CHECKPOINTS, name);
    mkdirSync(dir, { recursive: true });
    await policy.save(join(dir, 'policy.safetensors'));
    await writeJsonAtomic(join(dir, 'state.json'), state);
    await writeJsonAtomic(join(this.dir, CHECKPOINTS, 'latest.json'), { step: state.step, checkpoint: name });
    const all = readdirSync(join(this.dir, CHECKPOINTS)).filter((f) => /^step-\d{8}$/.test(f)).sort();
    for (const old of all.slice(0, Math.max(0, all.length - keep))) {
      if (old !== name) rmSync(join(this.dir, CHECKPOINTS, old), { recursive: true, force: true });
    }
    return dir;
  }

  /** The newest complete checkpoint: its folder and state, or null when there is none. */
  latestCheckpoint(): { dir: string; state: TrainState } | null {
    const latest = join(this.dir, CHECKPOINTS, 'latest.json');
    if (!existsSync(latest)) return null;
    let name: string;
    try {
      name = (JSON.parse(readFileSync(latest, 'utf8')) as { checkpoint: string }).checkpoint;
    } catch (error) {
      throw new PyVisionError('E_IO', `${latest}: not a checkpoint pointer (${(error as Error).message})`);
    }
    const dir = join(this.dir, CHECKPOINTS, name);
    const statePath = join(dir, 'state.json');
    try {
      return { dir, state: JSON.parse(readFileSync(statePath, 'utf8')) as TrainState };
    } catch (error) {
      throw new PyVisionError('E_IO', `${statePath}: cannot read the training state (${(error as Error).message})`);
    }
  }

  /** Appends one JSON line (synchronously, so that a kill loses at most the line being written). */
  appendJsonl(file: string, record: unknown): void {
    appendFileSync(join(this.dir, file), JSON.stringify(record) + '\n');
  }
}
