/**
 * The command line: --help of every command, usage errors exit 2 and runtime
 * errors exit 1, both as `pyvision-rl: E_CODE: message` without a stack
 * unless --debug / PYVISION_RL_DEBUG; the training flags generated from the
 * config's fields map onto them (the ablation shortcuts included); `report`
 * writes report.html. In-process through runCli, and the built executable
 * (dist/lib/cli/main.js, built by npm install) spawned as users run it.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';

import { addConfigFlags, configDocs, flagName, settingsFromFlags } from '../../lib/cli/config-flags.js';
import { buildProgram, runCli } from '../../lib/cli/program.js';
import { packageRoot } from '../../lib/native/addon.js';
import { CONFIG_KEYS, mergeConfig } from '../../lib/train/config.js';
import { RECIPES } from '../../lib/train/recipes/index.js';
import { worldNames } from '../../lib/train/trainer.js';
import { writeSyntheticRun } from '../report/fixture.js';

async function cli(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await runCli(argv, { stdout: (t) => (out += t), stderr: (t) => (err += t) });
  return { code, out, err };
}

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'pyvision-cli-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('flags from the config', () => {
  function parse(argv: string[]): ReturnType<typeof settingsFromFlags> {
    const command = addConfigFlags(new Command('train').exitOverride().action(() => undefined));
    command.parse(argv, { from: 'user' });
    return settingsFromFlags(command);
  }

  test('every config field has a flag and a doc line', () => {
    const docs = configDocs();
    const program = buildProgram();
    const train = program.commands.find((c) => c.name() === 'train')!;
    const longs = new Set(train.options.map((o) => o.long));
    for (const key of CONFIG_KEYS) {
      expect(longs.has(`--${flagName(key)}`)).toBe(true);
      expect(docs[key]?.length ?? 0).toBeGreaterThan(5);
    }
    expect(flagName('outDir')).toBe('out');
    expect(worldNames()).toContain('visual-search'); // the built-in world, registered by the command line
    expect(flagName('toolRewardCoef')).toBe('tool-reward-coef');
  });

  test('only the flags given become settings; each maps onto its field', () => {
    expect(parse([])).toEqual({});
    const settings = parse([
      '--recipe', 'grpo', '--seed', '7', '--steps', '3', '--sft-steps', '0', '--out', join(dir, 'r'), '--resume',
      '--lr', '1e-3', '--max-turns', '2', '--keep-end-reasons', 'DONE, OVER_LENGTH', '--world-options', '{"firstViewShare":0}',
      '--dual-clip', 'none', '--no-zero-variance-filter', '--error-feedback', '--init-checkpoint', 'none',
    ]);
    expect(settings).toEqual({
      recipe: 'grpo', seed: 7, steps: 3, sftSteps: 0, outDir: join(dir, 'r'), resume: true, lr: 1e-3, maxTurns: 2,
      keepEndReasons: ['DONE', 'OVER_LENGTH'], worldOptions: { firstViewShare: 0 }, dualClip: null, zeroVarianceFilter: false,
      errorFeedback: true, initCheckpoint: null,
    });
    expect(() => mergeConfig(settings, RECIPES)).not.toThrow();
  });

  test('the ablation shortcuts set the fields of agent.md section 5', () => {
    expect(parse(['--tool-reward', '0'])).toEqual({ toolRewardCoef: 0 });
    expect(parse(['--no-std-rank'])).toEqual({ rank: 'none' });
    expect(parse(['--std-norm'])).toEqual({ advantageScale: 'group-std' });
    expect(parse(['--no-tool-image-filter'])).toEqual({ requireToolImage: false });
    expect(parse(['--max-turns', '2'])).toEqual({ maxTurns: 2 });
    const config = mergeConfig(parse(['--no-std-rank', '--std-norm']), RECIPES);
    expect([config.rank, config.advantageScale, config.toolRewardCoef]).toEqual(['none', 'group-std', 0.1]);
  });

  test('--config reads settings or a run folder config.json; flags override it', () => {
    const plain = join(dir, 'settings.json');
    writeFileSync(plain, JSON.stringify({ steps: 9, lr: 0.5 }));
    expect(parse(['--config', plain, '--lr', '0.25'])).toEqual({ steps: 9, lr: 0.25 });
    const run = join(dir, 'config.json');
    writeFileSync(run, JSON.stringify({ package: 'pyvision-rl', version: '0.1.0', backend: 'cpu', config: { recipe: 'grpo', seed: 3 } }));
    expect(parse(['--config', run])).toEqual({ recipe: 'grpo', seed: 3 });
    writeFileSync(join(dir, 'bad.json'), '[1]');
    expect(() => parse(['--config', join(dir, 'bad.json')])).toThrow(/expected a JSON object of settings/);
  });
});

describe('exit codes and error lines', () => {
  test('--help of the program and of every command exits 0', async () => {
    for (const command of [[], ['train'], ['eval'], ['report'], ['experiment'], ['doctor']]) {
      const r = await cli(...command, '--help');
      expect(r.code).toBe(0);
      expect(r.err).toBe('');
    }
    const top = await cli('--help');
    for (const name of ['train', 'eval', 'report', 'experiment', 'doctor']) expect(top.out).toContain(name);
    expect((await cli()).code).toBe(0);
    expect((await cli('--version')).out.trim()).toMatch(/^\d+\.\d+\.\d+/);
  });

  test('usage errors exit 2 with one E_ARG line', async () => {
    const cases: Array<[string[], RegExp]> = [
      [['frobnicate'], /unknown command 'frobnicate'/],
      [['train', '--frob'], /unknown option '--frob' \(see 'pyvision-rl train --help'\)/],
      [['train', '--lr', 'abc'], /--lr <n>.*'abc' is invalid/],
      [['train', '--lr', '-1'], /config\.lr must be a finite number >= 0, got -1/],
      [['train', '--recipe', 'ppo'], /config\.recipe must be one of 'pyvision-rl', 'grpo'/],
      [['train', '--world-options', '[1]'], /--world-options must be a JSON object/],
      [['train', '--max-turns'], /argument missing/],
      [['eval'], /required option '--checkpoint <dir>' not specified/],
      [['eval', '--checkpoint', dir, '--split', 'dev'], /Allowed choices are test, val/],
      [['report'], /missing required argument 'dir'/],
      [['experiment', 'nonsense'], /Allowed choices are collapse, ablations/],
      [['experiment', 'collapse', '--seeds', '0'], /--seeds must be a positive integer/],
    ];
    for (const [argv, message] of cases) {
      const r = await cli(...argv);
      expect({ argv, code: r.code }).toEqual({ argv, code: 2 });
      expect(r.err).toMatch(/^pyvision-rl: E_ARG: /);
      expect(r.err).toMatch(message);
      expect(r.err.trimEnd().split('\n')).toHaveLength(1);
    }
  });

  test('runtime errors exit 1 with their code, the stack only with --debug or PYVISION_RL_DEBUG', async () => {
    const missing = join(dir, 'missing');
    const r = await cli('report', missing);
    expect(r.code).toBe(1);
    expect(r.err).toBe(`pyvision-rl: E_IO: run folder ${missing} does not exist\n`);
    const debug = await cli('--debug', 'report', missing);
    expect(debug.code).toBe(1);
    expect(debug.err).toMatch(/^pyvision-rl: E_IO: run folder .* does not exist\nPyVisionError: .*\n\s+at /);
    process.env.PYVISION_RL_DEBUG = '1';
    try {
      expect((await cli('report', missing)).err).toMatch(/\n\s+at /);
    } finally {
      delete process.env.PYVISION_RL_DEBUG;
    }
    const evalMissing = await cli('eval', '--checkpoint', missing);
    expect(evalMissing.code).toBe(1);
    expect(evalMissing.err).toMatch(/^pyvision-rl: E_IO: --checkpoint .*missing does not exist\n$/);
    const notACheckpoint = await cli('eval', '--checkpoint', dir);
    expect(notACheckpoint.code).toBe(2);
    expect(notACheckpoint.err).toMatch(/is neither a checkpoint folder/);
  });
});

// The executable as users run it: the dist/ that npm install builds.
const main = join(packageRoot(), 'dist', 'lib', 'cli', 'main.js');
const built = existsSync(main);
if (!built) console.log('CLI executable tests skipped: dist/ is not built (run npm install or npm run build)');
const maybe = built ? test : test.skip;

function run(args: string[], env: Record<string, string> = {}): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [main, ...args], { encoding: 'utf8', env: { ...process.env, ...env } });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

maybe('the executable: help, version, exit codes, error lines', () => {
  const help = run(['train', '--help']);
  expect(help.status).toBe(0);
  for (const flag of ['--recipe', '--config', '--out', '--seed', '--steps', '--sft-steps', '--resume', '--tool-reward', '--no-std-rank', '--std-norm', '--max-turns', '--no-tool-image-filter']) {
    expect(help.stdout).toContain(flag);
  }
  const usage = run(['train', '--steps', 'x']);
  expect(usage.status).toBe(2);
  expect(usage.stderr).toMatch(/^pyvision-rl: E_ARG: /);
  const runtime = run(['report', join(dir, 'nope')], { PYVISION_RL_DEBUG: '' });
  expect(runtime.status).toBe(1);
  expect(runtime.stderr).toMatch(/^pyvision-rl: E_IO: run folder .*nope does not exist\n$/);
});

maybe('the executable: report DIR DIR writes one report of both runs', async () => {
  const a = join(dir, 'run-a');
  const b = join(dir, 'run-b');
  await writeSyntheticRun(a, { steps: 4 });
  await writeSyntheticRun(b, { steps: 4, bias: 1 });
  // one run: report.html in its folder (in-process)
  expect(await cli('report', a)).toMatchObject({ code: 0, err: '' });
  expect(existsSync(join(a, 'report.html'))).toBe(true);
  const r = run(['report', a, b, '--out', join(dir, 'both.html')]);
  expect(r.stderr).toBe('');
  expect(r.status).toBe(0);
  expect(r.stdout.trim()).toBe(join(dir, 'both.html'));
  expect(existsSync(join(dir, 'both.html'))).toBe(true);
});
