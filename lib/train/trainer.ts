/**
 * The trainer: SFT cold start, then RL steps (lib/train/step.ts), evaluation,
 * metrics to sinks, checkpoints and exact resume. `train(config)` runs it all;
 * a TypeScript loop can drive a `Trainer` itself:
 *
 *   const trainer = await Trainer.create({ steps: 10 }, { sinks: [mySink] });
 *   await trainer.sft();
 *   while (!trainer.done) await trainer.step();
 *   const test = await trainer.evaluate('test');
 *   await trainer.close();
 */
import { join } from 'node:path';
import { Policy } from '../policy/policy.js';
import type { Trajectory } from '../rollout/types.js';
import type { Task, World } from '../worlds/world.js';
import { backendInfo } from '../native/backend.js';
import { PyVisionError } from '../util/errors.js';
import { rollout as defaultRollout } from '../rollout/rollout.js';
import { replayExpert as defaultReplayExpert } from '../rollout/expert.js';
import { VisualSearchWorld, type VisualSearchCreateOptions } from '../worlds/visual-search/world.js';
import { mergeConfig, trainBatchSize, genBatchPrompts, type TrainConfig } from './config.js';
import { DataCursor } from './data.js';
import { evaluate, type EvalResult } from './evaluate.js';
import { RECIPES } from './recipes/index.js';
import { hash32, STREAM } from './rng.js';
import { RunFolder, type TrainState } from './run.js';
import { openRunMetrics, ProgressSink, type ProgressSinkOptions } from '../metrics/index.js';
import { sampleFromTrajectory, writeSamples } from '../metrics/samples.js';
import { sftStep, type ExpertReplayFn, type SftStepRecord } from './sft.js';
import { rlStep, type RolloutFn, type StepOutcome } from './step.js';
import { stepRecord, valRecord } from './step-metrics.js';
import type { MetricsRecord, MetricsSink } from '../metrics/types.js';


/** A world factory: the built-in worlds and a user's own, by name (config.world). */
export type WorldFactory = (options: Record<string, unknown>, seed: number) => World | Promise<World>;

const WORLDS = new Map<string, WorldFactory>();

/** Makes `config.world: name` build worlds with `factory(config.worldOptions, config.seed)`. */
export function registerWorld(name: string, factory: WorldFactory): void {
  WORLDS.set(name, factory);
}

// the built-in world: its documented knobs are config.worldOptions
registerWorld('visual-search', (options) => VisualSearchWorld.create(options as VisualSearchCreateOptions));

export function worldNames(): string[] {
  return [...WORLDS.keys()];
}


export interface TrainHooks {
  /** Use this world instead of building config.world. */
  world?: World;
  /** The rollout engine (default: lib/rollout's rollout). */
  rollout?: RolloutFn;
  /** The expert replay of SFT (default: lib/rollout's replayExpert). */
  replayExpert?: ExpertReplayFn;
  /** More sinks of the per-step records (with a run folder, metrics.jsonl and TensorBoard files are always written). */
  sinks?: MetricsSink[];
  /** Console progress of the RL steps (lib/metrics ProgressSink; totalSteps and startStep are filled in); omitted: none. */
  progress?: Omit<ProgressSinkOptions, 'totalSteps' | 'startStep'>;
  /** Called after each SFT step. */
  onSftStep?: (record: SftStepRecord & { valAcc?: number }) => void;
  /** Called after each RL step with its record and what the step produced. */
  onStep?: (record: MetricsRecord, outcome: StepOutcome) => void;
  /** Called with a line of progress text (phases, evaluations). */
  log?: (line: string) => void;
}

export interface TrainResult {
  /** The run folder (null without one). */
  outDir: string | null;
  /** RL steps completed. */
  steps: number;
  /** Trajectories sampled in RL. */
  rolloutTotal: number;
  /** The final test-split evaluation (and with the tools disabled). */
  test: EvalResult | null;
  testNoTools: EvalResult | null;
  /** The last validation. */
  val: EvalResult | null;
  /** Wall time of the whole run, seconds. */
  seconds: number;
  /** The final checkpoint's folder. */
  checkpoint: string | null;
  config: TrainConfig;
}

export class Trainer {
  readonly config: TrainConfig;
  readonly policy: Policy;
  readonly world: World;
  readonly run: RunFolder | null;
  #hooks: TrainHooks;
  #sinks: MetricsSink[];
  #rollout: RolloutFn;
  #replayExpert: ExpertReplayFn | undefined;
  #trainTasks: Task[];
  #valTasks: Task[];
  #cursor: DataCursor<Task>;
  #sftCursor: DataCursor<Task>;
  #step = 0;
  #rolloutTotal = 0;
  #sftDone = false;
  #lastVal: EvalResult | null = null;
  #lastCheckpoint: string | null = null;
  #started = performance.now();

  private constructor(init: {
    config: TrainConfig;
    policy: Policy;
    world: World;
    run: RunFolder | null;
    hooks: TrainHooks;
    sinks: MetricsSink[];
    rollout: RolloutFn;
    replayExpert: ExpertReplayFn | undefined;
    state: TrainState | null;
  }) {
    this.config = init.config;
    this.policy = init.policy;
    this.world = init.world;
    this.run = init.run;
    this.#hooks = init.hooks;
    this.#sinks = init.sinks;
    this.#rollout = init.rollout;
    this.#replayExpert = init.replayExpert;
    const c = init.config;
    this.#trainTasks = this.world.tasks('train', c.trainTasks, c.seed);
    this.#valTasks = c.valTasks > 0 ? this.world.tasks('val', c.valTasks, c.seed) : [];
    this.#cursor = new DataCursor(this.#trainTasks, c.seed, STREAM.dataOrder, init.state?.cursor);
    this.#sftCursor = new DataCursor(this.#trainTasks, c.seed, STREAM.sft);
    if (init.state) {
      this.#step = init.state.step;
      this.#rolloutTotal = init.state.rolloutTotal;
      this.#sftDone = true;
    }
  }

  /** Validates the config, builds the world and the policy (fresh, or from the run's latest checkpoint with `resume`). */
  static async create(settings?: Partial<TrainConfig>, hooks: TrainHooks = {}): Promise<Trainer> {
    const config = mergeConfig(settings, RECIPES);
    let world = hooks.world;
    if (!world) {
      const factory = WORLDS.get(config.world);
      if (!factory) {
        throw new PyVisionError('E_ARG', `config.world must be one of ${worldNames().map((w) => `'${w}'`).join(', ') || '(none registered)'}, got '${config.world}'`);
      }
      world = await factory(config.worldOptions, config.seed);
    }
    const rollout = hooks.rollout ?? (defaultRollout as RolloutFn);
    const replayExpert: ExpertReplayFn =
      hooks.replayExpert ??
      ((r) => defaultReplayExpert({ ...r, maxTurns: config.maxTurns, maxImages: config.maxImages, errorFeedback: config.errorFeedback }));
    const run = config.outDir === null ? null : new RunFolder(config.outDir);
    let state: TrainState | null = null;
    let policy: Policy;
    const runtime = { backend: config.backend, ...(config.threads > 0 ? { threads: config.threads } : {}) };
    const latest = run && config.resume ? run.latestCheckpoint() : null;
    if (latest) {
      state = latest.state;
      assertSameRun(state.config, config);
      policy = await Policy.load(join(latest.dir, 'policy.safetensors'), runtime);
    } else if (config.initCheckpoint) {
      policy = await Policy.load(config.initCheckpoint, { ...runtime, optimizer: false });
    } else {
      const shape = world.policyConfig(config.maxSeqLen > 0 ? { maxSeqLen: config.maxSeqLen } : {});
      policy = await Policy.create({ ...shape, layers: config.layers, heads: config.heads, dim: config.dim, seed: hash32(config.seed, STREAM.policyInit), ...runtime });
    }
    if (run && !latest) run.reset();
    if (run) {
      await run.writeConfig(config, { backend: policy.backend, policy: policy.config, parameters: policy.parameterCount, world: world.name, resumedFromStep: state?.step ?? null, backendInfo: backendInfo() });
    }
    const progress = hooks.progress ? { ...hooks.progress, totalSteps: config.steps, startStep: state?.step ?? 0 } : undefined;
    // metrics.jsonl and TensorBoard in the run folder; a resumed run rewrites the steps after its checkpoint
    const sinks: MetricsSink[] = run
      ? [openRunMetrics(run.dir, { resumeStep: state ? state.step + 1 : undefined, progress, extraSinks: hooks.sinks })]
      : [...(hooks.sinks ?? [])];
    if (!run && progress) sinks.push(new ProgressSink(progress));
    return new Trainer({ config, policy, world, run, hooks, sinks, rollout, replayExpert, state });
  }

  /** RL steps completed. */
  get stepCount(): number {
    return this.#step;
  }

  /** Trajectories sampled in RL so far. */
  get rolloutTotal(): number {
    return this.#rolloutTotal;
  }

  /** Whether the RL steps (or the rollout budget) are used up. */
  get done(): boolean {
    const c = this.config;
    return this.#step >= c.steps || (c.rolloutBudget > 0 && this.#rolloutTotal >= c.rolloutBudget);
  }

  #log(line: string): void {
    this.#hooks.log?.(line);
  }

  async #emit(step: number, record: MetricsRecord): Promise<void> {
    for (const sink of this.#sinks) await sink.write(step, record);
  }

  #state(): TrainState {
    return { step: this.#step, cursor: this.#cursor.state, rolloutTotal: this.#rolloutTotal, seed: this.config.seed, config: this.config };
  }

  async #checkpoint(): Promise<void> {
    if (!this.run) return;
    this.#lastCheckpoint = await this.run.saveCheckpoint(this.policy, this.#state(), this.config.keepCheckpoints);
  }

  /** Evaluates on the validation tasks (and with tools disabled); returns the val/ keys. */
  async #validate(step: number): Promise<MetricsRecord> {
    const c = this.config;
    if (this.#valTasks.length === 0) return {};
    const t0 = performance.now();
    const { result, trajectories } = await this.#evaluateOn(this.#valTasks, false, step);
    const noTools = c.evalNoTools ? (await this.#evaluateOn(this.#valTasks, true, step)).result : null;
    this.#lastVal = result;
    if (this.run && c.samplesPerEval > 0) {
      writeSamples(this.run.dir, step, trajectories.slice(0, c.samplesPerEval).map(sampleFromTrajectory));
    }
    this.#log(`val step ${step}: acc ${result.acc.toFixed(3)}, tool calls ${result.tool_call_mean.toFixed(2)}${noTools ? `, acc without tools ${noTools.acc.toFixed(3)}` : ''}`);
    return { ...valRecord(result, noTools), 'timing/val': (performance.now() - t0) / 1000 };
  }

  #evaluateOn(tasks: readonly Task[], toolsDisabled: boolean, step: number): Promise<{ result: EvalResult; trajectories: Trajectory[] }> {
    const c = this.config;
    return evaluate(this.policy, this.world, tasks, {
      rollout: this.#rollout,
      maxTurns: c.evalMaxTurns,
      temperature: c.evalTemperature,
      maxTurnTokens: c.maxTurnTokens,
      maxImages: c.maxImages,
      errorFeedback: c.errorFeedback,
      seed: hash32(c.seed, STREAM.eval, step),
      toolsDisabled,
    });
  }

  /**
   * Stage 1: sftSteps steps on the expert's trajectories, validation every
   * sftValEvery steps; then the optimizer state is reset, step 0 is evaluated
   * and checkpointed. Does nothing when resuming past it.
   */
  async sft(): Promise<void> {
    if (this.#sftDone) return;
    const c = this.config;
    if (c.sftSteps > 0) {
      if (!this.#replayExpert) throw new PyVisionError('E_ARG', 'SFT needs an expert replay: pass hooks.replayExpert (or set sftSteps 0)');
      this.#log(`sft: ${c.sftSteps} steps of ${c.sftBatch} expert trajectories`);
      for (let s = 1; s <= c.sftSteps; s++) {
        const r = await sftStep(this.policy, this.world, this.#sftCursor, this.#replayExpert, c, s);
        const record: SftStepRecord & { valAcc?: number } = { ...r };
        if (c.sftValEvery > 0 && s % c.sftValEvery === 0 && s < c.sftSteps && this.#valTasks.length > 0) {
          record.valAcc = (await this.#evaluateOn(this.#valTasks, false, -s)).result.acc;
          this.#log(`sft step ${s}: loss ${r.loss.toFixed(4)}, val acc ${record.valAcc.toFixed(3)}`);
        }
        this.run?.appendJsonl('sft.jsonl', record);
        this.#hooks.onSftStep?.(record);
      }
      // RL starts with fresh AdamW moments, as from a loaded SFT checkpoint
      await this.policy.setTensors(await this.policy.tensors());
    }
    this.#sftDone = true;
    const record: MetricsRecord = { step: 0, ...(await this.#validate(0)), 'rollout/total': 0 };
    await this.#emit(0, record);
    await this.#checkpoint();
  }

  /** One RL step (SFT first if it has not run); validation and checkpoint on their schedule. Returns the step's record. */
  async step(): Promise<MetricsRecord> {
    if (!this.#sftDone) await this.sft();
    if (this.done) throw new PyVisionError('E_ARG', `the run is done (${this.#step} of ${this.config.steps} steps)`);
    const c = this.config;
    const step = this.#step + 1;
    const outcome = await rlStep({
      policy: this.policy,
      world: this.world,
      cursor: this.#cursor,
      rollout: this.#rollout,
      settings: c,
      step,
    });
    this.#rolloutTotal += outcome.generated.trajectories.length;
    this.#step = step;
    let record = stepRecord(step, outcome, { lr: c.lr, correctThreshold: c.correctThreshold, rolloutTotal: this.#rolloutTotal });
    const last = this.done;
    if ((c.valEvery > 0 && step % c.valEvery === 0) || last) record = { ...record, ...(await this.#validate(step)) };
    await this.#emit(step, record);
    this.#hooks.onStep?.(record, outcome);
    if ((c.checkpointEvery > 0 && step % c.checkpointEvery === 0) || last) await this.#checkpoint();
    return record;
  }

  /** Evaluates the current policy on a split (evaluation settings of the config). */
  async evaluate(split: 'val' | 'test' = 'test', opts: { toolsDisabled?: boolean; tasks?: number } = {}): Promise<EvalResult> {
    const c = this.config;
    const n = opts.tasks ?? (split === 'test' ? c.testTasks : c.valTasks);
    const tasks = split === 'val' && n === c.valTasks ? this.#valTasks : this.world.tasks(split, n, c.seed);
    const { result } = await this.#evaluateOn(tasks, opts.toolsDisabled ?? false, 1_000_000_000 + (split === 'test' ? 1 : 0));
    return result;
  }

  /** SFT, every RL step, the final test evaluation (written to eval-test.json). */
  async runAll(): Promise<TrainResult> {
    await this.sft();
    while (!this.done) await this.step();
    const c = this.config;
    let test: EvalResult | null = null;
    let testNoTools: EvalResult | null = null;
    if (c.testTasks > 0) {
      test = await this.evaluate('test');
      testNoTools = c.evalNoTools ? await this.evaluate('test', { toolsDisabled: true }) : null;
      this.#log(`test: acc ${test.acc.toFixed(3)}, tool calls ${test.tool_call_mean.toFixed(2)}${testNoTools ? `, acc without tools ${testNoTools.acc.toFixed(3)}` : ''}`);
      this.run?.appendJsonl('eval-test.jsonl', { step: this.#step, test, testNoTools });
    }
    return {
      outDir: this.run?.dir ?? null,
      steps: this.#step,
      rolloutTotal: this.#rolloutTotal,
      test,
      testNoTools,
      val: this.#lastVal,
      seconds: (performance.now() - this.#started) / 1000,
      checkpoint: this.#lastCheckpoint,
      config: this.config,
    };
  }

  /** Closes the sinks and frees the policy. */
  async close(): Promise<void> {
    for (const sink of this.#sinks) await sink.close();
    this.policy.dispose();
  }
}

function assertSameRun(saved: TrainConfig, now: TrainConfig): void {
  for (const key of Object.keys(saved) as (keyof TrainConfig)[]) {
    if (key === 'resume' || key === 'threads' || key === 'backend' || key === 'outDir' || key === 'steps' || key === 'rolloutBudget') continue;
    if (JSON.stringify(saved[key]) !== JSON.stringify(now[key])) {
      throw new PyVisionError('E_ARG', `config.${key} is ${JSON.stringify(now[key])} but the run being resumed used ${JSON.stringify(saved[key])}`);
    }
  }
}

/** Runs a whole training (SFT, RL, the final test evaluation) and frees everything. */
export async function train(config?: Partial<TrainConfig>, hooks?: TrainHooks): Promise<TrainResult> {
  const trainer = await Trainer.create(config, hooks);
  try {
    return await trainer.runAll();
  } finally {
    await trainer.close();
  }
}

export { trainBatchSize, genBatchPrompts };
