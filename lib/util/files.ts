/** Writing a file whole or not at all. */
import { renameSync, writeFileSync } from 'node:fs';

import { PyVisionError } from './errors.js';

/** Writes `text` to `path` through `path.tmp` and a rename (a reader never sees half a file); E_IO naming the file. */
export function writeFileAtomic(path: string, text: string): void {
  try {
    writeFileSync(`${path}.tmp`, text);
    renameSync(`${path}.tmp`, path);
  } catch (error) {
    throw new PyVisionError('E_IO', `cannot write ${path}: ${(error as Error).message}`);
  }
}
