/** Runs the Python twin of the image built-ins (test/reference/image_builtins.py) when python3 with numpy is present. */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { RgbImage } from '../../lib/util/rgb.js';

export const TWIN_SCRIPT = fileURLToPath(new URL('./image_builtins.py', import.meta.url));

export interface WireImage {
  width: number;
  height: number;
  data: string;
}

/** null when python3 and numpy can run the twin; else the reason to print when skipping. */
export function twinUnavailable(): string | null {
  const probe = spawnSync('python3', ['-c', 'import numpy'], { encoding: 'utf8' });
  if (probe.error) return `python3 not found (${probe.error.message})`;
  if (probe.status !== 0) return `python3 cannot import numpy: ${probe.stderr.trim()}`;
  return null;
}

export function toWire(image: RgbImage): WireImage {
  return { width: image.width, height: image.height, data: Buffer.from(image.data).toString('base64') };
}

export function fromWire(wire: WireImage): RgbImage {
  return { width: wire.width, height: wire.height, data: new Uint8Array(Buffer.from(wire.data, 'base64')) };
}

export function runTwin<T>(request: unknown): T {
  const run = spawnSync('python3', [TWIN_SCRIPT], { input: JSON.stringify(request), encoding: 'utf8', maxBuffer: 1 << 30 });
  if (run.status !== 0) throw new Error(`python twin failed (status ${run.status}): ${run.stderr}`);
  return JSON.parse(run.stdout) as T;
}
