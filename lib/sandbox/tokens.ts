/**
 * The subset's vocabulary for a world's tokenizer: keywords, operators,
 * punctuation, built-in names, method and attribute names, and keyword
 * argument names. Numbers, names, string literals and white space (spaces,
 * newlines) are the tokenizer's own business and are not listed.
 */
import { BUILTINS } from './builtins.js';

export const PYTHON_SUBSET_KEYWORDS = ['True', 'False', 'None', 'and', 'or', 'not', 'in'] as const;

export const PYTHON_SUBSET_OPERATORS = [
  '+', '-', '*', '/', '//', '%', '**',
  '=', '+=', '-=', '*=', '/=', '//=', '%=', '**=',
  '==', '!=', '<', '>', '<=', '>=',
] as const;

export const PYTHON_SUBSET_PUNCTUATION = ['(', ')', '[', ']', ',', ':', '.', ';'] as const;

/** Methods of list and tuple, attributes of range. */
export const PYTHON_SUBSET_ATTRIBUTES = [
  'append', 'extend', 'insert', 'pop', 'remove', 'index', 'count', 'reverse', 'sort', 'clear', 'copy', 'start', 'stop', 'step',
] as const;

/** Keyword arguments of the built-ins. */
export const PYTHON_SUBSET_KEYWORD_ARGUMENTS = ['sep', 'end', 'file', 'flush', 'key', 'default', 'base', 'ndigits', 'number', 'object'] as const;

/** Every token string of the subset, each once, in a stable order. */
export const PYTHON_SUBSET_TOKENS: readonly string[] = Object.freeze([
  ...new Set<string>([
    ...PYTHON_SUBSET_KEYWORDS,
    ...PYTHON_SUBSET_OPERATORS,
    ...PYTHON_SUBSET_PUNCTUATION,
    ...BUILTINS.keys(),
    ...PYTHON_SUBSET_ATTRIBUTES,
    ...PYTHON_SUBSET_KEYWORD_ARGUMENTS,
  ]),
]);
