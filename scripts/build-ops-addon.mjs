// Builds the test-only addon build/Release/pyvision_rl_ops.node (the per-op
// harness of native/ops_addon, CMake target pyvision_rl_ops, outside the
// default build) in the build folder that scripts/build-native.mjs configured,
// with the same settings (CUDA backend or not). `npm test` runs it first
// (pretest); with nothing changed it is a no-op. PYVISION_RL_OPS_ADDON naming
// another build of it skips this.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

if (process.env.PYVISION_RL_OPS_ADDON) process.exit(0);
const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const build = join(root, 'build');
if (!existsSync(join(build, 'CMakeCache.txt'))) {
  console.error('pyvision-rl: build/ is not configured; build the addon first (`npm run build` or `npm install`)');
  process.exit(1);
}
const parallel = process.env.CMAKE_BUILD_PARALLEL_LEVEL ?? String(Math.max(1, (await import('node:os')).availableParallelism()));
const run = spawnSync('cmake', ['--build', build, '--target', 'pyvision_rl_ops'], {
  cwd: root,
  stdio: 'inherit',
  env: { ...process.env, CMAKE_BUILD_PARALLEL_LEVEL: parallel },
});
if (run.status !== 0) {
  console.error(`pyvision-rl: building the test addon pyvision_rl_ops failed (exit ${run.status ?? run.signal}). See the CMake output above.`);
  process.exit(run.status ?? 1);
}
