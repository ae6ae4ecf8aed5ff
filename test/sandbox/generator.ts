/**
 * A seeded, typed grammar of subset programs for the differential test.
 * Expressions are generated for a wanted type (int, float, str, list, tuple,
 * bool) so that most programs run and print values, with deliberate mistakes
 * mixed in (wrong types, bad indices, undefined names, zero divisors, wrong
 * unpacking) so that every error class is exercised. Sizes are kept small on
 * purpose: sequence repetition and range() only take small literals, so no
 * program makes CPython allocate much.
 */
import { rng } from '../helpers.js';
import type { Program } from './differential.js';

type Type = 'int' | 'float' | 'str' | 'list' | 'tuple' | 'bool';

const FLOATS = [
  '0.0', '-0.0', '0.5', '1.5', '2.5', '-2.5', '0.1', '0.2', '0.3', '1e16', '1e-7', '3.14159', '2.675', '1e300', '1e22',
  '123456.789', '1.0', '-1.0', '2.0', '100.0', '1e-05', '0.001', '7.0', '1e308', '4.35', '0.125', '-3.75', '1234.5',
];
const STRINGS = [
  "'a'", "'b'", "'abc'", "''", "'hello world'", '"it\'s"', "'x\"y'", "'tab\\t'", "'nl\\n'", "'é'", "'12'", "' 3.5 '",
  "'inf'", "'nan'", "'-7'", "'0x1f'", "'1_000'", "'Zz'", "'ab'",
];
const VARS = ['a', 'b', 'c', 'd', 'x', 'y', 'z', 's', 't', 'u'];
const COMPARE = ['<', '<=', '>', '>=', '==', '!='];

class ProgramGenerator {
  private readonly random: () => number;
  private vars = new Map<string, Type>();

  constructor(seed: number) {
    this.random = rng(seed);
  }

  private int(lo: number, hi: number): number {
    return lo + Math.floor(this.random() * (hi - lo + 1));
  }

  private pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.random() * items.length)];
  }

  private chance(p: number): boolean {
    return this.random() < p;
  }

  private varOf(type: Type): string | null {
    const names = [...this.vars].filter(([, t]) => t === type).map(([n]) => n);
    return names.length > 0 ? this.pick(names) : null;
  }

  private intLiteral(): string {
    const r = this.random();
    if (r < 0.6) return String(this.int(-12, 12));
    if (r < 0.85) return String(this.int(-100000, 1000000));
    // up to 2**62, sometimes with underscores
    let digits = String(this.int(1, 9));
    const n = this.int(9, 18);
    for (let i = 0; i < n; i++) digits += String(this.int(0, 9));
    return this.chance(0.2) ? digits.replace(/(\d)(?=(\d{3})+$)/g, '$1_') : digits;
  }

  private floatLiteral(): string {
    if (this.chance(0.6)) return this.pick(FLOATS);
    const k = this.int(-8, 12);
    let text = (this.random() * 10 ** k).toPrecision(this.int(1, 17));
    if (!/[.e]/.test(text)) text += '.0';
    return text;
  }

  private smallInt(): string {
    return String(this.int(-2, 4));
  }

  /** An expression of the wanted type (depth bounds the nesting). */
  expr(type: Type, depth: number): string {
    if (depth <= 0 || this.chance(0.3)) return this.atom(type);
    switch (type) {
      case 'int':
        return this.intExpr(depth - 1);
      case 'float':
        return this.floatExpr(depth - 1);
      case 'str':
        return this.strExpr(depth - 1);
      case 'list':
        return this.listExpr(depth - 1);
      case 'tuple':
        return this.tupleExpr(depth - 1);
      case 'bool':
        return this.boolExpr(depth - 1);
    }
  }

  private atom(type: Type): string {
    const v = this.chance(0.4) ? this.varOf(type) : null;
    if (v) return v;
    switch (type) {
      case 'int':
        return this.chance(0.05) ? this.pick(['True', 'False']) : this.intLiteral();
      case 'float':
        return this.floatLiteral();
      case 'str':
        return this.pick(STRINGS);
      case 'list':
        return `[${this.elements(0)}]`;
      case 'tuple': {
        const items = this.elements(0);
        return items.includes(',') || items === '' ? `(${items})` : `(${items},)`;
      }
      case 'bool':
        return this.pick(['True', 'False']);
    }
  }

  /** 0-4 comparable elements (all numbers or all strings), comma separated. */
  private elements(depth: number): string {
    const n = this.int(0, 4);
    const kind: Type = this.pick(['int', 'int', 'float', 'str']);
    const items: string[] = [];
    for (let i = 0; i < n; i++) items.push(this.expr(kind === 'float' && this.chance(0.5) ? 'int' : kind, depth));
    return items.join(', ');
  }

  private intExpr(d: number): string {
    const e = (t: Type = 'int') => this.expr(t, d);
    switch (this.int(0, 17)) {
      case 0:
      case 1:
      case 2:
        return `(${e()} ${this.pick(['+', '-', '*'])} ${e()})`;
      case 3:
        return `(${e()} ${this.pick(['//', '%'])} ${e()})`;
      case 4:
        return `(${e()} ** ${this.int(0, 3)})`;
      case 5:
        return `-${e()}`;
      case 6:
        return `abs(${e()})`;
      case 7:
        return `round(${e('float')})`;
      case 8:
        return `round(${e()}, ${this.int(-3, 1)})`;
      case 9:
        return `int(${this.chance(0.7) ? e('float') : this.pick(STRINGS)})`;
      case 10:
        return `len(${e(this.pick(['str', 'list', 'tuple']))})`;
      case 11:
        return `sum(${this.intList(d)})`;
      case 12:
        return this.chance(0.5) ? `min(${e()}, ${e()})` : `max(${this.intList(d)}${this.chance(0.3) ? ', default=0' : ''})`;
      case 13:
        return `${this.intList(d)}.count(${e()})`;
      case 14:
        return `${this.intList(d)}[${this.smallInt()}]`;
      case 15:
        return `range(${this.smallInt()}, ${this.int(0, 20)}, ${this.pick(['1', '2', '3', '-1'])})[${this.smallInt()}]`;
      case 16:
        return `image_clue_0.${this.pick(['width', 'height'])}`;
      default:
        return `${this.intList(d)}.index(${e()})`;
    }
  }

  private intList(d: number): string {
    const v = this.chance(0.3) ? this.varOf('list') : null;
    if (v) return v;
    const n = this.int(0, 4);
    const items: string[] = [];
    for (let i = 0; i < n; i++) items.push(this.expr('int', d));
    return `[${items.join(', ')}]`;
  }

  private floatExpr(d: number): string {
    const e = (t: Type = 'float') => this.expr(t, d);
    const num = () => this.expr(this.chance(0.7) ? 'float' : 'int', d);
    switch (this.int(0, 14)) {
      case 0:
      case 1:
      case 2:
        return `(${e()} ${this.pick(['+', '-', '*', '/'])} ${num()})`;
      case 3:
        return `(${num()} / ${num()})`;
      case 4:
        return `(${e()} ${this.pick(['//', '%'])} ${num()})`;
      case 5:
        return `(abs(${num()}) ** ${this.pick(['0.5', '2', '-1', '1.5', '3', '-0.5'])})`;
      case 6:
        return `float(${this.chance(0.6) ? this.expr('int', d) : this.pick(STRINGS)})`;
      case 7:
        return `round(${e()}, ${this.int(-2, 6)})`;
      case 8:
        return `sum([${e()}, ${num()}, ${num()}])`;
      case 9:
        return `${this.pick(['min', 'max'])}(${e()}, ${num()})`;
      case 10:
        return `-${e()}`;
      case 11:
        return `(${this.expr('int', d)} / ${this.expr('int', d)})`;
      case 12:
        return `(${num()} ** ${this.pick(['2', '-2', '0', '3'])})`;
      case 13:
        return `float(${this.pick(["'inf'", "'-inf'", "'nan'", "'1e400'", "'-0.0'", "'2.5e-3'"])})`;
      default:
        return `abs(${e()})`;
    }
  }

  private strExpr(d: number): string {
    const e = (t: Type = 'str') => this.expr(t, d);
    switch (this.int(0, 9)) {
      case 0:
      case 1:
        return `(${e()} + ${e()})`;
      case 2:
        return `(${e()} * ${this.smallInt()})`;
      case 3:
        return `str(${e(this.pick(['int', 'float', 'list', 'tuple', 'bool']))})`;
      case 4:
        return `repr(${e(this.pick(['str', 'float', 'list', 'tuple']))})`;
      case 5:
        return `${e()}[${this.smallInt()}]`;
      case 6:
        return `${e()}[${this.sliceText()}]`;
      case 7:
        return `${this.pick(['min', 'max'])}(${e()}${this.chance(0.5) ? `, ${e()}` : ''})`;
      default:
        return `str(${e('int')}) + ${e()}`;
    }
  }

  private sliceText(): string {
    const part = () => (this.chance(0.3) ? '' : String(this.int(-6, 6)));
    return this.chance(0.5) ? `${part()}:${part()}` : `${part()}:${part()}:${this.pick(['1', '2', '-1', '-2', '3', '0', ''])}`;
  }

  private listExpr(d: number): string {
    const e = (t: Type = 'list') => this.expr(t, d);
    switch (this.int(0, 9)) {
      case 0:
        return `(${e()} + ${e()})`;
      case 1:
        return `(${e()} * ${this.smallInt()})`;
      case 2:
        return `list(${e(this.pick(['tuple', 'str']))})`;
      case 3:
        return `list(range(${this.smallInt()}, ${this.int(0, 12)}, ${this.pick(['1', '2', '-1', '3'])}))`;
      case 4:
        return `sorted(${e(this.pick(['list', 'tuple', 'str']))}${this.chance(0.3) ? ', reverse=True' : ''})`;
      case 5:
        return `${e()}[${this.sliceText()}]`;
      case 6:
        return `[${this.expr('list', d)}, ${this.expr('tuple', d)}]`;
      case 7:
        return `sorted(${e()}, key=${this.pick(['abs', 'len', 'str', 'repr', 'float'])})`;
      default:
        return `[${this.elements(d)}]`;
    }
  }

  private tupleExpr(d: number): string {
    const e = (t: Type = 'tuple') => this.expr(t, d);
    switch (this.int(0, 6)) {
      case 0:
        return `(${e()} + ${e()})`;
      case 1:
        return `(${e()} * ${this.smallInt()})`;
      case 2:
        return `tuple(${e(this.pick(['list', 'str']))})`;
      case 3:
        return `${e()}[${this.sliceText()}]`;
      case 4:
        return `(${this.expr('int', d)}, ${this.expr('str', d)})`;
      case 5:
        return `image_clue_0.size`;
      default:
        return `image_clue_0.pixel(${this.int(0, 4)}, ${this.int(0, 3)})`;
    }
  }

  private boolExpr(d: number): string {
    const kind: Type = this.pick(['int', 'float', 'str', 'list', 'tuple']);
    switch (this.int(0, 5)) {
      case 0:
      case 1: {
        const n = this.int(2, 3);
        const parts = [this.expr(kind, d)];
        for (let i = 1; i < n; i++) parts.push(this.pick(COMPARE), this.expr(kind === 'float' && this.chance(0.5) ? 'int' : kind, d));
        return `(${parts.join(' ')})`;
      }
      case 2:
        return `(${this.expr('int', d)} ${this.pick(['in', 'not in'])} ${this.intList(d)})`;
      case 3:
        return `(not ${this.expr(kind, d)})`;
      case 4:
        return `bool(${this.expr(kind, d)})`;
      default:
        return `(${this.expr(this.pick(['int', 'str']), d)} ${this.pick(['and', 'or'])} ${this.expr('bool', d)})`;
    }
  }

  /** A deliberate mistake: each line raises (or sometimes not) a specific error class. */
  private mistake(): string {
    const d = 1;
    switch (this.int(0, 13)) {
      case 0:
        return `print(${this.pick(['undefined', 'q', 'A', 'Print'])})`;
      case 1:
        return `print(${this.expr('str', d)} + ${this.expr('int', d)})`;
      case 2:
        return `print(len(${this.expr(this.pick(['int', 'float', 'bool']), d)}))`;
      case 3:
        return `print(${this.expr('list', d)}[${this.int(3, 9)}])`;
      case 4:
        return `print(int(${this.pick(STRINGS)}))`;
      case 5:
        return `${this.pick(VARS)}, ${this.pick(VARS)} = ${this.expr(this.pick(['list', 'tuple', 'str']), d)}`;
      case 6:
        return `print(${this.expr('int', d)} // ${this.pick(['0', '0.0', 'False'])})`;
      case 7:
        return `print(${this.expr('list', d)} < ${this.expr('tuple', d)})`;
      case 8:
        return `print(${this.expr('int', d)}.${this.pick(['x', 'append', 'real2'])})`;
      case 9:
        return `print(${this.expr('float', d)}(1))`;
      case 10:
        return `print(${this.pick(['min', 'max', 'sorted', 'sum'])}(${this.expr(this.pick(['int', 'list', 'str']), d)}))`;
      case 11:
        return `print(${this.expr('tuple', d)}.${this.pick(['index', 'count'])}(${this.expr('int', d)}))`;
      case 12:
        return `print(round(${this.expr('float', d)}, ${this.pick(['1.5', "'a'", 'None'])}))`;
      default:
        return `print(${this.expr('str', d)} < ${this.expr('int', d)})`;
    }
  }

  private printStatement(): string {
    const n = this.int(1, 3);
    const args: string[] = [];
    for (let i = 0; i < n; i++) args.push(this.expr(this.pick(['int', 'float', 'str', 'list', 'tuple', 'bool']), 3));
    if (this.chance(0.15)) args.push(`sep=${this.pick(["''", "', '", "'|'", 'None'])}`);
    if (this.chance(0.1)) args.push(`end=${this.pick(["''", "'!\\n'", 'None'])}`);
    return `print(${args.join(', ')})`;
  }

  statement(): string {
    const r = this.random();
    if (r < 0.3) {
      const type: Type = this.pick(['int', 'float', 'str', 'list', 'tuple', 'bool']);
      const name = this.pick(VARS);
      const line = `${name} = ${this.expr(type, 3)}`;
      this.vars.set(name, type);
      return line;
    }
    if (r < 0.55) return this.printStatement();
    if (r < 0.62) {
      const [p, q] = [this.pick(VARS), this.pick(VARS)];
      const line = `${p}, ${q} = ${this.expr('int', 2)}, ${this.expr('float', 2)}`;
      if (p !== q) {
        this.vars.set(p, 'int');
        this.vars.set(q, 'float');
      } else this.vars.set(q, 'float');
      return line;
    }
    if (r < 0.72) {
      const numeric = [...this.vars].filter(([, t]) => t !== 'bool');
      if (numeric.length === 0) return this.printStatement();
      const [name, type] = this.pick(numeric);
      if (type === 'int' || type === 'float') return `${name} ${this.pick(['+=', '-=', '*=', '//=', '%=', '/='])} ${this.expr(this.chance(0.5) ? 'int' : 'float', 2)}`;
      if (type === 'str') return `${name} += ${this.expr('str', 2)}`;
      return this.chance(0.6) ? `${name} += ${this.expr(type, 1)}` : `${name} *= ${this.smallInt()}`;
    }
    if (r < 0.84) {
      const lists = [...this.vars].filter(([, t]) => t === 'list').map(([n]) => n);
      if (lists.length === 0) {
        this.vars.set('u', 'list');
        return `u = [${this.elements(1)}]`;
      }
      const l = this.pick(lists);
      switch (this.int(0, 8)) {
        case 0:
          return `${l}.append(${this.expr('int', 2)})`;
        case 1:
          return `${l}.extend(${this.expr(this.pick(['list', 'tuple', 'str']), 1)})`;
        case 2:
          return `${l}.insert(${this.smallInt()}, ${this.expr('int', 1)})`;
        case 3:
          return `print(${l}.pop(${this.chance(0.5) ? '' : this.smallInt()}))`;
        case 4:
          return `${l}.sort(${this.chance(0.3) ? 'reverse=True' : ''})`;
        case 5:
          return `${l}[${this.smallInt()}] = ${this.expr('int', 1)}`;
        case 6:
          return `${l}[${this.sliceText()}] = ${this.expr('list', 1)}`;
        case 7:
          return `${l}.reverse()`;
        default:
          return `print(${l}.index(${this.expr('int', 1)}), ${l}.count(${this.expr('int', 1)}))`;
      }
    }
    if (r < 0.9) {
      const box = [this.int(-2, 3), this.int(-2, 2), this.int(1, 6), this.int(1, 5)];
      return this.chance(0.3) ? 'show(image_clue_0)' : `show(image_clue_0.crop((${box.join(', ')})))`;
    }
    if (r < 0.94) return `print(slow_add(${this.expr('int', 1)}, ${this.expr('int', 1)}))`;
    return this.mistake();
  }

  program(): string[] {
    this.vars = new Map();
    const turns: string[] = [];
    const nTurns = this.chance(0.2) ? 2 : 1;
    for (let k = 0; k < nTurns; k++) {
      const lines: string[] = [];
      const n = this.int(1, 6);
      for (let i = 0; i < n; i++) lines.push(this.statement());
      if (this.vars.size > 0) lines.push(`print(${[...this.vars.keys()].join(', ')})`);
      turns.push(lines.join('\n') + '\n');
    }
    return turns;
  }
}

/** n programs, deterministic for (n, seed). */
export function generatePrograms(n: number, seed: number): Program[] {
  const generator = new ProgramGenerator(seed);
  const programs: Program[] = [];
  for (let i = 0; i < n; i++) programs.push({ name: `generated #${i} (seed ${seed})`, turns: generator.program() });
  return programs;
}
