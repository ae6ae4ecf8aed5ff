"""
The Python twin of the visual worlds' sandbox built-ins (lib/worlds/image-builtins.ts and
lib/image/ops.ts), written naively with numpy from the definitions in lib/image/ops.ts.

Used by test/image/ops.test.ts (operations on random images) and
test/worlds/sandbox-diff.test.ts (whole programs run by CPython against the sandbox).

Protocol: one JSON object on stdin, one JSON object on stdout.
  {"op": "ops", "cases": [{"image": IMG, "calls": [["crop", [l, t, r, b]], ["resize", [w, h]],
                                                  ["rotate", deg], ["mean_color"]] }]}
      -> {"results": [[IMG or [r, g, b], ...], ...]}   (each call applies to the case's image)
  {"op": "programs", "maxPixels": N, "maxImages": K,
   "programs": [{"image": IMG, "turns": [source, ...]}]}
      -> {"results": [[{"output": str, "error": null | class name, "images": [IMG, ...]}, ...], ...]}
IMG = {"width": w, "height": h, "data": base64 of the RGB bytes}.
"""
import base64
import io
import json
import math
import sys

import numpy as np

MAX_SIDE = 16384


def decode_img(obj):
    data = np.frombuffer(base64.b64decode(obj["data"]), dtype=np.uint8)
    return data.reshape(obj["height"], obj["width"], 3).copy()


def encode_img(arr):
    h, w, _ = arr.shape
    return {"width": int(w), "height": int(h), "data": base64.b64encode(np.ascontiguousarray(arr, dtype=np.uint8).tobytes()).decode()}


def check_pixels(w, h, max_pixels):
    if w > MAX_SIDE or h > MAX_SIDE or w * h > max_pixels:
        raise MemoryError("image too large: %d x %d" % (w, h))


# ---- the operations (lib/image/ops.ts) ----

def op_crop(arr, box):
    l, t, r, b = (int(round(v)) for v in box)
    h, w, _ = arr.shape
    out = np.zeros((b - t, r - l, 3), dtype=np.uint8)
    for y in range(t, b):
        if 0 <= y < h:
            for x in range(l, r):
                if 0 <= x < w:
                    out[y - t, x - l] = arr[y, x]
    return out


def coverage(n, m):
    """m x n integer matrix: overlap of output pixel i ([i n, (i+1) n)) with source pixel s ([s m, (s+1) m))."""
    c = np.zeros((m, n), dtype=np.int64)
    for i in range(m):
        for s in range(n):
            c[i, s] = max(0, min((i + 1) * n, (s + 1) * m) - max(i * n, s * m))
    return c


def op_resize(arr, w, h):
    H, W, _ = arr.shape
    if (W, H) == (w, h):
        return arr.copy()
    cx = coverage(W, w)
    cy = coverage(H, h)
    out = np.zeros((h, w, 3), dtype=np.uint8)
    area = W * H
    for ch in range(3):
        s = cy @ arr[:, :, ch].astype(np.int64) @ cx.T
        out[:, :, ch] = (2 * s + area) // (2 * area)
    return out


def op_rotate(arr, angle):
    angle = float(angle) % 360.0
    h, w, _ = arr.shape
    if angle == 0:
        return arr.copy()
    rad = -math.radians(angle)
    a = round(math.cos(rad), 15)
    b = round(math.sin(rad), 15)
    d = round(-math.sin(rad), 15)
    e = a
    cx, cy = w / 2, h / 2
    c = a * -cx + b * -cy + 0.0 + cx
    f = d * -cx + e * -cy + 0.0 + cy
    out = np.zeros_like(arr)
    for y in range(h):
        for x in range(w):
            u = a * (x + 0.5) + b * (y + 0.5) + c
            v = d * (x + 0.5) + e * (y + 0.5) + f
            if u < 0 or v < 0:
                continue
            xi, yi = int(u), int(v)
            if xi < w and yi < h:
                out[y, x] = arr[yi, xi]
    return out


def op_mean_color(arr):
    n = arr.shape[0] * arr.shape[1]
    sums = arr.reshape(-1, 3).astype(np.int64).sum(axis=0)
    return tuple(int((2 * s + n) // (2 * n)) for s in sums)


# ---- the Python-level built-ins (lib/worlds/image-builtins.ts) ----

def is_number(v):
    return isinstance(v, (int, float))


class Image:
    __slots__ = ("_arr", "_max_pixels")

    def __init__(self, arr, max_pixels):
        self._arr = arr
        self._max_pixels = max_pixels

    def crop(self, box):
        if not isinstance(box, (tuple, list)) or len(box) != 4:
            raise TypeError("crop() argument must be a tuple of 4 numbers")
        for v in box:
            if not is_number(v):
                raise TypeError("crop() box coordinates must be numbers, not '%s'" % type(v).__name__)
        if box[2] < box[0]:
            raise ValueError("Coordinate 'right' is less than 'left'")
        if box[3] < box[1]:
            raise ValueError("Coordinate 'lower' is less than 'upper'")
        l, t, r, b = (round(v) for v in box)
        for v in (l, t, r, b):
            if not -(2 ** 31) <= v < 2 ** 31:
                raise OverflowError("crop() coordinate out of range")
        if r - l < 1 or b - t < 1:
            raise ValueError("crop() box is empty")
        check_pixels(r - l, b - t, self._max_pixels)
        return Image(op_crop(self._arr, (l, t, r, b)), self._max_pixels)

    def resize(self, size):
        if not isinstance(size, (tuple, list)) or len(size) != 2:
            raise TypeError("resize() argument must be a tuple of 2 ints")
        for v in size:
            if not isinstance(v, int):
                raise TypeError("resize() size must be ints, not '%s'" % type(v).__name__)
        w, h = int(size[0]), int(size[1])
        if w < 1 or h < 1:
            raise ValueError("height and width must be > 0")
        check_pixels(w, h, self._max_pixels)
        return Image(op_resize(self._arr, w, h), self._max_pixels)

    def rotate(self, angle):
        if not is_number(angle):
            raise TypeError("rotate() angle must be a number, not '%s'" % type(angle).__name__)
        angle = float(angle)
        if not math.isfinite(angle):
            raise ValueError("rotate() angle must be finite")
        return Image(op_rotate(self._arr, angle), self._max_pixels)

    @property
    def size(self):
        return (int(self._arr.shape[1]), int(self._arr.shape[0]))

    @property
    def width(self):
        return int(self._arr.shape[1])

    @property
    def height(self):
        return int(self._arr.shape[0])

    def __repr__(self):
        return "<Image %dx%d>" % (self._arr.shape[1], self._arr.shape[0])


def mean_color(img):
    if not isinstance(img, Image):
        raise TypeError("mean_color() argument must be an Image, not '%s'" % type(img).__name__)
    return op_mean_color(img._arr)


def run_ops(cases):
    results = []
    for case in cases:
        arr = decode_img(case["image"])
        out = []
        for call in case["calls"]:
            name = call[0]
            if name == "crop":
                out.append(encode_img(op_crop(arr, call[1])))
            elif name == "resize":
                out.append(encode_img(op_resize(arr, call[1][0], call[1][1])))
            elif name == "rotate":
                out.append(encode_img(op_rotate(arr, call[1])))
            elif name == "mean_color":
                out.append(list(op_mean_color(arr)))
            else:
                raise KeyError(name)
        results.append(out)
    return results


def run_programs(programs, max_pixels, max_images):
    results = []
    for program in programs:
        shown_total = [0]
        env = {"__builtins__": __builtins__}
        env["image_clue_0"] = Image(decode_img(program["image"]), max_pixels)
        env["mean_color"] = mean_color
        turns = []
        for source in program["turns"]:
            out = io.StringIO()
            shown = []

            def show(img, shown=shown):
                if not isinstance(img, Image):
                    raise TypeError("show() argument must be an image, not '%s'" % type(img).__name__)
                if shown_total[0] >= max_images:
                    raise MemoryError("too many images")
                shown_total[0] += 1
                shown.append(img)
                return None

            def print_(*args, sep=" ", end="\n", out=out):
                out.write(sep.join(str(a) for a in args) + end)

            env["show"] = show
            env["print"] = print_
            error = None
            try:
                exec(compile(source, "<code>", "exec"), env)
            except Exception as exc:  # the class name is what the test compares
                error = type(exc).__name__
            first = shown_total[0] - len(shown) + 1
            for k, img in enumerate(shown):
                env["image_clue_%d" % (first + k)] = img
            turns.append({"output": out.getvalue(), "error": error, "images": [encode_img(img._arr) for img in shown]})
        results.append(turns)
    return results


def main():
    request = json.load(sys.stdin)
    if request["op"] == "ops":
        json.dump({"results": run_ops(request["cases"])}, sys.stdout)
    elif request["op"] == "programs":
        json.dump({"results": run_programs(request["programs"], request["maxPixels"], request["maxImages"])}, sys.stdout)
    else:
        raise KeyError(request["op"])


if __name__ == "__main__":
    main()
