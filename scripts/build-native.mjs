// Builds the native addon with cmake-js (run by `npm install`).
// PYVISION_RL_CUDA=auto|on|off selects the CUDA backend (default auto: built
// when CMake finds the CUDA toolkit). PYVISION_RL_NATIVE_ARCH=off compiles the
// CPU backend for the compiler's baseline instruction set instead of this
// machine's (-march=native), e.g. for a binary copied to other machines.
// PYVISION_RL_DEBUG=1 builds with symbols.
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);
const cuda = (process.env.PYVISION_RL_CUDA ?? 'auto').toLowerCase() || 'auto';
if (!['auto', 'on', 'off'].includes(cuda)) {
  console.error(`pyvision-rl: PYVISION_RL_CUDA must be auto, on or off; got '${process.env.PYVISION_RL_CUDA}'`);
  process.exit(1);
}
const nativeArch = (process.env.PYVISION_RL_NATIVE_ARCH ?? 'on').toLowerCase() || 'on';
if (!['on', 'off'].includes(nativeArch)) {
  console.error(`pyvision-rl: PYVISION_RL_NATIVE_ARCH must be on or off; got '${process.env.PYVISION_RL_NATIVE_ARCH}'`);
  process.exit(1);
}
const cmakeJs = join(dirname(require.resolve('cmake-js/package.json')), 'bin', 'cmake-js');
const args = [cmakeJs, 'compile', '--out', join(root, 'build'), `--CDPYVISION_RL_CUDA=${cuda}`, `--CDPYVISION_RL_NATIVE_ARCH=${nativeArch === 'on' ? 'ON' : 'OFF'}`];
if (process.env.PYVISION_RL_DEBUG === '1') args.push('--debug');
const parallel = process.env.CMAKE_BUILD_PARALLEL_LEVEL ?? String(Math.max(1, (await import('node:os')).availableParallelism()));
const started = Date.now();
console.log(`pyvision-rl: building the native addon (PYVISION_RL_CUDA=${cuda}, PYVISION_RL_NATIVE_ARCH=${nativeArch})`);
const run = spawnSync(process.execPath, args, {
  cwd: root,
  stdio: 'inherit',
  env: { ...process.env, CMAKE_BUILD_PARALLEL_LEVEL: parallel },
});
if (run.status !== 0) {
  console.error(`pyvision-rl: native build failed (exit ${run.status ?? run.signal}). See the CMake output above.`);
  process.exit(run.status ?? 1);
}
console.log(`pyvision-rl: native addon built in ${((Date.now() - started) / 1000).toFixed(1)} s`);
