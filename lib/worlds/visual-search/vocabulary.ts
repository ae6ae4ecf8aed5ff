/** The words of the visual-search world's vocabulary (besides the protocol's and the Python subset's tokens and the numbers). */
import { COLOR_NAMES, SHAPES } from './scene.js';
import { DIRECTIONS } from './tasks.js';

/** Names the image built-ins define, and the names the expert's and a policy's programs use. */
export const IMAGE_TOOL_WORDS = [
  'crop', 'resize', 'rotate', 'size', 'width', 'height', 'mean_color', 'Image',
  'img', 'box', 'zoom', 'region', 'patch', 'x', 'y', 'w', 'h', 'cx', 'cy', 'left', 'top', 'right', 'bottom',
  'r', 'g', 'b', 'a', 'c', 'd', 'i', 'j', 'k', 'n', 's', 't', 'v', 'color', 'scale', 'step',
] as const;

/** Words of the sandbox's error messages, so an error fed back reads as more than '<unk>'. */
export const ERROR_WORDS = [
  'name', 'is', 'not', 'defined', 'object', 'has', 'no', 'attribute', 'argument', 'arguments', 'must', 'be', 'a', 'an',
  'of', 'the', 'to', 'for', 'invalid', 'syntax', 'too', 'many', 'images', 'image', 'large', 'limit', 'exceeded',
  'division', 'by', 'zero', 'index', 'out', 'range', 'unsupported', 'operand', 'type', 'types', 'takes', 'positional',
  'given', 'were', 'was', 'expected', 'got', 'missing', 'required', 'keyword', 'unexpected', 'empty', 'Coordinate',
  'less', 'than', 'upper', 'lower', 'tool', 'failed', 'run', 'this', 'call', 'steps', 'program', 'ran', 'more', 'time',
  'callable', 'subscriptable', 'numbers', 'ints', 'tuple', 'int', 'float', 'str', 'list', 'NoneType', 'bool',
  'integer', 'convert', 'infinity', 'NaN', 'finite', 'angle', 'and', 'or', 'line',
] as const;

/** Question words and answer options of the visual-search world. */
export const QUESTION_WORDS = [
  'what', 'shape', 'where', 'relative', 'how', 'are', 'there', 'objects', 'options', 'yes',
  ...COLOR_NAMES, ...SHAPES, ...DIRECTIONS,
] as const;

/** image_clue_0 .. image_clue_{maxImages}. */
export function imageClueWords(maxImages: number): string[] {
  return Array.from({ length: maxImages + 1 }, (_, k) => `image_clue_${k}`);
}
