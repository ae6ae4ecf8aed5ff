"""CPython twin of the sandbox's namespace, for the differential tests.

The sandbox's built-ins that are CPython's own (print, int, round, ...) are
taken from `builtins` unchanged: CPython is the reference. Only the names the
sandbox has are visible (so a name outside the subset is a NameError in both),
plus the twins of the test host: `image_clue_0` (a tiny fake image), `show`
(records the image), `slow_add` (asynchronous in the TypeScript host, plain
here). Limits are not modelled: programs that hit one are compared separately.

Usage: python3 sandbox_twin.py < programs.json > results.json
  programs.json: [{"turns": ["source", ...]}, ...]
  results.json:  [[{"output": str, "error": class name or null, "images": [[w, h, [bytes]]]}, ...], ...]
Each program runs in a fresh namespace; its turns share it (state persists, as in one trajectory).
"""
import builtins
import contextlib
import io
import json
import sys
import warnings

SUBSET_BUILTINS = [
    'print', 'int', 'float', 'round', 'abs', 'min', 'max', 'len', 'sum', 'str', 'repr', 'list', 'tuple', 'range',
    'bool', 'sorted',
]


class Image:
    """The test host's image: width x height RGB8, pixel (x, y) at 3 * (y * width + x)."""

    __slots__ = ('_w', '_h', '_data')

    def __init__(self, width, height, data):
        self._w = width
        self._h = height
        self._data = list(data)

    @property
    def width(self):
        return self._w

    @property
    def height(self):
        return self._h

    @property
    def size(self):
        return (self._w, self._h)

    def pixel(self, x, y):
        if type(x) is not int or type(y) is not int:
            raise TypeError('pixel() coordinates must be int')
        if not (0 <= x < self._w and 0 <= y < self._h):
            raise IndexError('pixel out of range')
        i = 3 * (y * self._w + x)
        return tuple(self._data[i:i + 3])

    def crop(self, box):
        """PIL's crop on int boxes: parts outside the image are black."""
        if type(box) is not tuple or len(box) != 4 or any(type(v) is not int for v in box):
            raise TypeError('crop() box must be a tuple of 4 ints')
        left, top, right, bottom = box
        if right <= left or bottom <= top:
            raise ValueError('crop() box must have right > left and bottom > top')
        w, h = right - left, bottom - top
        data = []
        for y in range(top, bottom):
            for x in range(left, right):
                if 0 <= x < self._w and 0 <= y < self._h:
                    i = 3 * (y * self._w + x)
                    data.extend(self._data[i:i + 3])
                else:
                    data.extend([0, 0, 0])
        return Image(w, h, data)

    def __repr__(self):
        return f'<Image {self._w}x{self._h}>'


def clue_image():
    """The 4 x 3 image every test program sees as image_clue_0 (the TypeScript host builds the same)."""
    w, h = 4, 3
    return Image(w, h, [(17 * (y * w + x) + 5 * c) % 256 for y in range(h) for x in range(w) for c in range(3)])


def namespace(shown):
    def show(x):
        if not isinstance(x, Image):
            raise TypeError(f"show() argument must be an image, not '{type(x).__name__}'")
        shown.append([x.width, x.height, list(x._data)])

    def slow_add(a, b):
        return a + b

    names = {name: getattr(builtins, name) for name in SUBSET_BUILTINS}
    names['show'] = show
    names['slow_add'] = slow_add
    return {'__builtins__': names, 'image_clue_0': clue_image()}


def run_turn(source, ns, shown):
    out = io.StringIO()
    error = None
    del shown[:]
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        try:
            code = compile(source, '<sandbox>', 'exec')
        except SyntaxError as e:  # IndentationError included
            return {'output': '', 'error': type(e).__name__, 'images': []}
        try:
            with contextlib.redirect_stdout(out):
                exec(code, ns)
        except BaseException as e:  # noqa: B902 -- every Python error is a result here
            error = type(e).__name__
    return {'output': out.getvalue(), 'error': error, 'images': list(shown)}


def main():
    programs = json.load(sys.stdin)
    results = []
    for program in programs:
        shown = []
        ns = namespace(shown)
        results.append([run_turn(turn, ns, shown) for turn in program['turns']])
    json.dump(results, sys.stdout)


if __name__ == '__main__':
    sys.setrecursionlimit(10000)
    main()
