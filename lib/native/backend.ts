/**
 * Backend selection. Every kernel entry point takes `backend?: 'auto' | 'cpu' | 'cuda'`;
 * the default comes from PYVISION_RL_BACKEND, else 'auto'. 'auto' runs on CUDA
 * only when the CUDA backend is compiled in and a device is present.
 */
import { PyVisionError, describe } from '../util/errors.js';
import { native, type DeviceCode, type NativeBackend, type NativeCudaDevice } from './addon.js';
import { LIMITS } from '../util/limits.js';

export type Backend = 'auto' | 'cpu' | 'cuda';
export const BACKENDS: readonly Backend[] = ['auto', 'cpu', 'cuda'];

export interface BackendInfo {
  /** What this build contains. */
  compiled: { cpu: true; cuda: boolean };
  /** CUDA devices found at run time (empty without a GPU or driver). */
  devices: NativeCudaDevice[];
  /** The backend 'auto' (or the requested backend) resolves to. */
  chosen: 'cpu' | 'cuda';
  /** Why that backend was chosen, and why CUDA was skipped when it was. */
  reason: string;
  /** The backend that was asked for (argument, else PYVISION_RL_BACKEND, else 'auto'). */
  requested: Backend;
  cudaRuntimeVersion: number;
  cudaDriverVersion: number;
  /** Worker threads of the CPU backend. */
  cpuThreads: number;
  openmp: boolean;
}

function parseBackend(value: unknown, name: string): Backend {
  if (typeof value !== 'string' || !(BACKENDS as readonly string[]).includes(value)) {
    throw new PyVisionError('E_ARG', `${name} must be one of 'auto', 'cpu', 'cuda'; got ${describe(value)}`);
  }
  return value as Backend;
}

function requestedBackend(requested: unknown, name: string): Backend {
  if (requested !== undefined) return parseBackend(requested, name);
  const fromEnv = process.env.PYVISION_RL_BACKEND;
  if (fromEnv !== undefined && fromEnv !== '') return parseBackend(fromEnv, 'PYVISION_RL_BACKEND');
  return 'auto';
}

/** What was compiled, what was found, and what `backend` (default: the environment's, else auto) resolves to. */
export function backendInfo(backend?: Backend): BackendInfo {
  const info = native().backendInfo();
  const requested = requestedBackend(backend, 'backend');
  let chosen: 'cpu' | 'cuda';
  let reason: string;
  if (requested === 'cpu') {
    chosen = 'cpu';
    reason = 'cpu was requested';
  } else if (requested === 'cuda') {
    chosen = 'cuda';
    reason = info.cudaAvailable ? 'cuda was requested' : `cuda was requested but is unavailable: ${info.cudaReason}`;
  } else if (info.cudaAvailable) {
    chosen = 'cuda';
    reason = `auto: CUDA device found (${info.devices[0]?.name ?? 'device 0'})`;
  } else {
    chosen = 'cpu';
    reason = `auto: using cpu because CUDA is unavailable: ${info.cudaReason}`;
  }
  return {
    compiled: { cpu: true, cuda: info.cudaCompiled },
    devices: info.devices,
    chosen,
    reason,
    requested,
    cudaRuntimeVersion: info.cudaRuntimeVersion,
    cudaDriverVersion: info.cudaDriverVersion,
    cpuThreads: info.cpuThreads,
    openmp: info.openmp,
  };
}

/**
 * Resolves a kernel's `backend` option to the device code passed to native.
 * Throws E_BACKEND when 'cuda' is asked for and cannot run.
 */
export function resolveDevice(backend: unknown): DeviceCode {
  const requested = requestedBackend(backend, 'backend');
  if (requested === 'cpu') return 0;
  const info = native().backendInfo();
  if (requested === 'cuda') {
    if (!info.cudaAvailable) throw new PyVisionError('E_BACKEND', `backend 'cuda' is unavailable: ${info.cudaReason}`);
    return 1;
  }
  return info.cudaAvailable ? 1 : 0;
}

/** resolveDevice, by name: what the kernel bindings take. */
export function resolveBackend(backend: unknown): NativeBackend {
  return resolveDevice(backend) === 1 ? 'cuda' : 'cpu';
}

/**
 * Sets the CPU backend's worker threads (0: all cores). Returns the number in
 * use: at most one per processor available, whatever is asked.
 */
export function setCpuThreads(threads: number): number {
  if (!Number.isInteger(threads) || threads < 0 || threads > LIMITS.cpuThreads) {
    throw new PyVisionError('E_ARG', `threads must be an integer in [0, ${LIMITS.cpuThreads}], got ${describe(threads)}`);
  }
  return native().setThreads({ threads });
}
