/**
 * The tokenizer: Python's lexical rules for the subset (numbers with
 * underscores, hex/octal/binary ints, floats with exponents, strings with
 * every escape CPython knows but \N{...}, implicit line joining inside
 * brackets, backslash continuation, comments, `;`).
 *
 * It never throws: a lexical error becomes an 'error' token where it occurs,
 * so that the parser reports whichever error comes first in the source, as
 * CPython's incremental tokenizer does.
 */
export type TokenKind = 'name' | 'keyword' | 'int' | 'float' | 'string' | 'op' | 'newline' | 'end' | 'error';

export interface Token {
  kind: TokenKind;
  /** Name, keyword or operator text; for strings the decoded value; for numbers the literal without underscores. */
  text: string;
  line: number;
  /** For 'error' tokens: the exception class (SyntaxError or IndentationError). */
  errorType?: string;
}

/** Every Python keyword; those outside the subset lex as keywords and the parser rejects them. */
const PYTHON_KEYWORDS: ReadonlySet<string> = new Set([
  'False', 'None', 'True', 'and', 'as', 'assert', 'async', 'await', 'break', 'class', 'continue', 'def',
  'del', 'elif', 'else', 'except', 'finally', 'for', 'from', 'global', 'if', 'import', 'in', 'is', 'lambda',
  'nonlocal', 'not', 'or', 'pass', 'raise', 'return', 'try', 'while', 'with', 'yield',
]);

/** Operators and punctuation (some only so that the parser can name them in its error), by first character, longest first. */
const OPERATORS = [
  '**=', '//=', '>>=', '<<=', '...',
  '**', '//', '==', '!=', '<=', '>=', '+=', '-=', '*=', '/=', '%=', '&=', '|=', '^=', '@=', '->', ':=', '<<', '>>',
  '+', '-', '*', '/', '%', '<', '>', '=', '(', ')', '[', ']', '{', '}', ',', ':', '.', ';', '@', '&', '|', '^', '~', '!',
];
const OPERATORS_BY_FIRST = new Map<string, string[]>();
for (const op of OPERATORS) OPERATORS_BY_FIRST.set(op[0], [...(OPERATORS_BY_FIRST.get(op[0]) ?? []), op]);

/** The longest operator at pos, or undefined. */
function operatorAt(source: string, pos: number): string | undefined {
  const candidates = OPERATORS_BY_FIRST.get(source[pos]);
  return candidates?.find((op) => op.length === 1 || source.startsWith(op, pos));
}

const STRING_PREFIXES = new Set(['r', 'u', 'f', 'b', 'br', 'rb', 'fr', 'rf']);
const CLOSING: Record<string, string> = { ')': '(', ']': '[', '}': '{' };
/** CPython's tokenizer refuses more nested brackets than this. */
const MAX_BRACKETS = 200;

const SIMPLE_ESCAPES: Record<string, string> = {
  '\\': '\\', "'": "'", '"': '"', a: '\x07', b: '\b', f: '\f', n: '\n', r: '\r', t: '\t', v: '\v',
};

const isDigit = (c: string) => c >= '0' && c <= '9';
const isNameStart = (c: string) => (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c === '_';
const isNameChar = (c: string) => isNameStart(c) || isDigit(c);

class LexError {
  constructor(
    readonly type: string,
    readonly message: string,
    readonly line: number,
  ) {}
}

export function tokenize(source: string): Token[] {
  const tokens: Token[] = [];
  const brackets: { ch: string; line: number }[] = [];
  let pos = 0;
  let line = 1;
  let atLineStart = true;
  const n = source.length;

  const push = (kind: TokenKind, text: string, tokenLine = line) => tokens.push({ kind, text, line: tokenLine });
  const fail = (message: string, type = 'SyntaxError', at = line): never => {
    throw new LexError(type, message, at);
  };

  try {
    while (pos < n) {
      if (atLineStart && brackets.length === 0) {
        // Indentation of a logical line: the subset has no blocks, so any is unexpected.
        let p = pos;
        while (p < n && (source[p] === ' ' || source[p] === '\t' || source[p] === '\f')) p++;
        const c = source[p];
        if (p >= n || c === '\n' || c === '\r' || c === '#') {
          // Blank or comment-only line: no tokens.
          pos = p;
          while (pos < n && source[pos] !== '\n') pos++;
          if (pos < n) {
            pos++;
            line++;
          }
          continue;
        }
        if (c === '\\' && (source[p + 1] === '\n' || (source[p + 1] === '\r' && source[p + 2] === '\n'))) {
          pos = p;
        } else if (p > pos) {
          fail('unexpected indent', 'IndentationError');
        }
        pos = p;
        atLineStart = false;
      }
      const c = source[pos];
      if (c === ' ' || c === '\t' || c === '\f') {
        pos++;
        continue;
      }
      if (c === '\r' && source[pos + 1] === '\n') {
        pos++;
        continue;
      }
      if (c === '\n' || c === '\r') {
        pos++;
        if (brackets.length === 0) {
          push('newline', '\n');
          atLineStart = true;
        }
        line++;
        continue;
      }
      if (c === '#') {
        while (pos < n && source[pos] !== '\n') pos++;
        continue;
      }
      if (c === '\\') {
        const next = source[pos + 1];
        if (next === '\n') {
          pos += 2;
          line++;
          if (pos >= n) fail('unexpected EOF while parsing');
          continue;
        }
        if (next === '\r' && source[pos + 2] === '\n') {
          pos += 3;
          line++;
          if (pos >= n) fail('unexpected EOF while parsing');
          continue;
        }
        fail('unexpected character after line continuation character');
      }
      if (isDigit(c) || (c === '.' && isDigit(source[pos + 1] ?? ''))) {
        pos = lexNumber(source, pos, line, tokens, fail);
        continue;
      }
      if (isNameStart(c)) {
        let p = pos;
        while (p < n && isNameChar(source[p])) p++;
        const word = source.slice(pos, p);
        const q = source[p];
        if ((q === "'" || q === '"') && STRING_PREFIXES.has(word.toLowerCase())) {
          const lower = word.toLowerCase();
          if (lower.includes('f')) fail('f-strings are not supported in the sandbox');
          if (lower.includes('b')) fail('bytes literals are not supported in the sandbox');
          pos = lexString(source, p, lower === 'r', tokens, () => line, (l) => (line = l), fail);
          continue;
        }
        push(PYTHON_KEYWORDS.has(word) ? 'keyword' : 'name', word);
        pos = p;
        continue;
      }
      if (c === "'" || c === '"') {
        pos = lexString(source, pos, false, tokens, () => line, (l) => (line = l), fail);
        continue;
      }
      const op = operatorAt(source, pos);
      if (op === undefined) {
        const code = source.codePointAt(pos)!;
        fail(code > 0x7f ? `invalid character '${String.fromCodePoint(code)}' (U+${code.toString(16).toUpperCase().padStart(4, '0')})` : `invalid character '${c}'`);
      }
      const o = op as string;
      if (o === '(' || o === '[' || o === '{') {
        if (brackets.length >= MAX_BRACKETS) fail('too many nested parentheses');
        brackets.push({ ch: o, line });
      } else if (o in CLOSING) {
        const open = brackets.pop();
        if (open === undefined) fail(`unmatched '${o}'`);
        else if (open.ch !== CLOSING[o]) fail(`closing parenthesis '${o}' does not match opening parenthesis '${open.ch}'`);
      }
      push('op', o);
      pos += o.length;
    }
    if (brackets.length > 0) {
      const open = brackets[brackets.length - 1];
      fail(`'${open.ch}' was never closed`, 'SyntaxError', open.line);
    }
  } catch (error) {
    if (!(error instanceof LexError)) throw error;
    tokens.push({ kind: 'error', text: error.message, line: error.line, errorType: error.type });
    return tokens;
  }
  if (tokens.length > 0 && tokens[tokens.length - 1].kind !== 'newline') push('newline', '\n');
  push('end', '');
  return tokens;
}

type Fail = (message: string, type?: string, at?: number) => never;

function lexNumber(source: string, start: number, line: number, tokens: Token[], fail: Fail): number {
  let pos = start;
  const n = source.length;
  // Digits with single underscores between them; returns the digits without underscores.
  const digits = (ok: (c: string) => boolean): string => {
    let out = '';
    while (pos < n) {
      const c = source[pos];
      if (ok(c)) {
        out += c;
        pos++;
      } else if (c === '_' && out.length > 0 && pos + 1 < n && ok(source[pos + 1])) {
        pos++;
      } else break;
    }
    return out;
  };
  const checkEnd = (what: string) => {
    const c = source[pos] ?? '';
    if (c === 'j' || c === 'J') fail('complex literals are not supported in the sandbox');
    if (isNameChar(c)) fail(`invalid ${what} literal`);
  };
  if (source[pos] === '0' && /[xXoObB]/.test(source[pos + 1] ?? '')) {
    const kind = source[pos + 1].toLowerCase();
    pos += 2;
    if (source[pos] === '_') pos++;
    const ok = kind === 'x' ? (c: string) => /[0-9a-fA-F]/.test(c) : kind === 'o' ? (c: string) => c >= '0' && c <= '7' : (c: string) => c === '0' || c === '1';
    const body = digits(ok);
    const name = kind === 'x' ? 'hexadecimal' : kind === 'o' ? 'octal' : 'binary';
    if (body.length === 0) fail(`invalid ${name} literal`);
    checkEnd(name);
    tokens.push({ kind: 'int', text: BigInt(`0${kind}${body}`).toString(), line });
    return pos;
  }
  const intPart = digits(isDigit);
  let isFloat = false;
  let text = intPart;
  if (source[pos] === '.') {
    isFloat = true;
    pos++;
    text += '.' + digits(isDigit);
  }
  if ((source[pos] === 'e' || source[pos] === 'E') && (isDigit(source[pos + 1] ?? '') || (/[+-]/.test(source[pos + 1] ?? '') && isDigit(source[pos + 2] ?? '')))) {
    isFloat = true;
    pos++;
    let sign = '';
    if (source[pos] === '+' || source[pos] === '-') sign = source[pos++];
    text += 'e' + sign + digits(isDigit);
  }
  checkEnd('decimal');
  if (!isFloat && intPart.length > 1 && intPart[0] === '0' && /[1-9]/.test(intPart)) {
    fail('leading zeros in decimal integer literals are not permitted; use an 0o prefix for octal integers');
  }
  tokens.push({ kind: isFloat ? 'float' : 'int', text: isFloat ? text : BigInt(intPart).toString(), line });
  return pos;
}

function lexString(
  source: string,
  start: number,
  raw: boolean,
  tokens: Token[],
  getLine: () => number,
  setLine: (line: number) => void,
  fail: Fail,
): number {
  const q = source[start];
  const triple = source.startsWith(q.repeat(3), start);
  const startLine = getLine();
  let line = startLine;
  let pos = start + (triple ? 3 : 1);
  const n = source.length;
  let out = '';
  for (;;) {
    if (pos >= n) {
      fail(triple ? `unterminated triple-quoted string literal (detected at line ${line})` : `unterminated string literal (detected at line ${line})`, 'SyntaxError', startLine);
    }
    const c = source[pos];
    if (triple ? source.startsWith(q.repeat(3), pos) : c === q) {
      pos += triple ? 3 : 1;
      break;
    }
    if (c === '\n' || (c === '\r' && !triple)) {
      if (!triple) fail(`unterminated string literal (detected at line ${line})`, 'SyntaxError', startLine);
      out += '\n';
      line++;
      pos++;
      continue;
    }
    if (c === '\r') {
      // Inside triple quotes, \r\n and \r read as \n (universal newlines).
      out += '\n';
      line++;
      pos += source[pos + 1] === '\n' ? 2 : 1;
      continue;
    }
    if (c !== '\\') {
      out += c;
      pos++;
      continue;
    }
    const e = source[pos + 1];
    if (e === undefined) {
      pos++;
      continue; // reported as unterminated on the next iteration
    }
    if (e === '\n' || e === '\r') {
      // Backslash-newline: a line continuation inside the literal (kept verbatim in raw strings).
      if (raw) out += '\\\n';
      pos += e === '\r' && source[pos + 2] === '\n' ? 3 : 2;
      line++;
      continue;
    }
    if (raw) {
      out += '\\' + e;
      pos += 2;
      continue;
    }
    if (e in SIMPLE_ESCAPES) {
      out += SIMPLE_ESCAPES[e];
      pos += 2;
      continue;
    }
    if (e >= '0' && e <= '7') {
      let p = pos + 1;
      let octal = '';
      while (octal.length < 3 && p < n && source[p] >= '0' && source[p] <= '7') octal += source[p++];
      out += String.fromCodePoint(parseInt(octal, 8));
      pos = p;
      continue;
    }
    if (e === 'x' || e === 'u' || e === 'U') {
      const width = e === 'x' ? 2 : e === 'u' ? 4 : 8;
      const hexDigits = source.slice(pos + 2, pos + 2 + width);
      if (hexDigits.length < width || !/^[0-9a-fA-F]+$/.test(hexDigits)) {
        fail(`(unicode error) 'unicodeescape' codec can't decode bytes: truncated \\${e}${'X'.repeat(width)} escape`);
      }
      const code = parseInt(hexDigits, 16);
      if (code > 0x10ffff) fail(`(unicode error) 'unicodeescape' codec can't decode bytes: illegal Unicode character`);
      out += String.fromCodePoint(code);
      pos += 2 + width;
      continue;
    }
    if (e === 'N') fail('\\N{...} escapes are not supported in the sandbox');
    // Unknown escapes keep their backslash (CPython warns, then does the same).
    out += '\\';
    pos++;
  }
  setLine(line);
  tokens.push({ kind: 'string', text: out, line: startLine });
  return pos;
}
