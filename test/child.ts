/**
 * Runs a script against the library in a child process, so that a crash, an
 * abort or a hang fails the test that caused it instead of the test run.
 *
 * The library is transpiled from lib/ (TypeScript's transpileModule, no type
 * check) into a temporary folder under node_modules/.cache once per test file
 * (so that its imports of dependencies resolve), and the child runs the
 * sources under test, not a possibly stale dist/. The child loads the addon
 * this test run uses (PYVISION_RL_ADDON, else build/Release) and runs under an
 * address-space limit, as in a container.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import ts from 'typescript';

import { packageRoot } from '../lib/native/addon.js';

let compiled: string | undefined;

function transpileTree(from: string, to: string): void {
  for (const name of readdirSync(from)) {
    const source = join(from, name);
    if (statSync(source).isDirectory()) {
      transpileTree(source, join(to, name));
    } else if (name.endsWith('.ts') && !name.endsWith('.d.ts')) {
      const out = ts.transpileModule(readFileSync(source, 'utf8'), {
        compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 },
        fileName: source,
      });
      mkdirSync(to, { recursive: true });
      writeFileSync(join(to, name.replace(/\.ts$/, '.js')), out.outputText);
    }
  }
}

/** The transpiled lib/index.js (built on first use, removed at exit). */
export function compiledLibrary(): string {
  if (compiled) return compiled;
  const cache = join(packageRoot(), 'node_modules', '.cache');
  mkdirSync(cache, { recursive: true });
  const dir = mkdtempSync(join(cache, 'pyvision-child-'));
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ type: 'module', private: true }));
  transpileTree(join(packageRoot(), 'lib'), join(dir, 'lib'));
  process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
  compiled = join(dir, 'lib', 'index.js');
  return compiled;
}

export interface ChildResult {
  /** exit status (null when killed by a signal or the timeout) */
  status: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** the last stdout line parsed as JSON, when it is JSON */
  result: unknown;
}

export interface ChildOptions {
  /** address-space limit of the child in GiB (ulimit -v). Default 6. */
  memoryGiB?: number;
  /** wall-clock limit in ms; past it the child is killed. Default 30000. */
  timeoutMs?: number;
  /** extra environment */
  env?: Record<string, string>;
}

/**
 * Runs `body` as an ES module in a child node process. `body` sees `pv` (the
 * library), `libDir` (its transpiled lib/ folder) and `report(value)`, which prints the JSON the test receives as
 * `result`. A rejected promise in `body` is reported as
 * `{ thrown: { name, code, message } }`.
 */
export function runChild(body: string, opts: ChildOptions = {}): ChildResult {
  const library = compiledLibrary();
  const addon = process.env.PYVISION_RL_ADDON || join(packageRoot(), 'build', 'Release', 'pyvision_rl.node');
  const script = `
import * as pv from ${JSON.stringify(library)};
const libDir = ${JSON.stringify(dirname(library))};
const report = (value) => console.log(JSON.stringify(value));
const describeError = (e) => ({ name: e?.constructor?.name, code: e?.code, message: String(e?.message) });
try {
${body}
} catch (e) {
  report({ thrown: describeError(e) });
}
`;
  const kib = Math.round((opts.memoryGiB ?? 6) * 1024 * 1024);
  const run = spawnSync('bash', ['-c', `ulimit -v ${kib} && exec "$0" --input-type=module -e "$1"`, process.execPath, script], {
    encoding: 'utf8',
    timeout: opts.timeoutMs ?? 30000,
    killSignal: 'SIGKILL',
    env: { ...process.env, PYVISION_RL_ADDON: addon, ...opts.env },
    cwd: dirname(library),
  });
  const lines = (run.stdout ?? '').trim().split('\n');
  let result: unknown;
  try {
    result = JSON.parse(lines[lines.length - 1]);
  } catch {
    result = undefined;
  }
  return { status: run.status, signal: run.signal, stdout: run.stdout ?? '', stderr: run.stderr ?? '', result };
}

/** Fails with the child's output unless it exited 0 (no crash, no abort, no timeout). */
export function expectClean(child: ChildResult): unknown {
  if (child.status !== 0) {
    throw new Error(
      `the child process ${child.signal ? `was killed by ${child.signal}` : `exited with status ${child.status}`}` +
        `\nstdout: ${child.stdout.slice(-2000)}\nstderr: ${child.stderr.slice(-2000)}`,
    );
  }
  return child.result;
}
