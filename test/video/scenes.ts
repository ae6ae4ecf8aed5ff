/** A small scene for the encoder and tool tests: a red ball (frames 100-129, top left), a red box (200-229, bottom right), a blue ball (300-329, top right). */
import type { Scene, SceneObject } from '../../lib/video/procedural.js';

const object = (shape: SceneObject['shape'], colour: string, start: number, end: number, x: number, y: number): SceneObject => ({
  shape,
  size: 4,
  visible: [{ start, end }],
  colours: [{ from: 0, colour }],
  path: { x0: x, y0: y, x1: x, y1: y },
  flashes: [],
});

export const testScene: Scene = {
  frameCount: 400,
  fps: 20,
  width: 48,
  height: 48,
  background: [70, 70, 70],
  objects: [object('ball', 'red', 100, 130, 10, 10), object('box', 'red', 200, 230, 36, 36), object('ball', 'blue', 300, 330, 36, 10)],
};

