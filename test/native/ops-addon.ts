/**
 * The test-only addon build/Release/pyvision_rl_ops.node: the per-op harness
 * (native/ops_addon) that runs one PolicyOps op (core/policy_ops.h) at a time,
 * for test/policy/policy-ops.test.ts and the matmul row of
 * bench/policy.bench.ts. It is not part of the production addon nor of its
 * type (lib/native/addon.ts). `npm run build:ops` builds it; `npm test` runs
 * that first. PYVISION_RL_OPS_ADDON may name another build of it.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';

import { packageRoot, type NativeBackend } from '../../lib/native/addon.js';
import { PyVisionError } from '../../lib/util/errors.js';

export interface OpsAddon {
  setErrorClass(cls: typeof PyVisionError): void;
  /**
   * Runs one op on `backend`: `arrays` are uploaded, the op's outputs written
   * back into them. Resolves with the op's scalar result (sumSquares) or
   * undefined; with sizes.repeat = k > 0, with the seconds per call of k more calls.
   */
  policyOpRun(args: {
    backend: NativeBackend;
    op: string;
    arrays: Record<string, Float32Array | Int32Array>;
    sizes: Record<string, number>;
  }): Promise<number | undefined>;
}

let loaded: OpsAddon | undefined;

export function opsAddon(): OpsAddon {
  if (loaded) return loaded;
  const path = process.env.PYVISION_RL_OPS_ADDON || join(packageRoot(), 'build', 'Release', 'pyvision_rl_ops.node');
  if (!existsSync(path)) {
    throw new PyVisionError('E_LOAD', `the test addon ${path} is not built: run \`npm run build:ops\` (npm test runs it first)`);
  }
  const addon = createRequire(import.meta.url)(path) as OpsAddon;
  addon.setErrorClass(PyVisionError);
  loaded = addon;
  return addon;
}
