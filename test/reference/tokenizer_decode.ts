/**
 * WordTokenizer.decode's spacing rules applied token string by token string (the rules of
 * lib/worlds/tokenizer.ts's header, as the tokenizer first wrote them): the reference that
 * test/worlds/tokenizer.test.ts compares the flag-table decode with.
 */
import type { Tokenizer } from '../../lib/worlds/world.js';

const NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const NO_SPACE_BEFORE = new Set([')', ']', ',', ':', ';', '.', '\n']);
const NO_SPACE_AFTER = new Set(['(', '[', '{', '.', '\n']);
const OPENERS = new Set(['(', '[']);
const QUOTES = new Set(["'", '"']);

export function decodePlain(tokenizer: Tokenizer, ids: ArrayLike<number>): string {
  let out = '';
  let prev: string | null = null;
  let inQuote: string | null = null;
  let prevOpenedQuote = false;
  for (let k = 0; k < ids.length; k++) {
    const id = ids[k];
    if (id === -1) continue;
    const t = tokenizer.token(id);
    if (t === '<pad>') continue;
    if (t.startsWith('##')) {
      out += t.slice(2);
      prev = t;
      prevOpenedQuote = false;
      continue;
    }
    let space = prev !== null;
    const isQuote = QUOTES.has(t) && (inQuote === null || inQuote === t);
    if (prev === null) space = false;
    else if (isQuote && inQuote !== null) space = false; // closing quote
    else if (prevOpenedQuote) space = false; // right after an opening quote
    else if (NO_SPACE_BEFORE.has(t) || NO_SPACE_AFTER.has(prev)) space = false;
    else if (OPENERS.has(t) && (NAME.test(prev) || /^\d/.test(prev) || prev.startsWith('##') || prev === ')' || prev === ']' || (QUOTES.has(prev) && inQuote === null))) space = false;
    if (space) out += ' ';
    out += t;
    prevOpenedQuote = false;
    if (isQuote) {
      if (inQuote === null) {
        inQuote = t;
        prevOpenedQuote = true;
      } else {
        inQuote = null;
      }
    }
    prev = t;
  }
  return out;
}
