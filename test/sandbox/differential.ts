/**
 * The differential harness: runs programs through CPython (one python3
 * process for a whole batch, test/reference/sandbox_twin.py) and through the
 * sandbox, and compares printed output, shown images (sizes and pixels) and
 * exception class names, turn by turn.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PythonSandbox } from '../../lib/sandbox/index.js';
import { testGlobals } from './fake_host.js';

const here = dirname(fileURLToPath(import.meta.url));
const TWIN = join(here, '..', 'reference', 'sandbox_twin.py');

export interface Program {
  name: string;
  /** Sources run one after the other in one sandbox (state persists). */
  turns: string[];
  /** Sandbox-only case (CPython accepts it, the subset does not): the class the last turn must raise. */
  sandboxOnly?: string;
}

export interface TurnResult {
  output: string;
  error: string | null;
  images: [number, number, number[]][];
  /** The sandbox's message (for reports). */
  message?: string;
}

/** Whether python3 is 3.11 (the reference); a reason string when it cannot be used. */
export function pythonUnavailable(): string | null {
  const r = spawnSync('python3', ['-c', 'import sys; print(sys.version_info[:2] >= (3, 11))'], { encoding: 'utf8' });
  if (r.error || r.status !== 0) return 'python3 not found';
  if (r.stdout.trim() !== 'True') return 'python3 older than 3.11';
  return null;
}

export function runPython(programs: Program[]): TurnResult[][] {
  const input = JSON.stringify(programs.map((p) => ({ turns: p.turns })));
  const r = spawnSync('python3', [TWIN], { input, encoding: 'utf8', maxBuffer: 1 << 30 });
  if (r.status !== 0) throw new Error(`sandbox_twin.py failed: ${r.stderr}`);
  return JSON.parse(r.stdout) as TurnResult[][];
}

export async function runSandbox(program: Program): Promise<TurnResult[]> {
  const sandbox = new PythonSandbox({ globals: testGlobals() });
  const results: TurnResult[] = [];
  for (const turn of program.turns) {
    const r = await sandbox.run(turn);
    results.push({
      output: r.output,
      error: r.error?.type ?? null,
      message: r.error?.message,
      images: r.images.map((im) => [im.width, im.height, Array.from(im.data)]),
    });
  }
  sandbox.dispose();
  return results;
}

/** Differences between two runs of a program, as readable lines (empty when they agree). */
export function differences(python: TurnResult[], sandbox: TurnResult[]): string[] {
  const out: string[] = [];
  python.forEach((p, i) => {
    const s = sandbox[i];
    if (p.error !== s.error) out.push(`turn ${i}: error ${p.error} (CPython) vs ${s.error} (sandbox: ${s.message})`);
    if (p.output !== s.output) out.push(`turn ${i}: output ${JSON.stringify(p.output)} (CPython) vs ${JSON.stringify(s.output)} (sandbox)`);
    if (JSON.stringify(p.images) !== JSON.stringify(s.images)) out.push(`turn ${i}: shown images differ`);
  });
  return out;
}

/**
 * Known, documented differences, counted instead of compared:
 * - 'int-limit': the sandbox stopped at maxIntDigits (CPython's ints are unbounded);
 * - 'complex': a negative float to a fractional power (CPython returns a complex number, the subset has none);
 * - 'pow-ulp': the program uses ** and a printed float differs: the sandbox's float ** is correctly rounded,
 *   CPython calls the C library's pow(), which on glibc is one ulp off in about 1 in 1000 cases.
 * Returns null for a real mismatch.
 */
export function knownDifference(program: Program, python: TurnResult[], sandbox: TurnResult[]): string | null {
  if (sandbox.some((t) => t.error === 'OverflowError' && t.message?.startsWith('integer too large'))) return 'int-limit';
  if (sandbox.some((t) => t.error === 'ValueError' && t.message?.includes('complex'))) return 'complex';
  if (program.turns.some((t) => t.includes('**')) && python.some((p, i) => p.output !== sandbox[i].output && /\d\.\d|e[+-]\d/.test(p.output))) return 'pow-ulp';
  return null;
}

/**
 * The hand-written corpus: test/sandbox/corpus/*.py, programs separated by `#> name` lines, turns by
 * `#--` lines; `#> name !ErrorClass` marks a program outside the subset (CPython accepts it) and the
 * class the sandbox raises in its last turn.
 */
export function loadCorpus(): Program[] {
  const dir = join(here, 'corpus');
  const programs: Program[] = [];
  for (const file of readdirSync(dir).filter((f) => f.endsWith('.py')).sort()) {
    const text = readFileSync(join(dir, file), 'utf8');
    let current: Program | null = null;
    let lines: string[] = [];
    const endTurn = () => {
      if (current) current.turns.push(lines.join('\n') + '\n');
      lines = [];
    };
    for (const line of text.split('\n')) {
      const header = /^#> (.*?)(?: !(\w+))?\s*$/.exec(line);
      if (header) {
        endTurn();
        current = { name: `${file}: ${header[1]}`, turns: [] };
        if (header[2]) current.sandboxOnly = header[2];
        programs.push(current);
      } else if (/^#--\s*$/.test(line)) endTurn();
      else if (current) lines.push(line);
    }
    endTurn();
  }
  for (const p of programs) p.turns = p.turns.map((t) => t.replace(/\n+$/, '\n'));
  return programs;
}
