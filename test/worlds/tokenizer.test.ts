/** WordTokenizer: dense ids, numbers as whole tokens and '##' pieces, code that decodes to the same program, errors naming the argument. */
import { PyVisionError, SPECIAL_TOKENS, VisualSearchWorld, WordTokenizer } from '../../lib/index.js';
import { decodePlain } from '../reference/tokenizer_decode.js';

const tk = new WordTokenizer(['x', 'y', 'a', 'b', 'img', 'crop', 'show', 'image_clue_0', 'size', 'red', 'what', 'color'], { maxNumber: 256 });
const round = (text: string) => tk.decode(tk.encode(text));

test('special tokens come first, in their order; ids are dense', () => {
  SPECIAL_TOKENS.forEach((t, i) => expect(tk.id(t)).toBe(i));
  for (let i = 0; i < tk.size; i++) expect(tk.id(tk.token(i))).toBe(i);
  expect(tk.id('256')).toBeGreaterThan(0);
  expect(tk.has('257')).toBe(false);
});

test('programs decode to the same program', () => {
  const programs = [
    'show(image_clue_0.crop((12, 40, 76, 104)))',
    'img = image_clue_0.crop((0, 0, 128, 128))\nshow(img)\nprint(img.size[0] // 2, -3 ** 2, 7 % -3)',
    'x = [1, 2.5, 1e+16, 0.05]\nprint(x[1:3], x[-1], len(x) >= 2 and not False)',
    "print('what color', \"red\")",
    'a = 1000000\nb = 007',
    'x += 2; x //= 3',
  ];
  for (const p of programs) {
    const once = round(p);
    expect(tk.encode(once)).toEqual(tk.encode(p));
    expect(round(once)).toBe(once);
  }
  expect(round('show(image_clue_0.crop((12, 40, 76, 104)))')).toBe('show(image_clue_0.crop((12, 40, 76, 104)))');
  expect(round("print('what color', \"red\")")).toBe("print('what color', \"red\")");
  expect(round('x=[1,2.5]\ny = x[0]')).toBe('x = [1, 2.5]\ny = x[0]');
});

test('numbers: whole tokens up to maxNumber, pieces beyond and for fractions and exponents', () => {
  expect(Array.from(tk.encode('256')).map((i) => tk.token(i))).toEqual(['256']);
  expect(Array.from(tk.encode('257')).map((i) => tk.token(i))).toEqual(['2', '##5', '##7']);
  expect(Array.from(tk.encode('2.05')).map((i) => tk.token(i))).toEqual(['2', '##.', '##0', '##5']);
  expect(Array.from(tk.encode('1e-7')).map((i) => tk.token(i))).toEqual(['1', '##e', '##-', '##7']);
  expect(Array.from(tk.encode('007')).map((i) => tk.token(i))).toEqual(['0', '##0', '##7']);
  expect(round('(256, 1024, 3.14159)')).toBe('(256, 1024, 3.14159)');
});

test('unknown words and characters become <unk>; special tokens encode as themselves; -1 and <pad> are skipped', () => {
  const unk = tk.id('<unk>');
  expect(Array.from(tk.encode('foo'))).toEqual([unk]);
  expect(Array.from(tk.encode('é'))).toEqual([unk]);
  expect(Array.from(tk.encode('😀'))).toEqual([unk]);
  expect(Array.from(tk.encode('<code>img</code>'))).toEqual([tk.id('<code>'), tk.id('img'), tk.id('</code>')]);
  expect(Array.from(tk.encode('<z>'))).toEqual([tk.id('<'), unk, tk.id('>')]);
  expect(tk.decode([tk.id('<pad>'), tk.id('red'), -1, -1, tk.id('color')])).toBe('red color');
  expect(tk.decode([tk.id('<answer>'), tk.id('red'), tk.id('</answer>')])).toBe('<answer> red </answer>');
});

test('errors name the argument', () => {
  expect(() => tk.id('nope')).toThrow(PyVisionError);
  expect(() => tk.id('nope')).toThrow(/token "nope"/);
  expect(() => tk.token(-2)).toThrow(/id must be/);
  expect(() => tk.token(tk.size)).toThrow(/id must be/);
  expect(() => tk.encode(5 as unknown as string)).toThrow(/text must be a string/);
  expect(() => new WordTokenizer(['ok', 'two words'])).toThrow(/words\[1\]/);
  expect(() => new WordTokenizer([], { maxNumber: 3 })).toThrow(/options.maxNumber/);
});

test('the visual-search vocabulary is small and grows with the canvas', () => {
  const small = new VisualSearchWorld().tokenizer.size;
  const big = new VisualSearchWorld({ canvas: 1024 }).tokenizer.size;
  expect(small).toBeGreaterThan(300);
  expect(small).toBeLessThan(700);
  expect(big - small).toBe(1024 - 256);
  expect(big).toBeLessThan(1400);
});

test('decode equals the string-by-string reference on random and program-shaped id sequences', () => {
  const tk = new VisualSearchWorld().tokenizer;
  const vocab = tk.vocabulary();
  // Weighted towards the tokens whose spacing rules interact: quotes, openers, closers, pieces.
  const tricky = ["'", '"', '(', ')', '[', ']', '{', '.', ',', ':', '\n', '##5', '##.', '##e', 'x', '12', '<pad>'].map((t) => tk.id(t));
  let s = 2024;
  const next = () => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32;
  for (let round = 0; round < 5000; round++) {
    const n = Math.floor(next() * 24);
    const ids = Array.from({ length: n }, () => (next() < 0.5 ? tricky[Math.floor(next() * tricky.length)] : next() < 0.05 ? -1 : Math.floor(next() * vocab.length)));
    const got = tk.decode(ids);
    const want = decodePlain(tk, ids);
    if (got !== want) expect({ ids, got }).toEqual({ ids, got: want });
  }
  for (const program of ["x = image_clue_0.crop((0, 64, 128.5, 1e+16))\nshow(x)", "print('a b', [1, 2][0], \"q\")", 'print(min(3, 4) ** 2 // 1)']) {
    const ids = tk.encode(program);
    expect(tk.decode(ids)).toBe(decodePlain(tk, ids));
  }
  expect(() => tk.decode([1.5])).toThrow(PyVisionError);
  expect(() => tk.decode([vocab.length])).toThrow(PyVisionError);
});
