/**
 * The safetensors file format (an 8-byte little-endian header length, a JSON
 * header `{name: {dtype, shape, data_offsets}, __metadata__: {string: string}}`,
 * then the raw little-endian data), float32 tensors only, and the atomic file
 * write the checkpoints use: temporary file, fsync, rename, fsync of the folder.
 */
import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { open, rename, unlink, type FileHandle } from 'node:fs/promises';
import { endianness } from 'node:os';
import { basename, dirname, join } from 'node:path';

import { PyVisionError } from '../util/errors.js';

export interface SafetensorsFile {
  metadata: Record<string, string>;
  tensors: Map<string, { shape: number[]; data: Float32Array }>;
}

if (endianness() !== 'LE') {
  // Typed arrays are in host byte order; safetensors data is little-endian.
  throw new PyVisionError('E_LOAD', 'pyvision-rl checkpoints need a little-endian host');
}

/**
 * Serialises float32 tensors into safetensors chunks (header, then one chunk
 * per contiguous data run, in the order given). Tensors are written in the
 * given order, back to back.
 */
export function encodeSafetensors(
  tensors: { name: string; shape: number[]; data: Float32Array }[],
  metadata: Record<string, string>,
): Uint8Array[] {
  const header: Record<string, unknown> = { __metadata__: metadata };
  let offset = 0;
  for (const t of tensors) {
    const bytes = t.data.length * 4;
    header[t.name] = { dtype: 'F32', shape: t.shape, data_offsets: [offset, offset + bytes] };
    offset += bytes;
  }
  let json = JSON.stringify(header);
  // Pad the header with spaces so the data starts 8-byte aligned (as the
  // reference implementation does).
  const jsonBytes = Buffer.byteLength(json, 'utf8');
  json += ' '.repeat((8 - ((8 + jsonBytes) % 8)) % 8);
  const headerBytes = Buffer.from(json, 'utf8');
  const prefix = Buffer.alloc(8);
  prefix.writeBigUInt64LE(BigInt(headerBytes.length));
  const chunks: Uint8Array[] = [prefix, headerBytes];
  for (const t of tensors) chunks.push(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength));
  return chunks;
}

/** Parses a safetensors file's bytes; float32 tensors only. Throws E_IO naming `path`. */
export function decodeSafetensors(bytes: Uint8Array, path: string): SafetensorsFile {
  const fail = (why: string): never => {
    throw new PyVisionError('E_IO', `${path} is not a valid float32 safetensors file: ${why}`);
  };
  if (bytes.byteLength < 8) fail(`it has ${bytes.byteLength} bytes, fewer than the 8-byte header length`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLength = view.getBigUint64(0, true);
  if (headerLength > BigInt(bytes.byteLength - 8)) fail(`the header length ${headerLength} exceeds the file size ${bytes.byteLength}`);
  const n = Number(headerLength);
  let header: Record<string, unknown>;
  try {
    header = JSON.parse(Buffer.from(bytes.buffer, bytes.byteOffset + 8, n).toString('utf8')) as Record<string, unknown>;
  } catch (error) {
    return fail(`the header is not JSON (${(error as Error).message})`);
  }
  if (header === null || typeof header !== 'object' || Array.isArray(header)) fail('the header is not a JSON object');
  const dataStart = 8 + n;
  const dataLength = bytes.byteLength - dataStart;
  const metadata: Record<string, string> = {};
  const rawMeta = header.__metadata__;
  if (rawMeta !== undefined) {
    if (rawMeta === null || typeof rawMeta !== 'object') fail('__metadata__ is not an object');
    for (const [k, value] of Object.entries(rawMeta as Record<string, unknown>)) {
      if (typeof value !== 'string') fail(`__metadata__.${k} is not a string`);
      metadata[k] = value as string;
    }
  }
  const tensors = new Map<string, { shape: number[]; data: Float32Array }>();
  let covered = 0;
  // One aligned copy of the data section; tensors are views into it.
  const aligned = new Uint8Array(dataLength);
  aligned.set(bytes.subarray(dataStart));
  for (const [name, rawInfo] of Object.entries(header)) {
    if (name === '__metadata__') continue;
    const info = rawInfo as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    if (info === null || typeof info !== 'object') fail(`entry ${name} is not an object`);
    if (info.dtype !== 'F32') fail(`tensor ${name} has dtype ${JSON.stringify(info.dtype)}; only F32 is supported`);
    const shape = info.shape;
    if (!Array.isArray(shape) || !shape.every((d) => Number.isInteger(d) && d >= 0)) fail(`tensor ${name} has a bad shape`);
    const offsets = info.data_offsets;
    if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every((o) => Number.isInteger(o) && o >= 0)) {
      fail(`tensor ${name} has bad data_offsets`);
    }
    const [begin, end] = offsets as [number, number];
    const count = (shape as number[]).reduce((a, b) => a * b, 1);
    if (end < begin || end > dataLength) fail(`tensor ${name}'s data_offsets [${begin}, ${end}] lie outside the ${dataLength}-byte data`);
    if (end - begin !== count * 4) fail(`tensor ${name} of shape [${shape}] needs ${count * 4} bytes, its data_offsets span ${end - begin}`);
    if (begin % 4 !== 0) fail(`tensor ${name} starts at byte ${begin}, not a multiple of 4`);
    tensors.set(name, { shape: shape as number[], data: new Float32Array(aligned.buffer, begin, count) });
    covered = Math.max(covered, end);
  }
  if (covered !== dataLength) fail(`the header describes ${covered} bytes of data, the file holds ${dataLength}`);
  return { metadata, tensors };
}

/**
 * Opens `path` for reading without blocking on a FIFO or a device (O_NONBLOCK)
 * and checks that it is a regular file: anything else is E_IO, so that a
 * crafted path (/dev/zero, a pipe) cannot make a read run without end.
 */
async function openRegularFile(path: string): Promise<{ file: FileHandle; size: number }> {
  let file: FileHandle;
  try {
    file = await open(path, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (error) {
    throw new PyVisionError('E_IO', `cannot read ${path}: ${(error as Error).message}`);
  }
  try {
    const stat = await file.stat();
    if (!stat.isFile()) throw new PyVisionError('E_IO', `cannot read ${path}: not a regular file`);
    return { file, size: stat.size };
  } catch (error) {
    await file.close();
    throw error;
  }
}

async function readExactly(file: FileHandle, bytes: Uint8Array, position: number, path: string): Promise<void> {
  let done = 0;
  while (done < bytes.byteLength) {
    const { bytesRead } = await file.read(bytes, done, bytes.byteLength - done, position + done);
    if (bytesRead === 0) throw new PyVisionError('E_IO', `cannot read ${path}: the file shrank while it was read`);
    done += bytesRead;
  }
}

export async function readSafetensors(path: string): Promise<SafetensorsFile> {
  const { file, size } = await openRegularFile(path);
  let bytes: Buffer;
  try {
    try {
      bytes = Buffer.allocUnsafe(size);
    } catch {
      throw new PyVisionError('E_OOM', `cannot read ${path}: ${size} bytes could not be allocated`);
    }
    await readExactly(file, bytes, 0, path);
  } catch (error) {
    if (error instanceof PyVisionError) throw error;
    throw new PyVisionError('E_IO', `cannot read ${path}: ${(error as Error).message}`);
  } finally {
    await file.close();
  }
  return decodeSafetensors(bytes, path);
}

/** The __metadata__ of a safetensors file, reading only its header. */
export async function readSafetensorsMetadata(path: string): Promise<Record<string, string>> {
  const { file, size } = await openRegularFile(path);
  try {
    if (size < 8) throw new PyVisionError('E_IO', `${path}: ${size} bytes, fewer than the 8-byte header length`);
    const prefix = Buffer.alloc(8);
    await readExactly(file, prefix, 0, path);
    const n = Number(prefix.readBigUInt64LE(0));
    if (n > size - 8) throw new PyVisionError('E_IO', `${path}: the header length ${n} exceeds the file size ${size}`);
    const header = Buffer.alloc(n);
    await readExactly(file, header, 8, path);
    const meta = (JSON.parse(header.toString('utf8')) as { __metadata__?: Record<string, string> }).__metadata__;
    return meta ?? {};
  } finally {
    await file.close();
  }
}

/**
 * Writes `chunks` to `path` atomically: into a temporary file in the same
 * folder, fsync, rename over `path`, fsync the folder. A crash at any point
 * leaves either the old file or the new one, never a partial file.
 */
export async function writeFileAtomic(path: string, chunks: Uint8Array[]): Promise<void> {
  const tmp = join(dirname(path), `.${basename(path)}.tmp-${process.pid}-${randomBytes(6).toString('hex')}`);
  try {
    const file = await open(tmp, 'w');
    try {
      for (const chunk of chunks) {
        let written = 0;
        while (written < chunk.byteLength) {
          const { bytesWritten } = await file.write(chunk, written, chunk.byteLength - written);
          written += bytesWritten;
        }
      }
      await file.sync();
    } finally {
      await file.close();
    }
    await rename(tmp, path);
  } catch (error) {
    await unlink(tmp).catch(() => undefined);
    throw new PyVisionError('E_IO', `cannot write ${path}: ${(error as Error).message}`);
  }
  await syncFolder(dirname(path));
}

/** fsync of a folder, so that a rename in it is durable. */
export async function syncFolder(folder: string): Promise<void> {
  try {
    const dir = await open(folder, 'r');
    try {
      await dir.sync();
    } finally {
      await dir.close();
    }
  } catch (error) {
    // Some file systems refuse fsync on a folder (EINVAL/EISDIR); the rename is then as durable as they allow.
    const code = (error as NodeJS.ErrnoException).code;
    if (code !== 'EINVAL' && code !== 'EISDIR' && code !== 'EPERM') {
      throw new PyVisionError('E_IO', `cannot sync folder ${folder}: ${(error as Error).message}`);
    }
  }
}
