/** PythonSandbox: the API, state across runs, every limit and its error, host values. */
import {
  DEFAULT_SANDBOX_LIMITS, PYTHON_SUBSET_TOKENS, PyBuiltin, PyException, PyList, PyTuple, PythonSandbox, checkImagePixels, pyRepr, pyStr,
  type PyValue,
} from '../../lib/sandbox/index.js';
import { PyVisionError } from '../../lib/util/errors.js';
import { FakeImage, clueImage, testGlobals } from './fake_host.js';

async function run(source: string, sandbox = new PythonSandbox({ globals: testGlobals() })) {
  return sandbox.run(source);
}

describe('PythonSandbox API', () => {
  test('run resolves to output, images and error', async () => {
    const r = await run('print(1 + 1)\nshow(image_clue_0)');
    expect(r.output).toBe('2\n');
    expect(r.images).toHaveLength(1);
    expect(r.images[0].width).toBe(4);
    expect(r.error).toBeNull();
    expect(r.steps).toBeGreaterThan(0);
  });

  test('Python errors resolve with class, message and line; output before the error is kept', async () => {
    const r = await run("print('a')\nx = [1]\nx[5]");
    expect(r.output).toBe('a\n');
    expect(r.error).toEqual({ type: 'IndexError', message: 'list index out of range', line: 3 });
  });

  test('syntax errors name the line and run nothing', async () => {
    const r = await run("print('a')\nx = (1,\nprint(2)");
    expect(r.output).toBe('');
    expect(r.error?.type).toBe('SyntaxError');
    expect(r.error?.line).toBe(2);
    expect(r.error?.message).toMatch(/line 2/);
    const indent = await run('x = 1\n  y = 2');
    expect(indent.error).toMatchObject({ type: 'IndentationError', line: 2 });
    const outside = await run('for i in range(3): print(i)');
    expect(outside.error?.type).toBe('SyntaxError');
    expect(outside.error?.message).toMatch(/'for' is not supported/);
  });

  test('misuse rejects with PyVisionError, Python errors never reject', async () => {
    const sandbox = new PythonSandbox();
    await expect(sandbox.run(5 as unknown as string)).rejects.toMatchObject({ code: 'E_ARG' });
    await expect(sandbox.run('1/0')).resolves.toMatchObject({ error: { type: 'ZeroDivisionError' } });
    sandbox.dispose();
    sandbox.dispose();
    await expect(sandbox.run('1')).rejects.toMatchObject({ code: 'E_DISPOSED' });
  });

  test('bad options are rejected with E_ARG naming the option', () => {
    expect(() => new PythonSandbox({ limits: { maxSteps: 0 } })).toThrow(/options\.limits\.maxSteps/);
    expect(() => new PythonSandbox({ limits: { maxStep: 5 } as never })).toThrow(/maxStep is not a sandbox limit/);
    expect(() => new PythonSandbox({ globals: { 'not a name': 1n } })).toThrow(PyVisionError);
    expect(() => new PythonSandbox({ globals: { x: [1, 2] as unknown as PyValue } })).toThrow(/options\.globals\.x must be a PyValue/);
    expect(() => new PythonSandbox({ globals: { x: undefined as unknown as PyValue } })).toThrow(/options\.globals\.x/);
    expect(() => new PythonSandbox(5 as never)).toThrow(/options must be an object/);
  });

  test('state persists across runs of one sandbox, never between sandboxes', async () => {
    const a = new PythonSandbox();
    await a.run('x = [1]\ny = 2');
    await a.run('x.append(y)');
    expect((await a.run('print(x, y)')).output).toBe('[1, 2] 2\n');
    expect((await new PythonSandbox().run('print(x)')).error?.type).toBe('NameError');
    // an error keeps what ran before it
    await a.run('z = 1\nw = 1 // 0');
    expect((await a.run('print(z)')).output).toBe('1\n');
    expect(a.getGlobal('z')).toBe(1n);
    a.setGlobal('image_clue_1', clueImage());
    expect((await a.run('print(image_clue_1.size)')).output).toBe('(4, 3)\n');
  });

  test('concurrent runs of one sandbox execute in order', async () => {
    const sandbox = new PythonSandbox({ globals: testGlobals() });
    const results = await Promise.all([sandbox.run('x = slow_add(1, 2)'), sandbox.run('x = x * 10'), sandbox.run('print(x)')]);
    expect(results[2].output).toBe('30\n');
  });

  test('host errors: PyException keeps its class, other errors become RuntimeError / ValueError', async () => {
    const globals: Record<string, PyValue> = {
      raisesPy: new PyBuiltin('raisesPy', () => {
        throw new PyException('KeyError', "'k'");
      }),
      raisesJs: new PyBuiltin('raisesJs', () => {
        throw new Error('boom');
      }),
      raisesArg: new PyBuiltin('raisesArg', () => {
        throw new PyVisionError('E_ARG', 'box must be 4 ints');
      }),
      rejects: new PyBuiltin('rejects', () => Promise.reject(new Error('later'))),
      returnsJunk: new PyBuiltin('returnsJunk', () => [1, 2] as unknown as PyValue),
      returnsUndefined: new PyBuiltin('returnsUndefined', () => undefined as unknown as PyValue),
    };
    const sandbox = new PythonSandbox({ globals });
    expect((await sandbox.run('raisesPy()')).error).toMatchObject({ type: 'KeyError', message: "'k'" });
    expect((await sandbox.run('raisesJs()')).error).toMatchObject({ type: 'RuntimeError', message: 'raisesJs() failed: boom' });
    expect((await sandbox.run('raisesArg()')).error).toMatchObject({ type: 'ValueError', message: 'raisesArg(): box must be 4 ints' });
    expect((await sandbox.run('rejects()')).error).toMatchObject({ type: 'RuntimeError', message: 'rejects() failed: later' });
    expect((await sandbox.run('returnsJunk()')).error?.type).toBe('SystemError');
    expect((await sandbox.run('print(returnsUndefined())')).output).toBe('None\n');
  });

  test("a host object's own failures become RuntimeError naming the method", async () => {
    const broken = {
      pyTypeName: 'Broken',
      getAttr: (): PyValue | undefined => {
        throw new Error('no attributes today');
      },
      len: (): number => {
        throw new TypeError('bad len');
      },
      asImage: () => {
        throw new Error('no pixels');
      },
      repr: (): string => {
        throw new Error('no repr');
      },
    };
    const sandbox = new PythonSandbox({ globals: { broken } });
    expect((await sandbox.run('broken.x')).error).toMatchObject({ type: 'RuntimeError', message: 'Broken.getAttr() failed: no attributes today' });
    expect((await sandbox.run('len(broken)')).error).toMatchObject({ type: 'RuntimeError', message: 'Broken.len() failed: bad len' });
    expect((await sandbox.run('show(broken)')).error).toMatchObject({ type: 'RuntimeError', message: 'Broken.asImage() failed: no pixels' });
    expect((await sandbox.run('print(broken)')).error).toMatchObject({ type: 'RuntimeError', message: 'Broken.repr() failed: no repr' });
  });

  test('host functions receive PyValues and the context', async () => {
    let seen: PyValue[] = [];
    let kw: Map<string, PyValue> = new Map();
    const probe = new PyBuiltin('probe', (args, kwargs, ctx) => {
      seen = args;
      kw = new Map(kwargs);
      ctx.charge(10);
      return new PyList([1n, 2.5, 'x', null, true, new PyTuple([])]);
    });
    const r = await new PythonSandbox({ globals: { probe } }).run("print(probe(1, 2.0, 'a', [1], (2,), None, k=True))");
    expect(r.output).toBe("[1, 2.5, 'x', None, True, ()]\n");
    expect(seen.slice(0, 3)).toEqual([1n, 2, 'a']);
    expect(seen[3]).toBeInstanceOf(PyList);
    expect(seen[4]).toBeInstanceOf(PyTuple);
    expect(kw.get('k')).toBe(true);
  });
});

describe('limits', () => {
  test('defaults live in one frozen object', () => {
    expect(Object.isFrozen(DEFAULT_SANDBOX_LIMITS)).toBe(true);
    expect(new PythonSandbox().limits).toEqual(DEFAULT_SANDBOX_LIMITS);
    expect(new PythonSandbox({ limits: { maxSteps: 50 } }).limits.maxSteps).toBe(50);
  });

  test('program length', async () => {
    const sandbox = new PythonSandbox({ limits: { maxSourceChars: 20 } });
    const r = await sandbox.run('x = 1 + 1 + 1 + 1 + 1 + 1');
    expect(r.error).toMatchObject({ type: 'SyntaxError' });
    expect(r.error?.message).toMatch(/^program too long: 25 characters \(the limit is 20\)/);
  });

  test('steps: work proportional to sizes is charged before it is done', async () => {
    const cases = ['x = sum(range(10 ** 12))', 'x = max(range(10 ** 9))', 'x = 10 ** 9 in list(range(10 ** 5)) * 9'];
    for (const source of cases) {
      // a generous wall-clock limit: this test is about the step limit, on a machine of any speed
      const r = await new PythonSandbox({ limits: { maxWallMs: 600_000 } }).run(source);
      expect(r.error?.type).toBe('TimeoutError');
      expect(r.error?.message).toMatch(/^step limit exceeded/);
      expect(r.steps).toBeLessThanOrEqual(DEFAULT_SANDBOX_LIMITS.maxSteps + DEFAULT_SANDBOX_LIMITS.maxItems);
    }
    const small = await new PythonSandbox({ limits: { maxSteps: 30 } }).run('x = 1\n' + 'x = x + 1\n'.repeat(20));
    expect(small.error?.message).toMatch(/^step limit exceeded: the program ran more than 30 steps/);
  });

  test('items: huge containers and strings are refused before they are allocated', async () => {
    for (const source of ['x = [0] * 10 ** 9', "x = 'a' * 10 ** 10", 'x = list(range(10 ** 8))', 'x = (1, 2) * 10 ** 7', "x = 'ab' * 10 ** 6 + 'ab' * 10 ** 6"]) {
      const r = await new PythonSandbox().run(source);
      expect(r.error?.type).toBe('MemoryError');
      expect(r.error?.message).toMatch(/^too many items/);
    }
    const nested = await new PythonSandbox().run('a = [0] * 1000\nb = [a] * 1000\nc = str(b)');
    expect(nested.error?.type).toMatch(/MemoryError|TimeoutError/);
  });

  test('ints: more digits than maxIntDigits is an OverflowError, computed or not', async () => {
    for (const source of ['x = 2 ** 10 ** 10', 'x = 10 ** 100', "x = int('9' * 200)", 'x = 10 ** 99 * 10', 'x = 1' + '0'.repeat(150), 'x = round(10.0 ** 300)']) {
      const r = await new PythonSandbox().run(source);
      expect(r.error?.type).toBe('OverflowError');
      expect(r.error?.message).toMatch(/^integer too large: more than 100 digits/);
    }
    expect((await new PythonSandbox().run('print(10 ** 99 + 1 > 0)')).output).toBe('True\n');
    expect((await new PythonSandbox({ limits: { maxIntDigits: 400 } }).run('print(len(str(2 ** 1000)))')).output).toBe('302\n');
  });

  test('output length', async () => {
    const r = await new PythonSandbox({ limits: { maxOutputChars: 10 } }).run("print('12345')\nprint('123456789')");
    expect(r.output).toBe('12345\n');
    expect(r.error).toMatchObject({ type: 'MemoryError', message: 'output too long: more than 10 characters printed' });
  });

  test('images per trajectory count across runs; pixels per image', async () => {
    const sandbox = new PythonSandbox({ globals: testGlobals(), limits: { maxImages: 3 } });
    expect((await sandbox.run('show(image_clue_0)\nshow(image_clue_0)')).images).toHaveLength(2);
    const r = await sandbox.run('show(image_clue_0)\nshow(image_clue_0)');
    expect(r.images).toHaveLength(1);
    expect(r.error).toMatchObject({ type: 'MemoryError', message: 'too many images: at most 3 images may be shown in one trajectory' });
    expect(sandbox.imageCount).toBe(3);
    const small = new PythonSandbox({ globals: testGlobals(), limits: { maxPixels: 6 } });
    const crop = await small.run('c = image_clue_0.crop((0, 0, 3, 3))');
    expect(crop.error).toMatchObject({ type: 'MemoryError', message: 'image too large: 3 x 3 = 9 pixels (the limit is 6)' });
    expect((await small.run('show(image_clue_0)')).error?.message).toMatch(/^image too large: 4 x 3/);
    expect(() => checkImagePixels(0, 5, 100)).toThrow(PyException);
    expect(() => checkImagePixels(10, 11, 100)).toThrow(/image too large/);
    expect(() => checkImagePixels(10, 10, 100)).not.toThrow();
  });

  test('wall time, also while a host call is pending', async () => {
    const never = new PyBuiltin('never', () => new Promise<PyValue>(() => undefined));
    const sandbox = new PythonSandbox({ globals: { never }, limits: { maxWallMs: 30 } });
    const r = await sandbox.run("print('a')\nnever()");
    expect(r.output).toBe('a\n');
    expect(r.error).toMatchObject({ type: 'TimeoutError', message: 'time limit exceeded: the program ran longer than 30 ms' });
    // the sandbox stays usable
    expect((await sandbox.run('print(1)')).output).toBe('1\n');
  });

  test('nesting: deep structures raise RecursionError, deep source a SyntaxError', async () => {
    const sandbox = new PythonSandbox();
    await sandbox.run('a = []');
    for (let i = 0; i < 300; i++) await sandbox.run('a = [a]');
    for (const source of ['print(a)', 'print(a == [a])', 'print(a < [a])']) {
      expect((await sandbox.run(source)).error?.type).toBe('RecursionError');
    }
    expect((await sandbox.run('x = ' + '('.repeat(199) + '1' + ')'.repeat(199))).error).toBeNull();
    expect((await sandbox.run('x = ' + '('.repeat(250) + '1' + ')'.repeat(250))).error?.type).toBe('SyntaxError');
    expect((await sandbox.run('x = ' + '-'.repeat(5000) + '1')).error?.type).toBe('SyntaxError');
    expect((await sandbox.run('x = 1' + ' + 1'.repeat(2000))).error?.type).toBe('SyntaxError');
  });
});

describe('values for hosts', () => {
  test('pyRepr and pyStr', () => {
    expect(pyRepr(new PyTuple([1n]))).toBe('(1,)');
    expect(pyRepr(new PyList([2, 'a', null, true, new PyTuple([])]))).toBe("[2.0, 'a', None, True, ()]");
    expect(pyStr('a')).toBe('a');
    expect(pyRepr('a')).toBe("'a'");
    expect(pyRepr(1e16)).toBe('1e+16');
    expect(pyRepr(new FakeImage(clueImage().image))).toBe('<Image 4x3>');
  });

  test('PYTHON_SUBSET_TOKENS lists keywords, operators, punctuation and built-ins once each', () => {
    for (const t of ['True', 'not', 'in', '**', '//=', '==', '(', ':', 'print', 'show', 'round', 'append', 'sep']) expect(PYTHON_SUBSET_TOKENS).toContain(t);
    expect(new Set(PYTHON_SUBSET_TOKENS).size).toBe(PYTHON_SUBSET_TOKENS.length);
    expect(PYTHON_SUBSET_TOKENS).not.toContain('import');
  });
});
