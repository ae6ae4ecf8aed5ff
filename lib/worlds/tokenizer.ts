/**
 * A word-level tokenizer for worlds whose text is short and templated
 * (questions, options, printed values) and whose actions are programs in the
 * sandbox's Python subset. Ids are dense: SPECIAL_TOKENS first (in their
 * order), then the world's tokens in the order given.
 *
 * Encoding (one pass, left to right):
 *   special tokens ('<code>', ...)        their own ids
 *   '\n'                                  the newline token (other white space separates only)
 *   names [A-Za-z_][A-Za-z0-9_]*          the name's token, or '<unk>'
 *   numbers 12, 2.05, 1e+16               the integer part as one token when it is 0..maxNumber
 *                                         (no leading zero), else its first digit and '##d'
 *                                         continuations; then '##.', '##d'..., '##e', '##+', '##-'
 *   operators and punctuation             longest match ('**', '//', '==', '!=', '<=', '>=', ...)
 *   anything else                         '<unk>'
 * Decoding joins tokens with the spacing Python needs (and a little more for readability):
 * '##' pieces glue to the previous token; no space around '.', after '(' '[' or a newline,
 * before ')' ']' ',' ':' or a newline, between a name, number, ')' or ']' and a following '(' or '['
 * (calls and subscripts), and inside quotes next to the quote; one space elsewhere. So a
 * program whose names, numbers and words in strings are all in the vocabulary decodes to a
 * program with the same meaning (string literals: words separated by single spaces; lines
 * carry no indentation, which the subset never needs).
 */
import { PyVisionError, describe } from '../util/errors.js';
import { PYTHON_SUBSET_TOKENS } from '../sandbox/tokens.js';
import { SPECIAL_TOKENS, type Tokenizer } from './world.js';

/** Operators and punctuation of the Python subset (and of printed values), longest first where it matters. */
export const PYTHON_OPERATOR_TOKENS = [
  '**=', '//=', '**', '//', '==', '!=', '<=', '>=', '+=', '-=', '*=', '/=', '%=',
  '(', ')', '[', ']', '{', '}', ',', '.', ':', ';', '=', '+', '-', '*', '/', '%', '<', '>', "'", '"', '#', '?',
] as const;

/** Keywords and constants of the subset. */
export const PYTHON_KEYWORD_TOKENS = ['True', 'False', 'None', 'and', 'or', 'not', 'in'] as const;

/** The built-in functions of the sandbox (agent.md section 2) and the exception classes its errors name. */
export const PYTHON_BUILTIN_TOKENS = [
  'print', 'show', 'int', 'float', 'round', 'abs', 'min', 'max', 'len', 'sum', 'str', 'list', 'tuple', 'range',
  'type', 'bool', 'sorted', 'reversed', 'enumerate', 'zip', 'divmod', 'pow', 'isinstance', 'repr',
  'SyntaxError', 'NameError', 'TypeError', 'ValueError', 'IndexError', 'ZeroDivisionError', 'AttributeError',
  'KeyError', 'OverflowError', 'MemoryError', 'TimeoutError', 'RecursionError', 'RuntimeError', 'Exception',
] as const;

/** The newline token. */
export const NEWLINE = '\n';

/** The continuation pieces of numbers. */
export const NUMBER_PIECES = ['##0', '##1', '##2', '##3', '##4', '##5', '##6', '##7', '##8', '##9', '##.', '##e', '##+', '##-'] as const;

/**
 * Everything a program of the subset needs besides a world's names and the numbers: the
 * sandbox's PYTHON_SUBSET_TOKENS (keywords, operators, punctuation, built-ins, methods, keyword
 * arguments), then the tokenizer's own (newline, quotes, '#', '?', exception classes, number pieces).
 */
export const CODE_TOKENS: readonly string[] = Object.freeze([
  ...new Set<string>([
    ...PYTHON_SUBSET_TOKENS, NEWLINE, ...PYTHON_OPERATOR_TOKENS, ...PYTHON_KEYWORD_TOKENS, ...PYTHON_BUILTIN_TOKENS, ...NUMBER_PIECES,
  ]),
]);

export interface WordTokenizerOptions {
  /** Integers 0..maxNumber are single tokens ('0', '1', ...). Default 255. */
  maxNumber?: number;
}

const NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const NO_SPACE_BEFORE = new Set([')', ']', ',', ':', ';', '.', NEWLINE]);
const NO_SPACE_AFTER = new Set(['(', '[', '{', '.', NEWLINE]);
const OPENERS = new Set(['(', '[']);
const QUOTES = new Set(["'", '"']);

// Per-token flags of decode's spacing rules.
const F_PAD = 1; // '<pad>': not written
const F_PIECE = 2; // '##x': glued to the previous token
const F_QUOTE = 4;
const F_NO_SPACE_BEFORE = 8;
const F_NO_SPACE_AFTER = 16;
const F_OPENER = 32; // '(' or '['
const F_CALLEE = 64; // a name, a number, a '##' piece, ')' or ']': no space before a following opener

function decodeFlags(t: string): number {
  let f = 0;
  if (t === '<pad>') f |= F_PAD;
  if (t.startsWith('##')) f |= F_PIECE;
  if (QUOTES.has(t)) f |= F_QUOTE;
  if (NO_SPACE_BEFORE.has(t)) f |= F_NO_SPACE_BEFORE;
  if (NO_SPACE_AFTER.has(t)) f |= F_NO_SPACE_AFTER;
  if (OPENERS.has(t)) f |= F_OPENER;
  if (NAME.test(t) || /^\d/.test(t) || t.startsWith('##') || t === ')' || t === ']') f |= F_CALLEE;
  return f;
}

export class WordTokenizer implements Tokenizer {
  readonly size: number;
  readonly maxNumber: number;
  private readonly tokens: string[];
  private readonly ids: Map<string, number>;
  private readonly operators: string[];
  private readonly unk: number;
  private readonly flags: Uint8Array;

  /**
   * @param words the world's tokens besides SPECIAL_TOKENS, the subset's tokens and the numbers
   *              (names, question words, options...); duplicates are dropped.
   */
  constructor(words: readonly string[], options: WordTokenizerOptions = {}) {
    if (!Array.isArray(words)) throw new PyVisionError('E_ARG', `words must be an array of strings, got ${describe(words)}`);
    const maxNumber = options.maxNumber ?? 255;
    if (!Number.isInteger(maxNumber) || maxNumber < 9 || maxNumber > 100_000) {
      throw new PyVisionError('E_ARG', `options.maxNumber must be an integer in [9, 100000], got ${describe(options.maxNumber)}`);
    }
    this.maxNumber = maxNumber;
    const all: string[] = [...SPECIAL_TOKENS, ...CODE_TOKENS];
    for (let n = 0; n <= maxNumber; n++) all.push(String(n));
    words.forEach((w, i) => {
      if (typeof w !== 'string' || !NAME.test(w)) {
        throw new PyVisionError('E_ARG', `words[${i}] must be a name or word matching [A-Za-z_][A-Za-z0-9_]*, got ${describe(w)}`);
      }
      all.push(w);
    });
    this.tokens = [];
    this.ids = new Map();
    for (const t of all) {
      if (this.ids.has(t)) continue;
      this.ids.set(t, this.tokens.length);
      this.tokens.push(t);
    }
    this.size = this.tokens.length;
    this.flags = Uint8Array.from(this.tokens, decodeFlags);
    this.unk = this.ids.get('<unk>') as number;
    this.operators = PYTHON_OPERATOR_TOKENS.slice().sort((a, b) => b.length - a.length);
  }

  /** Every token string, in id order. */
  vocabulary(): readonly string[] {
    return this.tokens;
  }

  has(token: string): boolean {
    return this.ids.has(token);
  }

  id(token: string): number {
    const id = this.ids.get(token);
    if (id === undefined) throw new PyVisionError('E_ARG', `token ${describe(token)} is not in the vocabulary`);
    return id;
  }

  token(id: number): string {
    if (!Number.isInteger(id) || id < 0 || id >= this.size) {
      throw new PyVisionError('E_ARG', `id must be an integer in [0, ${this.size}), got ${describe(id)}`);
    }
    return this.tokens[id];
  }

  encode(text: string): Int32Array {
    if (typeof text !== 'string') throw new PyVisionError('E_ARG', `text must be a string, got ${describe(text)}`);
    const out: number[] = [];
    const push = (t: string) => out.push(this.ids.get(t) ?? this.unk);
    let i = 0;
    const n = text.length;
    while (i < n) {
      const ch = text[i];
      if (ch === '\n') {
        push(NEWLINE);
        i++;
        continue;
      }
      if (ch === ' ' || ch === '\t' || ch === '\r' || ch === '\f' || ch === '\v') {
        i++;
        continue;
      }
      if (ch === '<') {
        const m = /^<\/?[a-z]+>/.exec(text.slice(i, i + 12));
        if (m && (SPECIAL_TOKENS as readonly string[]).includes(m[0])) {
          push(m[0]);
          i += m[0].length;
          continue;
        }
      }
      if (ch >= '0' && ch <= '9') {
        const m = /^(\d+)(\.\d+)?([eE][+-]?\d+)?/.exec(text.slice(i, i + 400)) as RegExpExecArray;
        this.encodeNumber(m[1], m[2], m[3], push);
        i += m[0].length;
        continue;
      }
      if (/[A-Za-z_]/.test(ch)) {
        let j = i + 1;
        while (j < n && /[A-Za-z0-9_]/.test(text[j])) j++;
        push(text.slice(i, j));
        i = j;
        continue;
      }
      const op = this.operators.find((o) => text.startsWith(o, i));
      if (op) {
        push(op);
        i += op.length;
        continue;
      }
      // One unknown character (a whole surrogate pair counts as one).
      out.push(this.unk);
      i += text.codePointAt(i)! > 0xffff ? 2 : 1;
    }
    return Int32Array.from(out);
  }

  private encodeNumber(integer: string, fraction: string | undefined, exponent: string | undefined, push: (t: string) => void): void {
    if ((integer === '0' || integer[0] !== '0') && integer.length <= 6 && Number(integer) <= this.maxNumber) {
      push(integer);
    } else {
      push(integer[0]);
      for (let k = 1; k < integer.length; k++) push(`##${integer[k]}`);
    }
    if (fraction) {
      push('##.');
      for (let k = 1; k < fraction.length; k++) push(`##${fraction[k]}`);
    }
    if (exponent) {
      push('##e');
      for (let k = 1; k < exponent.length; k++) push(`##${exponent[k]}`);
    }
  }

  decode(ids: ArrayLike<number>): string {
    // The spacing rules of the header, read from per-id flags (decodeFlags) rather than from the
    // token strings: the same text as test/reference/tokenizer_decode.ts's string-by-string rules.
    const flags = this.flags;
    const tokens = this.tokens;
    const size = this.size;
    let out = '';
    let prev = -1; // flags of the previous token written, -1 before the first
    let inQuote = -1; // id of the open quote, -1 outside quotes
    let prevOpenedQuote = false;
    for (let k = 0; k < ids.length; k++) {
      const id = ids[k];
      if (id === -1) continue;
      if (!(id >= 0 && id < size && Number.isInteger(id))) this.token(id); // throws E_ARG
      const f = flags[id];
      if ((f & F_PAD) !== 0) continue;
      if ((f & F_PIECE) !== 0) {
        out += tokens[id].slice(2);
        prev = f;
        prevOpenedQuote = false;
        continue;
      }
      const isQuote = (f & F_QUOTE) !== 0 && (inQuote === -1 || inQuote === id); // ids are unique per token
      let space = true;
      if (prev === -1) space = false;
      else if (isQuote && inQuote !== -1) space = false; // closing quote
      else if (prevOpenedQuote) space = false; // right after an opening quote
      else if ((f & F_NO_SPACE_BEFORE) !== 0 || (prev & F_NO_SPACE_AFTER) !== 0) space = false;
      else if ((f & F_OPENER) !== 0 && ((prev & F_CALLEE) !== 0 || ((prev & F_QUOTE) !== 0 && inQuote === -1))) space = false;
      if (space) out += ' ';
      out += tokens[id];
      prevOpenedQuote = false;
      if (isQuote) {
        if (inQuote === -1) {
          inQuote = id;
          prevOpenedQuote = true;
        } else {
          inQuote = -1;
        }
      }
      prev = f;
    }
    return out;
  }
}
