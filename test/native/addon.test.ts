/**
 * Installing the package as a dependency with its install script disabled
 * (npm 11 skips dependencies' install scripts until they are approved, or
 * --ignore-scripts): the package imports, and its first native call fails
 * with E_LOAD and a message that names the fix. The package is the tarball
 * `npm pack` makes (no build/), unpacked into a consumer project's
 * node_modules with its dependencies linked from this checkout (no network).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { packageRoot } from '../../lib/native/addon.js';

const root = packageRoot();
const built = existsSync(join(root, 'dist', 'lib', 'index.js'));
if (!built) console.log('install test skipped: dist/ is not built (run npm install or npm run build)');
const maybe = built ? test : test.skip;

const SCRIPT = `
import * as pv from 'pyvision-rl';
const out = {};
try { await pv.groupAdvantages(new Float32Array([1, 0]), new Int32Array([3, 3])); out.async = 'resolved'; }
catch (e) { out.async = { pyvision: e instanceof pv.PyVisionError, code: e.code, message: e.message }; }
try { pv.backendInfo(); out.sync = 'returned'; }
catch (e) { out.sync = { pyvision: e instanceof pv.PyVisionError, code: e.code }; }
console.log(JSON.stringify(out));
`;

maybe('an install without its install script fails at first use with E_LOAD naming the approval', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pyvision-noscripts-'));
  try {
    const pack = spawnSync('npm', ['pack', '--ignore-scripts', '--pack-destination', dir, root], { encoding: 'utf8' });
    expect(pack.status).toBe(0);
    const tarball = readdirSync(dir).find((name) => name.endsWith('.tgz'))!;
    const consumer = join(dir, 'consumer');
    const installed = join(consumer, 'node_modules', 'pyvision-rl');
    mkdirSync(installed, { recursive: true });
    writeFileSync(join(consumer, 'package.json'), JSON.stringify({ name: 'consumer', version: '1.0.0', type: 'module', private: true }));
    expect(spawnSync('tar', ['-xzf', join(dir, tarball), '-C', installed, '--strip-components=1']).status).toBe(0);
    expect(existsSync(join(installed, 'build'))).toBe(false);
    // The runtime dependencies, as npm would have installed them (linked from this checkout).
    const deps = Object.keys(JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).dependencies as Record<string, string>);
    for (const dep of [...deps, 'file-uri-to-path']) {
      if (existsSync(join(root, 'node_modules', dep))) symlinkSync(join(root, 'node_modules', dep), join(consumer, 'node_modules', dep), 'dir');
    }
    const env = { ...process.env };
    delete env.PYVISION_RL_ADDON;
    const run = spawnSync(process.execPath, ['--input-type=module', '-e', SCRIPT], { cwd: consumer, encoding: 'utf8', env });
    expect(run.status).toBe(0);
    const out = JSON.parse(run.stdout.trim().split('\n').pop()!);
    expect(out.async.pyvision).toBe(true);
    expect(out.async.code).toBe('E_LOAD');
    expect(out.async.message).toContain('npm install-scripts approve pyvision-rl');
    expect(out.async.message).toContain('npm rebuild pyvision-rl');
    expect(out.sync).toEqual({ pyvision: true, code: 'E_LOAD' });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
