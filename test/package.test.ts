/**
 * The package as users see it: the `pyvision-rl` import resolves from the
 * repository root (package self-reference through `exports`) and from another
 * project that installs it by path, and `pyvision-rl doctor` reports the backend.
 * These run the compiled dist/ that `npm install` builds (the prepare script).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { packageRoot } from '../lib/native/addon.js';

const root = packageRoot();
const built = existsSync(join(root, 'dist', 'lib', 'index.js'));
if (!built) console.log('package tests skipped: dist/ is not built (run npm install or npm run build)');
const maybe = built ? test : test.skip;

const SCRIPT = `
import { groupAdvantages, PyVisionError, backendInfo } from 'pyvision-rl';
const r = await groupAdvantages(new Float32Array([1, 0]), new Int32Array([3, 3]));
let code = '';
try { await groupAdvantages(new Float32Array([NaN]), new Int32Array([0])); } catch (e) { code = e instanceof PyVisionError ? e.code : 'other'; }
console.log(JSON.stringify({ adv: Array.from(r.advantages), code, chosen: backendInfo().chosen }));
`;

function runModule(cwd: string): { adv: number[]; code: string; chosen: string } {
  const run = spawnSync(process.execPath, ['--input-type=module', '-e', SCRIPT], { cwd, encoding: 'utf8' });
  if (run.status !== 0) throw new Error(`node exited ${run.status}: ${run.stderr}`);
  return JSON.parse(run.stdout.trim().split('\n').pop()!);
}

maybe('imports from the repository root (self-reference)', () => {
  const out = runModule(root);
  expect(out.adv).toEqual([0.5, -0.5]);
  expect(out.code).toBe('E_NONFINITE');
});

maybe('imports from another project that installs it by path', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pyvision-consumer-'));
  try {
    writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'consumer', version: '1.0.0', type: 'module', private: true }));
    // A path install links the folder (already built); --ignore-scripts keeps this test from rebuilding it.
    const install = spawnSync('npm', ['install', '--offline', '--ignore-scripts', '--no-audit', '--no-fund', root], {
      cwd: dir,
      encoding: 'utf8',
    });
    expect(install.status).toBe(0);
    const out = runModule(dir);
    expect(out.adv).toEqual([0.5, -0.5]);
    expect(out.code).toBe('E_NONFINITE');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

maybe('pyvision-rl doctor prints the backend report, --json for scripts', () => {
  const cli = join(root, 'dist', 'lib', 'cli', 'main.js');
  const text = spawnSync(process.execPath, [cli, 'doctor'], { encoding: 'utf8' });
  expect(text.status).toBe(0);
  expect(text.stdout).toContain('chosen backend');
  const json = spawnSync(process.execPath, [cli, 'doctor', '--json'], { encoding: 'utf8' });
  const info = JSON.parse(json.stdout);
  expect(info.compiled.cpu).toBe(true);
  expect(['cpu', 'cuda']).toContain(info.chosen);
  expect(typeof info.reason).toBe('string');
  const bad = spawnSync(process.execPath, [cli, 'frobnicate'], { encoding: 'utf8' });
  expect(bad.status).toBe(2);
});

maybe('a missing or broken addon is reported as E_LOAD, not a crash', () => {
  const script = `
import { groupAdvantages, PyVisionError } from 'pyvision-rl';
try { await groupAdvantages(new Float32Array([1]), new Int32Array([0])); console.log('loaded'); }
catch (e) { console.log(e instanceof PyVisionError ? e.code + ' ' + e.message : 'other ' + e); }
`;
  const run = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
    cwd: root,
    encoding: 'utf8',
    env: { ...process.env, PYVISION_RL_ADDON: join(root, 'no-such-addon.node') },
  });
  expect(run.status).toBe(0);
  expect(run.stdout).toMatch(/^E_LOAD cannot load the pyvision-rl native addon/);
});

describe('build options', () => {
  const cmake = spawnSync('cmake', ['--version'], { encoding: 'utf8' });
  const hasCmake = cmake.status === 0;
  if (!hasCmake) console.log('build option tests skipped: cmake is not on PATH');
  // A PATH without the CUDA toolkit: the system directories only.
  const bare = { ...process.env, PATH: '/usr/bin:/bin', CUDACXX: '' };

  function configure(args: string[]): { status: number | null; output: string } {
    const dir = mkdtempSync(join(tmpdir(), 'pyvision-cmake-'));
    try {
      const run = spawnSync('cmake', ['-S', root, '-B', dir, ...args], { encoding: 'utf8', env: bare });
      return { status: run.status, output: run.stdout + run.stderr };
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }

  (hasCmake ? test : test.skip)('PYVISION_RL_CUDA=on without a toolkit fails with a clear message; auto falls back to CPU only', () => {
    const on = configure(['-DPYVISION_RL_CUDA=on']);
    expect(on.status).not.toBe(0);
    expect(on.output).toContain('PYVISION_RL_CUDA=on but no CUDA compiler was found');
    const auto = configure([]);
    expect(auto.status).toBe(0);
    expect(auto.output).toContain('pyvision-rl: CUDA backend OFF');
    const bad = configure(['-DPYVISION_RL_CUDA=maybe']);
    expect(bad.status).not.toBe(0);
    expect(bad.output).toContain('PYVISION_RL_CUDA must be auto, on or off');
  });
});
